//! SPEC section 2: the body runs in the caller's task; nothing outlives its scope; tasks spawned
//! before `run`; dropped scopes (unrun, inside `select!`, `timeout`, an aborted task) cancel with
//! `Dropped`, abort every task (shielded ones too), hand live tasks to the enclosing scope, and
//! neither block nor panic.

#[macro_use]
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, TaskGroup};
use common::*;
use tokio::sync::oneshot;

both!(
    body_borrows_locals_and_may_be_not_send,
    body_runs_in_the_callers_task,
    tasks_spawned_before_run_start_at_once_and_are_waited_for,
    scope_dropped_without_run_aborts_its_tasks,
    awaited_scope_waits_for_slow_destructors,
    nested_scope_dropped_in_select_hands_over_tasks,
    nested_scope_dropped_by_timeout_in_a_task_hands_over_tasks,
    two_levels_of_dropped_scopes_hand_over_tasks,
    deep_nesting_of_dropped_scopes_hands_over_everything,
    scope_dropped_in_select_aborts_every_task,
    scope_dropped_by_timeout_aborts_every_task,
    scope_in_aborted_task_aborts_every_task,
    drop_keeps_an_earlier_reason,
    drop_of_scope_with_panicking_destructor_does_not_panic,
);

/// The body may borrow locals (also mutably) and need not be `Send`.
async fn body_borrows_locals_and_may_be_not_send() {
    let mut total = 0u32;
    let shared = Rc::new(RefCell::new(Vec::new()));
    let cell = Cell::new(1);
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let rc = shared.clone();
            let h = tg.spawn(async { Ok::<_, BoxError>(41) });
            tokio::task::yield_now().await; // the Rc lives across an await
            let v = h.await.unwrap();
            rc.borrow_mut().push(v);
            total += 1;
            cell.set(cell.get() + 1);
            Ok::<_, BoxError>(total)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(total, 1);
    assert_eq!(cell.get(), 2);
    assert_eq!(*shared.borrow(), [41]);
}

/// The body is polled in the caller's own task, not in a task of the group.
async fn body_runs_in_the_callers_task() {
    let t = tokio::spawn(async {
        let caller = tokio::task::id();
        let scope = CancelScope::new();
        let tg = scope.group();
        let out = scope
            .run(async {
                let task_id = tg.spawn(async { Ok::<_, BoxError>(tokio::task::id()) });
                Ok::<_, BoxError>((tokio::task::id(), task_id.await.unwrap()))
            })
            .await;
        let (body, task) = out.unwrap().completed().unwrap();
        assert_eq!(body, caller);
        assert_ne!(task, caller, "tasks are tokio tasks of their own");
    });
    t.await.unwrap();
}

/// Tasks spawned before `run` start at once (here, before `run` is even called) and `run` waits
/// for them.
async fn tasks_spawned_before_run_start_at_once_and_are_waited_for() {
    let drops = Counter::new();
    let finished = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (started_tx, started) = oneshot::channel::<()>();
    let (go_tx, go) = oneshot::channel::<()>();
    let g = drops.guard();
    let f = finished.clone();
    tg.spawn(async move {
        let _g = g;
        started_tx.send(()).unwrap();
        go.await.unwrap();
        tokio::time::sleep(short()).await;
        f.hit();
    });
    within("a task spawned before run starts", started)
        .await
        .unwrap();
    let out = scope
        .run(async {
            go_tx.send(()).unwrap();
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    assert_eq!(finished.get(), 1, "run waited for the task");
    assert_eq!(drops.get(), 1);
}

/// A scope dropped without ever running aborts its tasks, shielded ones too (`Dropped`).
async fn scope_dropped_without_run_aborts_its_tasks() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let a = tg.spawn(hold_forever(drops.guard()));
    let b = tg.spawn_shielded(hold_forever(drops.guard()));
    tokio::task::yield_now().await;
    drop(scope);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    assert_eq!(within("abort of a", a).await, None);
    assert_eq!(within("abort of b", b).await, None);
    within("every task dropped", drops.wait_for(2)).await;
    assert_eq!(tg.len(), 0);
    // It refuses new tasks.
    assert!(tg.try_spawn(async {}).unwrap_err().is_closed());
}

/// An awaited scope returns only after every task's destructor ran, slow ones included.
async fn awaited_scope_waits_for_slow_destructors() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            for _ in 0..6 {
                tg.spawn(hold_forever(drops.slow_guard(Duration::from_millis(10))));
            }
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 6);
}

