//! Adversarial 2, part 15: `TaskHandle::outcome()` of blocking members (sec. 10: "a member in every respect").
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use cancel_scope::{BoxError, CancelScope, TaskEnd};

#[macro_use]
mod adversarial;

use adversarial::{err, ms};

both!(
    blocking_outcomes,
    blocking_queued_abort_outcome,
    blocking_queued_cancel_outcome
);

// TaskEnd rustdoc: Completed / Failed / NotStarted, for a blocking member
async fn blocking_outcomes() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let _ = scope
        .run(async {
            let ok = tg.spawn_blocking(|| Ok::<_, BoxError>(1u32));
            let bad = tg.spawn_blocking(|| Err::<u32, BoxError>(err("bad")));
            assert_eq!(ok.outcome().await, TaskEnd::Completed(1));
            assert_eq!(bad.outcome().await, TaskEnd::Failed);
            tg.cancel();
            assert_eq!(
                tg.spawn_blocking(|| ()).outcome().await,
                TaskEnd::NotStarted
            );
            Ok(())
        })
        .await;
}

// TaskEnd::Aborted: "stopped by TaskHandle::abort" (a queued blocking member never runs)
async fn blocking_queued_abort_outcome() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let out = scope
        .run(async {
            // holds the only slot until the member was aborted (a timer could run out first
            // on a loaded machine, and the member run before its abort)
            let (release, held) = tokio::sync::oneshot::channel::<()>();
            let hold = tg.spawn(async move {
                let _ = held.await;
            });
            let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let r2 = ran.clone();
            let h = tg.spawn_blocking(move || r2.store(true, std::sync::atomic::Ordering::SeqCst));
            h.abort();
            release.send(()).unwrap();
            assert_eq!(h.outcome().await, TaskEnd::Aborted);
            assert_eq!(hold.await, Some(()));
            tokio::time::sleep(ms(20)).await;
            assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
            assert!(!tg.is_cancelled());
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_completed());
}

// TaskEnd::NotStarted or Cancelled: "queued under limit(n) and dropped unstarted by a cancel"
async fn blocking_queued_cancel_outcome() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s2 = seen.clone();
    let _ = scope
        .run(async {
            tg.spawn(std::future::pending::<()>());
            let h = tg.spawn_blocking(|| ());
            // a shielded observer: the body itself is dropped by the cancel
            tg.spawn_shielded(async move {
                *s2.lock().unwrap() = Some(h.outcome().await);
            });
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    let end = seen.lock().unwrap().take();
    assert!(
        matches!(end, Some(TaskEnd::NotStarted | TaskEnd::Cancelled)),
        "{end:?}"
    );
}
