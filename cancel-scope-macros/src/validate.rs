//! Validation: turns what was written into a [`Config`], reporting every problem at once
//! (each option at most once, `timeout` xor `deadline`, no `error` in the attribute) and
//! checks the function `#[cancel_scoped]` is applied to.
//!
//! Validation never gives up early: on an error it still returns a usable `Config` (the
//! offending option ignored), so the expansion can go on and rustc does not pile unrelated
//! errors on top of ours.

use crate::options::{OptKind, OptValue, RawOptions, Site};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens as _, quote};
use syn::{Expr, GenericArgument, Ident, ItemFn, PathArguments, ReturnType, Type};

/// When the deadline is set.
#[derive(Clone, Debug)]
pub(crate) enum Timing {
    Timeout(Expr),
    Deadline(Expr),
}

/// The validated options of one scope.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) name: Option<Ident>,
    pub(crate) parents: Vec<Expr>,
    pub(crate) timing: Option<Timing>,
    pub(crate) grace: Option<Expr>,
    pub(crate) limit: Option<Expr>,
    pub(crate) error_ty: Option<Type>,
    /// Path of the runtime crate: `::cancel_scope` unless `crate = ...`.
    pub(crate) krate: TokenStream,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: None,
            parents: Vec::new(),
            timing: None,
            grace: None,
            limit: None,
            error_ty: None,
            krate: quote!(::cancel_scope),
        }
    }
}

fn push(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

/// Validates options; returns the config (always) and every error found.
pub(crate) fn validate_options(raw: RawOptions, site: Site) -> (Config, Option<syn::Error>) {
    let mut config = Config::default();
    let mut errors = None;
    let mut names = raw.names.into_iter();
    config.name = names.next();
    for extra in names {
        push(
            &mut errors,
            syn::Error::new(
                extra.span(),
                "the task group is named more than once (`as NAME` may appear once)",
            ),
        );
    }
    let mut seen: Vec<(OptKind, Span)> = Vec::new();
    for opt in raw.opts {
        if seen.iter().any(|(k, _)| *k == opt.kind) {
            push(
                &mut errors,
                syn::Error::new(
                    opt.name_span,
                    format_args!("`{}` is set multiple times; set it once", opt.kind.name()),
                ),
            );
            continue;
        }
        seen.push((opt.kind, opt.name_span));
        if matches!(opt.kind, OptKind::Timeout | OptKind::Deadline) {
            if let Some((other, _)) = seen
                .iter()
                .find(|(k, _)| *k != opt.kind && matches!(k, OptKind::Timeout | OptKind::Deadline))
            {
                push(
                    &mut errors,
                    syn::Error::new(
                        opt.name_span,
                        format_args!(
                            "`{}` cannot be combined with `{}`: a scope has one deadline; set either \
                             `timeout = DURATION` (counted from the start of the scope) or `deadline = INSTANT`",
                            opt.kind.name(),
                            other.name()
                        ),
                    ),
                );
                continue;
            }
        }
        if opt.kind == OptKind::Error && site == Site::Attr {
            push(
                &mut errors,
                syn::Error::new(
                    opt.name_span,
                    "`error` cannot be set in `#[cancel_scoped]`: the error type comes from the return type; \
                     declare the function as `-> ScopeResult<T, YourError>`",
                ),
            );
            continue;
        }
        match (opt.kind, opt.value) {
            (OptKind::Parent, OptValue::Parents(p)) => config.parents = p,
            (OptKind::Timeout, OptValue::Expr(e)) => config.timing = Some(Timing::Timeout(e)),
            (OptKind::Deadline, OptValue::Expr(e)) => config.timing = Some(Timing::Deadline(e)),
            (OptKind::Grace, OptValue::Expr(e)) => config.grace = Some(e),
            (OptKind::Limit, OptValue::Expr(e)) => config.limit = Some(e),
            (OptKind::Error, OptValue::Type(t)) => config.error_ty = Some(t),
            (OptKind::Crate, OptValue::Path(p)) => config.krate = p.to_token_stream(),
            (kind, _) => push(
                &mut errors,
                syn::Error::new(
                    opt.name_span,
                    format_args!("internal error: bad value for `{}`", kind.name()),
                ),
            ),
        }
    }
    (config, errors)
}

/// The `T` and `E` of a return type written `ScopeResult<T>` or `ScopeResult<T, E>` (through
/// any path whose last segment is `ScopeResult`).
pub(crate) fn scope_result_args(ty: &Type) -> Option<(Type, Option<Type>)> {
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Group(g) => return scope_result_args(&g.elem),
        Type::Paren(p) => return scope_result_args(&p.elem),
        _ => return None,
    };
    let last = path.segments.last()?;
    if last.ident != "ScopeResult" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    let t = types.next()??;
    let e = match types.next() {
        Some(e) => Some(e?),
        None => None,
    };
    if types.next().is_some() {
        return None;
    }
    Some((t, e))
}

