//! Parse stage for the options as written: the leading `NAME = VALUE;` lines of
//! `cancel_scope!` and the arguments of `#[cancel_scoped(..)]`. Names are looked up in the
//! option table (`options`), values parsed by its shape. Errors in one option do not stop the
//! others from being parsed; whether a combination is allowed is `validate`'s job.

use crate::diagnostics::Diagnostics;
use crate::options::{self, OptKind, RawOpt, RawOptions, Shape, Site};
use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::{Ident, Token};

/// Is `name` a flag option (no value)?
fn is_flag(name: &Ident) -> bool {
    OptKind::from_name(&name.unraw().to_string()).is_some_and(|k| k.spec().shape == Shape::Flag)
}

/// A flag option written with a value (`supervise = true`): an error on the `=` that says the
/// flag takes none.
fn flag_takes_no_value(name: &str, s: ParseStream<'_>) -> syn::Result<()> {
    if s.peek(Token![=]) {
        let eq: Token![=] = s.parse()?;
        return Err(syn::Error::new(
            eq.span,
            format_args!(
                "the `{name}` option takes no value: write `{name};` in `cancel_scope!`, \
                 `{name}` in `#[cancel_scoped(..)]`"
            ),
        ));
    }
    Ok(())
}

/// Does `input` start with an option line (`as NAME`, `NAME =` but not `==`/`=>`, or a flag
/// option's `NAME;`)?
fn at_option(input: ParseStream<'_>) -> bool {
    if input.peek(Token![as]) {
        return true;
    }
    if !input.peek(Ident::peek_any) {
        return false;
    }
    if input.peek2(Token![=]) && !input.peek2(Token![==]) && !input.peek2(Token![=>]) {
        return true;
    }
    input.peek2(Token![;])
        && input
            .fork()
            .call(Ident::parse_any)
            .is_ok_and(|n| is_flag(&n))
}

/// Splits off the tokens up to (not including) the next top-level `;`, consuming the `;`.
/// Returns the tokens and whether a `;` ended them.
fn take_until_semi(input: ParseStream<'_>) -> syn::Result<(TokenStream, bool)> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';') {
                return Ok(((tokens, true), next));
            }
            tokens.extend([tt]);
            rest = next;
        }
        Ok(((tokens, false), rest))
    })
}

/// The span of the last token of `tokens` (where "expected `;`" belongs).
fn last_span(tokens: impl quote::ToTokens) -> Option<Span> {
    tokens
        .into_token_stream()
        .into_iter()
        .last()
        .map(|t| t.span())
}

/// One `NAME = VALUE` / `NAME` / `as NAME` line of the macro (without its `;`).
fn macro_line(s: ParseStream<'_>, out: &mut RawOptions) -> syn::Result<()> {
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
            return Err(syn::Error::new(name.span(), "expected `;` after `as NAME`"));
        }
        out.names.push(name);
        return Ok(());
    }
    let name = s.call(Ident::parse_any)?;
    let Some(kind) = OptKind::from_name(&name.unraw().to_string()) else {
        return Err(options::unknown_option(
            &name.unraw().to_string(),
            name.span(),
            Site::Macro,
        ));
    };
    let spec = kind.spec();
    if spec.shape == Shape::Flag {
        flag_takes_no_value(spec.name, s)?;
    } else {
        s.parse::<Token![=]>()?;
    }
    let value = options::parse_value(spec, Site::Macro, s)?;
    if !s.is_empty() {
        // Point at the end of the option, not at the next line's first token.
        let at = value.end_span().unwrap_or_else(|| name.span());
        return Err(syn::Error::new(
            at,
            format_args!(
                "expected `;` after the `{}` option: it takes {}",
                spec.name, spec.expects
            ),
        ));
    }
    out.opts.push(RawOpt {
        kind,
        name_span: name.span(),
        value,
    });
    Ok(())
}

/// The input of `cancel_scope!` split into its option lines and the body.
#[derive(Debug, Default)]
pub(crate) struct MacroArgs {
    pub(crate) options: RawOptions,
    /// Everything after the last option line.
    pub(crate) body: TokenStream,
}

/// Parses the leading options of `cancel_scope!` and returns them with the remaining body
/// tokens. Every error goes to `diag`.
pub(crate) fn parse_macro_options(input: ParseStream<'_>, diag: &mut Diagnostics) -> MacroArgs {
    let mut out = RawOptions::default();
    while at_option(input) {
        let (line, semi) = match take_until_semi(input) {
            Ok(x) => x,
            Err(e) => {
                diag.push(e);
                break;
            }
        };
        // `NAME = VALUE` at the very end, without `;`: still an option line (a body that is a
        // single assignment makes no sense).
        let end = if semi { None } else { last_span(line.clone()) };
        match (|s: ParseStream<'_>| macro_line(s, &mut out)).parse2(line) {
            Err(e) => diag.push(e),
            Ok(()) => {
                if let Some(span) = end {
                    diag.error(span, "expected `;` after this option");
                }
            }
        }
    }
    let body = input.parse::<TokenStream>().unwrap_or_default();
    MacroArgs { options: out, body }
}

