//! The end of a grace period racing a task's registration and completion (SPEC 6: on cancel,
//! tasks are first asked, `cancelled()` resolves, may finish their clean-up, and whatever still
//! runs after the grace is aborted; a task that ends in time counts with its result).
//!
//! The group has a grace period; a task was reserved before the cancel, and its spawner hands
//! it to the runtime and registers it while another thread cancels the group (`Requested`) and
//! then ends the grace (the `run` future's timer). The task waits for `cancelled()`, then
//! finishes its clean-up with an error unless it was aborted first. Whatever the interleaving:
//! once the grace ended and the task was registered, a task still alive has its abort
//! requested; the abort is requested at most once, and the grace's end counts the task (for
//! `tracing`'s `aborted_after_grace`) only when it reached it; the task counts once: its error
//! is in the outcome exactly when it finished its clean-up; the scope finishes after it.

use std::time::Duration;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use super::harness::{check, errors, finish};
use super::task;
use crate::CancelReason;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;
use crate::sync::Arc;

#[test]
fn loom_grace_end_races_registration_and_completion() {
    check("grace end races registration and completion", || {
        let core = Core::new();
        core.grace.set(Duration::from_secs(60));
        let reserved = task::reserve(&core, Shield::Unshielded).expect("an open group");
        let cleaned_up = Arc::new(AtomicBool::new(false));

        // The spawner hands the task to the runtime, then registers it.
        let spawner = {
            let (group, cleaned_up) = (core.clone(), cleaned_up.clone());
            let flag = reserved.flag();
            thread::spawn(move || {
                let (spawned, registration) = reserved.launch(move |polled| {
                    if polled {
                        loom::future::block_on(group.clone().cancelled());
                        // Asked, the task finishes its clean-up (its next poll), unless an
                        // abort came first: tokio would then drop it instead.
                        if !flag.is_aborted() {
                            group.record_task_error(5_u32, None);
                            cleaned_up.store(true, Ordering::Relaxed);
                        }
                    }
                });
                registration.register();
                spawned
            })
        };
        // The scope: cancelled, then its grace timer fires.
        let timer = {
            let core = core.clone();
            thread::spawn(move || {
                cancel(&core, CancelReason::Requested);
                core.end_grace()
            })
        };

        let task = spawner.join().expect("the spawner panicked");
        let reached = timer.join().expect("the timer panicked");
        assert!(
            task.probe.dropped() || task.flag.is_aborted(),
            "a task still running after the grace has no abort requested"
        );
        assert!(task.flag.requests() <= 1, "the task was aborted twice");
        assert!(reached <= 1);
        if reached == 1 {
            assert!(
                task.flag.is_aborted(),
                "the grace's end counted a task it did not abort"
            );
        }

        let mut finished = finish(&core);
        assert!(task.probe.dropped(), "the scope finished before its task");
        assert_eq!(finished.reason, Some(CancelReason::Requested));
        let done = cleaned_up.load(Ordering::Relaxed);
        assert_eq!(errors(&mut finished), if done { vec![5] } else { vec![] });
        task.join();
    });
}
