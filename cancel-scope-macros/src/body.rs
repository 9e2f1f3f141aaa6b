//! Finding and rewriting the body forms `spawn EXPR`, `let PAT = spawn EXPR;` and `cancel;`.
//!
//! Two passes:
//!
//! 1. [`mark`]: a token-level pre-pass (the forms are not Rust syntax, so syn cannot parse
//!    them). At statement starts (the start of a brace group, after `;`, after a `}`), after a
//!    statement-level `=` and after a match arm's `=>`, it turns a form into a call of a
//!    private marker macro, keeping the user's spans. It descends into every group except
//!    macro-call arguments (a nested `cancel_scope!` handles its own forms).
//! 2. [`Rewriter`]: after syn has parsed the marked statements, a `visit_mut` pass replaces
//!    each marker with the runtime call, rewrites `return EXPR` to `return Ok(EXPR)`, and
//!    reports markers found inside closures, `async` blocks and items, where the forms do
//!    not apply (a parenthesised `spawn(x)` there is put back as the ordinary call it is).

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser as _};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, Stmt};

/// Marker macro names. They never reach the output: every marker is replaced.
const SPAWN_KW: &str = "__cancel_scope_private_spawn_form";
const SPAWN_PAREN: &str = "__cancel_scope_private_spawn_call_form";
const CANCEL: &str = "__cancel_scope_private_cancel_form";

/// Whether the body is the macro's (the keyword form `spawn EXPR` is allowed) or an
/// attribute's (the same pipeline; only `spawn(EXPR)` can appear since the input parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// The scope body itself: a `spawn` with nothing after it is an error.
    Top,
    /// A nested brace group: `{ spawn }` may be the struct shorthand `S { spawn }`.
    Nested,
}

/// Collects errors found by either pass.
#[derive(Default, Debug)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
    pub(crate) fn take(self) -> Option<syn::Error> {
        self.0
    }
}

fn is_punct(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn is_ident(tt: Option<&TokenTree>, name: &str) -> bool {
    matches!(tt, Some(TokenTree::Ident(i)) if i == name)
}

/// Rust keywords; an identifier that is one of these cannot be a plain value.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Keywords that can start the expression after `spawn`.
const EXPR_KEYWORDS: &[&str] = &[
    "async", "move", "unsafe", "loop", "match", "while", "self", "Self", "super", "crate", "if",
    "for",
];

/// Can `next` start the future expression of the keyword form `spawn EXPR`? Only tokens for
/// which `spawn NEXT` is not valid Rust, so that `spawn.x`, `spawn = 1`, `spawn::f()`,
/// `spawn!(..)`, `spawn => ..` and `S { spawn, .. }` stay ordinary Rust.
fn starts_future(next: Option<&TokenTree>) -> bool {
    match next {
        Some(TokenTree::Ident(i)) => {
            let s = i.to_string();
            !KEYWORDS.contains(&s.as_str()) || EXPR_KEYWORDS.contains(&s.as_str())
        }
        Some(TokenTree::Literal(_)) => true,
        Some(TokenTree::Group(g)) => {
            matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::None)
        }
        _ => false,
    }
}

/// Like [`starts_future`], for positions that are not statement starts: there `spawn (x)` is
/// an ordinary call and must stay one.
fn starts_future_not_call(next: Option<&TokenTree>) -> bool {
    match next {
        Some(TokenTree::Group(g)) => g.delimiter() == Delimiter::None,
        other => starts_future(other),
    }
}

/// A marker macro call `NAME!(tokens)` with the span of the form's keyword.
fn marker(name: &str, span: Span, tokens: TokenStream) -> TokenStream {
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(span);
    let mut ts = TokenStream::new();
    ts.extend([
        TokenTree::Ident(Ident::new(name, span)),
        TokenTree::Punct(bang),
        TokenTree::Group(group),
    ]);
    ts
}

/// Is `tokens[i]` (a group) the argument list of a macro call (`path!(..)`, `m! {..}`,
/// `macro_rules! name {..}`)?
fn is_macro_args(tokens: &[TokenTree], i: usize) -> bool {
    let prev = |k: usize| i.checked_sub(k).and_then(|j| tokens.get(j));
    if is_punct(prev(1), '!') {
        if let Some(TokenTree::Ident(id)) = prev(2) {
            return !KEYWORDS.contains(&id.to_string().as_str());
        }
        return false;
    }
    // `macro_rules! name { .. }`
    matches!(prev(1), Some(TokenTree::Ident(_)))
        && is_punct(prev(2), '!')
        && is_ident(prev(3), "macro_rules")
}

