//! Unit tests of the body parse stage (`body`).

use super::*;
use quote::quote;

fn parse(ts: TokenStream) -> Body {
    let mut diag = Diagnostics::default();
    let body = Body::parse(ts, &mut diag).expect("parses");
    assert!(body.clean && !diag.has_errors(), "{:?}", diag.messages());
    body
}

fn describe(body: &Body) -> Vec<String> {
    body.forms
        .iter()
        .map(|f| {
            let what = match &f.kind {
                FormKind::Spawn { .. } => "spawn",
                FormKind::Cancel => "cancel",
                FormKind::Select { .. } => "select",
                FormKind::Return { .. } => "return",
                FormKind::Escape { keyword, .. } => keyword,
            };
            format!("{what} in {:?}", f.ctx)
        })
        .collect()
}

#[test]
fn each_form_knows_where_it_stands() {
    let body = parse(quote! {
        spawn a();
        let c = || { spawn(b()); };
        let d = async { cancel; };
        fn item() { spawn(e()); }
        spawn async { spawn f(); };
        tokio::select! { _ = g => { cancel; } }
    });
    assert_eq!(
        describe(&body),
        [
            "spawn in Body",
            "spawn in Closure",
            "cancel in Async",
            "spawn in Item",
            "spawn in Async",
            "spawn in Body",
            "cancel in Body",
            "select in Body",
        ]
    );
}

#[test]
fn returns_and_escapes_are_cut_out_in_the_body_only() {
    let body = parse(quote! {
        if x { return 5; }
        let c = || { return 1; };
        loop { break; }
        'a: for i in v { loop { continue 'a; } }
        let l = 'b: { break 'b 1; };
        loop { tokio::select! { _ = f => break, } }
        break;
        continue 'nowhere;
    });
    assert_eq!(
        describe(&body),
        [
            "select in Body",
            "return in Body",
            "break in Body",
            "continue in Body"
        ]
    );
}

#[test]
fn the_tail_is_recognised() {
    assert!(matches!(
        parse(quote!(let v = 1; Ok(v))).tail,
        Tail::ResultCall {
            variant: Variant::Ok,
            ..
        }
    ));
    assert!(matches!(
        parse(quote!(Result::Err(e))).tail,
        Tail::ResultCall {
            variant: Variant::Err,
            ..
        }
    ));
    assert!(matches!(parse(quote!(Ok(v);)).tail, Tail::Other));
    assert!(matches!(parse(quote!(Ok::<u8, E>(1))).tail, Tail::Other));
    assert!(matches!(parse(quote!(ok(v))).tail, Tail::Other));
}

#[test]
fn parse_errors_leave_a_body_marked_unclean_or_none() {
    let mut diag = Diagnostics::default();
    let body = Body::parse(quote!(spawn; 1), &mut diag).unwrap();
    assert!(!body.clean);
    assert!(Body::parse(quote!(let = ;), &mut diag).is_none());
    assert_eq!(diag.messages().len(), 2);
}