/// One argument of the attribute.
fn attr_arg(s: ParseStream<'_>, out: &mut RawOptions) -> syn::Result<()> {
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
    let name = s.call(Ident::parse_any)?;
    let Some(kind) = OptKind::from_name(&name.unraw().to_string()) else {
        return Err(options::unknown_option(
            &name.unraw().to_string(),
            name.span(),
            Site::Attr,
        ));
    };
    let spec = kind.spec();
    if spec.shape == Shape::Flag {
        flag_takes_no_value(spec.name, s)?;
    } else {
        s.parse::<Token![=]>()?;
    }
    let value = options::parse_value(spec, Site::Attr, s)?;
    out.opts.push(RawOpt {
        kind,
        name_span: name.span(),
        value,
    });
    Ok(())
}

/// Parses `#[cancel_scoped(...)]` arguments: `as tg, NAME = VALUE, FLAG, ...`.
pub(crate) fn parse_attr_args(input: ParseStream<'_>, diag: &mut Diagnostics) -> RawOptions {
    let mut out = RawOptions::default();
    while !input.is_empty() {
        if let Err(e) = attr_arg(input, &mut out) {
            diag.push(e);
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
            diag.push(e);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptValue;
    use quote::quote;

    fn macro_opts(ts: TokenStream) -> (RawOptions, TokenStream, Vec<String>) {
        let mut diag = Diagnostics::default();
        let args = (|s: ParseStream<'_>| Ok(parse_macro_options(s, &mut diag)))
            .parse2(ts)
            .unwrap();
        (args.options, args.body, diag.messages())
    }

    fn attr_args(ts: TokenStream) -> (RawOptions, Vec<String>) {
        let mut diag = Diagnostics::default();
        let opts = (|s: ParseStream<'_>| Ok(parse_attr_args(s, &mut diag)))
            .parse2(ts)
            .unwrap();
        (opts, diag.messages())
    }

    #[test]
    fn all_options_then_the_body() {
        let (opts, body, errs) = macro_opts(quote! {
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
        assert!(errs.is_empty(), "{errs:?}");
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
        assert!(matches!(&opts.opts[0].value, OptValue::List(p) if p.len() == 2));
        assert_eq!(body.to_string(), quote!(spawn x; 1).to_string());
    }

    #[test]
    fn options_stop_at_the_first_statement() {
        let (opts, body, errs) = macro_opts(quote! { limit = 1; let x = 1; timeout = 5; x == 1; });
        assert!(errs.is_empty());
        assert_eq!(opts.opts.len(), 1);
        assert_eq!(
            body.to_string(),
            quote!(let x = 1; timeout = 5; x == 1;).to_string()
        );
        // `==` and `=>` are not options.
        let (opts, _, errs) = macro_opts(quote! { x == 1; });
        assert!(errs.is_empty() && opts.opts.is_empty());
    }

    #[test]
    fn every_bad_option_is_reported() {
        let (opts, _, errs) = macro_opts(quote! { parents = a; timout = d; limit = 3; zzz = 1; 0 });
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("unknown option `parents`; did you mean `parent`?"));
        assert!(errs[1].contains("did you mean `timeout`?"));
        assert!(
            errs[2].contains("valid options are: `as NAME`, `parent`")
                && !errs[2].contains("did you mean")
        );
        assert_eq!(opts.opts.len(), 1);
        let (_, _, errs) = macro_opts(quote! { timeout = ; error = 3 + ; crate = a + b; as; 0 });
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("`timeout` needs a value"));
        assert!(errs[3].contains("`as` needs a name"));
    }

    #[test]
    fn a_missing_semicolon_is_reported_at_the_end_of_the_option() {
        let (_, _, errs) = macro_opts(quote! { limit = 3 1 });
        assert_eq!(
            errs,
            ["expected `;` after the `limit` option: it takes a `usize` expression"]
        );
        let (_, _, errs) = macro_opts(quote! { limit = 3 });
        assert_eq!(errs, ["expected `;` after this option"]);
    }

    #[test]
    fn attribute_arguments() {
        let (opts, errs) = attr_args(
            quote!(as tg, parent = [a, b], timeout = Duration::from_millis(5), limit = 2, crate = cs),
        );
        assert!(errs.is_empty());
        assert_eq!(opts.names.len(), 1);
        assert_eq!(opts.opts.len(), 4);
        let (opts, errs) = attr_args(quote!(timout = 1, parnt = x, grace = g));
        assert_eq!(errs.len(), 2);
        assert!(
            errs[0]
                .contains("unknown `#[cancel_scoped]` argument `timout`; did you mean `timeout`?")
        );
        assert!(errs[1].contains("did you mean `parent`?"));
        assert_eq!(opts.opts.len(), 1);
    }
}
