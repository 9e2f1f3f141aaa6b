//! A cancel of many tasks: the group's abort handles are taken out of its registry a batch at a
//! time and the aborts requested with the lock released (`core/grace.rs`, `abort_reached`), so
//! the registry changes between batches: tasks end and leave it (it may empty and give its
//! chunks back), spawns race the cancel, shielded tasks stay. These tests want that walk to miss
//! a task, abort a shielded one, or let anything outlive the scope.

#[macro_use]
mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cancel_scope::{CancelReason, CancelScope, Outcome, TaskEnd};
use common::*;
use tokio::sync::Notify;

both!(
    cancel_reaches_every_task_of_thousands,
    tasks_ending_during_the_walk_are_neither_missed_nor_aborted_twice,
    registry_emptied_during_the_walk,
    shielded_tasks_among_thousands_keep_running,
    grace_end_aborts_thousands_that_ignore_the_cancel,
    cancel_from_a_task_while_others_spawn,
);

/// Enough tasks for many batches and for the registry to hold more chunks than it keeps when
/// it empties (so an emptied registry frees chunks under the walk).
const MANY: usize = 5_000;

async fn parked(guard: Guard) {
    let _guard = guard;
    std::future::pending::<()>().await;
}

/// Keeps `guard` until `go` fires, then counts one in `finished`.
fn until(
    go: &Arc<Notify>,
    finished: &Arc<AtomicUsize>,
    guard: Guard,
) -> impl Future<Output = ()> + use<> {
    let (go, finished) = (go.clone(), finished.clone());
    async move {
        let _guard = guard;
        go.notified().await;
        finished.fetch_add(1, Ordering::SeqCst);
    }
}

async fn cancel_reaches_every_task_of_thousands() {
    let dropped = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for _ in 0..MANY {
                tg.spawn(parked(dropped.guard()));
            }
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Requested))
    ));
    assert_eq!(
        dropped.get(),
        MANY,
        "every task was dropped before `run` returned"
    );
}

async fn tasks_ending_during_the_walk_are_neither_missed_nor_aborted_twice() {
    let dropped = Counter::new();
    let go = Arc::new(Notify::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for i in 0..MANY {
                let guard = dropped.guard();
                if i % 2 == 0 {
                    // Ends by itself when `go` fires, racing the cancel's walk.
                    tg.spawn(until(&go, &finished, guard));
                } else {
                    tg.spawn(parked(guard));
                }
            }
            tokio::task::yield_now().await;
            go.notify_waiters();
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
    assert_eq!(dropped.get(), MANY, "every task was dropped, once");
    assert!(finished.load(Ordering::SeqCst) <= MANY / 2);
}

async fn registry_emptied_during_the_walk() {
    // Every task ends on its own at the moment of the cancel: the registry may empty (and
    // give back its chunks) while the walk is between two batches.
    for _ in 0..3 {
        let dropped = Counter::new();
        let go = Arc::new(Notify::new());
        let scope = CancelScope::new();
        let tg = scope.group();
        let out = scope
            .run(async {
                for _ in 0..MANY {
                    let (go, guard) = (go.clone(), dropped.guard());
                    tg.spawn(async move {
                        let _guard = guard;
                        go.notified().await;
                    });
                }
                tokio::task::yield_now().await;
                go.notify_waiters();
                tg.cancel();
                Ok(())
            })
            .await;
        assert!(matches!(out, Ok(Outcome::Cancelled(_))));
        assert_eq!(dropped.get(), MANY);
        assert!(tg.is_empty());
        // The finished group refuses spawns.
        assert_eq!(tg.spawn(async {}).outcome().await, TaskEnd::NotStarted);
    }
}

async fn shielded_tasks_among_thousands_keep_running() {
    let dropped = Counter::new();
    let release = Arc::new(Notify::new());
    let completed = Arc::new(AtomicUsize::new(0));
    let shielded = MANY.div_ceil(3);
    let unshielded = MANY - shielded;
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for i in 0..MANY {
                let guard = dropped.guard();
                if i % 3 == 0 {
                    tg.spawn_shielded(until(&release, &completed, guard));
                } else {
                    tg.spawn(parked(guard));
                }
            }
            // The body is dropped at the cancel: a shielded task looks on.
            let (tg2, dropped, release) = (tg.clone(), dropped.clone(), release.clone());
            tg.spawn_shielded(async move {
                tokio::task::yield_now().await;
                tg2.cancel();
                within(
                    "the unshielded tasks are dropped",
                    dropped.wait_for(unshielded),
                )
                .await;
                tokio::time::sleep(short()).await;
                assert_eq!(dropped.get(), unshielded, "no shielded task was aborted");
                assert_eq!(tg2.len(), shielded + 1, "the shielded tasks and this one");
                release.notify_waiters();
            });
            Ok(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
    assert_eq!(completed.load(Ordering::SeqCst), shielded);
    assert_eq!(dropped.get(), MANY);
    assert!(tg.is_empty());
}

async fn grace_end_aborts_thousands_that_ignore_the_cancel() {
    let dropped = Counter::new();
    let scope = CancelScope::new().grace(short());
    let tg = scope.group();
    let out = scope
        .run(async {
            for _ in 0..MANY {
                tg.spawn(parked(dropped.guard()));
            }
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
    assert_eq!(dropped.get(), MANY);
}

async fn cancel_from_a_task_while_others_spawn() {
    // Two tasks keep spawning while a third cancels: every spawn either lands before the walk
    // reaches its slot, or registers after the cancel and aborts itself there, or is refused.
    let dropped = Counter::new();
    let made = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for _ in 0..2 {
                let (tg2, made, dropped) = (tg.clone(), made.clone(), dropped.clone());
                tg.spawn(async move {
                    // Bounded, so that a cancel that never comes fails instead of spinning.
                    for _ in 0..1_000 {
                        if tg2.is_cancelled() {
                            break;
                        }
                        for _ in 0..100 {
                            made.fetch_add(1, Ordering::SeqCst);
                            tg2.spawn(parked(dropped.guard()));
                        }
                        tokio::task::yield_now().await;
                    }
                });
            }
            let tg2 = tg.clone();
            tg.spawn(async move {
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                tg2.cancel();
            });
            Ok(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
    assert_eq!(
        dropped.get(),
        made.load(Ordering::SeqCst),
        "every task made was dropped (spawned and aborted, or refused) before `run` returned"
    );
    assert!(tg.is_empty());
}
