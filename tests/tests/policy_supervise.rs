//! SPEC section 9: `CancelScope::supervise`, a keep-going scope.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};
use common::*;
use tokio::sync::oneshot;

both!(
    task_error_does_not_cancel,
    every_error_kept_in_order,
    body_error_cancels,
    task_panic_cancels_and_is_resumed,
    body_panic_is_resumed,
    no_error_completes,
    cancel_gives_cancelled,
    error_and_cancel_gives_err,
    discarded_value_dropped_before_scope_returns,
    value_dropped_when_error_comes_after_body_returned,
    deadline_still_works,
    supervise_with_limit_runs_every_queued_task,
    supervise_grace_parent_combo,
    parent_cancel_reaches_supervised_child,
);

/// A task's `Err` leaves its siblings and the body running.
async fn task_error_does_not_cancel() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<u32> = scope
        .run(async {
            let bad = tg.spawn(async { Err::<(), _>(err("bad")) });
            assert_eq!(bad.await, None);
            tokio::time::sleep(short()).await;
            assert!(
                !tg.is_cancelled(),
                "a task error does not cancel a supervised group"
            );
            let good = tg.spawn(async {
                tokio::time::sleep(short()).await;
                Ok::<_, BoxError>(5u32)
            });
            Ok(good.await.unwrap())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["bad"]);
    assert_eq!(tg.cancel_reason(), None, "never cancelled");
}

/// Every error, in the order they happened.
async fn every_error_kept_in_order() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            for i in 0..5u32 {
                let h = tg.spawn(async move { Err::<(), _>(err(&format!("e{i}"))) });
                h.await;
            }
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["e0", "e1", "e2", "e3", "e4"]);
}

