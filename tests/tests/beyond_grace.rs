//! SPEC sec. 6, grace periods: on cancel, tasks see `cancelled()` resolve, may clean up, and
//! whatever still runs after the grace is aborted; the body is dropped at once.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::Counter;
use tokio::time::Instant;

/// The grace used on each flavor: long on the paused clock, short on real time.
fn grace(paused: bool) -> Duration {
    if paused {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(300)
    }
}

async fn cleanup_within_grace_counts() {
    let paused = common::paused();
    let grace = grace(paused);
    let stubborn = Counter::new();
    let scope = CancelScope::new().grace(grace);
    let tg = scope.group();
    let watcher = tg.clone();
    let polite = tg.spawn(async move {
        watcher.cancelled().await;
        tokio::time::sleep(grace / 10).await; // async clean-up, well inside the grace
        Ok::<_, BoxError>("cleaned up")
    });
    let guard = stubborn.guard();
    let ignorer = tg.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let started = Instant::now();
    tg.cancel();
    let out = scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        polite.await,
        Some("cleaned up"),
        "a task that ends in time counts"
    );
    assert_eq!(
        ignorer.await,
        None,
        "a task still running after the grace is aborted"
    );
    assert_eq!(stubborn.get(), 1);
    assert!(
        started.elapsed() >= grace,
        "the stubborn task was aborted before the grace ran out"
    );
    if paused {
        assert!(started.elapsed() < grace + Duration::from_secs(1));
    }
}
both!(cleanup_within_grace_counts);

async fn body_is_dropped_at_once() {
    let paused = common::paused();
    let grace = grace(paused);
    let body_guard = Counter::new();
    let scope = CancelScope::new().grace(grace);
    let tg = scope.group();
    let (canceller, seen) = (tg.clone(), body_guard.clone());
    let checker = tg.spawn(async move {
        tokio::task::yield_now().await;
        canceller.cancel();
        // The body is dropped the next time it is polled, long before the grace ends.
        let deadline = Instant::now() + grace / 2;
        while seen.get() == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, BoxError>(seen.get())
    });
    let guard = body_guard.guard();
    let out = scope
        .run(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        checker.await,
        Some(1),
        "the body was not dropped at once under a grace period"
    );
}
both!(body_is_dropped_at_once);

async fn no_grace_aborts_at_once() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new();
    let tg = scope.group();
    let parked = Arc::new(AtomicBool::new(false));
    let (watcher, flag, seen) = (tg.clone(), cleaned.clone(), parked.clone());
    tg.spawn(async move {
        let mut cancelled = std::pin::pin!(watcher.cancelled());
        std::future::poll_fn(|cx| {
            let poll = cancelled.as_mut().poll(cx);
            seen.store(poll.is_pending(), Ordering::SeqCst);
            poll
        })
        .await;
        flag.store(true, Ordering::SeqCst);
    });
    // Cancelled only once the task is parked on `cancelled()`: on a multi-thread runtime a
    // cancel while a worker still runs its first poll lets that poll see the cancel and end
    // the task on its own, which no abort can prevent (a task is never stopped mid-poll).
    while !parked.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    tg.cancel();
    let out = scope.run(async { Ok(()) }).await.unwrap();
    assert!(out.is_cancelled());
    assert!(
        !cleaned.load(Ordering::SeqCst),
        "without a grace, tasks are aborted at once"
    );
}
both!(no_grace_aborts_at_once);

async fn grace_with_deadline() {
    let paused = common::paused();
    let grace = grace(paused);
    let timeout = grace;
    let cleaned = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new().timeout(timeout).grace(grace);
    let tg = scope.group();
    let (watcher, flag) = (tg.clone(), cleaned.clone());
    tg.spawn(async move {
        watcher.cancelled().await;
        tokio::time::sleep(grace / 10).await;
        flag.store(true, Ordering::SeqCst);
    });
    tg.spawn(std::future::pending::<()>());
    let started = Instant::now();
    let out = scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Deadline));
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the deadline's cancel must give the grace"
    );
    assert!(
        started.elapsed() >= timeout + grace,
        "aborted before deadline + grace"
    );
}
both!(grace_with_deadline);

async fn grace_with_linked_parent_cancel() {
    let paused = common::paused();
    let grace = grace(paused);
    let cleaned = Arc::new(AtomicBool::new(false));
    let parent = CancelScope::new();
    let parent_tg = parent.group();
    let child = CancelScope::new().parent(&parent_tg).grace(grace);
    let child_tg = child.group();
    let (watcher, flag) = (child_tg.clone(), cleaned.clone());
    child_tg.spawn(async move {
        watcher.cancelled().await;
        tokio::time::sleep(grace / 10).await;
        flag.store(true, Ordering::SeqCst);
    });
    let child_task = parent_tg.spawn(async move {
        let _ = child.run(async { Ok(()) }).await;
    });
    tokio::task::yield_now().await;
    parent_tg.cancel();
    let out = parent.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    // The child ran in a task of the parent, so the parent's cancel aborted that task (nesting
    // drops the child's scope): its tasks were aborted with the scope, grace or not.
    let _ = child_task.await;
    let linked_only = CancelScope::new();
    let linked_tg = linked_only.group();
    let outside = CancelScope::new().parent(&linked_tg).grace(grace);
    let outside_tg = outside.group();
    let (watcher, flag) = (outside_tg.clone(), cleaned.clone());
    cleaned.store(false, Ordering::SeqCst);
    outside_tg.spawn(async move {
        watcher.cancelled().await;
        tokio::time::sleep(grace / 10).await;
        flag.store(true, Ordering::SeqCst);
    });
    linked_tg.cancel();
    let out = outside.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Parent));
    assert!(
        cleaned.load(Ordering::SeqCst),
        "a linked parent's cancel gives the child's grace"
    );
    drop(linked_only);
}
both!(grace_with_linked_parent_cancel);

/// The grace period runs from the cancel, even when `run` is first polled long after it.
async fn grace_runs_from_the_cancel() {
    let paused = common::paused();
    let grace = grace(paused);
    let stubborn = Counter::new();
    let scope = CancelScope::new().grace(grace);
    let tg = scope.group();
    tg.spawn(common::hold_forever(stubborn.guard()));
    tg.cancel();
    tokio::time::sleep(grace * 2).await; // the grace has run out before `run` starts
    assert_eq!(stubborn.get(), 0, "nothing aborts before the scope runs");
    let started = Instant::now();
    let out = scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(stubborn.get(), 1);
    assert!(
        started.elapsed() < grace,
        "the grace was counted from the first poll of `run`, not from the cancel"
    );
}
both!(grace_runs_from_the_cancel);

/// A grace too long to represent never ends (and does not overflow): the task that ends on its
/// own after the cancel counts.
async fn huge_grace_does_not_overflow() {
    let scope = CancelScope::new().grace(Duration::MAX);
    let tg = scope.group();
    let watcher = tg.clone();
    let done = tg.spawn(async move {
        watcher.cancelled().await;
        tokio::task::yield_now().await;
        Ok::<_, BoxError>("done")
    });
    tg.cancel();
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(done.await, Some("done"));
}
both!(huge_grace_does_not_overflow);
