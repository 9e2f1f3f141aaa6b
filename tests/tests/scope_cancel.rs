//! SPEC section 5: `cancel()`, spawning after a cancel, nesting, level-triggered `cancelled()`,
//! first cause, finished groups, `TaskHandle::abort` and `len()`.

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, cancel_group};
use common::*;
use futures::FutureExt;
use tokio::sync::oneshot;

both!(
    cancel_is_immediate_and_stops_every_task,
    cancel_does_not_wait_for_tasks,
    cancel_drops_body_at_its_next_pending,
    cancel_is_idempotent,
    cancel_group_is_cancel,
    cancel_before_run,
    cancel_on_dropped_unrun_scope_is_harmless,
    cancel_after_finish_does_nothing,
    cancel_after_cancelled_finish_keeps_reason,
    cancel_after_failed_finish_keeps_reason,
    spawn_after_cancel_does_not_start,
    try_spawn_after_cancel_gives_future_back,
    spawn_after_finish_does_not_start,
    task_spawns_sibling_and_cancels_own_group,
    nesting_outer_cancel_stops_inner_tasks_in_task,
    nesting_outer_cancel_stops_inner_scope_in_body,
    cancelled_is_level_triggered,
    cancelled_wakes_waiters,
    cancelled_never_resolves_after_uncancelled_finish,
    first_cause_failure_after_request,
    handle_abort_is_not_failure_nor_cancel,
    len_counts_live_tasks,
);

both!(real: cancel_from_another_std_thread, cancel_from_std_thread_while_body_waits);

/// `cancel()` marks the group at once and stops every task; the scope ends `Cancelled`.
async fn cancel_is_immediate_and_stops_every_task() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let mut handles = Vec::new();
            for _ in 0..10 {
                handles.push(tg.spawn(hold_forever(drops.guard())));
            }
            tokio::task::yield_now().await;
            assert!(!tg.is_cancelled());
            let t = tg.clone();
            // Cancel from inside a task; observe synchronously right after it returns.
            tg.spawn(async move {
                t.cancel();
                assert!(t.is_cancelled());
                assert_eq!(t.cancel_reason(), Some(CancelReason::Requested));
            });
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 10);
    assert!(tg.is_cancelled());
}

/// `cancel()` returns without waiting for the tasks to stop: here a shielded task only ends
/// after `cancel()` returned and says so; if `cancel` waited, this would hang.
async fn cancel_does_not_wait_for_tasks() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let (tx, rx) = oneshot::channel::<()>();
            let (started_tx, started) = oneshot::channel::<()>();
            let h = tg.spawn_shielded(async move {
                let _ = started_tx.send(());
                rx.await.unwrap();
            });
            started.await.unwrap();
            tg.cancel(); // must return while the task is still alive
            assert!(!h.is_finished());
            tx.send(()).unwrap();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// The body is dropped the next time it returns `Pending` after the cancel.
async fn cancel_drops_body_at_its_next_pending() {
    let body_drops = Counter::new();
    let after_await = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let _g = body_drops.guard();
            tg.cancel();
            // Still running synchronously after the cancel...
            assert!(tg.is_cancelled());
            // ... but dropped at this await.
            tokio::task::yield_now().await;
            after_await.hit();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(body_drops.get(), 1);
    assert_eq!(
        after_await.get(),
        0,
        "the body did not run past its next await"
    );
}

/// Cancelling twice is harmless; the reason stays the first.
async fn cancel_is_idempotent() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.cancel();
            tg.cancel();
            cancel_group(&tg);
            assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    tg.cancel();
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

/// `cancel_group(&tg)` is `tg.cancel()`.
async fn cancel_group_is_cancel() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(drops.guard()));
            cancel_group(&tg);
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 1);
}

/// A cancel before `run` stops the tasks spawned before it; `run` reports it.
async fn cancel_before_run() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(hold_forever(drops.guard()));
    tg.cancel();
    let out: ScopeResult<()> = scope.run(async { std::future::pending().await }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 1);
}

/// Cancelling a group whose scope was dropped without running: no panic, no effect.
async fn cancel_on_dropped_unrun_scope_is_harmless() {
    let scope = CancelScope::new();
    let tg = scope.group();
    drop(scope);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    tg.cancel();
    cancel_group(&tg);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}

/// A group that finished without a cancel stays not cancelled; `cancel()` does nothing.
async fn cancel_after_finish_does_nothing() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope.run(async { Ok::<_, BoxError>(3) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    tg.cancel();
    cancel_group(&tg);
    assert!(!tg.is_cancelled());
    assert_eq!(tg.cancel_reason(), None);
    // And from another thread too.
    let t = tg.clone();
    std::thread::spawn(move || t.cancel()).join().unwrap();
    assert!(!tg.is_cancelled());
}

/// Cancelling after a cancelled finish keeps the first reason.
async fn cancel_after_cancelled_finish_keeps_reason() {
    let scope = CancelScope::new().timeout(Duration::ZERO);
    let tg = scope.group();
    let out: ScopeResult<()> = scope.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    tg.cancel();
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Deadline));
}

