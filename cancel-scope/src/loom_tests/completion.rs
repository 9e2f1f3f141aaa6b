//! A cancel racing a task's completion and the scope's finish (SPEC 2: nothing outlives its
//! scope; SPEC 4 rule 3: every error is kept, also one after a cancel; SPEC 5: the first reason
//! stays, and cancelling a finished group does nothing).
//!
//! The scope's body is done and one task runs; another thread cancels the group while the task
//! ends and the scope finishes. Whatever the interleaving, the scope finishes only after the
//! task's future was dropped; a failing task's error is in the outcome exactly when it ran; the
//! reason the scope finished with is the group's reason for good (a cancel after the finish
//! changes nothing).

use loom::thread;

use super::harness::{check, errors, finish};
use super::task;
use crate::CancelReason;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;

/// Cancels `core` (`Requested`) on a thread of its own, while the caller finishes the scope.
fn cancel_from_a_thread(core: &std::sync::Arc<Core>) -> thread::JoinHandle<()> {
    let core = core.clone();
    thread::spawn(move || cancel(&core, CancelReason::Requested))
}

#[test]
fn loom_cancel_races_a_failing_task_and_the_finish() {
    check("cancel races a failing task and the finish", || {
        let core = Core::new();
        let group = core.clone();
        let task = task::spawn(&core, Shield::Unshielded, move |polled| {
            if polled {
                // Fail-fast: the error is recorded and cancels the group (`Failed`).
                group.record_task_error(7_u32, None);
            }
        })
        .expect("an open group accepts a task");
        let canceller = cancel_from_a_thread(&core);

        let mut finished = finish(&core);
        assert!(task.probe.dropped(), "the scope finished before its task");
        let polled = task.probe.polled();
        let errors = errors(&mut finished);
        assert_eq!(errors, if polled { vec![7] } else { vec![] }, "errors");
        match finished.reason {
            Some(CancelReason::Failed) => assert!(polled),
            Some(CancelReason::Requested) => {}
            other => panic!("finished with reason {other:?}"),
        }

        canceller.join().expect("the canceller panicked");
        task.join();
        assert_eq!(
            core.reason(),
            finished.reason,
            "the reason changed after the finish"
        );
    });
}

#[test]
fn loom_cancel_races_a_succeeding_task_and_the_finish() {
    check("cancel races a succeeding task and the finish", || {
        let core = Core::new();
        let task =
            task::spawn(&core, Shield::Unshielded, |_| {}).expect("an open group accepts a task");
        let canceller = cancel_from_a_thread(&core);

        let mut finished = finish(&core);
        assert!(task.probe.dropped(), "the scope finished before its task");
        assert!(errors(&mut finished).is_empty());
        match finished.reason {
            // Finished uncancelled: nothing aborted the task.
            None => assert!(task.probe.polled()),
            Some(CancelReason::Requested) => {}
            other => panic!("finished with reason {other:?}"),
        }

        canceller.join().expect("the canceller panicked");
        task.join();
        assert_eq!(
            core.reason(),
            finished.reason,
            "a cancel after the finish changed the group"
        );
    });
}
