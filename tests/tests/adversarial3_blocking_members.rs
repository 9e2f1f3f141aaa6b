//! Adversarial 3: blocking members whose closure never runs because the group is cancelled
//! while the closure waits for a thread of tokio's blocking pool (a runtime with one blocking
//! thread, held by another member), and values of queued blocking members that nobody wants.
//!
//! SPEC rules attacked: sec. 2 "An awaited scope returns only after ... every task's future has
//! been dropped (destructors have run)", "A panic while a cancelled task is being dropped counts
//! as a task panic"; sec. 10 `spawn_blocking`: "a member in every respect (counted, limited,
//! handed over, its error and panic count)"; sec. 2 "A value that a scope discards (... the
//! output of a task whose handle was dropped) is dropped before the scope returns"; rule 4
//! (panics are never swallowed).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use tokio::runtime::{Builder, Runtime};

mod adversarial3;

use adversarial3::{PanicOnDrop, SlowFlag, catch, payload};

fn current_one_blocking_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap()
}

fn multi_one_blocking_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap()
}

/// Instantiates each `async fn NAME()` on both runtimes with one blocking thread.
macro_rules! one_blocking_thread {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn current_thread() {
                crate::adversarial3::wd_rt(
                    stringify!($name),
                    crate::current_one_blocking_thread,
                    || Box::pin(super::$name()),
                )
            }
            #[test]
            fn multi_thread() {
                crate::adversarial3::wd_rt(
                    stringify!($name),
                    crate::multi_one_blocking_thread,
                    || Box::pin(super::$name()),
                )
            }
        }
    )*};
}

one_blocking_thread!(
    closure_waiting_for_pool_thread_dropped_before_scope_returns,
    closure_waiting_for_pool_thread_drop_panic_is_resumed,
    admitted_closure_waiting_for_pool_thread_dropped_before_scope_returns,
    queued_member_discarded_value_drop_panic_is_resumed,
    queued_member_discarded_value_dropped_before_scope_returns,
    unqueued_member_discarded_value_drop_panic_is_resumed,
);

// Keeps the only blocking thread busy until `release` is sent; returns once it runs.
async fn hold_the_pool(
    tg: &cancel_scope::TaskGroup,
) -> (std::sync::mpsc::Sender<()>, cancel_scope::TaskHandle<()>) {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let (running, is_running) = tokio::sync::oneshot::channel::<()>();
    let h = tg.spawn_blocking(move || {
        let _ = running.send(());
        let _ = gate.recv();
    });
    is_running.await.unwrap();
    (release, h)
}

// sec. 2 + 10: a closure dropped unstarted is dropped (what it captured included) before the
// scope returns
async fn closure_waiting_for_pool_thread_dropped_before_scope_returns() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (release, holder) = hold_the_pool(&tg).await;
    let dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let (slow, r2) = (SlowFlag(dropped.clone()), ran.clone());
    let waiting = tg.spawn_blocking(move || {
        let _slow = slow;
        r2.store(true, Ordering::SeqCst);
    });
    assert_eq!(tg.len(), 2);
    tg.cancel();
    release.send(()).unwrap();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the unstarted closure's captures were dropped after the scope returned"
    );
    assert!(
        !ran.load(Ordering::SeqCst),
        "a closure started after the cancel"
    );
    assert_eq!(holder.await, Some(()));
    assert_eq!(waiting.await, None);
}

// sec. 2: "A panic while a cancelled task is being dropped counts as a task panic"
async fn closure_waiting_for_pool_thread_drop_panic_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (release, _holder) = hold_the_pool(&tg).await;
    let bomb = PanicOnDrop(5);
    drop(tg.spawn_blocking(move || {
        let _bomb = bomb;
    }));
    tg.cancel();
    release.send(()).unwrap();
    let caught = catch(scope.run(async { Ok::<_, BoxError>(()) }))
        .await
        .expect_err("the panic of the unstarted closure's destructor was swallowed");
    assert_eq!(payload(&*caught), Ok(5));
}

// the same once the member was admitted under a limit: its closure waits for a pool thread
async fn admitted_closure_waiting_for_pool_thread_dropped_before_scope_returns() {
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let (release, _holder) = hold_the_pool(&tg).await;
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    let second = tg.spawn(async move {
        let _ = gate.await;
    });
    let dropped = Arc::new(AtomicBool::new(false));
    let slow = SlowFlag(dropped.clone());
    let waiting = tg.spawn_blocking(move || {
        let _slow = slow;
    });
    assert_eq!(tg.len(), 3);
    // frees the second slot: the queued member is admitted and handed to the pool
    go.send(()).unwrap();
    second.await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    tg.cancel();
    release.send(()).unwrap();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the unstarted closure's captures were dropped after the scope returned"
    );
    assert_eq!(waiting.await, None);
}

// sec. 2: a discarded output's destructor panic is a panic of the scope (queued member)
async fn queued_member_discarded_value_drop_panic_is_resumed() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = gate.await;
    });
    drop(tg.spawn_blocking(|| Ok::<_, BoxError>(PanicOnDrop(9))));
    assert_eq!(tg.len(), 2);
    go.send(()).unwrap();
    let caught = catch(scope.run(async { Ok::<_, BoxError>(()) }))
        .await
        .expect_err("the panic of a discarded value's destructor was swallowed");
    assert_eq!(payload(&*caught), Ok(9));
    assert!(tg.is_cancelled());
}

// sec. 2: a discarded output is dropped before the scope returns (queued member)
async fn queued_member_discarded_value_dropped_before_scope_returns() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = gate.await;
    });
    let dropped = Arc::new(AtomicBool::new(false));
    let d2 = dropped.clone();
    drop(tg.spawn_blocking(move || Ok::<_, BoxError>(SlowFlag(d2))));
    go.send(()).unwrap();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        dropped.load(Ordering::SeqCst),
        "a discarded value was dropped after the scope returned"
    );
}

// control: the same without a limit
async fn unqueued_member_discarded_value_drop_panic_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    // the closure ends only once its handle is gone (a handle dropped after the value was
    // delivered drops the value itself, where it is dropped)
    let (go, gate) = std::sync::mpsc::channel::<()>();
    drop(tg.spawn_blocking(move || {
        let _ = gate.recv();
        Ok::<_, BoxError>(PanicOnDrop(11))
    }));
    go.send(()).unwrap();
    let caught = catch(scope.run(async { Ok::<_, BoxError>(()) }))
        .await
        .expect_err("the panic of a discarded value's destructor was swallowed");
    assert_eq!(payload(&*caught), Ok(11));
}
