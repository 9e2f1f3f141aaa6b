//! The group-side state of issue 12's members and signals, kept out of the hot path: the
//! scope's own deadline and the scope it runs in (for [`TaskGroup::deadline`]), the group's
//! `CancellationToken` (feature `tokio-util`), and the removal of members that are not tokio
//! tasks (blocking closures and local tasks), which hold no `AbortHandle`.
//!
//! [`TaskGroup::deadline`]: crate::TaskGroup::deadline

use tokio::time::Instant;

use super::cancel::AddressSet;
use super::limit::Admission;
use super::{Core, Deferred};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, PoisonError, Weak};

/// Rarely used per-group state, each part behind its own small lock (never held with the
/// group's lock, never around user code).
#[derive(Default)]
pub(crate) struct MemberState {
    /// This scope's own deadline: `deadline(at)` from the builder, then the earlier of it and
    /// `timeout` once `run` started.
    deadline: Mutex<Option<Instant>>,
    /// The scope this one runs in (found at creation, then at `run`'s first poll).
    enclosing: Mutex<Option<Weak<Core>>>,
    /// Whether `enclosing` was ever set (so a scope that never ran inside another skips it).
    has_enclosing: AtomicBool,
    /// The group's token, created at the first `token()`.
    #[cfg(feature = "tokio-util")]
    pub(crate) token: std::sync::OnceLock<tokio_util::sync::CancellationToken>,
}

fn get<T: Clone>(m: &Mutex<T>) -> T {
    m.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn set<T>(m: &Mutex<T>, value: T) {
    // The old value (a `Weak` or an `Instant`) runs no user code when dropped.
    *m.lock().unwrap_or_else(PoisonError::into_inner) = value;
}

impl MemberState {
    /// Records the scope's own deadline (set only once one exists: a deadline is never
    /// removed).
    pub(crate) fn set_deadline(&self, at: Option<Instant>) {
        if at.is_some() {
            set(&self.deadline, at);
        }
    }

    pub(crate) fn own_deadline(&self) -> Option<Instant> {
        get(&self.deadline)
    }

    /// Records the scope this one runs in; costs nothing when neither it nor an earlier one
    /// is known (a top-level scope).
    #[inline]
    pub(crate) fn set_enclosing(&self, enclosing: Option<&Arc<Core>>) {
        if enclosing.is_some() || self.has_enclosing.load(Ordering::Relaxed) {
            self.store_enclosing(enclosing);
        }
    }

    fn store_enclosing(&self, enclosing: Option<&Arc<Core>>) {
        self.has_enclosing.store(true, Ordering::Relaxed);
        set(&self.enclosing, enclosing.map(Arc::downgrade));
    }

    pub(crate) fn enclosing(&self) -> Option<Arc<Core>> {
        get(&self.enclosing).and_then(|w| w.upgrade())
    }
}

impl Core {
    /// Removes member `key` (a blocking closure or a local task, which have no `AbortHandle`)
    /// once it ended, giving back its slot under `limit(n)`.
    pub(crate) fn member_ended(&self, key: usize, admission: Admission) {
        let mut out = Deferred::default();
        {
            let mut st = self.lock();
            let st = &mut *st;
            if let Some(limiter) = &mut st.limit {
                limiter.release(admission, &mut out.wakers);
            }
            if st.tasks.remove(key).is_some() {
                st.after_task_removed(&mut out);
            }
        }
        out.run(self);
    }

    /// Called with no lock held once the group was marked cancelled: wakes `cancelled()`
    /// futures and cancels the group's token, if one was handed out.
    pub(crate) fn notify_cancelled(&self) {
        self.notify.notify_waiters();
        #[cfg(feature = "tokio-util")]
        if let Some(token) = self.members.token.get() {
            token.cancel();
        }
    }

    /// The effective deadline: the earliest of this scope's own, of the scopes it runs in and
    /// of the scopes it is linked to, transitively (iterative; each group visited once).
    pub(crate) fn effective_deadline(self: &Arc<Self>) -> Option<Instant> {
        let mut seen = AddressSet::<usize>::default();
        let mut stack = vec![self.clone()];
        let mut best: Option<Instant> = None;
        while let Some(group) = stack.pop() {
            if !seen.insert(Arc::as_ptr(&group) as usize) {
                continue;
            }
            let open = {
                let st = group.lock();
                let open = st.phase == super::Phase::Open;
                if open {
                    if let Some(links) = &st.links {
                        stack.extend(links.parents());
                    }
                }
                open
            };
            // A scope that finished no longer bounds anything (but a group asked about itself
            // answers with its own deadline).
            if open || Arc::ptr_eq(&group, self) {
                if let Some(at) = group.members.own_deadline() {
                    best = Some(best.map_or(at, |b| b.min(at)));
                }
                stack.extend(group.members.enclosing());
            }
        }
        best
    }
}
