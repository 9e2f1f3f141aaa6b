//! Procedural macros for [`cancel-scope`](https://docs.rs/cancel-scope).
//!
//! Use them through the `cancel_scope` crate, which re-exports them.

use proc_macro::TokenStream;

/// Runs a block of statements as the body of a cancel scope. See the `cancel_scope` crate.
#[proc_macro]
pub fn cancel_scope(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Turns the body of an `async fn` into a cancel scope body. See the `cancel_scope` crate.
#[proc_macro_attribute]
pub fn cancel_scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    item
}
