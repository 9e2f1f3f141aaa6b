//! SPEC section 5: `timeout` and `deadline`. Paused clock on the current-thread runtime (exact
//! instants), short real durations on the multi-thread runtime (order only).

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};
use common::*;
use tokio::time::Instant;

both!(
    timeout_cancels_with_deadline,
    deadline_cancels_with_deadline,
    deadline_drops_a_waiting_body,
    body_finishing_before_the_deadline_completes,
    tasks_finishing_before_the_deadline_complete,
    past_deadline_body_not_started,
    zero_timeout_body_not_started,
    timeout_counts_from_first_poll_of_run,
    earlier_request_keeps_its_reason_past_the_deadline,
    deadline_in_a_nested_scope_stops_only_it,
);

/// `timeout(d)`: at the deadline the group is cancelled with `Deadline`, tasks stop, the scope
/// returns `Cancelled(Deadline)`, not an error.
async fn timeout_cancels_with_deadline() {
    let drops = Counter::new();
    let d = short();
    let scope = CancelScope::new().timeout(d);
    let tg = scope.group();
    let start = Instant::now();
    let out: ScopeResult<()> = scope
        .run(async {
            for _ in 0..3 {
                tg.spawn(hold_forever(drops.guard()));
            }
            std::future::pending().await
        })
        .await;
    let took = start.elapsed();
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Deadline));
    assert_eq!(drops.get(), 3);
    assert!(took >= d, "not before the deadline: {took:?}");
    if paused() {
        assert_eq!(took, d, "exactly at the deadline on the paused clock");
    }
}

/// `deadline(at)`: the same with an instant.
async fn deadline_cancels_with_deadline() {
    let at = Instant::now() + short();
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(std::future::pending::<()>());
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(Instant::now() >= at);
    if paused() {
        assert_eq!(Instant::now(), at);
    }
}

/// The body awaiting at the deadline is dropped there.
async fn deadline_drops_a_waiting_body() {
    let body = Counter::new();
    let passed = Counter::new();
    let scope = CancelScope::new().timeout(short());
    let out: ScopeResult<()> = scope
        .run(async {
            let _g = body.guard();
            tokio::time::sleep(short() * 2).await;
            passed.hit();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(body.get(), 1);
    assert_eq!(passed.get(), 0);
}

/// A body (and tasks) done before the deadline: `Completed`, never cancelled.
async fn body_finishing_before_the_deadline_completes() {
    let scope = CancelScope::new().timeout(short() * 10);
    let tg = scope.group();
    let out = scope
        .run(async {
            tokio::time::sleep(short()).await;
            Ok::<_, BoxError>(5)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(5));
    assert!(!tg.is_cancelled());
}

/// Tasks that end before the deadline: `Completed`; the scope does not wait for the deadline.
async fn tasks_finishing_before_the_deadline_complete() {
    let start = Instant::now();
    let scope = CancelScope::new().timeout(Duration::from_secs(5));
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(tokio::time::sleep(short()));
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A deadline already past cancels at once: the body is not started, the tasks spawned before
/// `run` are stopped.
async fn past_deadline_body_not_started() {
    let drops = Counter::new();
    let started = Counter::new();
    let past = Instant::now();
    tokio::time::sleep(short()).await;
    let scope = CancelScope::new().deadline(past);
    let tg = scope.group();
    tg.spawn(hold_forever(drops.guard()));
    let out: ScopeResult<()> = scope
        .run(async {
            started.hit();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(started.get(), 0, "the body was not started");
    assert_eq!(drops.get(), 1);
}

/// `timeout(Duration::ZERO)` is a deadline already past.
async fn zero_timeout_body_not_started() {
    let started = Counter::new();
    let scope = CancelScope::new().timeout(Duration::ZERO);
    let out: ScopeResult<()> = scope
        .run(async {
            started.hit();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(started.get(), 0);
}

/// `timeout(d)` counts from the first poll of `run`, not from the builder call nor from the
/// call of `run`.
async fn timeout_counts_from_first_poll_of_run() {
    let d = short() * 4;
    let scope = CancelScope::new().timeout(d);
    let fut = scope.run(async {
        tokio::time::sleep(short()).await;
        Ok::<_, BoxError>(1)
    });
    // Longer than the timeout passes before the first poll.
    tokio::time::sleep(d * 2).await;
    let start = Instant::now();
    let out = fut.await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    if paused() {
        assert_eq!(start.elapsed(), short());
    }

    // And it does fire `d` after the first poll.
    let scope = CancelScope::new().timeout(d);
    let fut = scope.run(std::future::pending::<Result<(), BoxError>>());
    tokio::time::sleep(d * 2).await;
    let start = Instant::now();
    assert_eq!(
        fut.await.unwrap(),
        Outcome::Cancelled(CancelReason::Deadline)
    );
    assert!(start.elapsed() >= d);
    if paused() {
        assert_eq!(start.elapsed(), d);
    }
}

/// The first cause is kept: a requested cancel before the deadline stays `Requested` even while
/// a shielded task keeps the scope running past the deadline.
async fn earlier_request_keeps_its_reason_past_the_deadline() {
    let scope = CancelScope::new().timeout(short());
    let tg = scope.group();
    let start = Instant::now();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn_shielded(tokio::time::sleep(short() * 3));
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(start.elapsed() >= short() * 3);
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A nested scope's deadline stops only the nested scope.
async fn deadline_in_a_nested_scope_stops_only_it() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let inner = CancelScope::new().timeout(short());
            let itg = inner.group();
            let r: ScopeResult<()> = inner
                .run(async {
                    itg.spawn(std::future::pending::<()>());
                    std::future::pending().await
                })
                .await;
            assert_eq!(r.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
            assert!(!tg.is_cancelled());
            Ok::<_, BoxError>(2)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}