/// Index of the first token at or after `from` that is `term` (a single-char punct) at this
/// level, or `tokens.len()`.
fn find_punct(tokens: &[TokenTree], from: usize, terms: &[char]) -> usize {
    (from..tokens.len())
        .find(|&j| matches!(&tokens[j], TokenTree::Punct(p) if terms.contains(&p.as_char())))
        .unwrap_or(tokens.len())
}

/// The span of the first keyword-form `spawn EXPR` (not `spawn(EXPR)`) in a body, if any.
pub(crate) fn first_keyword_spawn(stream: TokenStream) -> Option<Span> {
    fn find(stream: TokenStream) -> Option<Span> {
        stream.into_iter().find_map(|tt| match tt {
            TokenTree::Ident(i) if i == SPAWN_KW => Some(i.span()),
            TokenTree::Group(g) => find(g.stream()),
            _ => None,
        })
    }
    find(mark(stream, Level::Top, &mut Errors::default()))
}

/// Pass 1: marks the forms in a sequence of statements (the body, or a brace group).
pub(crate) fn mark(stream: TokenStream, level: Level, errors: &mut Errors) -> TokenStream {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    mark_tokens(&tokens, level, true, errors)
}

/// Marks the forms in `tokens`; `stmts` tells whether they are statements (a block's
/// content) or an expression (a parenthesised group, a spawned expression).
// One pass over a token sequence with the statement-start state in locals; split up, that state
// would have to be threaded through every piece.
#[allow(clippy::too_many_lines)]
fn mark_tokens(
    tokens: &[TokenTree],
    level: Level,
    stmts: bool,
    errors: &mut Errors,
) -> TokenStream {
    let mut out = TokenStream::new();
    let mut at_start = stmts;
    let mut i = 0;
    while i < tokens.len() {
        let tt = &tokens[i];
        let next = tokens.get(i + 1);
        // Outer attributes keep a statement start.
        if at_start
            && is_punct(Some(tt), '#')
            && matches!(next, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
        {
            out.extend([tt.clone(), next.cloned().unwrap_or_else(|| tt.clone())]);
            i += 2;
            continue;
        }
        if let TokenTree::Ident(id) = tt {
            if id == "spawn" {
                // A form position: a statement start, or right after a statement-level `=`
                // or a match arm's `=>` (those end at `;` / `,`).
                let after_eq = stmts
                    && is_punct(i.checked_sub(1).map(|j| &tokens[j]), '=')
                    && standalone_eq(tokens, i - 1);
                let after_arrow = stmts && is_arrow(tokens, i);
                let form_pos = at_start || after_eq || after_arrow;
                if form_pos && (starts_future(next)) {
                    let paren = matches!(next, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
                    let end = if after_arrow {
                        find_punct(tokens, i + 1, &[',', ';'])
                    } else {
                        find_punct(tokens, i + 1, &[';'])
                    };
                    let expr = mark_tokens(&tokens[i + 1..end], level, false, errors);
                    let name = if paren { SPAWN_PAREN } else { SPAWN_KW };
                    out.extend(marker(name, id.span(), expr));
                    at_start = false;
                    i = end;
                    continue;
                }
                let nothing_after =
                    next.is_none() || is_punct(next, ';') || (after_arrow && is_punct(next, ','));
                let may_be_shorthand = level == Level::Nested && i == 0 && stmts && next.is_none();
                if form_pos && nothing_after && !may_be_shorthand {
                    errors.push(syn::Error::new(
                        id.span(),
                        "`spawn` needs a future to spawn: `spawn EXPR;` (for example `spawn async { .. };`)",
                    ));
                    // Drop `spawn` (and its `;`, if any, stays): nothing is spawned.
                    out.extend(quote_spanned!(id.span()=> ()));
                    at_start = false;
                    i += 1;
                    continue;
                }
                if !form_pos && starts_future_not_call(next) {
                    errors.push(syn::Error::new(
                        id.span(),
                        "`spawn EXPR` is only recognised at the start of a statement (or after `let PAT =`, `x =` \
                         or a match arm's `=>`) in the scope body; elsewhere name the task group with `as tg;` \
                         and call `tg.spawn(EXPR)`",
                    ));
                    i += 1;
                    continue;
                }
            } else if id == "cancel" && at_start {
                if is_punct(next, ';') {
                    out.extend(marker(CANCEL, id.span(), TokenStream::new()));
                    at_start = false;
                    i += 1;
                    continue;
                }
                let extra = match next {
                    Some(TokenTree::Ident(n)) => !KEYWORDS.contains(&n.to_string().as_str()),
                    Some(TokenTree::Literal(_)) => true,
                    _ => false,
                };
                if extra {
                    let end = find_punct(tokens, i + 1, &[';']);
                    let mut err_tokens = TokenStream::new();
                    err_tokens.extend(tokens[i + 1..end].iter().cloned());
                    errors.push(syn::Error::new_spanned(
                        err_tokens,
                        "`cancel` takes nothing after it: write `cancel;` to cancel this scope's group \
                         (to cancel another group, call `.cancel()` on its handle)",
                    ));
                    out.extend(marker(CANCEL, id.span(), TokenStream::new()));
                    at_start = false;
                    i = end;
                    continue;
                }
            }
        }
        match tt {
            TokenTree::Group(g) if !is_macro_args(tokens, i) => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                let is_block = g.delimiter() == Delimiter::Brace;
                let content = mark_tokens(&inner, Level::Nested, is_block, errors);
                let mut new = Group::new(g.delimiter(), content);
                new.set_span(g.span());
                out.extend([TokenTree::Group(new)]);
                at_start = stmts && is_block;
            }
            TokenTree::Punct(p) if p.as_char() == ';' => {
                out.extend([tt.clone()]);
                at_start = stmts;
            }
            _ => {
                out.extend([tt.clone()]);
                at_start = false;
            }
        }
        i += 1;
    }
    out
}

/// Is `tokens[k]` an `=` that is an assignment or a `let` initialiser (not part of `==`,
/// `+=`, `<=`, `=>`, ...)?
fn standalone_eq(tokens: &[TokenTree], k: usize) -> bool {
    let TokenTree::Punct(p) = &tokens[k] else {
        return false;
    };
    if p.as_char() != '=' || p.spacing() != Spacing::Alone {
        return false;
    }
    !matches!(k.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(q)) if q.spacing() == Spacing::Joint)
}