/// Cancelling after a failed finish: no panic, reason stays `Failed`.
async fn cancel_after_failed_finish_keeps_reason() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope.run(async { Err(err("x")) }).await;
    assert!(out.is_err());
    tg.cancel();
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// After a cancel, `spawn` drops the future unstarted and its handle resolves to `None`.
async fn spawn_after_cancel_does_not_start() {
    let started = Counter::new();
    let dropped = Counter::new();
    let checked = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            let (s1, s2) = (started.clone(), started.clone());
            let (g1, g2) = (dropped.guard(), dropped.guard());
            // From a task of the cancelled group (shielded, so it runs after the cancel).
            let checked = checked.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                let h = t.spawn(async move {
                    let _g = g1;
                    s1.hit();
                    Ok::<_, BoxError>(1)
                });
                assert!(h.is_finished());
                assert_eq!(h.await, None);
                checked.hit();
            });
            tg.cancel();
            let h = tg.spawn(async move {
                let _g = g2;
                s2.hit();
            });
            assert!(h.is_finished());
            assert_eq!(h.now_or_never(), Some(None));
            let h = tg.spawn_shielded(async { Ok::<_, BoxError>(5) });
            assert_eq!(h.await, None);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        started.get(),
        0,
        "no future spawned after the cancel started"
    );
    assert_eq!(dropped.get(), 2, "both were dropped");
    assert_eq!(checked.get(), 1, "the spawn from a task was checked");
}

/// After a cancel, `try_spawn` gives the future back inside `SpawnError` (closed).
async fn try_spawn_after_cancel_gives_future_back() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    let e = tg
        .try_spawn(async { Ok::<u32, BoxError>(9) })
        .expect_err("a cancelled group refuses");
    assert!(e.is_closed());
    assert!(!e.is_no_runtime());
    assert!(!format!("{e:?}").is_empty());
    assert!(!e.to_string().is_empty());
    let fut = e.into_inner();
    assert_eq!(
        fut.await.unwrap(),
        9,
        "the very future came back, unstarted"
    );
    let out: ScopeResult<()> = scope.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A finished group refuses spawns too: `spawn` gives `None`, `try_spawn` the future back.
async fn spawn_after_finish_does_not_start() {
    let started = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert!(out.unwrap().is_completed());
    let s = started.clone();
    let h = tg.spawn(async move { s.hit() });
    assert_eq!(h.await, None);
    let e = tg
        .try_spawn(async { 1u8 }.map(Ok::<_, BoxError>))
        .unwrap_err();
    assert!(e.is_closed());
    tokio::task::yield_now().await;
    assert_eq!(started.get(), 0);
    assert_eq!(tg.len(), 0);
    assert!(!tg.is_cancelled());
}

/// A task can spawn siblings and cancel its own group.
async fn task_spawns_sibling_and_cancels_own_group() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let d = drops.clone();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            tg.spawn(async move {
                let sibling = t.spawn(async { Ok::<_, BoxError>(2) });
                assert_eq!(sibling.await, Some(2));
                t.spawn(hold_forever(d.guard()));
                tokio::task::yield_now().await;
                t.cancel();
            });
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 1);
}

/// Nesting: a scope running inside a task of another group stops when that group is cancelled,
/// and the outer scope returns only after the inner tasks were dropped.
async fn nesting_outer_cancel_stops_inner_tasks_in_task() {
    let drops = Counter::new();
    let inner_tg = std::sync::Arc::new(std::sync::Mutex::new(None));
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let (ready_tx, ready) = oneshot::channel::<()>();
            let d = drops.clone();
            let slot = inner_tg.clone();
            tg.spawn(async move {
                let inner = CancelScope::new();
                let itg = inner.group();
                *slot.lock().unwrap() = Some(itg.clone());
                let _: ScopeResult<()> = inner
                    .run(async {
                        for _ in 0..5 {
                            itg.spawn(hold_forever(d.slow_guard(Duration::from_millis(2))));
                        }
                        let _ = ready_tx.send(());
                        std::future::pending().await
                    })
                    .await;
                boom("the inner scope is dropped, not finished");
            });
            ready.await.unwrap();
            tg.cancel();
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        drops.get(),
        5,
        "the inner tasks were dropped before the outer scope returned"
    );
    let itg = inner_tg.lock().unwrap().take().unwrap();
    assert_eq!(itg.cancel_reason(), Some(CancelReason::Dropped));
}

/// Nesting in the body: the outer body (and the inner scope in it) is dropped at the cancel.
async fn nesting_outer_cancel_stops_inner_scope_in_body() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let inner = CancelScope::new();
    let itg = inner.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            let r: ScopeResult<()> = inner
                .run(async {
                    for _ in 0..3 {
                        itg.spawn(hold_forever(drops.guard()));
                    }
                    tokio::task::yield_now().await;
                    t.cancel();
                    std::future::pending().await
                })
                .await;
            unreachable!("dropped: {r:?}");
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 3);
    assert_eq!(itg.cancel_reason(), Some(CancelReason::Dropped));
    assert_eq!(itg.len(), 0);
}

