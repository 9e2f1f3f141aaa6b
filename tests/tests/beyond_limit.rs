//! SPEC sec. 6, concurrency limits: at most n tasks run at once, further spawns queue in spawn
//! order without blocking the spawner, queued tasks are dropped unstarted on cancel (shielded
//! ones stay queued and run), and `len()` counts queued tasks.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};

/// The body of a task that must never start.
fn must_not_run(what: &str) {
    panic!("{what}");
}

/// Tracks how many tasks run at once, and the highest that reached.
#[derive(Clone, Default)]
struct Concurrency {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Concurrency {
    async fn work(&self, yields: usize) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn at_most_n_run_at_once() {
    let scope = CancelScope::new().limit(3);
    let tg = scope.group();
    let c = Concurrency::default();
    // The admitted tasks wait for the go, so that none ends before `len()` is read (on the
    // multi-thread runtime they would otherwise run while the loop still spawns).
    let (go, ready) = tokio::sync::watch::channel(false);
    for _ in 0..50 {
        let c = c.clone();
        let mut ready = ready.clone();
        tg.spawn(async move {
            let _ = ready.wait_for(|go| *go).await;
            c.work(5).await;
        });
    }
    assert_eq!(tg.len(), 50, "len() counts queued tasks");
    go.send(true).unwrap();
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(c.max.load(Ordering::SeqCst), 3);
    assert_eq!(tg.len(), 0);
}
both!(at_most_n_run_at_once);

async fn start_in_spawn_order() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..20 {
        let order = order.clone();
        tg.spawn(async move {
            order.lock().unwrap().push(i);
            tokio::task::yield_now().await;
        });
    }
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}
both!(start_in_spawn_order);

async fn spawner_is_not_blocked() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Arc::new(tokio::sync::Notify::new());
    let first = gate.clone();
    tg.spawn(async move { first.notified().await });
    // The slot is held; these spawns must return at once, from the body, without awaiting.
    let out = scope
        .run(async {
            for _ in 0..1000 {
                tg.spawn(async {});
            }
            let queued = tg.len();
            gate.notify_one();
            Ok(queued)
        })
        .await
        .unwrap();
    assert_eq!(out, Outcome::Completed(1001));
}
both!(spawner_is_not_blocked);

async fn queued_dropped_unstarted_on_cancel() {
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let started = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..10 {
        let started = started.clone();
        handles.push(tg.spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }));
    }
    let canceller = tg.clone();
    let out = scope
        .run(async move {
            while started.load(Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
            canceller.cancel();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    for handle in handles {
        assert_eq!(handle.await, None);
    }
    assert_eq!(tg.len(), 0);
}
both!(queued_dropped_unstarted_on_cancel);

async fn queued_unstarted_count() {
    // Same as above, but checks that the queued ones never started at all.
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let started = started.clone();
        tg.spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        });
    }
    let watch = started.clone();
    let canceller = tg.clone();
    scope
        .run(async move {
            while watch.load(Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
            canceller.cancel();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "a queued task started after the cancel"
    );
}
both!(queued_unstarted_count);

async fn shielded_queued_stay_and_run() {
    let scope = CancelScope::new().limit(1).grace(Duration::from_millis(1));
    let tg = scope.group();
    let order = Arc::new(Mutex::new(Vec::new()));
    let blocker_tg = tg.clone();
    tg.spawn(async move { blocker_tg.cancelled().await });
    let mut shielded = Vec::new();
    for i in 0..5 {
        let order = order.clone();
        shielded.push(tg.spawn_shielded(async move {
            order.lock().unwrap().push(i);
            tokio::task::yield_now().await;
            Ok::<_, BoxError>(i)
        }));
        tg.spawn(async { must_not_run("an unshielded queued task ran after the cancel") });
    }
    tg.cancel();
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    for (i, handle) in shielded.into_iter().enumerate() {
        assert_eq!(handle.await, Some(i));
    }
}
both!(shielded_queued_stay_and_run);

async fn tasks_spawn_siblings() {
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let c = Concurrency::default();
    let done = Arc::new(AtomicUsize::new(0));

    fn fan_out(tg: TaskGroup, c: Concurrency, done: Arc<AtomicUsize>, depth: u32) {
        let sibling_tg = tg.clone();
        tg.spawn(async move {
            c.work(2).await;
            done.fetch_add(1, Ordering::SeqCst);
            if depth > 0 {
                // Spawned, not awaited: awaiting a queued sibling from inside a slot could
                // wait forever under `limit(1)`.
                fan_out(sibling_tg.clone(), c.clone(), done.clone(), depth - 1);
                fan_out(sibling_tg, c, done, depth - 1);
            }
        });
    }
    fan_out(tg.clone(), c.clone(), done.clone(), 6);
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 127);
    assert!(c.max.load(Ordering::SeqCst) <= 2);
}
both!(tasks_spawn_siblings);

async fn aborted_queued_task_frees_its_turn() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Arc::new(tokio::sync::Notify::new());
    let first = gate.clone();
    tg.spawn(async move { first.notified().await });
    let skipped = tg.spawn(async { must_not_run("an aborted queued task ran") });
    let third = tg.spawn(async { Ok::<_, BoxError>(3) });
    skipped.abort();
    gate.notify_one();
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(skipped.await, None);
    assert_eq!(third.await, Some(3));
}
both!(aborted_queued_task_frees_its_turn);

#[test]
#[should_panic(expected = "the limit must be at least 1")]
fn limit_zero_is_rejected() {
    let _ = CancelScope::new().limit(0);
}

/// Raising the limit admits queued tasks at once.
async fn raising_the_limit_admits_queued_tasks() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // The first holds the only slot until the second, queued behind it, runs.
    tg.spawn(async move {
        let _ = rx.await;
    });
    tg.spawn(async move {
        let _ = tx.send(());
    });
    let scope = scope.limit(2);
    scope.run(async { Ok(()) }).await.unwrap();
}
both!(raising_the_limit_admits_queued_tasks);

#[tokio::test]
#[should_panic(expected = "set the limit before the first spawn")]
async fn limit_after_unlimited_spawns_is_rejected() {
    let scope = CancelScope::new();
    scope.group().spawn(async {});
    let _ = scope.limit(1);
}
