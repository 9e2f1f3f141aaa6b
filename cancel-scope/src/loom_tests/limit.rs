//! `limit(1)` admission racing a cancel and the completion of the running task (SPEC 6: at
//! most n tasks run at once; queued tasks start in spawn order as slots free; queued tasks are
//! dropped unstarted on cancel, except shielded ones, which stay queued and run).
//!
//! Task `a` holds the one slot, task `b` is queued behind it; `a` completes while another
//! thread cancels the group. Whatever the interleaving: `b` starts only after `a`'s future was
//! dropped (never two at once); `b` is never lost (it is woken and either starts or ends
//! unstarted: a lost wake-up would leave it parked and loom reports the deadlock); an
//! `b` that is not shielded may end unstarted only because of the cancel; a shielded `b`
//! always starts; the scope finishes after both.

use loom::thread;

use super::harness::{check, finish};
use super::task::{self, Probe};
use crate::CancelReason;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;
use crate::sync::Arc;

/// The model, with `b` shielded or not.
fn limit_races_cancel_and_completion(b_shield: Shield) {
    let core = Core::new();
    assert!(core.set_limit(1));
    let a = task::spawn(&core, Shield::Unshielded, |_| {}).expect("a takes the slot");
    let a_probe: Arc<Probe> = a.probe.clone();
    let b = task::spawn(&core, b_shield, move |polled| {
        if polled {
            assert!(
                a_probe.dropped(),
                "b started while a still held the one slot"
            );
        }
    })
    .expect("b is queued");
    let canceller = {
        let core = core.clone();
        thread::spawn(move || cancel(&core, CancelReason::Requested))
    };

    let finished = finish(&core);
    assert!(
        a.probe.dropped() && b.probe.dropped(),
        "finished before its tasks"
    );
    canceller.join().expect("the canceller panicked");
    match (b_shield, finished.reason) {
        (Shield::Shielded, _) | (_, None) => {
            assert!(
                b.probe.polled(),
                "b was lost: never started, though it had to"
            );
        }
        (Shield::Unshielded, Some(CancelReason::Requested)) => {}
        (_, other) => panic!("finished with reason {other:?}"),
    }
    a.join();
    b.join();
}

#[test]
fn loom_limit_admission_races_cancel_and_completion() {
    check("limit admission races cancel and completion", || {
        limit_races_cancel_and_completion(Shield::Unshielded);
    });
}

#[test]
fn loom_limit_admission_of_a_shielded_task_races_cancel_and_completion() {
    check(
        "limit admission of a shielded task races cancel and completion",
        || limit_races_cancel_and_completion(Shield::Shielded),
    );
}
