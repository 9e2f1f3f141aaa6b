//! Grace and shielding: which tasks a cancel aborts, and when.
//!
//! Without a grace period a cancel aborts every unshielded task at once. With one, tasks are
//! first asked (`cancelled()` resolves) and the unshielded ones still running when it ends are
//! aborted. The grace period is **decided once, at the cancel**: the setting in force then fixes
//! the end of the grace ([`GraceState`]), whatever `grace()` is called with afterwards, and `run`
//! only reads that end to arm its timer. Shielded tasks are never aborted by a cancel; only a
//! dropped scope aborts them ([`Abort::All`]).

use std::time::Duration;

use tokio::time::Instant;

use super::registry::Registry;
use crate::sync::atomic::{AtomicU64, Ordering};

/// The grace setting, read without the group's lock (nanoseconds; 0: none).
pub(crate) struct GraceSetting(AtomicU64);

impl GraceSetting {
    pub(crate) fn new() -> Self {
        GraceSetting(AtomicU64::new(0))
    }

    pub(crate) fn set(&self, grace: Duration) {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::Relaxed);
    }

    /// The grace period in force now, if one is set.
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

/// Where the group stands with its grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GraceState {
    /// Not cancelled yet: nothing decided.
    Undecided,
    /// Cancelled with a grace period that ends at this instant (`None`: too long to represent,
    /// it never ends).
    Running(Option<Instant>),
    /// Unshielded tasks are aborted as they register: no grace, or it ran out.
    Over,
}

impl GraceState {
    /// Decides the grace at a cancel, from the setting in force now.
    pub(crate) fn decide(setting: &GraceSetting) -> GraceState {
        match setting.get() {
            None => GraceState::Over,
            Some(grace) => GraceState::Running(Instant::now().checked_add(grace)),
        }
    }
}

/// Which tasks an abort reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// Every task but the shielded ones: a cancel, or the end of a grace period.
    Unshielded,
    /// Every task: the scope was dropped.
    All,
}

/// Whether a task is shielded from cancellation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shield {
    /// Aborted by a cancel (after the grace period, if any).
    Unshielded,
    /// Aborted only when the scope is dropped.
    Shielded,
}

impl Abort {
    /// Whether this abort reaches a task with this shield.
    pub(crate) fn reaches(self, shield: Shield) -> bool {
        self == Abort::All || shield == Shield::Unshielded
    }
}

/// Calls `f` with the abort handle of every registered task that `abort` reaches; returns how
/// many it reached. The one place that decides which tasks an abort reaches.
fn for_each_reached(
    tasks: &Registry,
    abort: Abort,
    mut f: impl FnMut(&crate::sync::AbortHandle),
) -> usize {
    let mut reached = 0;
    tasks.for_each(|entry| {
        if abort.reaches(entry.shield) {
            if let Some(handle) = &entry.abort {
                f(handle);
                reached += 1;
            }
        }
    });
    reached
}

/// Requests the abort of every registered task that `abort` reaches (tokio's `abort` runs no
/// user code: the task is dropped later, by its worker).
/// Returns how many it reached.
pub(crate) fn abort_tasks(tasks: &Registry, abort: Abort) -> usize {
    for_each_reached(tasks, abort, crate::sync::AbortHandle::abort)
}

/// [`abort_tasks`] for later: collects the abort handles of the tasks `abort` reaches into
/// `out`. Returns how many it reached.
pub(crate) fn collect_aborts(
    tasks: &Registry,
    abort: Abort,
    out: &mut Vec<crate::sync::AbortHandle>,
) -> usize {
    for_each_reached(tasks, abort, |handle| out.push(handle.clone()))
}

impl super::Core {
    /// The grace decided at the cancel (`Undecided` before one).
    pub(crate) fn grace_state(&self) -> GraceState {
        self.lock().grace
    }

    /// Ends the grace period: aborts every task that is not shielded. Returns how many tasks
    /// that reached.
    pub(crate) fn end_grace(&self) -> usize {
        let mut st = self.lock();
        st.grace = GraceState::Over;
        st.abort(Abort::Unshielded)
    }
}
