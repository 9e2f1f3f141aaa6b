//! Adversarial 2, part 14: policies combined with limits, links and signals; attribute methods.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cancel_scope::{
    BoxError, CancelReason, CancelScope, Outcome, ScopeResult, cancel_scope, cancel_scoped,
};

#[macro_use]
mod adversarial;

use adversarial::{err, ms};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    supervise_limit_errors_free_slots,
    race_with_cancelled_parent_never_starts,
    join_all_cancelled_by_signal,
    attribute_method_spawn_local_borrows_self,
    dsl_spawn_local_rc_value,
);

// sec. 9 + 6: under supervise, a failed task frees its slot and the queue goes on
async fn supervise_limit_errors_free_slots() {
    let ok = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new().supervise().limit(1);
    let tg = scope.group();
    let out = scope
        .run(async {
            for i in 0..6u32 {
                let ok = ok.clone();
                tg.spawn(async move {
                    tokio::task::yield_now().await;
                    if i % 2 == 0 {
                        Err::<(), BoxError>(err(&format!("e{i}")))
                    } else {
                        ok.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                });
            }
            Ok(())
        })
        .await;
    let e = out.unwrap_err();
    let m: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(m, ["e0", "e2", "e4"]);
    assert_eq!(ok.load(Ordering::SeqCst), 3);
}

// sec. 5: "Linking to a parent that is cancelled but still running cancels the new scope at once (reason Parent)"
async fn race_with_cancelled_parent_never_starts() {
    let p = CancelScope::new();
    let ptg = p.group();
    ptg.cancel();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let futs: Vec<Fut<u32>> = vec![Box::pin(async move {
        s.fetch_add(1, Ordering::SeqCst);
        Ok(1)
    })];
    let out = CancelScope::new().parent(&ptg).race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(started.load(Ordering::SeqCst), 0);
    drop(p);
}

// sec. 10 + 9: a signal ends a join_all with Ok(Cancelled(Signal))
async fn join_all_cancelled_by_signal() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async { Ok(1) }),
        Box::pin(async {
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let out = CancelScope::new()
        .cancel_on(tokio::time::sleep(ms(10)))
        .join_all(futs)
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

struct Bag {
    v: Vec<u32>,
}
impl Bag {
    #[cancel_scoped(limit = 1)]
    async fn total(&self) -> ScopeResult<u32> {
        let a = spawn_local(async { Ok::<_, BoxError>(self.v.iter().sum::<u32>()) });
        let b = spawn_local(async { Ok::<_, BoxError>(self.v.len() as u32) });
        a.await.unwrap() + b.await.unwrap()
    }
}

// sec. 10: spawn_local in #[cancel_scoped] on a method, borrowing self
async fn attribute_method_spawn_local_borrows_self() {
    let bag = Bag { v: vec![1, 2, 3] };
    assert_eq!(bag.total().await.unwrap(), Outcome::Completed(9));
}

// sec. 10: "may be !Send (output included)" in the DSL
async fn dsl_spawn_local_rc_value() {
    let out: ScopeResult<usize> = cancel_scope! {
        let h = spawn_local async { tokio::task::yield_now().await; Ok::<_, BoxError>(Rc::new(7usize)) };
        let rc = h.await.unwrap();
        *rc
    };
    assert_eq!(out.unwrap(), Outcome::Completed(7));
}