/// A nested scope dropped unfinished inside `select!` in the body hands its live tasks to the
/// enclosing scope, which waits for them (slow destructors included).
async fn nested_scope_dropped_in_select_hands_over_tasks() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let inner_groups: RefCell<Vec<TaskGroup>> = RefCell::new(Vec::new());
    let out = scope
        .run(async {
            let inner = CancelScope::new();
            let itg = inner.group();
            inner_groups.borrow_mut().push(itg.clone());
            let (ready_tx, ready) = oneshot::channel::<()>();
            tokio::select! {
                _ = inner.run(async {
                    for _ in 0..4 {
                        itg.spawn(hold_forever(drops.slow_guard(Duration::from_millis(10))));
                    }
                    itg.spawn_shielded(hold_forever(drops.slow_guard(Duration::from_millis(10))));
                    ready_tx.send(()).unwrap();
                    std::future::pending::<Result<(), BoxError>>().await
                }) => unreachable!(),
                _ = ready => {}
            }
            assert_eq!(itg.cancel_reason(), Some(CancelReason::Dropped));
            assert!(!tg.is_cancelled(), "Dropped does not travel up");
            Ok::<_, BoxError>(7)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(7));
    assert_eq!(
        drops.get(),
        5,
        "the enclosing scope waited for the handed-over tasks"
    );
    assert_eq!(inner_groups.borrow()[0].len(), 0);
}