/// Is `tokens[i]` right after `=>`?
fn is_arrow(tokens: &[TokenTree], i: usize) -> bool {
    if i < 2 {
        return false;
    }
    matches!((&tokens[i - 2], &tokens[i - 1]),
        (TokenTree::Punct(a), TokenTree::Punct(b)) if a.as_char() == '=' && a.spacing() == Spacing::Joint && b.as_char() == '>')
}

/// Parses marked statements with syn.
pub(crate) fn parse_stmts(tokens: TokenStream) -> syn::Result<Vec<Stmt>> {
    (|s: ParseStream<'_>| Block::parse_within(s)).parse2(tokens)
}

/// Where a marker was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Body,
    Closure,
    Async,
    Item,
    Const,
}

impl Ctx {
    fn describe(self) -> &'static str {
        match self {
            Ctx::Body => "the scope body",
            Ctx::Closure => "a closure",
            Ctx::Async => "an `async` block",
            Ctx::Item => "a nested item (fn, impl, ...)",
            Ctx::Const => "a `const` block",
        }
    }
}

/// Pass 2: replaces the markers and rewrites `return`.
pub(crate) struct Rewriter<'a> {
    /// The task group local (`__tg`, mixed-site).
    pub(crate) tg: Ident,
    ctx: Vec<Ctx>,
    errors: &'a mut Errors,
    /// Whether any form was used (so the expansion needs `__tg`).
    pub(crate) used_tg: bool,
}

impl<'a> Rewriter<'a> {
    pub(crate) fn new(tg: Ident, errors: &'a mut Errors) -> Self {
        Rewriter {
            tg,
            ctx: Vec::new(),
            errors,
            used_tg: false,
        }
    }

    fn here(&self) -> Ctx {
        self.ctx.last().copied().unwrap_or(Ctx::Body)
    }

    fn with_ctx<R>(&mut self, ctx: Ctx, f: impl FnOnce(&mut Self) -> R) -> R {
        self.ctx.push(ctx);
        let r = f(self);
        self.ctx.pop();
        r
    }

