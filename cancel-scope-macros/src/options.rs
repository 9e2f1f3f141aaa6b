//! Parsing of the options: the leading `NAME = VALUE;` lines of `cancel_scope!` and the
//! shared value grammar used by `#[cancel_scoped(...)]` too.
//!
//! Parsing only records what was written (with spans); whether a combination is allowed
//! (duplicates, `timeout` with `deadline`, `error` in the attribute) is `validate`'s job.

use proc_macro2::{Span, TokenStream, TokenTree};
use std::fmt::Write as _;
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Path, Token, Type};

/// The custom keywords naming options (`crate` and `as` are real keywords).
pub(crate) mod kw {
    syn::custom_keyword!(parent);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(deadline);
    syn::custom_keyword!(grace);
    syn::custom_keyword!(limit);
    syn::custom_keyword!(error);
}

/// Which option a `NAME = VALUE` line sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptKind {
    Parent,
    Timeout,
    Deadline,
    Grace,
    Limit,
    Error,
    Crate,
}

impl OptKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OptKind::Parent => "parent",
            OptKind::Timeout => "timeout",
            OptKind::Deadline => "deadline",
            OptKind::Grace => "grace",
            OptKind::Limit => "limit",
            OptKind::Error => "error",
            OptKind::Crate => "crate",
        }
    }

    /// What the value should look like, for error messages.
    fn expects(self) -> &'static str {
        match self {
            OptKind::Parent => {
                "one or more task group expressions (`parent = a, b;` or `parent = [a, b];`)"
            }
            OptKind::Timeout | OptKind::Grace => "a `std::time::Duration` expression",
            OptKind::Deadline => "a `tokio::time::Instant` expression",
            OptKind::Limit => "a `usize` expression",
            OptKind::Error => "a type",
            OptKind::Crate => "a path such as `::cancel_scope`",
        }
    }
}

/// The option names of `cancel_scope!`, in documentation order.
pub(crate) const MACRO_OPTIONS: &[&str] = &[
    "as", "parent", "timeout", "deadline", "grace", "limit", "error", "crate",
];
/// The argument names of `#[cancel_scoped]`.
pub(crate) const ATTR_OPTIONS: &[&str] = &[
    "as", "parent", "timeout", "deadline", "grace", "limit", "crate",
];

/// The parsed value of an option.
#[derive(Clone, Debug)]
pub(crate) enum OptValue {
    Parents(Vec<Expr>),
    Expr(Expr),
    Type(Type),
    Path(Path),
}

/// One option as written.
#[derive(Clone, Debug)]
pub(crate) struct RawOpt {
    pub(crate) kind: OptKind,
    /// The option's name, for "set multiple times" and similar errors.
    pub(crate) name_span: Span,
    pub(crate) value: OptValue,
}

/// Everything written before the body (or in the attribute's parentheses).
#[derive(Clone, Debug, Default)]
pub(crate) struct RawOptions {
    /// Every `as NAME` (more than one is a validation error).
    pub(crate) names: Vec<Ident>,
    pub(crate) opts: Vec<RawOpt>,
}

/// Where options are written: grammar differs slightly (`;` vs `,`, `parent = a, b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    Macro,
    Attr,
}

/// Recognises an option name with `lookahead1` (custom keywords plus `crate`).
/// Returns `Ok(None)` when the name is not an option (the caller reports it).
pub(crate) fn parse_kind(input: ParseStream<'_>) -> syn::Result<Option<OptKind>> {
    let la = input.lookahead1();
    let kind = if la.peek(kw::parent) {
        input.parse::<kw::parent>()?;
        OptKind::Parent
    } else if la.peek(kw::timeout) {
        input.parse::<kw::timeout>()?;
        OptKind::Timeout
    } else if la.peek(kw::deadline) {
        input.parse::<kw::deadline>()?;
        OptKind::Deadline
    } else if la.peek(kw::grace) {
        input.parse::<kw::grace>()?;
        OptKind::Grace
    } else if la.peek(kw::limit) {
        input.parse::<kw::limit>()?;
        OptKind::Limit
    } else if la.peek(kw::error) {
        input.parse::<kw::error>()?;
        OptKind::Error
    } else if la.peek(Token![crate]) {
        input.parse::<Token![crate]>()?;
        OptKind::Crate
    } else {
        return Ok(None);
    };
    Ok(Some(kind))
}

