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

use super::few::Few;
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

/// Abort handles taken out of the registry per lock: a cancel of many tasks releases the
/// group's lock between batches.
const ABORT_BATCH: usize = 64;

/// Requests the abort of every live task of `core` that `abort` reaches; returns how many. The
/// one place that decides which tasks an abort reaches. Called with no lock held.
///
/// The handles are taken out of the registry under the lock, a batch at a time (the entries are
/// then `Aborted`), and the aborts requested once it is released, as `JoinSet::abort_all` does:
/// tokio's `abort` runs no user code, but it schedules the task, and on a multi-thread runtime
/// the workers that drop the aborted tasks need this same lock to remove them (a cancel of 100k
/// parked tasks on two workers measured 1.19-1.33x `JoinSet` when aborting under the lock;
/// BENCHMARKS.md). Taken out rather than cloned, a handle leaves its task's cell untouched
/// until the abort itself; batches keep the walk from allocating per task. A task registered
/// while the walk runs sees the cancel at its registration and aborts itself there.
pub(crate) fn abort_reached(core: &super::Core, abort: Abort) -> usize {
    let mut batch = Few::default();
    let mut next_chunk = 0;
    let mut reached = 0;
    loop {
        let more = {
            let mut st = core.lock();
            let tasks = &mut st.tasks;
            while next_chunk < tasks.chunks() && batch.len() < ABORT_BATCH {
                tasks.for_each_in_chunk(next_chunk, |entry| {
                    if abort.reaches(entry.shield) {
                        batch.extend(entry.take_for_abort());
                    }
                });
                next_chunk += 1;
            }
            next_chunk < tasks.chunks()
        };
        reached += batch.len();
        for handle in batch.drain() {
            handle.abort();
        }
        if !more {
            return reached;
        }
    }
}

impl super::Core {
    /// The grace decided at the cancel (`Undecided` before one).
    pub(crate) fn grace_state(&self) -> GraceState {
        self.lock().grace
    }

    /// Ends the grace period: aborts every task that is not shielded. Returns how many tasks
    /// that reached.
    pub(crate) fn end_grace(&self) -> usize {
        self.lock().grace = GraceState::Over;
        abort_reached(self, Abort::Unshielded)
    }
}
