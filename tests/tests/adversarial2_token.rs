//! Adversarial 2: `TaskGroup::token()` (SPEC sec. 10), feature `tokio-util`.
#![cfg(feature = "tokio-util")]
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, ms};

both!(
    token_cancelled_on_request,
    token_taken_after_cancel_is_cancelled,
    token_not_cancelled_on_uncancelled_finish,
    token_cancelled_by_parent_link,
    token_cancelled_by_deadline,
    token_cancelled_by_failure,
    token_cancelled_by_signal,
    token_cancelled_by_race_won,
    token_cancelled_when_scope_dropped,
    token_cancelled_on_panic,
    token_cancel_does_not_cancel_group_finish,
);
multi!(token_vs_cancel_concurrent_loop);

// sec. 10: "token(): cancelled when the group is cancelled"
async fn token_cancelled_on_request() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let t2 = tg.token();
    let out = scope
        .run(async {
            let h = tg.spawn(async move {
                t2.cancelled().await;
            });
            tokio::task::yield_now().await;
            assert!(!t.is_cancelled());
            tg.cancel();
            assert!(t.is_cancelled(), "token not cancelled at once by cancel()");
            let _ = h;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// sec. 5 level-triggered + sec. 10
async fn token_taken_after_cancel_is_cancelled() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    assert!(tg.token().is_cancelled());
    let out = scope.run(async { Ok(()) }).await;
    assert!(out.unwrap().is_cancelled());
    assert!(tg.token().is_cancelled());
}

// sec. 5: "A group that finished without being cancelled stays not cancelled"
async fn token_not_cancelled_on_uncancelled_finish() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let out = scope
        .run(async {
            tg.spawn(async {
                tokio::time::sleep(ms(5)).await;
            });
            Ok(1)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert!(
        !t.is_cancelled(),
        "token cancelled although the group finished uncancelled"
    );
    tg.cancel();
    assert!(!t.is_cancelled());
    assert!(!tg.token().is_cancelled());
}

// sec. 10 + sec. 5 links: cancelled with Parent => token cancelled
async fn token_cancelled_by_parent_link() {
    let p = CancelScope::new();
    let ptg = p.group();
    let c = CancelScope::new().parent(&ptg);
    let ctg = c.group();
    let t = ctg.token();
    ptg.cancel();
    assert!(t.is_cancelled());
    let out = c.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    drop(p);
}

// sec. 10: deadline cancel => token
async fn token_cancelled_by_deadline() {
    let scope = CancelScope::new().timeout(ms(10));
    let tg = scope.group();
    let t = tg.token();
    let out = scope
        .run(async move {
            t.cancelled().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
}

// sec. 10: failure cancel => token
async fn token_cancelled_by_failure() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let out = scope
        .run(async {
            tg.spawn(async { Err::<(), BoxError>(err("x")) });
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert!(out.is_err());
    assert!(t.is_cancelled());
}

// sec. 10: Signal cancel => token
async fn token_cancelled_by_signal() {
    let scope = CancelScope::new().cancel_on(tokio::time::sleep(ms(5)));
    let tg = scope.group();
    let t = tg.token();
    let out = scope
        .run(async move {
            t.cancelled().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

// sec. 9 + 10: RaceWon cancel => token
async fn token_cancelled_by_race_won() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let t2 = t.clone();
    let futs: Vec<
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, BoxError>> + Send>>,
    > = vec![
        Box::pin(async { Ok(1) }),
        Box::pin(async move {
            t2.cancelled().await;
            Ok(2)
        }),
    ];
    let out = scope.race(futs).await;
    assert!(out.unwrap().is_completed());
    assert!(t.is_cancelled());
}

// sec. 2: "A scope that is dropped before it finishes ... cancels its group (reason Dropped)"
async fn token_cancelled_when_scope_dropped() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let r = tokio::time::timeout(
        ms(10),
        scope.run(async {
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .await;
    assert!(r.is_err());
    assert!(t.is_cancelled());
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}

// rule 4: a panic cancels the group (Failed) => token
async fn token_cancelled_on_panic() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn(async {
            if true {
                panic!("tok-boom")
            }
        });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    assert!(r.is_err());
    assert!(t.is_cancelled());
}

// sec. 10 says only "cancelled when the group is cancelled": cancelling a token must not fail the scope
async fn token_cancel_does_not_cancel_group_finish() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.token();
    t.cancel();
    let out = scope
        .run(async {
            tokio::task::yield_now().await;
            Ok(5)
        })
        .await;
    // either the token is a one-way view (Completed) or it cancels (Cancelled): never an error
    assert!(out.is_ok());
}

// sec. 10: token taken concurrently with a cancel on another worker is still cancelled
async fn token_vs_cancel_concurrent_loop() {
    for i in 0..500 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        let h = tokio::spawn(async move { tg2.cancel() });
        let t = tg.token();
        h.await.unwrap();
        assert!(
            t.is_cancelled(),
            "iter {i}: token missed a concurrent cancel"
        );
        drop(scope);
    }
}