/// A nested scope inside a task, dropped by `tokio::time::timeout`, hands its tasks to the
/// group whose task it ran in.
async fn nested_scope_dropped_by_timeout_in_a_task_hands_over_tasks() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let d = drops.clone();
    let out = scope
        .run(async {
            tg.spawn(async move {
                let inner = CancelScope::new();
                let itg = inner.group();
                let r = tokio::time::timeout(
                    short(),
                    inner.run(async {
                        for _ in 0..3 {
                            itg.spawn(hold_forever(d.slow_guard(Duration::from_millis(10))));
                        }
                        std::future::pending::<Result<(), BoxError>>().await
                    }),
                )
                .await;
                assert!(r.is_err());
                assert_eq!(itg.cancel_reason(), Some(CancelReason::Dropped));
            });
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    assert_eq!(drops.get(), 3);
}

/// Two levels: a dropped scope whose task runs another scope that is dropped in turn; the
/// outermost awaited scope waits for the tasks of both.
async fn two_levels_of_dropped_scopes_hand_over_tasks() {
    for _ in 0..20 {
        let drops = Counter::new();
        let scope = CancelScope::new();
        let out = scope
            .run(async {
                let inner1 = CancelScope::new();
                let g1 = inner1.group();
                let (ready_tx, ready) = oneshot::channel::<()>();
                let d = drops.clone();
                tokio::select! {
                    _ = inner1.run(async {
                        g1.spawn(async move {
                            let inner2 = CancelScope::new();
                            let g2 = inner2.group();
                            let _: ScopeResult<()> = inner2
                                .run(async {
                                    for _ in 0..3 {
                                        g2.spawn(hold_forever(
                                            d.slow_guard(Duration::from_millis(5)),
                                        ));
                                    }
                                    ready_tx.send(()).unwrap();
                                    std::future::pending().await
                                })
                                .await;
                        });
                        std::future::pending::<Result<(), BoxError>>().await
                    }) => unreachable!(),
                    _ = ready => {}
                }
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(out.unwrap().is_completed());
        assert_eq!(
            drops.get(),
            3,
            "tasks of a twice-nested dropped scope were waited for"
        );
    }
}

/// A chain of nested scopes, each running in a task of the one above, dropped from the top:
/// the awaited scope above them waits for every level.
async fn deep_nesting_of_dropped_scopes_hands_over_everything() {
    const DEPTH: usize = 50;
    let drops = Counter::new();
    let scope = CancelScope::new();
    let out = scope
        .run(async {
            let top = CancelScope::new();
            let gtop = top.group();
            let (ready_tx, ready) = oneshot::channel::<()>();
            let mut prev = gtop.clone();
            for _ in 0..DEPTH {
                let s = CancelScope::new();
                let g = s.group();
                let d = drops.slow_guard(Duration::from_millis(1));
                prev.spawn(drop_result(s.run(async move {
                    let _d = d;
                    std::future::pending::<Result<(), BoxError>>().await
                })));
                prev = g;
            }
            prev.spawn(async move {
                ready_tx.send(()).unwrap();
            });
            tokio::select! {
                _ = top.run(std::future::pending::<Result<(), BoxError>>()) => unreachable!(),
                _ = ready => {}
            }
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    assert_eq!(
        drops.get(),
        DEPTH,
        "every level's body was dropped before the scope returned"
    );
}

/// A scope dropped inside `select!` (no enclosing scope): `Dropped`, every task aborted.
async fn scope_dropped_in_select_aborts_every_task() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (ready_tx, ready) = oneshot::channel::<()>();
    tokio::select! {
        _ = scope.run(async {
            tg.spawn(hold_forever(drops.guard()));
            tg.spawn_shielded(hold_forever(drops.guard()));
            ready_tx.send(()).unwrap();
            std::future::pending::<Result<(), BoxError>>().await
        }) => unreachable!(),
        _ = ready => {}
    }
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    within("tasks of a dropped scope", drops.wait_for(2)).await;
    // A task leaves the registry right after its future (and the guard in it) was dropped, on
    // its worker: with nobody awaiting the scope, len() reaches 0 just after the drops.
    within("len() back to 0", async {
        while !tg.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// A scope dropped by `tokio::time::timeout`: the same.
async fn scope_dropped_by_timeout_aborts_every_task() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = tokio::time::timeout(
        short(),
        scope.run(async {
            tg.spawn(hold_forever(drops.guard()));
            tg.spawn_shielded(hold_forever(drops.guard()));
            std::future::pending::<Result<(), BoxError>>().await
        }),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    within("tasks of a dropped scope", drops.wait_for(2)).await;
}

/// A scope running in a tokio task that is aborted: the same.
async fn scope_in_aborted_task_aborts_every_task() {
    let drops = Counter::new();
    let (tg_tx, tg_rx) = oneshot::channel::<TaskGroup>();
    let d = drops.clone();
    let task = tokio::spawn(async move {
        let scope = CancelScope::new();
        let tg = scope.group();
        let _: ScopeResult<()> = scope
            .run(async {
                tg.spawn(hold_forever(d.guard()));
                tg.spawn_shielded(hold_forever(d.guard()));
                tg_tx.send(tg.clone()).unwrap();
                std::future::pending().await
            })
            .await;
    });
    let tg = tg_rx.await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    within("tasks of a dropped scope", drops.wait_for(2)).await;
}

/// A scope cancelled earlier keeps its reason when dropped; its shielded task is aborted.
async fn drop_keeps_an_earlier_reason() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (ready_tx, ready) = oneshot::channel::<()>();
    tokio::select! {
        _ = scope.run(async {
            tg.spawn_shielded(hold_forever(drops.guard()));
            tg.cancel();
            ready_tx.send(()).unwrap();
            Ok::<(), BoxError>(())
        }) => unreachable!("the shielded task keeps the scope running"),
        _ = ready => {}
    }
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
    within("shielded task of a dropped scope", drops.wait_for(1)).await;
}

/// Dropping a scope never panics, even when a task's destructor panics.
async fn drop_of_scope_with_panicking_destructor_does_not_panic() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (started_tx, started) = oneshot::channel::<()>();
    let h = tg.spawn(async move {
        let _p = PanicOnDrop("destructor panic in a dropped scope");
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    started.await.unwrap();
    drop(scope);
    assert_eq!(within("abort", h).await, None);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}

/// Dropping a scope does not block, even while one of its tasks is inside a long poll on
/// another worker (multi-thread only: that needs a second worker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_does_not_block_on_a_running_poll() {
    let release = Arc::new(AtomicBool::new(false));
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (spinning_tx, spinning) = oneshot::channel::<()>();
    let r = release.clone();
    let d = drops.guard();
    tg.spawn_shielded(async move {
        let _d = d;
        spinning_tx.send(()).unwrap();
        // A poll that does not return until released.
        while !r.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        tokio::task::yield_now().await;
        boom("aborted at its first Pending");
    });
    within("task starts spinning", spinning).await.unwrap();
    // Watchdog: releases the poll after 5 s, so a blocking drop fails instead of hanging.
    let w = release.clone();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        w.store(true, Ordering::SeqCst);
    });
    drop(scope);
    assert!(
        !release.load(Ordering::SeqCst),
        "Drop returned while the task's poll was still running"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    release.store(true, Ordering::SeqCst);
    within("the task stops at its next Pending", drops.wait_for(1)).await;
    drop(watchdog);
}

both!(
    scope_dropped_before_run_hands_over_to_its_creator,
    panic_in_a_handed_over_task_reaches_the_enclosing_scope,
);

/// A scope dropped before its `run` was ever polled (the body returned early, by `?` say) has
/// no "scope it ran in" yet: the scope it was created in waits for its tasks instead.
async fn scope_dropped_before_run_hands_over_to_its_creator() {
    let drops = Counter::new();
    let outer = CancelScope::new();
    let d = drops.clone();
    let out: ScopeResult<()> = outer
        .run(async move {
            let inner = CancelScope::new();
            let itg = inner.group();
            itg.spawn(hold_forever(d.slow_guard(Duration::from_millis(20))));
            tokio::task::yield_now().await;
            Err::<(), BoxError>("left early".into())?;
            let _ = inner.run(async { Ok(()) }).await;
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["left early"]);
    assert_eq!(
        drops.get(),
        1,
        "the outer scope returned before the never-run inner scope's task was dropped"
    );
}

/// A task of a nested scope that was dropped unfinished panics while it is being dropped: the
/// enclosing scope, which waits for that task, resumes the panic; it is not lost.
async fn panic_in_a_handed_over_task_reaches_the_enclosing_scope() {
    let outer = CancelScope::new();
    let out = catch(outer.run(async {
        let inner = CancelScope::new();
        let itg = inner.group();
        itg.spawn(async move {
            let _bomb = PanicOnDrop("dropped task panicked");
            std::future::pending::<()>().await;
        });
        let run = inner.run(async { std::future::pending::<Result<(), BoxError>>().await });
        // Polled once (so it knows its enclosing scope), then dropped unfinished.
        let _ = tokio::time::timeout(short(), run).await;
        Ok::<_, BoxError>(())
    }))
    .await;
    let payload = out.expect_err("the handed-over task's panic was swallowed");
    assert_eq!(panic_msg(&*payload), "dropped task panicked");
}
