//! Parse stage: the arms of `select!`, `tokio::select!`, `futures::select!` and
//! `select_biased!` (any path ending in `select` or `select_biased`).
//!
//! These macros take arms `PATTERN = FUTURE (, if PRECONDITION)? => HANDLER,` (and
//! `else => ..`, `default => ..`, `complete => ..`). Their handlers run in the code around the
//! macro call, so the body forms work there by the rules of a `match` arm:
//!
//! - `=> { .. }`: a block; the forms work at its statement starts (`spawn x;`, `cancel;`).
//! - `=> spawn EXPR,` / `=> spawn(EXPR),`: an unbraced spawn, as in a `match`, but run for its
//!   effect like `=> { spawn EXPR; }` (type `()`, as the other arms of a `select!` usually
//!   are: every arm must have the same type). To keep the handle, use a block.
//! - An unbraced `=> cancel,` is *not* the form, as in a `match`: it would be the value of a
//!   variable named `cancel`. Write `=> { cancel; }`.
//!
//! Everything before `=>` (pattern, future, precondition, `biased;`) is kept untouched. The
//! macro call is cut out whole and replaced by a marker; the expand stage writes it back with
//! the handlers rewritten.

use crate::lexical;
use crate::mark::Marker;
use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};

/// One arm as written.
#[derive(Clone, Debug)]
pub(crate) struct RawArm {
    /// `PATTERN = FUTURE, if COND` (or `else`, `default`, `complete`), untouched.
    pub(crate) head: TokenStream,
    /// The `=>`.
    pub(crate) arrow: TokenStream,
    /// The handler, its forms marked.
    pub(crate) handler: TokenStream,
    /// The `,` after the handler, if written.
    pub(crate) comma: TokenStream,
}

/// A `select!` call as written.
#[derive(Clone, Debug)]
pub(crate) struct RawSelect {
    /// `tokio::select!` (the path and the `!`).
    pub(crate) path: TokenStream,
    pub(crate) delimiter: Delimiter,
    /// The span of the argument group.
    pub(crate) span: Span,
    pub(crate) arms: Vec<RawArm>,
    /// Tokens after the last arm that are not an arm (kept as written).
    pub(crate) rest: TokenStream,
    /// The call exactly as written, for when its handlers cannot be parsed: it is then left
    /// opaque, like any other macro call.
    pub(crate) original: TokenStream,
}

/// Do the tokens written so far end with `select!` / `select_biased!` (any path before)?
pub(crate) fn is_select_call(out: &[TokenTree]) -> bool {
    let n = out.len();
    n >= 2
        && matches!(&out[n - 1], TokenTree::Punct(p) if p.as_char() == '!')
        && matches!(&out[n - 2], TokenTree::Ident(i) if i == "select" || i == "select_biased")
}

/// Takes the macro path (and `!`) off the end of `out`.
fn take_path(out: &mut Vec<TokenTree>) -> TokenStream {
    // `!`, then `ident (:: ident)*`, with an optional leading `::`.
    let mut start = out.len().saturating_sub(2);
    while start >= 3
        && matches!(&out[start - 1], TokenTree::Punct(p) if p.as_char() == ':')
        && matches!(&out[start - 2], TokenTree::Punct(p) if p.as_char() == ':')
        && matches!(&out[start - 3], TokenTree::Ident(_))
    {
        start -= 3;
    }
    if start >= 2
        && matches!(&out[start - 1], TokenTree::Punct(p) if p.as_char() == ':')
        && matches!(&out[start - 2], TokenTree::Punct(p) if p.as_char() == ':')
    {
        start -= 2;
    }
    out.split_off(start).into_iter().collect()
}

