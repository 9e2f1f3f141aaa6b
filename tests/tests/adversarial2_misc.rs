//! Adversarial 2, part 5: the DSL in `select!` inside the attribute and under a bare `select!`
//! path, blocking members from other threads, panics while losers are dropped.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]
#![allow(unreachable_code)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{
    BoxError, CancelReason, CancelScope, Outcome, ScopeResult, cancel_scope, cancel_scoped,
};
use futures::FutureExt;
use tokio::select;

#[macro_use]
mod adversarial;

use adversarial::{err, ms, msgs};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop-boom");
        }
    }
}

both!(
    bare_select_path_cancel_in_arm,
    attribute_cancel_in_select_arm,
    select_biased_cancel_in_arm,
    blocking_spawned_from_std_thread,
    blocking_spawned_from_blocking,
    race_loser_panics_when_dropped_after_win,
    join_all_member_panics_when_dropped_after_failure,
    supervise_body_err_then_late_task_errors_all_kept,
);

// sec. 11: "any path ending in those names" (a bare `select!` imported from tokio)
async fn bare_select_path_cancel_in_arm() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            select! {
                () = tokio::time::sleep(ms(1)) => {
                    cancel;
                }
            }
            a.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!after.load(Ordering::SeqCst));
}

#[cancel_scoped(as tg)]
async fn attr_loop(rounds: Arc<AtomicUsize>) -> ScopeResult<()> {
    loop {
        let n = rounds.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            () = tokio::task::yield_now() => {
                spawn(async { tokio::time::sleep(ms(5000)).await; });
                if n == 2 {
                    assert_eq!(tg.len(), 3);
                    cancel;
                }
            }
        }
    }
}

// sec. 11 in `#[cancel_scoped]`: `cancel;` in an arm stops the body at once
async fn attribute_cancel_in_select_arm() {
    let rounds = Arc::new(AtomicUsize::new(0));
    let out = attr_loop(rounds.clone()).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(rounds.load(Ordering::SeqCst), 3);
}

// sec. 11: select_biased!
async fn select_biased_cancel_in_arm() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        let mut t = Box::pin(tokio::time::sleep(ms(1)).fuse());
        loop {
            futures::select_biased! {
                () = t => {
                    let h = spawn async { Ok::<u32, BoxError>(1) };
                    assert_eq!(h.await, Some(1));
                    cancel;
                }
                complete => {}
            }
            a.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!after.load(Ordering::SeqCst));
}

// sec. 2: "spawns there from any thread (a plain std::thread, a spawn_blocking closure)"
async fn blocking_spawned_from_std_thread() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            let h = std::thread::spawn(move || tg2.spawn_blocking(|| Ok::<u32, BoxError>(5)))
                .join()
                .unwrap();
            Ok(h.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(5)));
    assert_eq!(tg.len(), 0);
}

// sec. 10 + sec. 2: a blocking member spawning another; the scope waits for both
async fn blocking_spawned_from_blocking() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            tg2.clone().spawn_blocking(move || {
                tg2.spawn_blocking(move || {
                    std::thread::sleep(ms(80));
                    f2.store(true, Ordering::SeqCst);
                });
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(fin.load(Ordering::SeqCst));
}

// sec. 2: "A panic while a cancelled task is being dropped counts as a task panic" (race loser after a win)
async fn race_loser_panics_when_dropped_after_win() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(10)).await;
            Ok(1)
        }),
        Box::pin(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let r = AssertUnwindSafe(cancel_scope::race(futs))
        .catch_unwind()
        .await;
    let p = r.expect_err("a loser's drop panic was swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// same rule, join_all after a failure
async fn join_all_member_panics_when_dropped_after_failure() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(10)).await;
            Err(err("x"))
        }),
        Box::pin(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let r = AssertUnwindSafe(cancel_scope::join_all(futs))
        .catch_unwind()
        .await;
    let p = r.expect_err("drop panic swallowed (turned into the error)");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// sec. 9 + rule 3: "holding every error that happened, body included, also those that happened after a cancel"
async fn supervise_body_err_then_late_task_errors_all_kept() {
    let scope = CancelScope::new().supervise().grace(ms(500));
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(async { Err::<(), BoxError>(err("t1")) });
            for m in ["late1", "late2"] {
                let tg = tg.clone();
                tg.clone().spawn(async move {
                    tg.cancelled().await;
                    Err::<(), BoxError>(err(m))
                });
            }
            tokio::time::sleep(ms(10)).await;
            assert!(!tg.is_cancelled());
            Err::<(), BoxError>(err("body"))
        })
        .await;
    let m = msgs(&out.unwrap_err());
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(&m[..2], ["t1", "body"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}
