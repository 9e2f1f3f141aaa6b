//! SPEC sec. 6, shielded tasks: not aborted by a cancel of their group or of a linked parent,
//! nor at the end of a grace period; the scope waits for them; only dropping the scope aborts
//! them.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::Counter;

/// A shielded task that waits for the cancel, then works a little, then reports.
fn observer(
    tg: &cancel_scope::TaskGroup,
) -> cancel_scope::TaskHandle<Option<cancel_scope::CancelReason>> {
    let watcher = tg.clone();
    tg.spawn_shielded(async move {
        watcher.cancelled().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, BoxError>(watcher.cancel_reason())
    })
}

async fn survives_cancel_and_is_waited_for() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let done = Arc::new(AtomicBool::new(false));
    let (watcher, flag) = (tg.clone(), done.clone());
    let shielded = tg.spawn_shielded(async move {
        watcher.cancelled().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        flag.store(true, Ordering::SeqCst);
        Ok::<_, BoxError>(watcher.cancel_reason())
    });
    tg.cancel();
    let out = scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    // Not `shielded.is_finished()`: tokio marks the handle finished only after it dropped the
    // task's future, which is what the scope waits for; the flag is set before that.
    assert!(
        done.load(Ordering::SeqCst),
        "the scope returned before its shielded task ended"
    );
    assert_eq!(shielded.await, Some(Some(CancelReason::Requested)));
}
both!(survives_cancel_and_is_waited_for);

async fn survives_end_of_grace() {
    let scope = CancelScope::new().grace(Duration::from_millis(5));
    let tg = scope.group();
    let watcher = tg.clone();
    let shielded = tg.spawn_shielded(async move {
        watcher.cancelled().await;
        tokio::time::sleep(Duration::from_millis(100)).await; // well past the grace
        Ok::<_, BoxError>("done")
    });
    tg.cancel();
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(shielded.await, Some("done"));
}
both!(survives_end_of_grace);

async fn survives_linked_parent_cancel() {
    let parent = CancelScope::new();
    let parent_tg = parent.group();
    let child = CancelScope::new().parent(&parent_tg);
    let child_tg = child.group();
    let shielded = observer(&child_tg);
    parent_tg.cancel();
    let out = child.run(async { Ok(()) }).await.unwrap();
    assert_eq!(out, Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(shielded.await, Some(Some(CancelReason::Parent)));
    drop(parent);
}
both!(survives_linked_parent_cancel);

async fn in_failing_group_result_waited_and_error_reported() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let shielded = observer(&tg);
    tg.spawn(async { Err::<(), BoxError>("boom".into()) });
    let err = scope.run(async { Ok(()) }).await.unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.first().to_string(), "boom");
    assert_eq!(shielded.await, Some(Some(CancelReason::Failed)));
}
both!(in_failing_group_result_waited_and_error_reported);

async fn shielded_error_is_reported() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let watcher = tg.clone();
    tg.spawn_shielded(async move {
        watcher.cancelled().await;
        Err::<(), BoxError>("failed while shutting down".into())
    });
    tg.cancel();
    let err = scope.run(async { Ok(()) }).await.unwrap_err();
    assert_eq!(err.first().to_string(), "failed while shutting down");
}
both!(shielded_error_is_reported);

async fn dropping_the_scope_aborts_it() {
    let drops = Counter::new();
    let reached_end = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new();
    let tg = scope.group();
    let (guard, flag) = (drops.guard(), reached_end.clone());
    let shielded = tg.spawn_shielded(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        flag.store(true, Ordering::SeqCst);
    });
    let run = scope.run(async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let timed_out = tokio::time::timeout(Duration::from_millis(10), run).await;
    assert!(timed_out.is_err());
    assert_eq!(
        shielded.await,
        None,
        "dropping the scope aborts shielded tasks too"
    );
    assert_eq!(drops.get(), 1);
    assert!(!reached_end.load(Ordering::SeqCst));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}
both!(dropping_the_scope_aborts_it);

async fn not_started_after_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let handle = tg.spawn_shielded(async move { flag.store(true, Ordering::SeqCst) });
    assert_eq!(handle.await, None);
    scope.run(async { Ok(()) }).await.unwrap();
    assert!(!started.load(Ordering::SeqCst));
}
both!(not_started_after_cancel);
