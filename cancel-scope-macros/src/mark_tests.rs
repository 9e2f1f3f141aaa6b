//! Unit tests of the marking pass (`mark`).

use super::*;
use quote::quote;

fn s(ts: TokenStream) -> String {
    ts.to_string().replace(' ', "")
}

fn marked(ts: TokenStream) -> (Marked, Vec<String>) {
    let mut diag = Diagnostics::default();
    let marked = Marker::new(&mut diag).mark_body(ts);
    (marked, diag.messages())
}

fn m(i: usize) -> String {
    format!("{MARKER}!({i})")
}

#[test]
fn forms_become_markers() {
    let (out, errs) = marked(quote! {
        spawn fetch(url);
        let h = spawn async { 1 };
        for u in urls { spawn (u); }
        match m { A => { cancel; } B => spawn b, _ => {} }
        h2 = spawn f();
        v.push(spawn(g()));
        spawn g()
    });
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        s(out.tokens),
        format!(
            "{};leth={};foruinurls{{{};}}matchm{{A=>{{{};}}B=>{},_=>{{}}}}h2={};v.push({});{}",
            m(0),
            m(1),
            m(2),
            m(3),
            m(4),
            m(5),
            m(6),
            m(7)
        )
    );
    let kinds: Vec<_> = out
        .forms
        .iter()
        .map(|f| match f {
            RawForm::Spawn {
                syntax,
                position,
                expr,
                ..
            } => format!("{syntax:?}/{position:?}/{}", s(expr.clone())),
            RawForm::Cancel { .. } => "cancel".into(),
            RawForm::Select(_) => "select".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Keyword/Statement/fetch(url)",
            "Keyword/Statement/async{1}",
            "Call/Statement/(u)",
            "cancel",
            "Keyword/Statement/b",
            "Keyword/Statement/f()",
            "Call/Expression/(g())",
            "Keyword/Statement/g()",
        ]
    );
}

#[test]
fn ordinary_rust_is_left_alone() {
    let src = quote! {
        let s = S { spawn };
        let t = S { spawn: 1, cancel };
        match x { spawn => 1, cancel => 2 }
        cancel = 3;
        cancel.method();
        cancel(4);
        spawn!(x);
        spawn::x(1);
        self::spawn(x);
        tokio::spawn(x);
        rt.spawn(x);
        spawn.await;
        spawn = 5;
        spawn == 6;
        fn spawn(x: u8) {}
        let r: Vec<u8> = vec![spawn, cancel];
        other! { spawn x; cancel; }
        { spawn }
    };
    let (out, errs) = marked(src.clone());
    assert!(errs.is_empty(), "{errs:?}");
    assert!(out.forms.is_empty());
    assert_eq!(s(out.tokens), s(src));
}

#[test]
fn select_arms_are_split_and_marked() {
    let (out, errs) = marked(quote! {
        loop {
            tokio::select! {
                biased;
                Ok(conn) = listener.accept() => { spawn handle(conn); }
                _ = &mut stop, if armed => { cancel; }
                v = rx.recv() => spawn work(v),
                else => break,
            }
        }
    });
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(out.forms.len(), 4);
    let RawForm::Select(select) = &out.forms[3] else {
        panic!("{:?}", out.forms[3]);
    };
    assert_eq!(s(select.path.clone()), "tokio::select!");
    let heads: Vec<String> = select.arms.iter().map(|a| s(a.head.clone())).collect();
    assert_eq!(
        heads,
        [
            "biased;Ok(conn)=listener.accept()",
            "_=&mutstop,ifarmed",
            "v=rx.recv()",
            "else"
        ]
    );
    let handlers: Vec<String> = select.arms.iter().map(|a| s(a.handler.clone())).collect();
    assert_eq!(
        handlers,
        [
            format!("{{{};}}", m(0)),
            format!("{{{};}}", m(1)),
            format!("{{{};}}", m(2)),
            "break".into()
        ]
    );
    assert_eq!(s(out.tokens), format!("loop{{{MARKER}!{{3}}}}"));
    // `futures::select_biased!` and a bare `select!` too; other macros stay opaque.
    let (out, _) = marked(
        quote! { futures::select_biased! { _ = a => spawn x(), } select!(b = c => { cancel; }) join!(spawn y) },
    );
    assert_eq!(
        out.forms
            .iter()
            .filter(|f| matches!(f, RawForm::Select(_)))
            .count(),
        2
    );
}

#[test]
fn syntax_errors() {
    let (out, errs) =
        marked(quote! { spawn; cancel now; cancel 5; x = 1; limit = 4; { grace = 1; } spawn });
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(errs[0].contains("`spawn` needs a future"));
    assert!(errs[1].contains("`cancel` takes nothing after it"));
    assert!(errs[3].contains("`spawn` needs a future"));
    assert!(first_keyword_spawn(&out).is_none());
}

#[test]
fn a_braced_macro_call_ends_a_statement() {
    let (out, _) = marked(quote! { other! { x } cancel; tokio::select! {} spawn y; m!(z) cancel; });
    assert_eq!(out.forms.len(), 3, "{:?}", out.forms);
}

#[test]
fn attributes_keep_a_statement_start() {
    let (out, _) = marked(quote! { #[allow(unused)] let h = spawn f(); });
    assert!(first_keyword_spawn(&out).is_some());
}

#[test]
fn an_unbraced_arm_spawn_ends_after_its_expression() {
    let (out, errs) = marked(quote! { match m { A => spawn f::<X, Y>(), B => spawn g(a, b); } });
    assert!(errs.is_empty(), "{errs:?}");
    let exprs: Vec<String> = out
        .forms
        .iter()
        .map(|f| match f {
            RawForm::Spawn { expr, .. } => s(expr.clone()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(exprs, ["f::<X,Y>()", "g(a,b)"]);
}
