//! Procedural macros for [`cancel-scope`](https://docs.rs/cancel-scope).
//!
//! Use them through the `cancel_scope` crate, which re-exports them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attr;
mod body;
mod expand;
mod options;
mod validate;

#[cfg(test)]
mod prop_tests;

use proc_macro::TokenStream;

/// Runs a block of statements as the body of a cancel scope. See the `cancel_scope` crate.
#[proc_macro]
pub fn cancel_scope(input: TokenStream) -> TokenStream {
    expand::cancel_scope(input.into()).into_expr().into()
}

/// Turns the body of an `async fn` into a cancel scope body. See the `cancel_scope` crate.
#[proc_macro_attribute]
pub fn cancel_scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cancel_scoped(args.into(), item.into())
        .into_token_stream()
        .into()
}
