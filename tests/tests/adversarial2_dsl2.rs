//! Adversarial 2, part 7: nested `cancel_scope!` inside `select!` arms, unbraced `spawn_local`
//! arms, late option names as assignments.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]
#![allow(unreachable_code, unused_assignments, unused_variables, deprecated)]

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, Outcome, ScopeResult, cancel_scope};
use tokio::sync::mpsc;

#[macro_use]
mod adversarial;

use adversarial::ms;

both!(
    nested_scope_in_arm_cancel_is_its_own,
    nested_scope_in_arm_spawn_is_its_own,
    unbraced_spawn_local_arm,
    late_option_name_is_assignment,
);

// sec. 7: "a nested cancel_scope! handles its own" (inside a select! arm of the outer body)
async fn nested_scope_in_arm_cancel_is_its_own() {
    let rounds = Arc::new(AtomicUsize::new(0));
    let r = rounds.clone();
    let out: ScopeResult<u32> = cancel_scope! {
        as outer;
        let mut inner_out = None;
        tokio::select! {
            () = tokio::task::yield_now() => {
                let res: ScopeResult<()> = cancel_scope! {
                    loop {
                        r.fetch_add(1, Ordering::SeqCst);
                        tokio::select! {
                            () = tokio::time::sleep(ms(1)) => {
                                cancel;
                            }
                        }
                    }
                };
                inner_out = Some(res.unwrap());
            }
        }
        assert!(!outer.is_cancelled(), "inner `cancel;` cancelled the outer group");
        assert_eq!(inner_out, Some(Outcome::Cancelled(CancelReason::Requested)));
        5
    };
    assert_eq!(out.unwrap(), Outcome::Completed(5));
    assert_eq!(rounds.load(Ordering::SeqCst), 1);
}

// sec. 7: a nested cancel_scope! in an arm spawns into its own group
async fn nested_scope_in_arm_spawn_is_its_own() {
    let out: ScopeResult<()> = cancel_scope! {
        as outer;
        tokio::select! {
            () = tokio::task::yield_now() => {
                let res: ScopeResult<usize> = cancel_scope! {
                    as inner;
                    spawn async { tokio::time::sleep(ms(5)).await; };
                    assert_eq!(outer.len(), 0, "nested spawn went to the outer group");
                    inner.len()
                };
                assert_eq!(res.unwrap(), Outcome::Completed(1));
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 11: forms in arm handlers "by the rules of a match arm" (unbraced `=> spawn_local EXPR,`)
async fn unbraced_spawn_local_arm() {
    let sum = Cell::new(0u32);
    let (tx, mut rx) = mpsc::channel::<u32>(8);
    for v in 1..=3 {
        tx.try_send(v).unwrap();
    }
    drop(tx);
    let out: ScopeResult<()> = cancel_scope! {
        let sum = &sum;
        loop {
            tokio::select! {
                Some(v) = rx.recv() => spawn_local async move { sum.set(sum.get() + v); },
                else => break,
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(sum.get(), 6);
}

// sec. 11: "NAME = EXPR; with NAME an option name, at the top level of the body after the first statement, stays an assignment"
async fn late_option_name_is_assignment() {
    let out: ScopeResult<u32> = cancel_scope! {
        let mut limit = 1u32;
        let mut grace = 2u32;
        limit = 10;
        grace = 20;
        Ok::<(), BoxError>(())?;
        limit + grace
    };
    assert_eq!(out.unwrap(), Outcome::Completed(30));
}
