//! Adversarial 2, part 3: blocking members under cancel and grace, local tasks polling rules.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, flag, ms, msgs};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    blocking_error_after_cancel_counts,
    blocking_panic_after_cancel_resumed,
    blocking_outlasts_grace_scope_waits,
    blocking_handle_abort_does_not_stop_and_is_not_cancel,
    blocking_named_error_keeps_name,
    local_grace_expiry_drops_stubborn_local,
    local_cancelled_by_signal,
    local_cancelled_by_deadline,
    local_never_polled_in_parallel_with_body,
    local_woken_from_other_thread,
    local_body_waits_on_local_and_back,
    local_body_error_drops_locals,
    race_win_during_iteration_later_unstarted,
    race_cancel_before_run_body_not_started,
);

// rule 3: "every error that happened ... also those that happened after a cancel" (blocking runs on after cancel)
async fn blocking_error_after_cancel_counts() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = scope
        .run(async {
            tg.spawn_blocking(move || {
                let _ = tx.send(());
                std::thread::sleep(ms(60));
                Err::<(), BoxError>(err("after-cancel"))
            });
            rx.await.unwrap();
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["after-cancel"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// rule 4 + sec. 10: a blocking member's panic after the cancel is still resumed
async fn blocking_panic_after_cancel_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn_blocking(move || -> () {
            let _ = tx.send(());
            std::thread::sleep(ms(60));
            panic!("blk-late");
        });
        rx.await.unwrap();
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("blocking panic after cancel swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("blk-late"));
}

// sec. 10: "a cancel cannot stop it once it runs: the scope waits for it" (even past the grace)
async fn blocking_outlasts_grace_scope_waits() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let scope = CancelScope::new().grace(ms(10));
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = scope
        .run(async {
            tg.spawn_blocking(move || {
                let _ = tx.send(());
                std::thread::sleep(ms(150));
                f2.store(true, Ordering::SeqCst);
                Ok::<u32, BoxError>(1)
            });
            rx.await.unwrap();
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(fin.load(Ordering::SeqCst));
}

// sec. 3: "TaskHandle::abort() stops that one task: it is neither a failure nor a cancel"; sec. 10: the scope waits for a running closure
async fn blocking_handle_abort_does_not_stop_and_is_not_cancel() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = scope
        .run(async {
            let h = tg.spawn_blocking(move || {
                let _ = tx.send(());
                std::thread::sleep(ms(100));
                f2.store(true, Ordering::SeqCst);
            });
            rx.await.unwrap();
            h.abort();
            Ok(9)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(9));
    assert!(
        fin.load(Ordering::SeqCst),
        "scope returned while an aborted-but-running closure ran"
    );
}

// GroupError::name: a named blocking member's error keeps its name
async fn blocking_named_error_keeps_name() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.named("hasher")
                .spawn_blocking(|| Err::<(), BoxError>(err("bad")));
            Ok(())
        })
        .await;
    let e = out.unwrap_err();
    assert_eq!(msgs(&e), ["bad"]);
    assert_eq!(e.name(0), Some("hasher"));
}

// sec. 6: "whatever still runs after d is aborted" (local tasks, sec. 10 "like tasks")
async fn local_grace_expiry_drops_stubborn_local() {
    let (d, f) = flag();
    let scope = CancelScope::new().grace(ms(30));
    let tg = scope.group();
    let locals = Locals::new();
    let t0 = std::time::Instant::now();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(d.load(Ordering::SeqCst));
    assert!(t0.elapsed() < ms(2000));
}

// sec. 10: cancel_on cancels local tasks like tasks
async fn local_cancelled_by_signal() {
    let (d, f) = flag();
    let locals = Locals::new();
    let out = CancelScope::new()
        .cancel_on(tokio::time::sleep(ms(10)))
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 5 timeout + sec. 10 locals
async fn local_cancelled_by_deadline() {
    let (d, f) = flag();
    let locals = Locals::new();
    let out = CancelScope::new()
        .timeout(ms(10))
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 10: "Polled inside the scope's own run future, concurrently with the body, never in parallel"
async fn local_never_polled_in_parallel_with_body() {
    let m = Mutex::new(());
    let clashes = AtomicUsize::new(0);
    let work = |m: &Mutex<()>, clashes: &AtomicUsize| {
        match m.try_lock() {
            Ok(_g) => {
                let t = std::time::Instant::now();
                while t.elapsed() < std::time::Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
            }
            Err(_) => {
                clashes.fetch_add(1, Ordering::SeqCst);
            }
        };
    };
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            for _ in 0..3 {
                let (m, clashes) = (&m, &clashes);
                locals.spawn(async move {
                    for _ in 0..300 {
                        work(m, clashes);
                        tokio::task::yield_now().await;
                    }
                });
            }
            for _ in 0..300 {
                work(&m, &clashes);
                tokio::task::yield_now().await;
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        clashes.load(Ordering::SeqCst),
        0,
        "local task polled in parallel"
    );
}

// sec. 10: a local task woken from another thread is polled again
async fn local_woken_from_other_thread() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
    let sum = std::cell::Cell::new(0u32);
    std::thread::spawn(move || {
        for i in 0..500 {
            tx.blocking_send(i).unwrap();
        }
    });
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            let sum = &sum;
            locals.spawn(async move {
                while let Some(v) = rx.recv().await {
                    sum.set(sum.get() + v);
                }
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(sum.get(), (0..500).sum::<u32>());
}

// sec. 10: "concurrently with the body": body and a local task wait on each other
async fn local_body_waits_on_local_and_back() {
    let (tx1, rx1) = tokio::sync::oneshot::channel::<u32>();
    let (tx2, rx2) = tokio::sync::oneshot::channel::<u32>();
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let v = rx1.await.unwrap();
                let _ = tx2.send(v + 1);
            });
            tokio::task::yield_now().await;
            tx1.send(1).unwrap();
            Ok(rx2.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}

// rule 3: body Err cancels (Failed) and local tasks are dropped
async fn local_body_error_drops_locals() {
    let (d, f) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
            Err::<(), BoxError>(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 5: "After a cancel, spawn does not start the future" (a win mid-iteration)
async fn race_win_during_iteration_later_unstarted() {
    let started = Arc::new(AtomicUsize::new(0));
    let st = started.clone();
    let it = (0..5u32).map(move |i| -> Fut<u32> {
        if i > 0 {
            std::thread::sleep(ms(10));
        }
        let st = st.clone();
        Box::pin(async move {
            if i == 0 {
                return Ok(0);
            }
            st.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(ms(5000)).await;
            Ok(i)
        })
    });
    let out = cancel_scope::race(it).await;
    assert_eq!(out.unwrap(), Outcome::Completed(0));
}

// sec. 5: cancelled before run: with race, contenders never start, Ok(Cancelled(Requested))
async fn race_cancel_before_run_body_not_started() {
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let scope = CancelScope::new();
    scope.group().cancel();
    let futs: Vec<Fut<u32>> = vec![Box::pin(async move {
        s2.store(true, Ordering::SeqCst);
        Ok(1)
    })];
    let out = scope.race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!started.load(Ordering::SeqCst));
}
