//! Adversarial 3: the reason a requesting scope records while its request travels up. A scope B
//! runs in the body of a scope A it is linked to, among 20,000 other parents; A's body spins
//! (so A's `run` is polled all the time on a worker). B's request cancels A (`Child`) and must
//! leave B with `Requested`, although A, seeing its cancel, drops its body, and B with it,
//! while the request is still marking B's other parents.
//!
//! SPEC rules attacked: sec. 5 "The reason recorded is always the first cause", "cancels every
//! Pi with reason Child when it is cancelled by request ... immediately"; sec. 2 "A scope that
//! is dropped ... cancels its group (reason Dropped unless it was already cancelled)".
//! (Found by `reliability_stress::threads_hammer_one_group_and_linked_groups`, which failed
//! about one run in ten on a loaded machine with B's reason `Dropped`.)
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};

#[macro_use]
mod adversarial;

multi!(request_from_scope_dropped_by_its_parent_mid_walk_keeps_requested);

const OTHER_PARENTS: usize = 20_000;

// sec. 5: "The reason recorded is always the first cause"
async fn request_from_scope_dropped_by_its_parent_mid_walk_keeps_requested() {
    for round in 0..3 {
        let others: Vec<CancelScope> = (0..OTHER_PARENTS).map(|_| CancelScope::new()).collect();
        let a = CancelScope::new();
        let tg_a = a.group();
        // the other parents first: the walk marks the last-linked parent (A) first
        let mut b = CancelScope::new();
        for o in &others {
            b = b.parent(&o.group());
        }
        let b = b.parent(&tg_a);
        let tg_b = b.group();
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        let scope_a = tokio::spawn(async move {
            a.run(async move {
                let spin = async {
                    s2.store(true, Ordering::SeqCst);
                    loop {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! {
                    _ = b.run(std::future::pending::<Result<(), BoxError>>()) => {}
                    () = spin => {}
                }
                Ok::<_, BoxError>(())
            })
            .await
        });
        while !started.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let tg_b2 = tg_b.clone();
        // from a plain thread, while A's body spins on a worker
        std::thread::spawn(move || tg_b2.cancel()).join().unwrap();
        let out = scope_a.await.unwrap();
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
        assert_eq!(
            tg_b.cancel_reason(),
            Some(CancelReason::Requested),
            "round {round}: B's own request is its first cause"
        );
        for (i, o) in others.iter().enumerate().step_by(997) {
            assert_eq!(
                o.group().cancel_reason(),
                Some(CancelReason::Child),
                "parent {i}"
            );
        }
    }
}