/// Parses the value of `kind` from `input`, which holds exactly the value's tokens
/// (macro: everything up to `;`) or is followed by `,` (attribute).
pub(crate) fn parse_value(
    kind: OptKind,
    site: Site,
    input: ParseStream<'_>,
) -> syn::Result<OptValue> {
    if input.is_empty() || (site == Site::Attr && input.peek(Token![,])) {
        return Err(input.error(format_args!(
            "`{}` needs a value: {}",
            kind.name(),
            kind.expects()
        )));
    }
    Ok(match kind {
        OptKind::Parent => {
            if input.peek(syn::token::Bracket) {
                let content;
                syn::bracketed!(content in input);
                let list = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
                if list.is_empty() {
                    return Err(input.error("`parent = []` names no task group"));
                }
                OptValue::Parents(list.into_iter().collect())
            } else if site == Site::Macro {
                let list = Punctuated::<Expr, Token![,]>::parse_separated_nonempty(input)?;
                OptValue::Parents(list.into_iter().collect())
            } else {
                OptValue::Parents(vec![input.parse()?])
            }
        }
        OptKind::Timeout | OptKind::Deadline | OptKind::Grace | OptKind::Limit => {
            OptValue::Expr(input.parse()?)
        }
        OptKind::Error => OptValue::Type(input.parse()?),
        OptKind::Crate => OptValue::Path(input.call(Path::parse_mod_style)?),
    })
}

/// Levenshtein distance, for "did you mean".
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest valid name, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3) && *d < v.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// The error for an unknown option name.
pub(crate) fn unknown_option(name: &Ident, site: Site) -> syn::Error {
    let valid = match site {
        Site::Macro => MACRO_OPTIONS,
        Site::Attr => ATTR_OPTIONS,
    };
    let name_str = name.unraw().to_string();
    let list = valid
        .iter()
        .map(|v| {
            if *v == "as" {
                "`as NAME`".to_owned()
            } else {
                format!("`{v}`")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let what = match site {
        Site::Macro => "option",
        Site::Attr => "`#[cancel_scoped]` argument",
    };
    let mut msg = format!("unknown {what} `{name_str}`");
    let suggestion = suggest(&name_str, valid);
    if let Some(s) = suggestion {
        let _ = write!(msg, "; did you mean `{s}`?");
    }
    let _ = write!(msg, "\nvalid {what}s are: {list}");
    if site == Site::Macro && suggestion.is_none() {
        msg.push_str(
            "\nnote: leading `NAME = VALUE;` lines are options; to start the body with an \
             assignment, put it after another statement or inside a block",
        );
    }
    syn::Error::new(name.span(), msg)
}

/// Does `input` start with an option line (`as NAME` or `NAME =`, not `==`/`=>`)?
fn at_option(input: ParseStream<'_>) -> bool {
    if input.peek(Token![as]) {
        return true;
    }
    input.peek(Ident::peek_any)
        && input.peek2(Token![=])
        && !input.peek2(Token![==])
        && !input.peek2(Token![=>])
}

/// Splits off the tokens up to (not including) the next top-level `;`, consuming the `;`.
/// Returns the tokens and the span of the `;` (or of the last token when missing).
fn take_until_semi(input: ParseStream<'_>) -> syn::Result<(TokenStream, Option<Span>)> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tt, next)) = rest.token_tree() {
            if let TokenTree::Punct(p) = &tt {
                if p.as_char() == ';' {
                    return Ok(((tokens, Some(p.span())), next));
                }
            }
            tokens.extend([tt]);
            rest = next;
        }
        Ok(((tokens, None), rest))
    })
}

