//! Parse stage for `#[cancel_scoped]`'s item: which items it accepts, split into the parts
//! the expansion re-emits as written (attributes, visibility, signature) and the body tokens,
//! which go through the same body parsing as `cancel_scope!`'s (`body`). The attribute's
//! arguments are parsed by `args::parse_attr_args`. Nothing here generates code.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Item, Signature, TraitItemFn, Visibility};

const ONLY_ASYNC_FN: &str = "`#[cancel_scoped]` can only be applied to an `async fn` with a body \
     (a free function, a method or a generic function); remove the attribute, or put it on an \
     `async fn`";

/// The function the attribute is applied to, its body not yet parsed.
#[derive(Clone, Debug)]
pub(crate) struct FnItem {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The tokens inside the body's braces.
    pub(crate) body: TokenStream,
}

impl Parse for FnItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        syn::braced!(content in input);
        Ok(FnItem {
            attrs,
            vis,
            sig,
            body: content.parse()?,
        })
    }
}

/// Parses the item; only a function with a body is accepted.
pub(crate) fn parse_target(item: TokenStream) -> syn::Result<FnItem> {
    if let Ok(f) = syn::parse2::<FnItem>(item.clone()) {
        return Ok(f);
    }
    // A trait method declaration (`async fn f(&self) -> ..;`) is not an `Item`.
    if let Ok(decl) = syn::parse2::<TraitItemFn>(item.clone()) {
        if decl.default.is_none() {
            return Err(needs_body(&decl.sig));
        }
    }
    match syn::parse2::<Item>(item.clone()) {
        Ok(other) => Err(syn::Error::new_spanned(item_head(&other), ONLY_ASYNC_FN)),
        Err(_) => Err(syn::Error::new_spanned(item, ONLY_ASYNC_FN)),
    }
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
