//! The join policy of a group: what a task's `Err` does ([`ErrorPolicy`]), and the bookkeeping
//! of a race's win.
//!
//! Fail-fast (the default) records the error and cancels the group (`Failed`). A supervised
//! group (`CancelScope::supervise`) records it and lets the siblings run. A race records it the
//! same way until a task wins; from the win on, errors of the losers are not errors of the race:
//! the win drops those already recorded and later ones are dropped as they come, inside the
//! task that returned them (so while the scope still waits for it).
//!
//! The body's own `Err` always cancels the group ([`Core::record_error`]); only tasks' errors go
//! through [`Core::record_task_error`]. The policy lives behind the group's lock, which recording
//! an error takes anyway: a group that never fails pays nothing for it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::cancel::{Direction, Walk, cancel, mark};
use super::{Core, Deferred, Phase};
use crate::CancelReason;
use crate::sync::Arc;

/// What a task's `Err` does to its group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ErrorPolicy {
    /// Recorded, and the group is cancelled (`Failed`).
    #[default]
    FailFast,
    /// Recorded; the group keeps running.
    Supervise,
    /// Recorded and kept running until a task wins the race; dropped after the win.
    Race,
}

impl Core {
    /// Sets the group's error policy (builder time).
    pub(crate) fn set_policy(&self, policy: ErrorPolicy) {
        self.lock().policy = policy;
    }

    /// Records a task's error by the group's policy.
    pub(crate) fn record_task_error<E: Send + 'static>(
        self: &Arc<Self>,
        error: E,
        name: Option<crate::member::names::TaskName>,
    ) {
        let mut st = self.lock();
        if st.phase == Phase::Dropped {
            // Nobody reads a dropped scope's outcome: the error is dropped here, outside the
            // lock (user code), and a panic in its destructor goes where this scope's panics
            // go (the scope its tasks were handed over to; see `handover`).
            drop(st);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(error))) {
                self.record_panic(payload);
            }
            return;
        }
        match st.policy {
            ErrorPolicy::FailFast => {
                st.failures
                    .get_or_insert_default()
                    .push_error_named(error, name);
                drop(st);
                cancel(self, CancelReason::Failed);
            }
            ErrorPolicy::Race if self.reason() == Some(CancelReason::RaceWon) => {
                // Not an error of the race: dropped here, outside the lock (user code). A panic
                // in its destructor is a panic of the task that returned it, like a panic in
                // the destructor of any output the scope discards.
                drop(st);
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(error))) {
                    self.record_panic(payload);
                }
            }
            ErrorPolicy::Supervise | ErrorPolicy::Race => {
                st.failures
                    .get_or_insert_default()
                    .push_error_named(error, name);
                // The scope may hold the body's value, which this error discards: it looks
                // again (`Progress::Discard`). Woken outside the lock (foreign code).
                let waker = st.scope_waker.take();
                drop(st);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// `true` once an error was recorded.
    pub(crate) fn has_errors(st: &super::State) -> bool {
        st.failures.as_ref().is_some_and(|f| f.error_count > 0)
    }

    /// A task of a race succeeded: it wins if the group was not cancelled yet. The group is
    /// then cancelled with [`CancelReason::RaceWon`] (passed down to linked children as
    /// `Parent`, never up), and the errors recorded before the win are dropped (outside the
    /// lock, in the caller: the winning task). `false` if the group was already cancelled
    /// (another task won, or a cancel from outside ended the race).
    pub(crate) fn win_race(self: &Arc<Self>) -> bool {
        let mut walk = Walk::default();
        let mut first = Deferred::default();
        let (won, dropped) = {
            let mut st = self.lock();
            let won = mark(self, &mut st, CancelReason::RaceWon, &mut first);
            let mut dropped = None;
            if won {
                walk.visited.insert(self, Direction::Down);
                walk.spread(&st, Direction::Down);
                dropped = st.failures.as_mut().and_then(|f| f.take_errors());
            }
            (won, dropped)
        };
        first.notify_self = won;
        walk.run();
        walk.fire(first, self);
        drop(dropped);
        won
    }
}