/// Parses the leading options of `cancel_scope!` and returns them with the remaining body
/// tokens. Errors in one option do not stop the others from being parsed: every error is
/// returned, combined.
pub(crate) fn parse_macro_options(
    input: ParseStream<'_>,
) -> (RawOptions, TokenStream, Option<syn::Error>) {
    let mut out = RawOptions::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    while at_option(input) {
        let (line, semi) = match take_until_semi(input) {
            Ok(x) => x,
            Err(e) => {
                push(e);
                break;
            }
        };
        // `NAME = VALUE` with no `;` (the end of the input) is still treated as an option line
        // (a body that is a single assignment makes no sense).
        let end = semi
            .is_none()
            .then(|| line.clone().into_iter().last().map(|t| t.span()))
            .flatten();
        let parser = |s: ParseStream<'_>| -> syn::Result<()> {
            if s.peek(Token![as]) {
                let as_token = s.parse::<Token![as]>()?;
                if s.is_empty() {
                    return Err(syn::Error::new(
                        as_token.span,
                        "`as` needs a name for the task group handle: `as tg;`",
                    ));
                }
                let name: Ident = s.parse()?;
                if !s.is_empty() {
                    return Err(s.error("expected `;` after `as NAME`"));
                }
                out.names.push(name);
                return Ok(());
            }
            let fork = s.fork();
            let name = fork.call(Ident::parse_any)?;
            let Some(kind) = parse_kind(s)? else {
                return Err(unknown_option(&name, Site::Macro));
            };
            s.parse::<Token![=]>()?;
            let value = parse_value(kind, Site::Macro, s)?;
            if !s.is_empty() {
                return Err(s.error(format_args!(
                    "expected `;` after the `{}` option: it takes {}",
                    kind.name(),
                    kind.expects()
                )));
            }
            out.opts.push(RawOpt {
                kind,
                name_span: name.span(),
                value,
            });
            Ok(())
        };
        match parser.parse2(line) {
            Err(e) => push(e),
            // Reported only when the option itself parsed, so that a missing `;` followed by
            // more tokens gives one error (the parser's), not two at the same place.
            Ok(()) => {
                if let Some(span) = end {
                    push(syn::Error::new(span, "expected `;` after this option"));
                }
            }
        }
    }
    let body = input.parse::<TokenStream>().unwrap_or_default();
    (out, body, errors)
}

