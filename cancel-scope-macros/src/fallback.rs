//! What the macros expand to when they report an error, so that rustc shows ours and does not
//! pile a cascade on top: code of the right shape whose body does nothing.
//!
//! - `cancel_scope!` with a body that did not parse or was rejected: the scope expression with
//!   the options as written (their own errors still show) and a body of `unreachable!()`.
//! - `#[cancel_scoped]` on a function it rejects: the function, signature as written, with a
//!   body of `unreachable!()`.
//! - `#[cancel_scoped]` on something that is not a function: the item as written.

use crate::attr::FnItem;
use crate::expand;
use crate::validate::Config;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Stmt, Type};

/// The scope expression with a body that does nothing (and no `as NAME` binding, which would
/// warn as unused).
pub(crate) fn scope_expr(config: &Config, error_ty: Option<&Type>, head: Span) -> TokenStream {
    let stmts = vec![Stmt::Expr(
        Expr::Verbatim(quote!(::core::unreachable!())),
        None,
    )];
    let config = Config {
        name: None,
        ..config.clone()
    };
    expand::scope_around(
        &config,
        error_ty,
        stmts,
        expand::Uses::default(),
        TokenStream::new(),
        (head, None),
    )
}

/// The function with a body that type-checks whatever it returns.
pub(crate) fn fn_item(item: &FnItem) -> TokenStream {
    let mut item = item.clone();
    item.attrs.push(syn::parse_quote!(
        #[allow(unused_variables, unused_mut, unreachable_code)]
    ));
    expand::fn_with_body(&item, quote!(::core::unreachable!()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_have_no_user_body() {
        let s = scope_expr(&Config::default(), None, Span::call_site()).to_string();
        assert!(s.contains("unreachable"), "{s}");
        assert!(s.contains("CancelScope :: new ()"), "{s}");
        let item: FnItem = syn::parse_quote!(async fn f(x: u8) -> ScopeResult<u8> { spawn x; });
        let s = fn_item(&item).to_string();
        assert!(
            s.contains("async fn f (x : u8) -> ScopeResult < u8 >"),
            "{s}"
        );
        assert!(s.contains("unreachable") && !s.contains("spawn"), "{s}");
    }
}
