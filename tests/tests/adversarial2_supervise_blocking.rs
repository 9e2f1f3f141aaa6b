//! Adversarial 2: `supervise` (sec. 9) and `spawn_blocking` (sec. 10).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, flag, ms, msgs};

both!(
    supervise_errors_kept_in_order_and_others_finish,
    supervise_body_error_still_cancels,
    supervise_task_panic_still_cancels,
    supervise_discarded_body_value_owning_nested_scope_is_waited_for,
    blocking_counted_by_len,
    blocking_holds_limit_slot,
    blocking_not_started_after_cancel,
    blocking_scope_waits_for_running_closure_after_cancel,
    blocking_panic_resumed,
    blocking_error_counts_and_cancels,
    blocking_error_under_supervise_does_not_cancel,
    blocking_queued_under_limit_dropped_on_cancel,
);

// sec. 9: "A task's Err is kept (rule 3's order) but does not cancel the group"
async fn supervise_errors_kept_in_order_and_others_finish() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out = scope
        .run(async {
            for (t, m) in [(30u64, "c"), (10, "a"), (20, "b")] {
                tg.spawn(async move {
                    tokio::time::sleep(ms(t)).await;
                    Err::<(), BoxError>(err(m))
                });
            }
            tg.spawn(async move {
                tokio::time::sleep(ms(60)).await;
                d.store(true, Ordering::SeqCst);
            });
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["a", "b", "c"]);
    assert!(
        done.load(Ordering::SeqCst),
        "a task error cancelled a supervised group"
    );
    assert!(!tg.is_cancelled());
}

// sec. 9: "the body's Err does (Failed)"
async fn supervise_body_error_still_cancels() {
    let (d, f) = flag();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            tokio::time::sleep(ms(5)).await;
            Err::<(), _>(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 9: "a panic anywhere does (rule 4)"
async fn supervise_task_panic_still_cancels() {
    let (d, f) = flag();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn(async move {
            let _f = f;
            std::future::pending::<()>().await;
        });
        tg.spawn(async {
            tokio::time::sleep(ms(5)).await;
            if true {
                panic!("sup-boom");
            }
        });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("sup-boom"));
    assert!(d.load(Ordering::SeqCst));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

// sec. 2: "A value that a scope discards (the body's value under rules 3 ...) is dropped before the scope returns, so a scope owned by such a value is handed over and waited for"
async fn supervise_discarded_body_value_owning_nested_scope_is_waited_for() {
    let finished = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let (fin, st) = (finished.clone(), started.clone());
    let out = scope
        .run(async move {
            let inner = CancelScope::new();
            let itg = inner.group();
            let mut nested = Box::pin(inner.run(async move {
                itg.spawn_blocking(move || {
                    st.store(true, Ordering::SeqCst);
                    std::thread::sleep(ms(200));
                    fin.store(true, Ordering::SeqCst);
                });
                std::future::pending::<()>().await;
                Ok(())
            }));
            // first poll: the nested scope finds its enclosing scope and starts the closure
            assert!(futures::poll!(nested.as_mut()).is_pending());
            tg.spawn(async { Err::<(), BoxError>(err("t")) });
            tokio::time::sleep(ms(30)).await;
            Ok(nested)
        })
        .await;
    assert!(started.load(Ordering::SeqCst));
    match out {
        Err(e) => assert_eq!(msgs(&e), ["t"]),
        Ok(_) => panic!("expected Err"),
    }
    assert!(
        finished.load(Ordering::SeqCst),
        "scope returned before the discarded value's nested blocking task ended"
    );
}

// sec. 10: "a member in every respect (counted, ...)"
async fn blocking_counted_by_len() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out = scope
        .run(async {
            let h = tg.spawn_blocking(move || {
                let _ = rx.recv_timeout(ms(3000));
            });
            tokio::time::sleep(ms(20)).await;
            assert_eq!(tg.len(), 1);
            tx.send(()).unwrap();
            assert_eq!(h.await, Some(()));
            assert_eq!(tg.len(), 0);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 10: "(counted, limited, ...)"
async fn blocking_holds_limit_slot() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out = scope
        .run(async {
            tg.spawn_blocking(move || {
                let _ = rx.recv_timeout(ms(3000));
            });
            let h = tg.spawn(async move {
                r2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(50)).await;
            assert!(
                !ran.load(Ordering::SeqCst),
                "a task ran while the blocking member held the only slot"
            );
            assert_eq!(tg.len(), 2);
            tx.send(()).unwrap();
            assert_eq!(h.await, Some(()));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 5: "After a cancel, spawn does not start the future (... its handle resolves to None)"
async fn blocking_not_started_after_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let out = scope
        .run(async {
            tg.cancel();
            let h = tg.spawn_blocking(move || r2.store(true, Ordering::SeqCst));
            assert_eq!(h.await, None);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    tokio::time::sleep(ms(30)).await;
    assert!(!ran.load(Ordering::SeqCst));
}

// sec. 10: "a cancel cannot stop it once it runs: the scope waits for it"
async fn blocking_scope_waits_for_running_closure_after_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = scope
        .run(async {
            tg.spawn_blocking(move || {
                let _ = tx.send(());
                std::thread::sleep(ms(150));
                f2.store(true, Ordering::SeqCst);
            });
            rx.await.unwrap();
            tg.cancel();
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        fin.load(Ordering::SeqCst),
        "scope returned while the blocking closure ran"
    );
}

// sec. 10: "its error and panic count"; rule 4 original payload
async fn blocking_panic_resumed() {
    let (d, f) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn(async move {
            let _f = f;
            std::future::pending::<()>().await;
        });
        tg.spawn_blocking(|| -> () { panic!("blk-boom") });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("blocking panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("blk-boom"));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 10: "its error ... count"; rule 3
async fn blocking_error_counts_and_cancels() {
    let (d, f) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            let h = tg.spawn_blocking(|| Err::<u32, BoxError>(err("blk")));
            assert_eq!(h.await, None);
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["blk"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 9: supervise: "A task's Err is kept ... but does not cancel the group"
async fn blocking_error_under_supervise_does_not_cancel() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out = scope
        .run(async {
            let h = tg.spawn_blocking(|| Err::<u32, BoxError>(err("blk")));
            assert_eq!(h.await, None);
            tokio::time::sleep(ms(10)).await;
            assert!(!tg.is_cancelled());
            let h2 = tg.spawn_blocking(|| Ok::<u32, BoxError>(3));
            assert_eq!(h2.await, Some(3));
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["blk"]);
}

// sec. 6: "queued tasks are dropped unstarted on cancel"
async fn blocking_queued_under_limit_dropped_on_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let out = scope
        .run(async {
            tg.spawn(async {
                tokio::time::sleep(ms(5000)).await;
            });
            let h = tg.spawn_blocking(move || {
                r2.fetch_add(1, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(10)).await;
            tg.cancel();
            assert_eq!(h.await, None);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    tokio::time::sleep(ms(30)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}
