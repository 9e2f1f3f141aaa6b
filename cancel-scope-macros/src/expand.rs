//! Expansion: the scope expression both macros generate, and the two pipelines
//! (parse -> validate -> expand) with their fallbacks.
//!
//! The generated code uses the runtime's public API only:
//!
//! ```text
//! {
//!     let __scope = ::cancel_scope::CancelScope::new()   // or ::<E>::with_error()
//!         .parent(&(a)).timeout(d).grace(g).limit(n);
//!     let __tg = __scope.group();
//!     let tg = ::core::clone::Clone::clone(&__tg);       // `as tg;`
//!     __scope.run(async {
//!         let __v = { BODY };
//!         #[allow(unreachable_code)]
//!         let __r = ::core::result::Result::Ok(__v);
//!         __r
//!     }).await
//! }
//! ```
//!
//! `__scope`, `__tg`, `__v` and `__r` are `Span::mixed_site()` identifiers, invisible to the
//! body. The async block is not `move`: the body may borrow the caller's locals.

use crate::attr;
use crate::body::{self, Errors};
use crate::options::{self, Site};
use crate::validate::{self, Config, Timing};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens as _, quote, quote_spanned};
use syn::parse::{ParseStream, Parser as _};
use syn::spanned::Spanned as _;
use syn::{Expr, Ident, Stmt};

/// Generated code plus the errors to report with it.
#[derive(Debug)]
pub(crate) struct Expansion {
    pub(crate) tokens: TokenStream,
    pub(crate) errors: Option<syn::Error>,
}

impl Expansion {
    /// The errors (as `compile_error!`s) followed by the code.
    pub(crate) fn into_token_stream(self) -> TokenStream {
        let mut out = self
            .errors
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
        out.extend(self.tokens);
        out
    }