/// Splits the arguments of a `select!` call into arms, marking the handlers' forms, and takes
/// the macro path off `out`.
pub(crate) fn split(args: &Group, out: &mut Vec<TokenTree>, marker: &mut Marker<'_>) -> RawSelect {
    let path = take_path(out);
    let mut original = path.clone();
    original.extend([TokenTree::Group(args.clone())]);
    let tokens: Vec<TokenTree> = args.stream().into_iter().collect();
    let mut arms = Vec::new();
    let mut i = 0;
    while let Some(arrow) = (i..tokens.len()).find(|&j| lexical::is_arrow_at(&tokens, j)) {
        let head: TokenStream = tokens[i..arrow].iter().cloned().collect();
        let arrow_tokens: TokenStream = tokens[arrow..arrow + 2].iter().cloned().collect();
        let start = arrow + 2;
        let is_comma =
            |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ',');
        // A block handler ends at its `}` (the comma is optional); an expression at the `,`.
        let block = matches!(tokens.get(start), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace)
            && !matches!(tokens.get(start + 1), Some(TokenTree::Punct(p)) if p.as_char() == '.' || p.as_char() == '?');
        let end = if block {
            start + 1
        } else {
            lexical::arm_end(&tokens, start)
        };
        let handler = marker.mark_arm_handler(&tokens[start..end.min(tokens.len())]);
        let mut next = end;
        let comma: TokenStream = if is_comma(tokens.get(end)) {
            next += 1;
            tokens[end..=end].iter().cloned().collect()
        } else {
            TokenStream::new()
        };
        arms.push(RawArm {
            head,
            arrow: arrow_tokens,
            handler,
            comma,
        });
        i = next;
    }
    RawSelect {
        path,
        delimiter: args.delimiter(),
        span: args.span(),
        arms,
        rest: tokens[i.min(tokens.len())..].iter().cloned().collect(),
        original,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use quote::quote;

    fn split_call(call: TokenStream) -> (TokenStream, RawSelect) {
        let mut out: Vec<TokenTree> = call.into_iter().collect();
        let Some(TokenTree::Group(args)) = out.pop() else {
            panic!("no group");
        };
        assert!(is_select_call(&out));
        let mut diag = Diagnostics::default();
        let raw = split(&args, &mut out, &mut Marker::new(&mut diag));
        (out.into_iter().collect(), raw)
    }

    #[test]
    fn the_path_is_taken_whole() {
        for (call, path) in [
            (quote!(let x = tokio::select! {}), "tokio :: select !"),
            (
                quote!(::futures::select_biased! {}),
                ":: futures :: select_biased !",
            ),
            (quote!(f(); select!()), "select !"),
        ] {
            let (rest, raw) = split_call(call);
            assert_eq!(raw.path.to_string(), path);
            assert!(!rest.to_string().contains("select"));
        }
        assert!(!is_select_call(
            &quote!(selector!).into_iter().collect::<Vec<_>>()
        ));
    }

    #[test]
    fn arms_with_and_without_blocks_and_commas() {
        let (_, raw) = split_call(quote!(select! {
            a = f(), if c => { x } b = g() => { y }.len(), c = h() => z, default => {}
        }));
        let parts: Vec<_> = raw
            .arms
            .iter()
            .map(|a| {
                (
                    a.head.to_string(),
                    a.handler.to_string(),
                    a.comma.is_empty(),
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                ("a = f () , if c".into(), "{ x }".into(), true),
                ("b = g ()".into(), "{ y } . len ()".into(), false),
                ("c = h ()".into(), "z".into(), false),
                ("default".into(), "{ }".into(), true),
            ]
        );
        assert!(raw.rest.is_empty());
    }

    #[test]
    fn a_comma_inside_an_expression_does_not_end_the_handler() {
        let (_, raw) = split_call(quote!(select! {
            a = f() => HashMap::<u8, u8>::new(), b = g() => spawn h::<A, B>(x), c = k() => x < y
        }));
        let handlers: Vec<_> = raw.arms.iter().map(|a| a.handler.to_string()).collect();
        assert_eq!(handlers[0], "HashMap :: < u8 , u8 > :: new ()");
        assert!(
            handlers[1].starts_with("{ __cancel_scope_private_form ! (0)"),
            "{}",
            handlers[1]
        );
        assert_eq!(handlers[2], "x < y");
        assert_eq!(raw.arms.len(), 3);
    }
}
