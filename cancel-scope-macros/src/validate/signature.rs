//! The function `#[cancel_scoped]` is applied to: an `async fn` returning `ScopeResult<T>` or
//! `ScopeResult<T, E>` (through any path ending in `ScopeResult`).

use crate::body::{Tail, Variant};
use crate::diagnostics::{Diagnostics, source_text};
use quote::quote;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

/// The `T` and `E` of a return type written `ScopeResult<T>` or `ScopeResult<T, E>` (through
/// any path whose last segment is `ScopeResult`).
pub(crate) fn scope_result_args(ty: &Type) -> Option<ScopeResultArgs> {
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
    Some(ScopeResultArgs {
        value_ty: t,
        error_ty: e,
    })
}

/// The arguments of `ScopeResult<T, E>`.
#[derive(Clone, Debug)]
pub(crate) struct ScopeResultArgs {
    pub(crate) value_ty: Type,
    /// `None` for `ScopeResult<T>`.
    pub(crate) error_ty: Option<Type>,
}

/// What the signature tells the expansion.
#[derive(Clone, Debug, Default)]
pub(crate) struct Signature {
    /// The `E` of `ScopeResult<T, E>` (`None`: the default `BoxError`).
    pub(crate) error_ty: Option<Type>,
    /// The `T` of `ScopeResult<T, E>`, when the return type could be read.
    pub(crate) value_ty: Option<Type>,
}

/// The return type to declare instead of `ty`: `ScopeResult<T, E>` for `Result<T, E>` (any
/// path ending in `Result`), `ScopeResult<ty>` for a type that is no `Result`.
fn scope_result_for(ty: &Type) -> Option<String> {
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Group(g) => return scope_result_for(&g.elem),
        Type::Paren(p) => return scope_result_for(&p.elem),
        _ => return Some(format!("ScopeResult<{}>", source_text(ty))),
    };
    let last = path.segments.last()?;
    if !last.ident.to_string().ends_with("Result") {
        return Some(format!("ScopeResult<{}>", source_text(ty)));
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(t), GenericArgument::Type(e)] => Some(format!(
            "ScopeResult<{}, {}>",
            source_text(t),
            source_text(e)
        )),
        _ => None,
    }
}

/// The error for a return type that is not `ScopeResult<..>`, with every fix the macro can
/// see at once: the return type to declare and, for an `Ok(..)` / `Err(..)` tail, how to
/// write the body's value.
fn wrong_return_type(ty: &Type, tail: Option<&Tail>) -> String {
    let mut fixes = Vec::new();
    if let Some(declare) = scope_result_for(ty) {
        fixes.push(format!("declare `-> {declare}`"));
    }
    if let Some(Tail::ResultCall { variant, args, .. }) = tail {
        let args = source_text(args);
        fixes.push(match variant {
            Variant::Ok => format!("write the body's value as `{args}` instead of `Ok({args})`"),
            Variant::Err => {
                format!("to fail the body, write `Err({args})?` instead of `Err({args})`")
            }
        });
    }
    let mut msg = format!(
        "a `#[cancel_scoped]` fn must return `ScopeResult<T>` or `ScopeResult<T, E>`, not `{}`: ",
        source_text(ty)
    );
    if fixes.is_empty() {
        msg.push_str("the body's value becomes `T` and `?` works on `E`");
    } else {
        msg.push_str(&fixes.join(", and "));
        msg.push_str(" (the body's value becomes `T`, the scope adds the `Ok`; `?` works on `E`)");
    }
    msg
}

/// Checks the function of `#[cancel_scoped]`: `async`, returning `ScopeResult<..>`. `tail` is
/// the body's trailing expression, when the body parsed, for the advice.
pub(crate) fn validate_fn(
    sig: &syn::Signature,
    tail: Option<&Tail>,
    diag: &mut Diagnostics,
) -> Signature {
    // Errors about the signature point at `fn name`.
    let fn_token = sig.fn_token;
    let ident = &sig.ident;
    let fn_head = quote!(#fn_token #ident);
    if sig.asyncness.is_none() {
        diag.push(syn::Error::new_spanned(
            &fn_head,
            "`#[cancel_scoped]` only works on an `async fn`: the scope awaits its tasks; write `async fn`",
        ));
    }
    let mut out = Signature::default();
    match &sig.output {
        ReturnType::Default => diag.push(syn::Error::new_spanned(
            &fn_head,
            "a `#[cancel_scoped]` fn must declare its return type as `ScopeResult<T>` or \
             `ScopeResult<T, E>`: add `-> ScopeResult<()>` (`cancel_scope::ScopeResult`)",
        )),
        ReturnType::Type(_, ty) => match scope_result_args(ty) {
            Some(args) => {
                out.value_ty = Some(args.value_ty);
                out.error_ty = args.error_ty;
            }
            None => diag.push(syn::Error::new_spanned(ty, wrong_return_type(ty, tail))),
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::ToTokens as _;

    #[test]
    fn return_types() {
        let t = |ts: TokenStream| {
            scope_result_args(&syn::parse2(ts).unwrap()).map(|a| {
                (
                    a.value_ty.to_token_stream().to_string(),
                    a.error_ty.map(|e| e.to_token_stream().to_string()),
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

    fn check(ts: TokenStream) -> (Signature, Vec<String>) {
        let f: syn::ItemFn = syn::parse2(ts).unwrap();
        let mut diag = Diagnostics::default();
        let sig = validate_fn(&f.sig, None, &mut diag);
        (sig, diag.messages())
    }

    #[test]
    fn a_wrong_return_type_comes_with_every_fix() {
        let msg = |ret: TokenStream, body: TokenStream| {
            let f: syn::ItemFn = syn::parse2(quote!(async fn f() -> #ret { #body })).unwrap();
            let mut diag = Diagnostics::default();
            let body = crate::body::Body::parse(body, &mut diag).unwrap();
            validate_fn(&f.sig, Some(&body.tail), &mut diag);
            diag.messages().remove(0)
        };
        let m = msg(quote!(Result<u32, std::io::Error>), quote!(Ok(1)));
        assert!(
            m.ends_with(
                "not `Result<u32, std::io::Error>`: declare `-> ScopeResult<u32, std::io::Error>`, \
                 and write the body's value as `1` instead of `Ok(1)` (the body's value becomes \
                 `T`, the scope adds the `Ok`; `?` works on `E`)"
            ),
            "{m}"
        );
        let m = msg(quote!(u8), quote!(let e = 1; Err(e)));
        assert!(m.contains("declare `-> ScopeResult<u8>`, and to fail the body, write `Err(e)?`"));
        let m = msg(quote!(io::Result<u8>), quote!(1));
        assert!(
            m.ends_with("the body's value becomes `T` and `?` works on `E`"),
            "{m}"
        );
    }

    #[test]
    fn fn_checks_are_combined() {
        let (_, errs) = check(quote!(
            fn f() -> u32 {
                1
            }
        ));
        assert_eq!(errs.len(), 2);
        assert!(errs[0].contains("only works on an `async fn`"));
        assert!(errs[1].contains("not `u32`"));
        let (_, errs) = check(quote!(
            async fn f() {}
        ));
        assert!(errs[0].contains("add `-> ScopeResult<()>`"));
        let (sig, errs) = check(quote!(
            async fn f(&self) -> ScopeResult<u8, E> {
                1
            }
        ));
        assert!(errs.is_empty());
        assert_eq!(sig.error_ty.unwrap().to_token_stream().to_string(), "E");
        assert_eq!(sig.value_ty.unwrap().to_token_stream().to_string(), "u8");
    }
}