/// Parses `#[cancel_scoped(...)]` arguments: `as tg, NAME = VALUE, ...`.
pub(crate) fn parse_attr_options(input: ParseStream<'_>) -> (RawOptions, Option<syn::Error>) {
    let mut out = RawOptions::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    while !input.is_empty() {
        let one = |s: ParseStream<'_>, out: &mut RawOptions| -> syn::Result<()> {
            if s.peek(Token![as]) {
                let as_token = s.parse::<Token![as]>()?;
                if s.is_empty() || s.peek(Token![,]) {
                    return Err(syn::Error::new(
                        as_token.span,
                        "`as` needs a name for the task group handle: `as tg`",
                    ));
                }
                out.names.push(s.parse()?);
                return Ok(());
            }
            let name = s.fork().call(Ident::parse_any)?;
            let Some(kind) = parse_kind(s)? else {
                // Consume the name so recovery skips past it.
                s.call(Ident::parse_any)?;
                return Err(unknown_option(&name, Site::Attr));
            };
            s.parse::<Token![=]>()?;
            let value = parse_value(kind, Site::Attr, s)?;
            out.opts.push(RawOpt {
                kind,
                name_span: name.span(),
                value,
            });
            Ok(())
        };
        if let Err(e) = one(input, &mut out) {
            push(e);
            // Recover: skip to the next top-level comma.
            while !input.is_empty() && !input.peek(Token![,]) {
                if input.parse::<TokenTree>().is_err() {
                    break;
                }
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(e) = input.parse::<Token![,]>() {
            push(e);
            break;
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn macro_opts(ts: TokenStream) -> (RawOptions, TokenStream, Option<syn::Error>) {
        let mut result = None;
        let parser = |s: ParseStream<'_>| {
            result = Some(parse_macro_options(s));
            Ok(())
        };
        parser.parse2(ts).unwrap();
        result.unwrap()
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("parent", "parent"), 0);
        assert_eq!(edit_distance("parents", "parent"), 1);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("parents", MACRO_OPTIONS), Some("parent"));
        assert_eq!(suggest("Timeout", MACRO_OPTIONS), Some("timeout"));
        assert_eq!(suggest("dedline", MACRO_OPTIONS), Some("deadline"));
        assert_eq!(suggest("max_tasks", MACRO_OPTIONS), None);
        assert_eq!(suggest("x", MACRO_OPTIONS), None);
    }

    #[test]
    fn all_options() {
        let (opts, body, err) = macro_opts(quote! {
            as tg;
            parent = a, b;
            timeout = Duration::from_secs(1);
            grace = g;
            limit = 4;
            error = std::io::Error;
            crate = ::my::rt;
            spawn x;
            1
        });
        assert!(err.is_none());
        assert_eq!(opts.names.len(), 1);
        let kinds: Vec<_> = opts.opts.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OptKind::Parent,
                OptKind::Timeout,
                OptKind::Grace,
                OptKind::Limit,
                OptKind::Error,
                OptKind::Crate
            ]
        );
        match &opts.opts[0].value {
            OptValue::Parents(p) => assert_eq!(p.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(body.to_string(), quote!(spawn x; 1).to_string());
    }

    #[test]
    fn bracketed_parents_and_deadline() {
        let (opts, _, err) = macro_opts(quote! { parent = [a, b, c]; deadline = at; });
        assert!(err.is_none());
        match &opts.opts[0].value {
            OptValue::Parents(p) => assert_eq!(p.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(opts.opts[1].kind, OptKind::Deadline);
    }

    #[test]
    fn options_stop_at_first_statement() {
        let (opts, body, err) = macro_opts(quote! { limit = 1; let x = 1; timeout = 5; x == 1; });
        assert!(err.is_none());
        assert_eq!(opts.opts.len(), 1);
        assert_eq!(
            body.to_string(),
            quote!(let x = 1; timeout = 5; x == 1;).to_string()
        );
        // `==` and `=>` are not options.
        let (opts, _, err) = macro_opts(quote! { x == 1; });
        assert!(err.is_none() && opts.opts.is_empty());
    }

    #[test]
    fn unknown_options_are_all_reported() {
        let (opts, _, err) = macro_opts(quote! { parents = a; timout = d; limit = 3; zzz = 1; 0 });
        let err = err.unwrap();
        let msgs: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("unknown option `parents`; did you mean `parent`?"));
        assert!(msgs[1].contains("did you mean `timeout`?"));
        assert!(!msgs[2].contains("did you mean"));
        assert!(msgs[2].contains("valid options are: `as NAME`, `parent`"));
        assert_eq!(opts.opts.len(), 1);
    }

    #[test]
    fn bad_values() {
        let (_, _, err) = macro_opts(quote! { timeout = ; error = 3 + ; crate = a + b; as; 0 });
        let msgs: Vec<String> = err.unwrap().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].contains("`timeout` needs a value"));
        assert!(msgs[3].contains("`as` needs a name"));
    }

    #[test]
    fn attr_args() {
        let parser = |s: ParseStream<'_>| Ok(parse_attr_options(s));
        let (opts, err) = parser
            .parse2(quote!(as tg, parent = [a, b], timeout = Duration::from_millis(5), limit = 2, crate = cs))
            .unwrap();
        assert!(err.is_none());
        assert_eq!(opts.names.len(), 1);
        assert_eq!(opts.opts.len(), 4);
        let (opts, err) = parser
            .parse2(quote!(timout = 1, parnt = x, grace = g))
            .unwrap();
        let msgs: Vec<String> = err.unwrap().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[0]
                .contains("unknown `#[cancel_scoped]` argument `timout`; did you mean `timeout`?")
        );
        assert!(msgs[1].contains("did you mean `parent`?"));
        assert_eq!(opts.opts.len(), 1);
    }
}