/// The body's `Err` cancels (`Failed`), after the tasks' errors already kept.
async fn body_error_cancels() {
    let drops = Counter::new();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(async { Err::<(), _>(err("task")) }).await;
            tg.spawn(hold_forever(drops.guard()));
            Err(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["task", "body"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert_eq!(drops.get(), 1, "the body's error stopped the other task");
}

/// A task's panic cancels the group and is resumed once every task stopped.
async fn task_panic_cancels_and_is_resumed() {
    let drops = Counter::new();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let caught = catch(scope.run(async {
        tg.spawn(hold_forever(drops.guard()));
        tg.spawn(async { Err::<(), _>(err("kept, then dropped with the unwinding")) })
            .await;
        tg.spawn(async { boom(Payload(7)) });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .await;
    let payload = caught.expect_err("the panic is resumed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(7)));
    assert_eq!(
        drops.get(),
        1,
        "the sibling was stopped before the panic was resumed"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// The body's panic is resumed with its payload.
async fn body_panic_is_resumed() {
    let scope = CancelScope::new().supervise();
    let caught = catch(scope.run(async {
        boom(Payload(3));
        Ok(())
    }))
    .await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(3))
    );
}

/// Rule 1 under supervise.
async fn no_error_completes() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out = scope
        .run(async {
            let a = tg.spawn(async { Ok::<_, BoxError>(1u32) });
            let b = tg.spawn(async {
                tokio::time::sleep(short()).await;
                Ok::<_, BoxError>(2u32)
            });
            Ok(a.await.unwrap() + b.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
}

/// Rule 2 under supervise.
async fn cancel_gives_cancelled() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(Counter::new().guard()));
            tg.cancel();
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// An error after a cancel (a shielded task) and an error before it: `Err` with both.
async fn error_and_cancel_gives_err() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(async { Err::<(), _>(err("before")) }).await;
            let tg2 = tg.clone();
            tg.spawn_shielded(async move {
                tg2.cancelled().await;
                Err::<(), _>(err("after"))
            });
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["before", "after"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

/// The body's value, discarded by the errors, is dropped before the scope returns (while a
/// task is still running).
async fn discarded_value_dropped_before_scope_returns() {
    let dropped = Counter::new();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let (tx, rx) = oneshot::channel::<()>();
    let seen = dropped.clone();
    let out: ScopeResult<Guard> = scope
        .run(async {
            tg.spawn(async { Err::<(), _>(err("failed")) }).await;
            // This task sees the value dropped while the scope still runs.
            tg.spawn(async move {
                within("the discarded value is dropped", seen.wait_for(1)).await;
                let _ = tx.send(());
            });
            Ok(dropped.guard())
        })
        .await;
    assert!(out.is_err());
    assert!(
        rx.await.is_ok(),
        "the task saw the drop before the scope ended"
    );
    assert_eq!(dropped.get(), 1);
}

/// A task fails after the body returned its value: the value is dropped then, before the
/// scope returns, and the scope still waits for the other tasks.
async fn value_dropped_when_error_comes_after_body_returned() {
    let dropped = Counter::new();
    let order = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let (fail_tx, fail_rx) = oneshot::channel::<()>();
    let seen = dropped.clone();
    let o = order.clone();
    let out: ScopeResult<Guard> = scope
        .run(async {
            tg.spawn(async move {
                let _ = fail_rx.await;
                Err::<(), _>(err("late"))
            });
            tg.spawn(async move {
                within(
                    "the value is dropped after the late error",
                    seen.wait_for(1),
                )
                .await;
                o.store(1, Ordering::SeqCst);
            });
            let g = dropped.guard();
            let _ = fail_tx.send(());
            Ok(g)
        })
        .await;
    let Err(e) = out else {
        panic!("expected an error")
    };
    assert_eq!(msgs(&e), ["late"]);
    assert_eq!(order.load(Ordering::SeqCst), 1);
}

/// `timeout` cancels a supervised scope as any other.
async fn deadline_still_works() {
    let scope = CancelScope::new().supervise().timeout(short());
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(async { Err::<(), _>(err("one")) });
            tg.spawn(hold_forever(Counter::new().guard()));
            std::future::pending().await
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["one"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Deadline));
}

/// With a limit, failing tasks free their slots and every queued task still runs.
async fn supervise_with_limit_runs_every_queued_task() {
    let ran = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new().supervise().limit(2);
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            for i in 0..10u32 {
                let ran = ran.clone();
                tg.spawn(async move {
                    tokio::task::yield_now().await;
                    ran.fetch_add(1, Ordering::SeqCst);
                    if i % 3 == 0 {
                        Err(err(&format!("{i}")))
                    } else {
                        Ok(())
                    }
                });
            }
            Ok(())
        })
        .await;
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    let mut errors = msgs(&out.unwrap_err());
    errors.sort();
    assert_eq!(errors, ["0", "3", "6", "9"]);
}

/// Supervise + grace + parent: a parent cancel reaches the child (`Parent`), whose tasks get
/// the grace, and an error returned during the grace is kept.
async fn supervise_grace_parent_combo() {
    let outer = CancelScope::new();
    let outer_tg = outer.group();
    let out = outer
        .run(async {
            let inner = CancelScope::new()
                .supervise()
                .grace(short() * 2)
                .parent(&outer_tg);
            let inner_tg = inner.group();
            let t = inner_tg.clone();
            let saved = inner_tg.spawn(async move {
                t.cancelled().await;
                tokio::time::sleep(short()).await;
                Err::<(), _>(err("during grace"))
            });
            inner_tg.spawn(async { Err::<(), _>(err("early")) }).await;
            let c = outer_tg.clone();
            inner_tg.spawn(async move {
                tokio::time::sleep(short()).await;
                c.cancel();
            });
            let inner_out: ScopeResult<()> =
                inner.run(async { std::future::pending().await }).await;
            assert_eq!(inner_tg.cancel_reason(), Some(CancelReason::Parent));
            assert_eq!(saved.await, None);
            Ok(msgs(&inner_out.unwrap_err()))
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A parent's cancel (not an error) gives the supervised child `Cancelled(Parent)`.
async fn parent_cancel_reaches_supervised_child() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let child = CancelScope::new().supervise().parent(&ptg);
    let ctg = child.group();
    ptg.cancel();
    let out: ScopeResult<()> = child.run(async { std::future::pending().await }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert!(ctg.is_cancelled());
    drop(parent);
}

#[test]
fn supervise_is_a_builder_method() {
    // Builder chains in any order.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let out: ScopeResult<u8> = CancelScope::new()
            .limit(1)
            .supervise()
            .timeout(Duration::from_secs(5))
            .run(async { Ok(1) })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(1));
    });
}
