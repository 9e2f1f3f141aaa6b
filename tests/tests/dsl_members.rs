//! The DSL forms of the second wave, on both runtimes: `spawn_local` (local tasks that borrow,
//! mutate through a `RefCell`, hold an `Rc`; errors, cancel and the scope's wait), `cancel_on`
//! (several signals, in the macro and the attribute) and `supervise` (keep going).

#[macro_use]
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use cancel_scope::{
    BoxError, CancelReason, Outcome, ScopeResult, TaskGroup, cancel_scope, cancel_scoped,
};
use common::*;
use tokio::sync::oneshot;

both!(
    spawn_local_borrows_a_vec_and_mutates_a_refcell,
    spawn_local_holds_an_rc_across_awaits,
    spawn_local_error_fails_the_scope,
    spawn_local_is_dropped_by_cancel,
    spawn_local_keeps_the_scope_waiting,
    spawn_local_in_the_attribute,
    cancel_on_any_of_several_signals,
    cancel_on_in_the_attribute,
    supervise_keeps_going_and_keeps_every_error,
);

async fn spawn_local_borrows_a_vec_and_mutates_a_refcell() {
    let words = vec!["one", "three", "five"];
    let lengths = RefCell::new(Vec::new());
    let out: ScopeResult<usize> = cancel_scope! {
        for w in &words {
            spawn_local async {
                tokio::task::yield_now().await;
                lengths.borrow_mut().push(w.len());
            };
        }
        let total = spawn_local async { Ok::<_, BoxError>(words.len()) };
        total.await.unwrap_or(0)
    };
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    let mut lengths = lengths.into_inner();
    lengths.sort_unstable();
    assert_eq!(lengths, vec![3, 4, 5]);
}

async fn spawn_local_holds_an_rc_across_awaits() {
    let shared = Rc::new(RefCell::new(0));
    let out: ScopeResult<()> = cancel_scope! {
        for _ in 0..3 {
            let mine = Rc::clone(&shared);
            spawn_local async move {
                tokio::task::yield_now().await;
                *mine.borrow_mut() += 1;
                tokio::task::yield_now().await;
            };
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(*shared.borrow(), 3);
    assert_eq!(Rc::strong_count(&shared), 1, "every local task was dropped");
}

async fn spawn_local_error_fails_the_scope() {
    let out: ScopeResult<()> = cancel_scope! {
        spawn_local async { Err::<(), BoxError>("local failed".into()) };
        spawn std::future::pending::<()>();
        std::future::pending::<()>().await;
    };
    let errors = out.unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().to_string(), "local failed");
}

async fn spawn_local_is_dropped_by_cancel() {
    let drops = Counter::new();
    let out: ScopeResult<()> = cancel_scope! {
        let guard = drops.guard();
        spawn_local async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        };
        tokio::task::yield_now().await;
        cancel;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        drops.get(),
        1,
        "the local task was dropped before the scope returned"
    );
}

async fn spawn_local_keeps_the_scope_waiting() {
    let done = RefCell::new(false);
    let out: ScopeResult<()> = cancel_scope! {
        spawn_local async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            *done.borrow_mut() = true;
        };
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        *done.borrow(),
        "the scope returned before its local task ended"
    );
}

#[cancel_scoped(as tg)]
async fn sum_locally(values: &[u32], sum: &RefCell<u32>) -> ScopeResult<usize> {
    for v in values {
        spawn_local(async move {
            *sum.borrow_mut() += v;
        });
    }
    let _: &TaskGroup = &tg;
    values.len()
}

async fn spawn_local_in_the_attribute() {
    let sum = RefCell::new(0);
    let out = sum_locally(&[1, 2, 3, 4], &sum).await;
    assert_eq!(out.unwrap(), Outcome::Completed(4));
    assert_eq!(*sum.borrow(), 10);
}

async fn cancel_on_any_of_several_signals() {
    let (_keep, never) = oneshot::channel::<()>();
    let (fire, fires) = oneshot::channel::<()>();
    let drops = Counter::new();
    let out: ScopeResult<()> = cancel_scope! {
        cancel_on = never, fires;
        spawn hold_forever(drops.guard());
        fire.send(()).unwrap();
        std::future::pending::<()>().await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert_eq!(drops.get(), 1);
}

#[cancel_scoped(cancel_on = [std::future::pending::<()>(), signal])]
async fn until(signal: oneshot::Receiver<()>) -> ScopeResult<()> {
    std::future::pending::<()>().await;
}

async fn cancel_on_in_the_attribute() {
    let (fire, signal) = oneshot::channel();
    fire.send(()).unwrap();
    assert_eq!(
        until(signal).await.unwrap(),
        Outcome::Cancelled(CancelReason::Signal)
    );
}

async fn supervise_keeps_going_and_keeps_every_error() {
    let finished = Counter::new();
    let out: ScopeResult<u32> = cancel_scope! {
        supervise;
        spawn async { Err::<(), BoxError>("first".into()) };
        let f = finished.clone();
        spawn async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            f.hit();
            Ok::<(), BoxError>(())
        };
        spawn async { Err::<(), BoxError>("second".into()) };
        7
    };
    let errors = out.unwrap_err();
    let mut texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    texts.sort();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(
        finished.get(),
        1,
        "a sibling of a failed task was not cancelled"
    );
}
