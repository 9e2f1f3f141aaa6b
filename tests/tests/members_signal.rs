//! SPEC section 10, `CancelScope::cancel_on`: a signal that resolves cancels the group with
//! `CancelReason::Signal`, which does not travel up; several signals, any one fires; signals
//! are dropped when the scope finishes.

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::*;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

both!(
    oneshot_signal_cancels_with_reason_signal,
    any_of_several_signals_fires,
    signal_already_fired_keeps_the_body_from_starting,
    signal_does_not_travel_up_but_reaches_linked_children,
    cancellation_token_works_as_a_signal,
    signals_are_dropped_when_the_scope_finishes,
    signal_output_is_ignored,
    signal_with_grace_lets_tasks_clean_up,
);

/// A ctrl-c-like oneshot: the group is cancelled (`Signal`), tasks stop, no error.
async fn oneshot_signal_cancels_with_reason_signal() {
    let (tx, rx) = oneshot::channel::<()>();
    let dropped = Counter::new();
    let scope = CancelScope::new().cancel_on(rx);
    let tg = scope.group();
    tg.spawn(hold_forever(dropped.guard()));
    tokio::spawn(async move {
        tokio::time::sleep(short()).await;
        tx.send(()).unwrap();
    });
    let out = scope
        .run(std::future::pending::<Result<(), BoxError>>())
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert_eq!(dropped.get(), 1);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Signal));
}

/// Several `cancel_on` calls: the first signal to resolve fires.
async fn any_of_several_signals_fires() {
    let (_keep, never) = oneshot::channel::<()>();
    let (tx, rx) = oneshot::channel::<u32>();
    let scope = CancelScope::new()
        .cancel_on(never)
        .cancel_on(rx)
        .cancel_on(tokio::time::sleep(Duration::from_secs(3600)));
    let out = scope
        .run(async move {
            tx.send(1).unwrap();
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

/// A signal that resolved before `run` cancels at its first poll: the body never starts.
async fn signal_already_fired_keeps_the_body_from_starting() {
    let (tx, rx) = oneshot::channel::<()>();
    tx.send(()).unwrap();
    let started = std::cell::Cell::new(false);
    let out = CancelScope::new()
        .cancel_on(rx)
        .run(async {
            started.set(true);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(!started.get());
}

/// `Signal` does not travel up: a linked parent goes on; a linked child sees `Parent`.
async fn signal_does_not_travel_up_but_reaches_linked_children() {
    let parent = CancelScope::new();
    let parent_tg = parent.group();
    let (tx, rx) = oneshot::channel::<()>();
    let mid = CancelScope::new().parent(&parent_tg).cancel_on(rx);
    let mid_tg = mid.group();
    let child = CancelScope::new().parent(&mid_tg);
    let child_tg = child.group();
    let out = parent
        .run(async {
            let child_run = child.run(std::future::pending::<Result<(), BoxError>>());
            let mid_run = mid.run(async {
                tx.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok(())
            });
            let (c, m) = tokio::join!(child_run, mid_run);
            assert_eq!(m.unwrap(), Outcome::Cancelled(CancelReason::Signal));
            assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Parent));
            Ok(7)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(7));
    assert!(!parent_tg.is_cancelled());
    assert_eq!(child_tg.cancel_reason(), Some(CancelReason::Parent));
}

/// `token.cancelled_owned()` works as it is.
async fn cancellation_token_works_as_a_signal() {
    let token = CancellationToken::new();
    let scope = CancelScope::new().cancel_on(token.clone().cancelled_owned());
    let t = token.clone();
    let out = scope
        .run(async move {
            tokio::time::sleep(short()).await;
            t.cancel();
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

/// A scope that finishes without its signal firing drops the signal (a oneshot's sender then
/// sees it closed) and stays not cancelled.
async fn signals_are_dropped_when_the_scope_finishes() {
    let (tx, rx) = oneshot::channel::<()>();
    let dropped = Counter::new();
    let g = dropped.guard();
    let scope = CancelScope::new().cancel_on(rx).cancel_on(async move {
        let _g = g;
        std::future::pending::<()>().await;
    });
    let tg = scope.group();
    let out = scope.run(async { Ok(3) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    assert!(tx.is_closed());
    assert_eq!(dropped.get(), 1);
    assert!(!tg.is_cancelled());
}

/// Any output: a oneshot whose sender was dropped (an `Err` output) still fires.
async fn signal_output_is_ignored() {
    let (tx, rx) = oneshot::channel::<()>();
    drop(tx);
    let out = CancelScope::new()
        .cancel_on(rx)
        .run(std::future::pending::<Result<(), BoxError>>())
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

/// With a grace period, tasks see a signal's cancel and finish their clean-up.
async fn signal_with_grace_lets_tasks_clean_up() {
    let (tx, rx) = oneshot::channel::<()>();
    let scope = CancelScope::new().cancel_on(rx).grace(short() * 10);
    let tg = scope.group();
    let watcher = tg.clone();
    let h = tg.spawn(async move {
        watcher.cancelled().await;
        tokio::time::sleep(short()).await;
        Ok::<_, BoxError>("flushed")
    });
    tx.send(()).unwrap();
    let out = scope.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert_eq!(h.await, Some("flushed"));
}
