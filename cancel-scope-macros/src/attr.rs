//! The item side of `#[cancel_scoped]`: which items it accepts, and how the function is
//! re-emitted (its signature exactly as written, the body replaced by the scope).
//! The attribute's arguments are parsed by `options::parse_attr_options`.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::quote;

use crate::body;
use syn::{Item, ItemFn, TraitItemFn};

const ONLY_ASYNC_FN: &str = "`#[cancel_scoped]` can only be applied to an `async fn` with a body \
     (a free function, a method or a generic function); remove the attribute, or put it on an \
     `async fn`";

/// Parses the item; only a function with a body is accepted.
pub(crate) fn parse_target(item: TokenStream) -> syn::Result<ItemFn> {
    let parsed: Item = match syn::parse2(item.clone()) {
        Ok(parsed) => parsed,
        Err(e) => {
            // A trait method declaration (`async fn f(&self) -> ..;`) is not an `Item`.
            if let Ok(decl) = syn::parse2::<TraitItemFn>(item.clone()) {
                if decl.default.is_none() {
                    return Err(needs_body(&decl.sig));
                }
            }
            // The macro's keyword form `spawn EXPR;` copied into an attribute body, where the
            // input must be Rust: say what to write instead of syn's "expected `;`".
            return Err(keyword_spawn(item).unwrap_or(e));
        }
    };
    match parsed {
        Item::Fn(f) => Ok(f),
        Item::Verbatim(tokens) => match syn::parse2::<TraitItemFn>(tokens.clone()) {
            Ok(decl) if decl.default.is_none() => Err(needs_body(&decl.sig)),
            _ => Err(syn::Error::new_spanned(tokens, ONLY_ASYNC_FN)),
        },
        other => Err(syn::Error::new_spanned(item_head(&other), ONLY_ASYNC_FN)),
    }
}

/// An error on the first keyword-form `spawn EXPR` in the item's body, if it has one.
fn keyword_spawn(item: TokenStream) -> Option<syn::Error> {
    let body = item.into_iter().filter_map(|tt| match tt {
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some(g),
        _ => None,
    });
    let span = body
        .last()
        .and_then(|g| body::first_keyword_spawn(g.stream()))?;
    Some(syn::Error::new(
        span,
        "in a `#[cancel_scoped]` body, write the spawn form with parentheses: `spawn(EXPR);` \
         (an attribute's input must be valid Rust; `spawn EXPR;` is the `cancel_scope!` form)",
    ))
}

fn needs_body(sig: &syn::Signature) -> syn::Error {
    let fn_token = sig.fn_token;
    let ident = &sig.ident;
    syn::Error::new_spanned(
        quote!(#fn_token #ident),
        "`#[cancel_scoped]` needs a function body to run as the scope body; \
         a declaration without a body (a trait method) cannot carry it: put the attribute on the \
         implementation",
    )
}

/// The tokens naming an item (`struct S`, `impl Foo`, ...), for error spans.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(i) => {
            let (k, n) = (i.struct_token, &i.ident);
            quote!(#k #n)
        }
        Item::Enum(i) => {
            let (k, n) = (i.enum_token, &i.ident);
            quote!(#k #n)
        }
        Item::Mod(i) => {
            let (k, n) = (i.mod_token, &i.ident);
            quote!(#k #n)
        }
        Item::Trait(i) => {
            let (k, n) = (i.trait_token, &i.ident);
            quote!(#k #n)
        }
        Item::Impl(i) => {
            let (k, t) = (i.impl_token, &i.self_ty);
            quote!(#k #t)
        }
        Item::Const(i) => {
            let (k, n) = (i.const_token, &i.ident);
            quote!(#k #n)
        }
        Item::Static(i) => {
            let (k, n) = (i.static_token, &i.ident);
            quote!(#k #n)
        }
        Item::Type(i) => {
            let (k, n) = (i.type_token, &i.ident);
            quote!(#k #n)
        }
        other => quote!(#other),
    }
}

/// The function with `body` (an expression) as its whole body.
pub(crate) fn with_body(f: &ItemFn, body: TokenStream) -> TokenStream {
    let attrs = &f.attrs;
    let vis = &f.vis;
    let sig = &f.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// The function with a body that type-checks whatever it returns, used when the attribute
/// was misapplied, so that the only errors are ours.
pub(crate) fn fallback_fn(f: &ItemFn) -> TokenStream {
    let attrs = &f.attrs;
    let vis = &f.vis;
    let sig = &f.sig;
    quote! {
        #(#attrs)*
        #[allow(unused_variables, unused_mut, unreachable_code)]
        #vis #sig {
            ::core::unreachable!()
        }
    }
}
