//! Adversarial 2, part 8: dropped race / join_all futures, local aborts under limit, local
//! errors and panics during the grace period, len() after the end.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{Flag, err, flag, ms, msgs};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    dropped_race_contenders_waited_by_enclosing_scope,
    dropped_join_all_members_waited_by_enclosing_scope,
    join_all_limit_failure_queued_never_start,
    local_abort_frees_limit_slot,
    local_abort_is_not_cancel,
    local_error_during_grace_counts,
    local_panic_during_grace_resumed,
    len_zero_after_cancelled_mixed_members,
);

fn stubborn(f: Flag, fin: Arc<AtomicBool>) -> Fut<u32> {
    Box::pin(async move {
        let _f = f;
        // a destructor that takes time: the enclosing scope must wait for it
        struct Slow(Arc<AtomicBool>);
        impl Drop for Slow {
            fn drop(&mut self) {
                std::thread::sleep(ms(60));
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _s = Slow(fin);
        std::future::pending::<()>().await;
        Ok(1)
    })
}

// sec. 2: "a dropped scope hands its still-live tasks to the scope it ran in ..., which waits for them" (race)
async fn dropped_race_contenders_waited_by_enclosing_scope() {
    let fin = Arc::new(AtomicBool::new(false));
    let (d, f) = flag();
    let fin2 = fin.clone();
    let out = CancelScope::new()
        .run(async move {
            let futs: Vec<Fut<u32>> = vec![stubborn(f, fin2)];
            let r = tokio::time::timeout(ms(20), cancel_scope::race(futs)).await;
            assert!(r.is_err());
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(d.load(Ordering::SeqCst));
    assert!(
        fin.load(Ordering::SeqCst),
        "enclosing scope returned before the dropped race's contender was dropped"
    );
}

// same for join_all
async fn dropped_join_all_members_waited_by_enclosing_scope() {
    let fin = Arc::new(AtomicBool::new(false));
    let (d, f) = flag();
    let fin2 = fin.clone();
    let out = CancelScope::new()
        .run(async move {
            let futs: Vec<Fut<u32>> = vec![stubborn(f, fin2)];
            let r = tokio::time::timeout(ms(20), cancel_scope::join_all(futs)).await;
            assert!(r.is_err());
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(d.load(Ordering::SeqCst));
    assert!(
        fin.load(Ordering::SeqCst),
        "enclosing scope returned before the dropped join_all's member was dropped"
    );
}

// sec. 6: "queued tasks are dropped unstarted on cancel" (join_all fail-fast under limit)
async fn join_all_limit_failure_queued_never_start() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut futs: Vec<Fut<u32>> = vec![Box::pin(async {
        tokio::time::sleep(ms(5)).await;
        Err(err("first"))
    })];
    for _ in 0..4 {
        let s = started.clone();
        futs.push(Box::pin(async move {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        }));
    }
    let out = CancelScope::new().limit(1).join_all(futs).await;
    assert_eq!(msgs(&out.unwrap_err()), ["first"]);
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

// LocalHandle::abort: "dropped at its next Pending" -- and its limit slot freed
async fn local_abort_frees_limit_slot() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let (d, f) = flag();
    let scope = CancelScope::new().limit(1);
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            let a = locals.spawn(async move {
                let _f = f;
                std::future::pending::<()>().await;
            });
            let b = locals.spawn(async move {
                r2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(10)).await;
            assert!(!ran.load(Ordering::SeqCst));
            a.abort();
            assert_eq!(a.await, None);
            assert!(d.load(Ordering::SeqCst));
            assert_eq!(b.await, Some(()));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(ran.load(Ordering::SeqCst));
}

// LocalHandle::abort: "neither a failure nor a cancel of the group"
async fn local_abort_is_not_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            let a = locals.spawn(async {
                tokio::task::yield_now().await;
                Err::<(), BoxError>(err("never"))
            });
            a.abort();
            assert_eq!(a.await, None);
            assert!(!tg.is_cancelled());
            Ok(1)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

// rule 3: "also those that happened after a cancel" (a local task's error in its grace clean-up)
async fn local_error_during_grace_counts() {
    let scope = CancelScope::new().grace(ms(500));
    let tg = scope.group();
    let tg2 = tg.clone();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                tg2.cancelled().await;
                tokio::task::yield_now().await;
                Err::<(), BoxError>(err("cleanup"))
            });
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["cleanup"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// rule 4: a local task's panic in its grace clean-up is resumed
async fn local_panic_during_grace_resumed() {
    let scope = CancelScope::new().grace(ms(500));
    let tg = scope.group();
    let tg2 = tg.clone();
    let locals = Locals::new();
    let r = AssertUnwindSafe(scope.run_with_locals(&locals, async {
        locals.spawn(async move {
            tg2.cancelled().await;
            tokio::task::yield_now().await;
            if true {
                panic!("grace-boom");
            }
        });
        tokio::task::yield_now().await;
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("grace-boom"));
}

// sec. 3: "len() -> tasks alive now": zero once the scope returned
async fn len_zero_after_cancelled_mixed_members() {
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            for _ in 0..3 {
                locals.spawn(std::future::pending::<()>());
                tg.spawn(std::future::pending::<()>());
                tg.spawn_blocking(|| std::thread::sleep(ms(10)));
            }
            tokio::time::sleep(ms(5)).await;
            assert_eq!(tg.len(), 9);
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(tg.len(), 0);
}