    /// The errors (as `compile_error!` statements) and the code, as one block expression.
    pub(crate) fn into_expr(self) -> TokenStream {
        match self.errors {
            None => self.tokens,
            Some(e) => {
                let errors = e.to_compile_error();
                let tokens = self.tokens;
                quote!({ #errors #tokens })
            }
        }
    }
}

fn mixed(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The builder chain `CancelScope::new().parent(..)...`.
fn builder(config: &Config, error_ty: Option<&syn::Type>) -> TokenStream {
    let krate = &config.krate;
    let mut out = if let Some(ty) = error_ty {
        quote_spanned!(ty.span()=> #krate::CancelScope::<#ty>::with_error())
    } else {
        quote!(#krate::CancelScope::new())
    };
    for p in &config.parents {
        out.extend(quote_spanned!(p.span()=> .parent(&(#p))));
    }
    match &config.timing {
        Some(Timing::Timeout(d)) => out.extend(quote_spanned!(d.span()=> .timeout(#d))),
        Some(Timing::Deadline(at)) => out.extend(quote_spanned!(at.span()=> .deadline(#at))),
        None => {}
    }
    if let Some(g) = &config.grace {
        out.extend(quote_spanned!(g.span()=> .grace(#g)));
    }
    if let Some(n) = &config.limit {
        out.extend(quote_spanned!(n.span()=> .limit(#n)));
    }
    out
}

/// The scope expression for a rewritten body.
pub(crate) fn scope_expr(
    config: &Config,
    error_ty: Option<&syn::Type>,
    mut stmts: Vec<Stmt>,
    used_tg: bool,
) -> TokenStream {
    let scope = mixed("__scope");
    let tg = mixed("__tg");
    let v = mixed("__v");
    let r = mixed("__r");
    let build = builder(config, error_ty);
    // Without a trailing expression the block's value is `()` (or `!` after `cancel;`): no
    // `()` is written, since one after a diverging statement would warn as unreachable.
    let tail = match stmts.last() {
        Some(Stmt::Expr(_, None)) => match stmts.pop() {
            Some(Stmt::Expr(e, None)) => e.into_token_stream(),
            _ => quote!(),
        },
        _ => quote!(),
    };
    let group = match (&config.name, used_tg) {
        (Some(name), true) => quote! {
            let #tg = #scope.group();
            let #name = ::core::clone::Clone::clone(&#tg);
        },
        (Some(name), false) => quote!(let #name = #scope.group();),
        (None, true) => quote!(let #tg = #scope.group();),
        (None, false) => quote!(),
    };
    quote! {
        {
            let #scope = #build;
            #group
            #scope.run(async {
                let #v = { #(#stmts)* #tail };
                #[allow(unreachable_code)]
                let #r = ::core::result::Result::Ok(#v);
                #r
            }).await
        }
    }
}

/// `cancel_scope! { .. }`.
pub(crate) fn cancel_scope(input: TokenStream) -> Expansion {
    let mut errors = Errors::default();
    let mut parsed = None;
    let parser = |s: ParseStream<'_>| {
        parsed = Some(options::parse_macro_options(s));
        Ok(())
    };
    if let Err(e) = parser.parse2(input) {
        errors.push(e);
    }
    let (raw, body_tokens, opt_errors) = parsed.unwrap_or_default();
    if let Some(e) = opt_errors {
        errors.push(e);
    }
    let (config, val_errors) = validate::validate_options(raw, Site::Macro);
    if let Some(e) = val_errors {
        errors.push(e);
    }
    let error_ty = config.error_ty.clone();
    let tokens = match body::rewrite_body(body_tokens, &mixed("__tg"), &mut errors) {
        Ok((stmts, used)) => scope_expr(&config, error_ty.as_ref(), stmts, used),
        Err(e) => {
            errors.push(e);
            fallback_expr(&config, error_ty.as_ref())
        }
    };
    Expansion {
        tokens,
        errors: errors.take(),
    }
}

/// A scope expression of the right type whose body does nothing, for a body that did not
/// parse (so rustc reports our error, not a cascade).
fn fallback_expr(config: &Config, error_ty: Option<&syn::Type>) -> TokenStream {
    let stmts = vec![Stmt::Expr(
        Expr::Verbatim(quote!(::core::unreachable!())),
        None,
    )];
    let config = Config {
        name: None,
        ..config.clone()
    };
    scope_expr(&config, error_ty, stmts, false)
}

/// `#[cancel_scoped(..)] async fn ..`.
pub(crate) fn cancel_scoped(args: TokenStream, item: TokenStream) -> Expansion {
    let mut errors = Errors::default();
    let mut parsed = None;
    let parser = |s: ParseStream<'_>| {
        parsed = Some(options::parse_attr_options(s));
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    let (raw, opt_errors) = parsed.unwrap_or_default();
    if let Some(e) = opt_errors {
        errors.push(e);
    }
    let (config, val_errors) = validate::validate_options(raw, Site::Attr);
    if let Some(e) = val_errors {
        errors.push(e);
    }
    let f = match attr::parse_target(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.push(e);
            // Not a function with a body: leave the item as it is.
            return Expansion {
                tokens: item,
                errors: errors.take(),
            };
        }
    };
    let (error_ty, fn_errors) = validate::validate_fn(&f);
    if let Some(e) = fn_errors {
        errors.push(e);
        return Expansion {
            tokens: attr::fallback_fn(&f),
            errors: errors.take(),
        };
    }
    let stmts = &f.block.stmts;
    let tokens = match body::rewrite_body(quote!(#(#stmts)*), &mixed("__tg"), &mut errors) {
        Ok((stmts, used)) => {
            let scope = scope_expr(&config, error_ty.as_ref(), stmts, used);
            attr::with_body(&f, scope)
        }
        Err(e) => {
            errors.push(e);
            attr::fallback_fn(&f)
        }
    };
    Expansion {
        tokens,
        errors: errors.take(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(ts: TokenStream) -> String {
        ts.to_string()
    }

    #[test]
    fn minimal_expansion() {
        let out = cancel_scope(quote!(42));
        assert!(out.errors.is_none());
        assert_eq!(
            norm(out.tokens),
            norm(quote! {
                {
                    let __scope = ::cancel_scope::CancelScope::new();
                    __scope.run(async {
                        let __v = { 42 };
                        #[allow(unreachable_code)]
                        let __r = ::core::result::Result::Ok(__v);
                        __r
                    }).await
                }
            })
        );
    }

    #[test]
    fn full_expansion() {
        let out = cancel_scope(quote! {
            as tg;
            parent = a, b;
            timeout = d;
            grace = g;
            limit = n;
            error = MyErr;
            crate = ::re;
            spawn f();
            cancel;
        });
        assert!(out.errors.is_none(), "{:?}", out.errors);
        assert_eq!(
            norm(out.tokens),
            norm(quote! {
                {
                    let __scope = ::re::CancelScope::<MyErr>::with_error()
                        .parent(&(a)).parent(&(b)).timeout(d).grace(g).limit(n);
                    let __tg = __scope.group();
                    let tg = ::core::clone::Clone::clone(&__tg);
                    __scope.run(async {
                        let __v = {
                            __tg.spawn(f());
                            { __tg.cancel(); match ::core::future::pending::<::core::convert::Infallible>().await {} };
                        };
                        #[allow(unreachable_code)]
                        let __r = ::core::result::Result::Ok(__v);
                        __r
                    }).await
                }
            })
        );
    }

    #[test]
    fn deadline_and_named_group_without_forms() {
        let out = cancel_scope(quote!(as g; deadline = at; g.len()));
        assert!(out.errors.is_none());
        let s = norm(out.tokens);
        assert!(
            s.contains(&norm(
                quote!(::cancel_scope::CancelScope::new().deadline(at);)
            )),
            "{s}"
        );
        assert!(s.contains(&norm(quote!(let g = __scope.group();))), "{s}");
        assert!(s.contains(&norm(quote!(let __v = { g.len() };))), "{s}");
    }

    #[test]
    fn errors_come_with_a_fallback_expansion() {
        let out = cancel_scope(quote!(timout = 1; limit = 2; limit = 3; spawn; 5));
        let errs: Vec<String> = out
            .errors
            .unwrap()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(norm(out.tokens).contains("run"));
        // A body that does not parse.
        let out = cancel_scope(quote!(let = ;));
        assert!(out.errors.is_some());
        assert!(norm(out.tokens).contains("unreachable"));
    }

    #[test]
    fn attribute_expansion() {
        let out = cancel_scoped(
            quote!(as tg, timeout = d),
            quote! {
                /// Doc.
                pub async fn f<T: Send>(&self, x: T) -> cancel_scope::ScopeResult<u32, MyErr> {
                    spawn(g(x));
                    let h = spawn(k());
                    if bad { cancel; }
                    7
                }
            },
        );
        assert!(out.errors.is_none(), "{:?}", out.errors);
        let s = norm(out.tokens);
        assert!(
            s.starts_with(&norm(quote! {
                #[doc = r" Doc."]
                pub async fn f<T: Send>(&self, x: T) -> cancel_scope::ScopeResult<u32, MyErr>
            })),
            "{s}"
        );
        assert!(
            s.contains(&norm(
                quote!(::cancel_scope::CancelScope::<MyErr>::with_error().timeout(d);)
            )),
            "{s}"
        );
        assert!(
            s.contains(&norm(quote!(__tg.spawn(g(x)); let h = __tg.spawn(k());))),
            "{s}"
        );
        assert!(s.contains("let __v = {"), "{s}");
    }

    #[test]
    fn attribute_errors() {
        let e = |args: TokenStream, item: TokenStream| -> Vec<String> {
            cancel_scoped(args, item)
                .errors
                .map(|e| e.into_iter().map(|e| e.to_string()).collect())
                .unwrap_or_default()
        };
        let errs = e(
            quote!(timout = 1, error = E),
            quote!(
                fn f() -> u8 {
                    1
                }
            ),
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            e(
                quote!(),
                quote!(
                    struct S;
                )
            )[0]
            .contains("only be applied to an `async fn`")
        );
        let errs = e(
            quote!(),
            quote!(
                async fn f() -> ScopeResult<()>;
            ),
        );
        assert!(errs[0].contains("needs a function body"), "{errs:?}");
        assert!(
            e(
                quote!(),
                quote!(
                    async fn f() -> ScopeResult<()> {
                        spawn(x);
                    }
                )
            )
            .is_empty()
        );
    }
}
