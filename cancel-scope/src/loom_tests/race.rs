//! A race's win racing a failure, and an outside cancel (SPEC 9: the first `Ok` wins and
//! cancels the group with `RaceWon`; a task's `Err` does not cancel the others; once a task
//! has won, the losers' errors are dropped; without a win every error counts, also when a
//! cancel from outside ended the race).
//!
//! The body spawns two contenders: `w` succeeds and asks for the win, `f` fails (`f` is refused
//! when `w` already won, as any spawn after a cancel); in the second model a deadline fires
//! meanwhile. Whatever the interleaving, exactly one outcome is recorded: either `w` won
//! (reason `RaceWon`, its value kept, no error left, whether `f` failed before or after the
//! win) or, only when the deadline came first, the race ended `Deadline` with no winner and
//! `f`'s error kept exactly when `f` ran.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use super::harness::{check, errors, finish};
use super::task::{self, Spawned};
use crate::CancelReason;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;
use crate::core::policy::ErrorPolicy;
use crate::sync::Arc;

/// A race group with its two contenders spawned (`f` is `None` if `w` won before it was
/// spawned); `won` is set when `w`'s win is granted (the race's slot for the winner's value).
fn race_group() -> (Arc<Core>, Spawned, Option<Spawned>, Arc<AtomicBool>) {
    let core = Core::new();
    core.set_policy(ErrorPolicy::Race);
    let won = Arc::new(AtomicBool::new(false));
    let w = {
        let (group, won) = (core.clone(), won.clone());
        task::spawn(&core, Shield::Unshielded, move |polled| {
            if polled && group.win_race() {
                won.store(true, Ordering::Relaxed);
            }
        })
        .expect("w is spawned")
    };
    let f = {
        let group = core.clone();
        task::spawn(&core, Shield::Unshielded, move |polled| {
            if polled {
                group.record_task_error(9_u32, None);
            }
        })
    };
    if f.is_none() {
        assert_eq!(
            core.reason(),
            Some(CancelReason::RaceWon),
            "f refused, yet not won"
        );
    }
    (core, w, f, won)
}

#[test]
fn loom_race_win_races_a_failure() {
    check("race win races a failure", || {
        let (core, w, f, won) = race_group();
        let mut finished = finish(&core);
        assert!(
            w.probe.dropped() && ended(f.as_ref()),
            "finished before its tasks"
        );
        assert_eq!(finished.reason, Some(CancelReason::RaceWon));
        assert!(won.load(Ordering::Relaxed), "the win was lost");
        assert!(w.probe.polled());
        assert_eq!(
            errors(&mut finished),
            Vec::<u32>::new(),
            "a loser's error kept"
        );
        w.join();
        if let Some(f) = f {
            f.join();
        }
    });
}

#[test]
fn loom_race_win_races_a_failure_and_a_deadline() {
    check("race win races a failure and a deadline", || {
        let (core, w, f, won) = race_group();
        let deadline = {
            let core = core.clone();
            thread::spawn(move || cancel(&core, CancelReason::Deadline))
        };
        let mut finished = finish(&core);
        assert!(
            w.probe.dropped() && ended(f.as_ref()),
            "finished before its tasks"
        );
        let won = won.load(Ordering::Relaxed);
        let errors = errors(&mut finished);
        match finished.reason {
            Some(CancelReason::RaceWon) => {
                assert!(won, "RaceWon without a winner");
                assert!(errors.is_empty(), "a loser's error kept after the win");
            }
            Some(CancelReason::Deadline) => {
                assert!(!won, "a win after the deadline");
                let kept = if f.as_ref().is_some_and(|f| f.probe.polled()) {
                    vec![9]
                } else {
                    vec![]
                };
                assert_eq!(errors, kept, "without a win every error counts");
            }
            other => panic!("finished with reason {other:?}"),
        }
        deadline.join().expect("the deadline panicked");
        w.join();
        if let Some(f) = f {
            f.join();
        }
    });
}

/// `true` if the task's future was dropped (or it was never spawned).
fn ended(task: Option<&Spawned>) -> bool {
    task.is_none_or(|t| t.probe.dropped())
}
