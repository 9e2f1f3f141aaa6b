//! Unit tests of the expand stage (`expand`), through the whole pipeline.

use crate::{scope_macro, scoped_attr};
use proc_macro2::TokenStream;
use quote::quote;

fn norm(ts: TokenStream) -> String {
    ts.to_string()
}

#[test]
fn minimal_expansion() {
    assert_eq!(
        norm(scope_macro(quote!(42))),
        norm(quote! {
            {
                let __scope = ::cancel_scope::CancelScope::new();
                let __out = __scope.run(async {
                    let __v = { 42 };
                    #[allow(unreachable_code)]
                    let __r = ::core::result::Result::Ok(__v);
                    __r
                }).await;
                __out
            }
        })
    );
}

#[test]
fn every_option_and_form() {
    let out = scope_macro(quote! {
        as tg;
        parent = a, b;
        timeout = d;
        grace = g;
        limit = n;
        error = MyErr;
        crate = ::re;
        spawn f();
        if x { return 1; }
        tokio::select! { _ = s => spawn h(), _ = t => { cancel; } }
        cancel;
    });
    assert_eq!(
        norm(out),
        norm(quote! {
            {
                let __scope = ::re::CancelScope::<MyErr>::with_error()
                    .parent(&(a)).parent(&(b)).timeout(d).grace(g).limit(n);
                let __tg = __scope.group();
                let tg = ::core::clone::Clone::clone(&__tg);
                let __out = __scope.run(async {
                    let __v = {
                        __tg.spawn(f());
                        if x { return ::core::result::Result::Ok(1); }
                        tokio::select! {
                            _ = s => { __tg.spawn(h()); },
                            _ = t => { { __tg.cancel(); match ::core::future::pending::<::core::convert::Infallible>().await {} }; }
                        }
                        { __tg.cancel(); match ::core::future::pending::<::core::convert::Infallible>().await {} };
                    };
                    #[allow(unreachable_code)]
                    let __r = ::core::result::Result::Ok(__v);
                    __r
                }).await;
                __out
            }
        })
    );
}

#[test]
fn warnings_are_calls_of_deprecated_items() {
    let s = norm(scope_macro(quote!(let x = 1; limit = 2; Ok(x))));
    assert!(
        s.contains(&norm(quote!(
            ::cancel_scope::__private::limit_is_an_option__move_it_above_the_first_statement();
            ::cancel_scope::__private::body_value_is_T__write_v_instead_of_Ok_v();
        ))),
        "{s}"
    );
    // The late option stays an assignment, parenthesised so that rustc does not suggest `let`.
    assert!(
        s.contains(&norm(quote!(let x = 1; (limit) = 2; Ok(x)))),
        "{s}"
    );
    let s = norm(scope_macro(
        quote!(crate = ::re; match m { _ => cancel } Err(e)),
    ));
    assert!(
        s.contains(&norm(quote!(
            ::re::__private::cancel_in_an_arm_is_a_statement__write_a_block_with_cancel();
            ::re::__private::body_value_is_T__write_Err_e_question_mark_to_fail();
        ))),
        "{s}"
    );
}

#[test]
fn errors_come_with_a_fallback_expansion() {
    let s = norm(scope_macro(
        quote!(timout = 1; limit = 2; limit = 3; spawn; 5),
    ));
    assert_eq!(s.matches("compile_error").count(), 3, "{s}");
    assert!(
        s.contains("unreachable") && s.contains(". limit (2)"),
        "{s}"
    );
    let s = norm(scope_macro(quote!(let = ;)));
    assert!(
        s.contains("compile_error") && s.contains("unreachable"),
        "{s}"
    );
}

#[test]
fn attribute_expansion() {
    let s = norm(scoped_attr(
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
    ));
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
    assert!(!s.contains("compile_error"), "{s}");
}

#[test]
fn attribute_errors() {
    let count = |args: TokenStream, item: TokenStream| {
        norm(scoped_attr(args, item))
            .matches("compile_error")
            .count()
    };
    assert_eq!(
        count(
            quote!(timout = 1, error = E),
            quote!(
                fn f() -> u8 {
                    1
                }
            )
        ),
        4
    );
    assert!(
        norm(scoped_attr(
            quote!(),
            quote!(
                struct S;
            )
        ))
        .contains("only be applied to an `async fn`")
    );
    assert!(
        norm(scoped_attr(
            quote!(),
            quote!(
                async fn f() -> ScopeResult<()>;
            )
        ))
        .contains("needs a function body")
    );
    assert_eq!(
        count(
            quote!(),
            quote!(
                async fn f() -> ScopeResult<()> {
                    spawn(x);
                }
            )
        ),
        0
    );
}

#[test]
fn a_select_whose_handlers_do_not_parse_is_left_as_written() {
    let s = norm(scope_macro(quote!(
        tokio::select! { a = f() => { let = ; } }
    )));
    assert!(!s.contains("compile_error"), "{s}");
    assert!(
        s.contains(&norm(quote!(tokio::select! { a = f() => { let = ; } }))),
        "{s}"
    );
}
