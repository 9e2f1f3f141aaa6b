//! Property tests: whatever tokens the macros are given, they return code or a `syn::Error`,
//! never panic. Runs on `proc_macro2`'s fallback implementation, outside a compiler.

#![allow(clippy::many_single_char_names)] // short names for generated tokens

use crate::body::Body;
use crate::diagnostics::Diagnostics;
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use quote::quote;

/// Real inputs, mutated below.
fn seeds() -> Vec<TokenStream> {
    vec![
        quote! {
            as tg; parent = a, b; timeout = Duration::from_secs(5); grace = g; limit = 3;
            error = std::io::Error; crate = ::cancel_scope;
            spawn fetch(url);
            let h = spawn async move { 1 };
            for u in urls { spawn fetch(u); }
            match x { A => { cancel; } B => spawn b(), _ => {} }
            loop { tokio::select! { biased; c = rx => { spawn handle(c); } _ = stop, if on => { cancel; } else => break, } }
            v.push(spawn(f()));
            if c { return 5; }
            let s = S { spawn, cancel: 1 };
            let f = || { spawn(x); };
            other! { spawn y; }
            h.await?;
            42
        },
        quote! { deadline = at; parent = [p, q]; spawn (x); cancel; spawn },
        quote! { spawn; cancel now; timout = 1; x = spawn f(); y => spawn g(), },
    ]
}

fn attr_seeds() -> Vec<(TokenStream, TokenStream)> {
    vec![
        (
            quote!(as tg, parent = [a, b], timeout = d, grace = g, limit = 2, crate = cs),
            quote! {
                pub async fn f<T: Send>(&self, x: T) -> ScopeResult<u32, E> {
                    spawn(g(x)); let h = spawn(k()); if z { cancel; } return 1; 7
                }
            },
        ),
        (
            quote!(error = E, timout = 1),
            quote!(
                fn f() -> u8 {
                    1
                }
            ),
        ),
        (
            quote!(),
            quote!(
                async fn f() -> ScopeResult<()>;
            ),
        ),
    ]
}

fn arb_leaf() -> impl Strategy<Value = TokenTree> {
    let idents = prop::sample::select(vec![
        "spawn",
        "cancel",
        "as",
        "let",
        "parent",
        "timeout",
        "deadline",
        "grace",
        "limit",
        "error",
        "crate",
        "async",
        "move",
        "fn",
        "return",
        "match",
        "if",
        "else",
        "x",
        "tg",
        "self",
        "macro_rules",
        "select",
        "break",
        "Ok",
    ]);
    let puncts = prop::sample::select(vec![
        ';', '=', ',', '!', '|', '#', ':', '>', '<', '.', '?', '&', '+',
    ]);
    prop_oneof![
        idents.prop_map(|s| TokenTree::Ident(Ident::new(s, Span::call_site()))),
        (puncts, any::<bool>()).prop_map(|(c, joint)| {
            TokenTree::Punct(Punct::new(
                c,
                if joint {
                    Spacing::Joint
                } else {
                    Spacing::Alone
                },
            ))
        }),
        any::<u8>().prop_map(|n| TokenTree::Literal(Literal::u8_unsuffixed(n))),
    ]
}

fn arb_tokens() -> impl Strategy<Value = TokenStream> {
    let leaf = arb_leaf().prop_map(|t| vec![t]);
    leaf.prop_recursive(4, 64, 8, |inner| {
        (
            prop::collection::vec(inner, 0..8),
            prop::sample::select(vec![
                Delimiter::Brace,
                Delimiter::Parenthesis,
                Delimiter::Bracket,
                Delimiter::None,
            ]),
            any::<bool>(),
        )
            .prop_map(|(parts, delim, wrap)| {
                let flat: TokenStream = parts.into_iter().flatten().collect();
                if wrap {
                    vec![TokenTree::Group(Group::new(delim, flat))]
                } else {
                    flat.into_iter().collect()
                }
            })
    })
    .prop_map(|v| v.into_iter().collect())
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
}

fn arb_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        prop_oneof![
            any::<usize>().prop_map(Mutation::Delete),
            any::<usize>().prop_map(Mutation::Duplicate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        ],
        1..6,
    )
}

/// Applies the mutations to the flattened token list (groups stay whole, but each mutation may
/// also go one level down into a group, chosen by the index).
fn mutate(ts: TokenStream, muts: &[Mutation]) -> TokenStream {
    let mut v: Vec<TokenTree> = ts.into_iter().collect();
    for m in muts {
        if v.is_empty() {
            break;
        }
        let n = v.len();
        match *m {
            Mutation::Delete(i) => {
                v.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let t = v[i % n].clone();
                v.insert(i % n, t);
            }
            Mutation::Swap(a, b) => v.swap(a % n, b % n),
        }
        // Also mutate inside a group, so body statements change too.
        if let Some(idx) = muts.len().checked_sub(1).map(|k| k % v.len()) {
            if let TokenTree::Group(g) = &v[idx] {
                let inner = mutate_shallow(g.stream(), m);
                let mut ng = Group::new(g.delimiter(), inner);
                ng.set_span(g.span());
                v[idx] = TokenTree::Group(ng);
            }
        }
    }
    v.into_iter().collect()
}

fn mutate_shallow(ts: TokenStream, m: &Mutation) -> TokenStream {
    let mut v: Vec<TokenTree> = ts.into_iter().collect();
    if !v.is_empty() {
        let n = v.len();
        match *m {
            Mutation::Delete(i) => {
                v.remove(i % n);
            }
            Mutation::Duplicate(i) => v.insert(i % n, v[i % n].clone()),
            Mutation::Swap(a, b) => v.swap(a % n, b % n),
        }
    }
    v.into_iter().collect()
}

/// Runs every stage; panics only if a stage panics.
fn run_macro(ts: TokenStream) {
    let mut diag = Diagnostics::default();
    if let Some(body) = Body::parse(ts.clone(), &mut diag) {
        let _ = crate::validate::validate_body(
            &body,
            crate::validate::Scope {
                site: crate::options::Site::Macro,
                name: None,
            },
            None,
            &mut diag,
        );
    }
    let out = crate::scope_macro(ts);
    // Either code, or errors (rendered as `compile_error!`), comes back.
    assert!(!out.is_empty());
}

fn run_attr(args: TokenStream, item: TokenStream) {
    let _ = crate::scoped_attr(args, item);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_tokens_never_panic(ts in arb_tokens(), args in arb_tokens()) {
        run_macro(ts.clone());
        run_attr(args, ts);
    }

    #[test]
    fn mutated_inputs_never_panic(seed in 0usize..3, muts in arb_mutations()) {
        let input = mutate(seeds()[seed].clone(), &muts);
        run_macro(input);
        let (args, item) = attr_seeds()[seed].clone();
        run_attr(mutate(args.clone(), &muts), item.clone());
        run_attr(args, mutate(item, &muts));
    }
}