/// A type as a user would write it, for messages (`std::io::Error`, not `std :: io :: Error`).
fn type_string(ty: &Type) -> String {
    let mut s = ty.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// Checks the function of `#[cancel_scoped]`: `async`, returning `ScopeResult<..>`. Returns
/// the error type written in the return type (`None`: the default `BoxError`).
pub(crate) fn validate_fn(f: &ItemFn) -> (Option<Type>, Option<syn::Error>) {
    let mut errors = None;
    // Errors about the signature point at `fn name`.
    let fn_token = f.sig.fn_token;
    let ident = &f.sig.ident;
    let fn_head = quote!(#fn_token #ident);
    if f.sig.asyncness.is_none() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                &fn_head,
                "`#[cancel_scoped]` only works on an `async fn`: the scope awaits its tasks; write `async fn`",
            ),
        );
    }
    let mut error_ty = None;
    match &f.sig.output {
        ReturnType::Default => {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &fn_head,
                    "a `#[cancel_scoped]` fn must declare its return type as `ScopeResult<T>` or \
                     `ScopeResult<T, E>`: add `-> ScopeResult<()>` (`cancel_scope::ScopeResult`)",
                ),
            );
        }
        ReturnType::Type(_, ty) => match scope_result_args(ty) {
            Some((_, e)) => error_ty = e,
            None => push(
                &mut errors,
                syn::Error::new_spanned(
                    ty,
                    format_args!(
                        "a `#[cancel_scoped]` fn must return `ScopeResult<T>` or `ScopeResult<T, E>`, not `{}`: \
                         the body's value becomes `T` and `?` works on `E`",
                        type_string(ty)
                    ),
                ),
            ),
        },
    }
    (error_ty, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse_attr_options, parse_macro_options};
    use syn::parse::{ParseStream, Parser as _};

    fn macro_config(ts: TokenStream) -> (Config, Vec<String>) {
        let (raw, _, err) = (|s: ParseStream<'_>| Ok(parse_macro_options(s)))
            .parse2(ts)
            .unwrap();
        assert!(err.is_none());
        let (config, err) = validate_options(raw, Site::Macro);
        (
            config,
            err.map(|e| e.into_iter().map(|e| e.to_string()).collect())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn duplicates_and_exclusive_options_are_all_reported() {
        let (config, errs) = macro_config(quote! {
            as a; as b; timeout = x; limit = 1; limit = 2; deadline = y; parent = p; parent = q; 0
        });
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("named more than once"));
        assert!(errs[1].contains("`limit` is set multiple times"));
        assert!(errs[2].contains("`deadline` cannot be combined with `timeout`"));
        assert!(errs[3].contains("`parent` is set multiple times"));
        assert_eq!(config.name.unwrap().to_string(), "a");
        assert!(matches!(config.timing, Some(Timing::Timeout(_))));
        assert_eq!(config.parents.len(), 1);
    }

    #[test]
    fn error_in_attribute() {
        let (raw, err) = (|s: ParseStream<'_>| Ok(parse_attr_options(s)))
            .parse2(quote!(error = io::Error, limit = 2))
            .unwrap();
        assert!(err.is_none());
        let (config, err) = validate_options(raw, Site::Attr);
        let msg = err.unwrap().to_string();
        assert!(
            msg.contains("the error type comes from the return type"),
            "{msg}"
        );
        assert!(config.limit.is_some() && config.error_ty.is_none());
    }

    #[test]
    fn crate_path() {
        let (config, errs) = macro_config(quote! { crate = ::re::export; 1 });
        assert!(errs.is_empty());
        assert_eq!(config.krate.to_string(), quote!(::re::export).to_string());
    }

    #[test]
    fn return_types() {
        let t = |ts: TokenStream| {
            scope_result_args(&syn::parse2(ts).unwrap()).map(|(t, e)| {
                (
                    t.to_token_stream().to_string(),
                    e.map(|e| e.to_token_stream().to_string()),
                )
            })
        };
        assert_eq!(t(quote!(ScopeResult<u32>)), Some(("u32".into(), None)));
        assert_eq!(
            t(quote!(cancel_scope::ScopeResult<(), io::Error>)),
            Some(("()".into(), Some("io :: Error".into())))
        );
        assert_eq!(t(quote!(Result<u32, E>)), None);
        assert_eq!(t(quote!(ScopeResult)), None);
        assert_eq!(t(quote!(ScopeResult<'a, u8>)), None);
        assert_eq!(t(quote!(ScopeResult<u8, u8, u8>)), None);
    }

    #[test]
    fn fn_checks_are_combined() {
        let f: ItemFn = syn::parse2(quote!(
            fn f() -> u32 {
                1
            }
        ))
        .unwrap();
        let (_, err) = validate_fn(&f);
        let errs: Vec<String> = err.unwrap().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].contains("only works on an `async fn`"));
        assert!(errs[1].contains("not `u32`"));
        let f: ItemFn = syn::parse2(quote!(
            async fn f() {}
        ))
        .unwrap();
        assert!(
            validate_fn(&f)
                .1
                .unwrap()
                .to_string()
                .contains("add `-> ScopeResult<()>`")
        );
        let f: ItemFn = syn::parse2(quote!(
            async fn f(&self) -> ScopeResult<u8, E> {
                1
            }
        ))
        .unwrap();
        let (e, err) = validate_fn(&f);
        assert!(err.is_none());
        assert_eq!(e.unwrap().to_token_stream().to_string(), "E");
    }
}