    /// If `mac` is a marker, the replacement expression.
    fn replace(&mut self, mac: &syn::Macro) -> Option<Expr> {
        let name = mac.path.get_ident()?;
        let kind = [SPAWN_KW, SPAWN_PAREN, CANCEL]
            .into_iter()
            .find(|k| name == k)?;
        let span = name.span();
        let here = self.here();
        let tg = Ident::new(&self.tg.to_string(), Span::mixed_site().located_at(span));
        if kind == CANCEL {
            if here != Ctx::Body {
                self.errors.push(syn::Error::new(
                    span,
                    format_args!(
                        "`cancel;` cannot be used inside {}: the forms only work in the scope body and its \
                         plain blocks; name the task group with `as tg;` and call `tg.cancel()` here",
                        here.describe()
                    ),
                ));
                return Some(Expr::Verbatim(quote_spanned!(span=> ())));
            }
            self.used_tg = true;
            return Some(Expr::Verbatim(quote_spanned! {span=>
                {
                    #tg.cancel();
                    match ::core::future::pending::<::core::convert::Infallible>().await {}
                }
            }));
        }
        let mut expr: Expr = match mac.parse_body() {
            Ok(e) => e,
            Err(e) => {
                self.errors.push(e);
                return Some(Expr::Verbatim(quote_spanned!(span=> ())));
            }
        };
        self.visit_expr_mut(&mut expr);
        if here != Ctx::Body {
            if kind == SPAWN_PAREN {
                // Ordinary Rust there (it may be `tokio::spawn(..)` imported as `spawn`).
                let spawn_ident = Ident::new("spawn", span);
                return Some(Expr::Verbatim(quote!(#spawn_ident #expr)));
            }
            self.errors.push(syn::Error::new(
                span,
                format_args!(
                    "`spawn EXPR` cannot be used inside {}: the forms only work in the scope body and its \
                     plain blocks; name the task group with `as tg;` and call `tg.spawn(EXPR)` here \
                     (clone `tg` to move it into a closure or task)",
                    here.describe()
                ),
            ));
            return Some(Expr::Verbatim(quote_spanned!(span=> { let _ = #expr; })));
        }
        self.used_tg = true;
        let method = Ident::new("spawn", span);
        let dot = quote_spanned!(span=> .);
        // The argument keeps its own spans, so "not a future", "not Send" and borrow errors
        // point at the user's expression.
        let arg = match (&expr, kind) {
            (Expr::Paren(p), SPAWN_PAREN) => p.expr.to_token_stream(),
            _ => expr.to_token_stream(),
        };
        Some(Expr::Verbatim(quote!(#tg #dot #method(#arg))))
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if let Some(expr) = self.replace(&m.mac) {
                *stmt = Stmt::Expr(expr, m.semi_token);
                return;
            }
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) => {
                if let Some(new) = self.replace(&m.mac) {
                    *expr = new;
                }
            }
            Expr::Closure(_) => self.with_ctx(Ctx::Closure, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Async(_) => self.with_ctx(Ctx::Async, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Const(_) => self.with_ctx(Ctx::Const, |v| visit_mut::visit_expr_mut(v, expr)),
            Expr::Return(r) if self.here() == Ctx::Body => {
                if let Some(e) = &mut r.expr {
                    self.visit_expr_mut(e);
                }
                let ret = r.return_token;
                let span = ret.span;
                let value = r
                    .expr
                    .as_ref()
                    .map_or_else(|| quote_spanned!(span=> ()), ToTokens::to_token_stream);
                *expr =
                    Expr::Verbatim(quote_spanned!(span=> #ret ::core::result::Result::Ok(#value)));
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        self.with_ctx(Ctx::Item, |v| visit_mut::visit_item_mut(v, item));
    }
}

/// Both passes over a body: marks, parses and rewrites. Returns the statements.
pub(crate) fn rewrite_body(
    tokens: TokenStream,
    tg: &Ident,
    errors: &mut Errors,
) -> syn::Result<(Vec<Stmt>, bool)> {
    let marked = mark(tokens, Level::Top, errors);
    let mut stmts = parse_stmts(marked)?;
    let mut rw = Rewriter::new(tg.clone(), errors);
    for stmt in &mut stmts {
        rw.visit_stmt_mut(stmt);
    }
    let used = rw.used_tg;
    Ok((stmts, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(ts: TokenStream) -> (String, Vec<String>) {
        let mut errors = Errors::default();
        let out = s(mark(ts, Level::Top, &mut errors));
        (
            out,
            errors
                .take()
                .map(|e| e.into_iter().map(|e| e.to_string()).collect())
                .unwrap_or_default(),
        )
    }

    fn rewritten(ts: TokenStream) -> (String, Vec<String>) {
        let mut errors = Errors::default();
        let tg = Ident::new("__tg", Span::mixed_site());
        let out = match rewrite_body(ts, &tg, &mut errors) {
            Ok((stmts, _)) => s(quote!(#(#stmts)*)),
            Err(e) => {
                errors.push(e);
                String::new()
            }
        };
        (
            out,
            errors
                .take()
                .map(|e| e.into_iter().map(|e| e.to_string()).collect())
                .unwrap_or_default(),
        )
    }

    fn s(ts: TokenStream) -> String {
        ts.to_string().replace(' ', "")
    }

    #[test]
    fn statement_forms() {
        let (out, errs) = rewritten(quote! {
            spawn fetch(url);
            let h = spawn async { 1 };
            spawn (x);
            for u in urls { spawn fetch(u); }
            if a { cancel; } else { spawn b; }
            match m { A => { spawn a; } B => spawn b, _ => {} }
            h2 = spawn f();
            spawn g()
        });
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            out,
            s(quote! {
                __tg.spawn(fetch(url));
                let h = __tg.spawn(async { 1 });
                __tg.spawn(x);
                for u in urls { __tg.spawn(fetch(u)); }
                if a { { __tg.cancel(); match ::core::future::pending::<::core::convert::Infallible>().await {} }; }
                else { __tg.spawn(b); }
                match m { A => { __tg.spawn(a); } B => __tg.spawn(b), _ => {} }
                h2 = __tg.spawn(f());
                __tg.spawn(g())
            })
        );
    }

    #[test]
    fn ordinary_rust_is_left_alone() {
        let src = quote! {
            let s = S { spawn };
            let t = S { spawn: 1, cancel };
            let u = S { spawn, cancel: 2 };
            match x { spawn => 1, cancel => 2 }
            cancel = 3;
            cancel.method();
            cancel(4);
            spawn!(x);
            spawn::x(1);
            self::spawn(x);
            spawn.await;
            spawn = 5;
            spawn == 6;
            x += 1;
            let v = |x| spawn(x);
            let w = move || { tokio::spawn(x); };
            let z = async { other() };
            fn spawn_it() { spawn(1) }
            let r: Vec<u8> = vec![spawn, cancel];
            { spawn }
        };
        let (out, errs) = rewritten(src.clone());
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(out, s(src));
    }

    #[test]
    fn spawn_call_in_closure_stays_a_call() {
        let (out, errs) =
            rewritten(quote! { let f = || { spawn(x); }; let g = async { spawn(y) }; });
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            out,
            s(quote! { let f = || { spawn(x); }; let g = async { spawn(y) }; })
        );
    }

    #[test]
    fn forms_in_closures_async_blocks_and_items_are_errors() {
        let (_, errs) = rewritten(quote! {
            let f = || { spawn x; };
            let g = async { cancel; };
            fn item() { cancel; }
            spawn async { spawn y; };
        });
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("inside a closure") && errs[0].contains("tg.spawn(EXPR)"));
        assert!(errs[1].contains("inside an `async` block") && errs[1].contains("tg.cancel()"));
        assert!(errs[2].contains("nested item"));
        assert!(errs[3].contains("inside an `async` block"));
    }

    #[test]
    fn macro_calls_are_not_entered() {
        let src = quote! { other! { spawn x; cancel; } cancel_scope! { spawn y; } };
        let (out, errs) = marked(src.clone());
        assert!(errs.is_empty());
        assert_eq!(out, s(src));
    }

    #[test]
    fn spawn_without_future_and_cancel_with_tokens() {
        let (_, errs) = marked(quote! { spawn; cancel now; cancel 5; spawn });
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("`spawn` needs a future"));
        assert!(errs[1].contains("`cancel` takes nothing after it"));
        assert!(errs[3].contains("`spawn` needs a future"));
    }

    #[test]
    fn spawn_in_expression_position_is_an_error() {
        let (_, errs) = marked(quote! { let f = || spawn fetch(u); });
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("only recognised at the start of a statement"));
    }

    #[test]
    fn return_is_wrapped_in_the_body_only() {
        let (out, errs) = rewritten(quote! {
            if x { return 5; }
            if y { return; }
            let c = || { return 1; };
            let a = async { return 2; };
            spawn async { return 3; };
            fn f() -> u8 { return 4; }
        });
        assert!(errs.is_empty());
        assert_eq!(
            out,
            s(quote! {
                if x { return ::core::result::Result::Ok(5); }
                if y { return ::core::result::Result::Ok(()); }
                let c = || { return 1; };
                let a = async { return 2; };
                __tg.spawn(async { return 3; });
                fn f() -> u8 { return 4; }
            })
        );
    }

    #[test]
    fn attributes_keep_statement_start() {
        let (out, errs) = rewritten(quote! { #[allow(unused)] let h = spawn f(); });
        assert!(errs.is_empty());
        assert_eq!(out, s(quote! { #[allow(unused)] let h = __tg.spawn(f()); }));
    }
}
