//! Ports of the behaviours of the Python library `asyncio_cancel_scope` (0.3.0), including the
//! case it gets wrong (a cancel while the body is suspended at an await leaks a stray
//! `CancelledError` there; here the scope returns `Ok(Cancelled(Requested))`).

#[macro_use]
mod common;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, cancel_group};
use common::*;
use tokio::sync::oneshot;

both!(
    task_waiting_forever_cancelled_by_cancel_group_exits_cleanly,
    body_error_and_child_error_give_an_error_group,
    outer_cancel_stops_inner_tasks,
    linked_inner_cancel_unwinds_parent,
    unlinked_inner_cancel_does_not_unwind_parent,
    three_level_linked_chain_unwinds_fully,
    spawning_on_a_cancelled_group_does_not_run,
    cancelling_after_exit_is_harmless,
    child_cancels_group_while_body_suspended_at_await,
);

/// `async with cancel_scope(tg): tg.create_task(forever()); cancel_group(tg)` exits cleanly.
async fn task_waiting_forever_cancelled_by_cancel_group_exits_cleanly() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(drops.guard()));
            tokio::task::yield_now().await;
            cancel_group(&tg);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 1);
}

/// A failing body and a failing child give an error group with both errors.
async fn body_error_and_child_error_give_an_error_group() {
    // The body fails first; the child fails after the cancel (shielded, so it gets to).
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                Err::<(), _>(err("child"))
            });
            Err(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body", "child"]);
}

/// Cancelling the outer group stops the tasks of an inner scope nested in it.
async fn outer_cancel_stops_inner_tasks() {
    let drops = Counter::new();
    let outer = CancelScope::new();
    let otg = outer.group();
    let out: ScopeResult<()> = outer
        .run(async {
            let inner = CancelScope::new();
            let itg = inner.group();
            let r: ScopeResult<()> = inner
                .run(async {
                    for _ in 0..3 {
                        itg.spawn(hold_forever(drops.guard()));
                    }
                    tokio::task::yield_now().await;
                    cancel_group(&otg);
                    std::future::pending().await
                })
                .await;
            unreachable!("the outer body is dropped: {r:?}");
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 3);
}

/// A linked inner scope's cancel unwinds its parent.
async fn linked_inner_cancel_unwinds_parent() {
    let drops = Counter::new();
    let outer = CancelScope::new();
    let otg = outer.group();
    let out: ScopeResult<()> = outer
        .run(async {
            otg.spawn(hold_forever(drops.guard()));
            let inner = CancelScope::new().parent(&otg);
            let itg = inner.group();
            let r: ScopeResult<()> = inner
                .run(async {
                    itg.spawn(hold_forever(drops.guard()));
                    tokio::task::yield_now().await;
                    cancel_group(&itg);
                    Ok(())
                })
                .await;
            assert_eq!(r.unwrap(), Outcome::Cancelled(CancelReason::Requested));
            // The outer body is dropped at its next await.
            tokio::task::yield_now().await;
            unreachable!("the outer scope was unwound");
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(drops.get(), 2);
}

/// An unlinked inner scope's cancel does not touch the outer scope.
async fn unlinked_inner_cancel_does_not_unwind_parent() {
    let outer = CancelScope::new();
    let otg = outer.group();
    let out = outer
        .run(async {
            let inner = CancelScope::new();
            let itg = inner.group();
            let r: ScopeResult<()> = inner
                .run(async {
                    itg.spawn(std::future::pending::<()>());
                    cancel_group(&itg);
                    Ok(())
                })
                .await;
            assert_eq!(r.unwrap(), Outcome::Cancelled(CancelReason::Requested));
            tokio::task::yield_now().await;
            assert!(!otg.is_cancelled());
            Ok::<_, BoxError>("outer done")
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed("outer done"));
}

/// Three nested, linked scopes: cancelling the innermost unwinds all three.
async fn three_level_linked_chain_unwinds_fully() {
    let drops = Counter::new();
    let s1 = CancelScope::new();
    let g1 = s1.group();
    let out: ScopeResult<()> = s1
        .run(async {
            g1.spawn(hold_forever(drops.guard()));
            let s2 = CancelScope::new().parent(&g1);
            let g2 = s2.group();
            let _: ScopeResult<()> = s2
                .run(async {
                    g2.spawn(hold_forever(drops.guard()));
                    let s3 = CancelScope::new().parent(&g2);
                    let g3 = s3.group();
                    let r: ScopeResult<()> = s3
                        .run(async {
                            g3.spawn(hold_forever(drops.guard()));
                            tokio::task::yield_now().await;
                            cancel_group(&g3);
                            std::future::pending().await
                        })
                        .await;
                    assert_eq!(r.unwrap(), Outcome::Cancelled(CancelReason::Requested));
                    std::future::pending().await
                })
                .await;
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(drops.get(), 3);
}

/// A task spawned on a cancelled group does not run.
async fn spawning_on_a_cancelled_group_does_not_run() {
    let ran = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = ran.clone();
    let out: ScopeResult<()> = scope
        .run(async {
            cancel_group(&tg);
            let h = tg.spawn(async move { r.hit() });
            assert_eq!(h.await, None);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(ran.get(), 0);
}

/// Cancelling after the scope exited is harmless.
async fn cancelling_after_exit_is_harmless() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope.run(async { Ok::<_, BoxError>(1) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    cancel_group(&tg);
    cancel_group(&tg);
    assert!(!tg.is_cancelled());
}

/// The case the Python library gets wrong: a child task cancels the group while the body is
/// suspended at an await; the scope still returns `Ok(Cancelled(Requested))`.
async fn child_cancels_group_while_body_suspended_at_await() {
    let body_dropped = Counter::new();
    let reached = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<&str> = scope
        .run(async {
            let _g = body_dropped.guard();
            let (suspended_tx, suspended) = oneshot::channel::<()>();
            let t = tg.clone();
            tg.spawn(async move {
                // Wait until the body is suspended, then cancel from the child.
                suspended.await.unwrap();
                cancel_group(&t);
            });
            suspended_tx.send(()).unwrap();
            tokio::time::sleep(short() * 100).await; // suspended here at the cancel
            reached.hit();
            Ok("not reached")
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(body_dropped.get(), 1);
    assert_eq!(reached.get(), 0);
}
