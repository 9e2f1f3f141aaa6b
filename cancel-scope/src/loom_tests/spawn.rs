//! A cancel racing a spawn (SPEC 5: "after a cancel, `spawn` does not start the future";
//! `cancel()` "requests the abort of every task before it returns"; SPEC 2: nothing outlives
//! its scope).
//!
//! The body spawns one task while another thread cancels the group; the task's thread may run
//! before its spawner registers it. Whatever the interleaving: a spawn made after `cancel()`
//! returned is refused; once both the cancel and the spawn returned, a task still alive has its
//! abort requested; the scope finishes `Requested` and only after the task's future was dropped.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use super::harness::{check, finish};
use super::task;
use crate::CancelReason;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;
use crate::sync::Arc;

#[test]
fn loom_cancel_races_spawn_and_register() {
    check("cancel races spawn and register", || {
        let core = Core::new();
        let cancel_returned = Arc::new(AtomicBool::new(false));
        let canceller = {
            let (core, cancel_returned) = (core.clone(), cancel_returned.clone());
            thread::spawn(move || {
                cancel(&core, CancelReason::Requested);
                cancel_returned.store(true, Ordering::Release);
            })
        };

        // The body: a spawn, knowing whether `cancel()` had returned when it began.
        let after_cancel = cancel_returned.load(Ordering::Acquire);
        let spawned = task::spawn(&core, Shield::Unshielded, |_| {});
        if after_cancel {
            assert!(
                spawned.is_none(),
                "a spawn after cancel() returned was accepted"
            );
        }

        canceller.join().expect("the canceller panicked");
        if let Some(task) = &spawned {
            assert!(
                task.probe.dropped() || task.flag.is_aborted(),
                "a task alive after cancel() and its spawn returned has no abort requested"
            );
        }

        let finished = finish(&core);
        assert_eq!(finished.reason, Some(CancelReason::Requested));
        if let Some(task) = spawned {
            assert!(
                task.probe.dropped(),
                "the scope finished while its task's future was alive"
            );
            task.join();
        }
    });
}
