//! Adversarial 2, part 13: when `cancel_on` signals are dropped.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{CancelReason, CancelScope, Outcome};

#[macro_use]
mod adversarial;

use adversarial::Flag;

use adversarial::ms;

both!(
    signal_dropped_once_group_cancelled,
    unfired_signals_dropped_when_another_fires
);

// cancel_on rustdoc: signals "are dropped once the group is cancelled, at the latest when the scope finishes"
async fn signal_dropped_once_group_cancelled() {
    let dropped = Arc::new(AtomicBool::new(false));
    let f = Flag(dropped.clone());
    let scope = CancelScope::new().cancel_on(async move {
        let _f = f;
        std::future::pending::<()>().await;
    });
    let tg = scope.group();
    let d2 = dropped.clone();
    let seen = Arc::new(AtomicBool::new(false));
    let s2 = seen.clone();
    let out = scope
        .run(async {
            tg.spawn_shielded(async move {
                tokio::time::sleep(ms(80)).await;
                s2.store(d2.load(Ordering::SeqCst), Ordering::SeqCst);
            });
            tokio::time::sleep(ms(5)).await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(out.is_ok());
    assert!(
        seen.load(Ordering::SeqCst),
        "signal still alive 80 ms after the group was cancelled"
    );
}

// same rustdoc: when one signal fires (the group is cancelled), the others are dropped
async fn unfired_signals_dropped_when_another_fires() {
    let dropped = Arc::new(AtomicBool::new(false));
    let f = Flag(dropped.clone());
    let seen = Arc::new(AtomicBool::new(false));
    let (d2, s2) = (dropped.clone(), seen.clone());
    let scope = CancelScope::new()
        .cancel_on(async move {
            let _f = f;
            std::future::pending::<()>().await;
        })
        .cancel_on(tokio::time::sleep(ms(5)));
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn_shielded(async move {
                tokio::time::sleep(ms(80)).await;
                s2.store(d2.load(Ordering::SeqCst), Ordering::SeqCst);
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(
        seen.load(Ordering::SeqCst),
        "unfired signal still alive 75 ms after the cancel"
    );
}