/// Level-triggered: once cancelled, `is_cancelled()` stays true and `cancelled()` resolves at
/// once, also after the scope finished; `cancelled()` is an owned `'static + Send` future.
async fn cancelled_is_level_triggered() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let early = tg.cancelled();
    assert!(tg.cancelled().now_or_never().is_none());
    tg.cancel();
    assert!(early.now_or_never().is_some());
    assert!(tg.cancelled().now_or_never().is_some());
    let out: ScopeResult<()> = scope.run(async { Ok(()) }).await;
    assert!(out.unwrap().is_cancelled());
    assert!(tg.is_cancelled());
    assert!(tg.cancelled().now_or_never().is_some());
    // Owned and 'static: it can be moved into a plain tokio task.
    let f = tg.cancelled();
    drop(tg);
    within("cancelled() in a spawned task", tokio::spawn(f))
        .await
        .unwrap();
}

/// `cancelled()` futures waiting before the cancel are woken by it (several, from tasks).
async fn cancelled_wakes_waiters() {
    let woke = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let mut waiters = Vec::new();
            for _ in 0..4 {
                let f = tg.cancelled();
                let w = woke.clone();
                waiters.push(tokio::spawn(async move {
                    f.await;
                    w.hit();
                }));
            }
            tokio::task::yield_now().await;
            tg.cancel();
            for w in waiters {
                // Plain tokio tasks outside the group: they survive the cancel.
                let _ = w.await;
            }
            Ok(())
        })
        .await;
    // The body was dropped at the cancel, so wait for the waiters here.
    within("cancelled() waiters", woke.wait_for(4)).await;
    assert!(out.unwrap().is_cancelled());
}

/// `cancelled()` of a group finished without a cancel never resolves.
async fn cancelled_never_resolves_after_uncancelled_finish() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let before = tg.cancelled();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert!(out.unwrap().is_completed());
    tg.cancel();
    let after = tg.cancelled();
    assert!(
        tokio::time::timeout(short(), before).await.is_err(),
        "a future made before the finish stays pending"
    );
    assert!(
        tokio::time::timeout(short(), after).await.is_err(),
        "a future made after the finish stays pending"
    );
}

/// The reason recorded is the first cause: a failure after `Requested` leaves `Requested`, but
/// the scope still returns `Err`.
async fn first_cause_failure_after_request() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                Err::<(), _>(err("failed after the cancel"))
            });
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["failed after the cancel"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

/// `TaskHandle::abort` stops one task: neither a failure nor a group cancel.
async fn handle_abort_is_not_failure_nor_cancel() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let h = tg.spawn(hold_forever(drops.guard()));
            let other = tg.spawn(async { Ok::<_, BoxError>(1) });
            tokio::task::yield_now().await;
            h.abort();
            h.abort(); // idempotent
            let mut h = h;
            assert_eq!((&mut h).await, None);
            assert!(h.is_finished());
            assert_eq!(drops.get(), 1);
            assert!(!tg.is_cancelled());
            let s = tg.spawn_shielded(std::future::pending::<()>());
            s.abort();
            assert_eq!(s.await, None, "abort stops a shielded task too");
            assert!(!tg.is_cancelled());
            Ok(other.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(1)));
    assert!(!tg.is_cancelled());
}

/// `len()` counts the tasks alive now; `is_empty()` agrees.
async fn len_counts_live_tasks() {
    let scope = CancelScope::new();
    let tg = scope.group();
    assert_eq!(tg.len(), 0);
    assert!(tg.is_empty());
    let (tx1, rx1) = oneshot::channel::<()>();
    let h1 = tg.spawn(async move {
        let _ = rx1.await;
    });
    let h2 = tg.spawn(std::future::pending::<()>());
    let h3 = tg.spawn(std::future::pending::<()>());
    assert_eq!(tg.len(), 3);
    assert!(!tg.is_empty());
    tx1.send(()).unwrap();
    assert_eq!(h1.await, Some(()));
    assert_eq!(tg.len(), 2, "a finished task no longer counts");
    h2.abort();
    assert_eq!(h2.await, None);
    assert_eq!(tg.len(), 1);
    let out: ScopeResult<()> = scope
        .run(async {
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(h3.await, None);
    assert_eq!(tg.len(), 0);
    assert!(tg.is_empty());
}

/// `cancel()` is sync and callable from a plain thread.
async fn cancel_from_another_std_thread() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(drops.guard()));
            let t = tg.clone();
            std::thread::spawn(move || {
                t.cancel();
                assert!(t.is_cancelled());
            })
            .join()
            .unwrap();
            assert!(
                tg.is_cancelled(),
                "cancelled when the thread's cancel() returned"
            );
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 1);
}

/// A plain thread cancels while the body is suspended: the body is woken and dropped.
async fn cancel_from_std_thread_while_body_waits() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        rx.recv().unwrap();
        t.cancel();
    });
    let out: ScopeResult<()> = scope
        .run(async {
            tx.send(()).unwrap();
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    thread.join().unwrap();
}
