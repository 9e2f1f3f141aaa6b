//! The hand-over of a dropped scope's tasks, and the running scope of each thread that it
//! needs.
//!
//! **Nothing outlives its scope**, even a scope dropped unfinished (inside `select!`, a
//! timeout, an aborted task): its `Drop` cannot wait, so it cancels its group, requests the
//! abort of every task (shielded ones too), and *hands over* the tasks still alive to the scope
//! it ran in, which waits for them before it returns. That scope is the innermost one whose
//! body or task was being polled when `run` was first polled (for a scope never run, when its
//! group was created: at `group()` or the first option that configures it): the thread-local
//! [`current`] scope. A scope running its body without a group yet ([`Ungrouped`]) is current
//! too: the first nested scope that asks for it creates its group.
//!
//! A dropped scope counts as one hand-over in its target (`handed_in`) until its last task
//! ended; then it releases the target (in [`Deferred::run`](super::Deferred::run), iteratively,
//! so chains of hand-overs of any depth use no stack). A dropped scope whose tasks were handed
//! over keeps accepting hand-overs itself (a scope dropped inside one of its tasks), so the
//! outermost awaiting scope waits for every level. A panic of a handed-over task is recorded
//! where the hand-over chain ends ([`panic_target`]), found iteratively.

use std::cell::Cell;

use super::cancel::{Direction, Walk, mark};
use super::grace::{Abort, GraceState};
use super::runtime::RuntimeCapture;
use super::{Core, Deferred, Phase};
use crate::CancelReason;
use crate::sync::Arc;

/// Where a group stands in hand-overs.
#[derive(Default)]
pub(crate) struct Handover {
    /// Dropped nested scopes whose live tasks this scope waits for.
    pub(crate) handed_in: usize,
    /// Once this scope was dropped unfinished with live tasks: the scope that waits for them.
    pub(crate) to: Option<Arc<Core>>,
}

thread_local! {
    static RUNNING: Running = const {
        Running {
            scope: Cell::new(None),
            ungrouped: Cell::new(None),
        }
    };
}

/// What runs on this thread: one thread-local, so that finding the current scope is one lookup.
struct Running {
    /// The running scope with a group (its body, or one of its tasks, is being polled).
    scope: Cell<Option<Arc<Core>>>,
    /// The body of a scope without a group being polled, if it is the innermost running scope:
    /// [`enter_ungrouped`] clears `scope` while it runs, so a scope or task entered inside it
    /// (which sets `scope`) is found first. Two cells, so that a task's poll moves one pointer
    /// in and out, as it would without this.
    ungrouped: Cell<Option<Ungrouped>>,
}

/// The context of a scope whose group is created only when something needs it: `run` of a
/// scope on which neither [`group`](crate::CancelScope::group) nor an option that configures
/// the group was called (an empty scope, or one that only runs nested scopes). Nothing can
/// spawn into it or cancel it, so until a nested scope asks for it as its enclosing scope
/// ([`current`] creates it then, on the spot), it needs no group at all.
#[derive(Default)]
pub(crate) struct Ungrouped {
    /// The group, once a nested scope asked for it.
    pub(crate) core: Option<Arc<Core>>,
    /// The scope this one runs in (found when `run` was first polled).
    pub(crate) enclosing: Option<Arc<Core>>,
}

/// Runs `f` with `slot`'s group as the current scope, moving the `Arc` in and back out so a
/// task's poll costs no reference-count traffic.
pub(crate) fn enter<R>(slot: &mut Option<Arc<Core>>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<Arc<Core>>,
        prev: Option<Arc<Core>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let prev = self.prev.take();
            let _ = RUNNING.try_with(|r| *self.slot = r.scope.replace(prev));
        }
    }
    // During thread teardown the slot may be gone: then poll without a current scope.
    let Ok(prev) = RUNNING.try_with(|r| r.scope.replace(slot.take())) else {
        return f();
    };
    let _restore = Restore { slot, prev };
    f()
}

/// Runs `f` as the body of a scope without a group (`ungrouped`): a nested scope that asks for
/// its enclosing scope during `f` creates the group, which is found in `ungrouped.core`
/// afterwards.
pub(crate) fn enter_ungrouped<R>(ungrouped: &mut Ungrouped, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        ungrouped: &'a mut Ungrouped,
        prev: (Option<Arc<Core>>, Option<Ungrouped>),
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let (scope, ungrouped) = std::mem::take(&mut self.prev);
            let _ = RUNNING.try_with(|r| {
                r.scope.set(scope);
                if let Some(ungrouped) = r.ungrouped.replace(ungrouped) {
                    *self.ungrouped = ungrouped;
                }
            });
        }
    }
    // During thread teardown the slots may be gone: then poll without a current scope.
    let entered = RUNNING.try_with(|r| {
        let ungrouped = Some(std::mem::take(ungrouped));
        (r.scope.take(), r.ungrouped.replace(ungrouped))
    });
    let Ok(prev) = entered else {
        return f();
    };
    let _restore = Restore { ungrouped, prev };
    f()
}

/// The scope running on this thread, if any. A scope without a group gets its group now.
#[inline]
pub(crate) fn current() -> Option<Arc<Core>> {
    RUNNING
        .try_with(|r| {
            let scope = r.scope.take();
            if let Some(core) = &scope {
                let found = core.clone();
                r.scope.set(scope);
                return Some(found);
            }
            // Nothing with a group inside it: the innermost running scope is the one without.
            let mut ungrouped = r.ungrouped.take()?;
            let found = ungrouped.group().clone();
            r.ungrouped.set(Some(ungrouped));
            Some(found)
        })
        .ok()
        .flatten()
}

impl Ungrouped {
    /// The group, created on first use, in the scope this one runs in. Created so (by a nested
    /// scope), it never spawns, as no `TaskGroup` of it can exist: `group()` was never called
    /// and `run` consumed the scope. So it captures no runtime.
    pub(crate) fn group(&mut self) -> &Arc<Core> {
        let Ungrouped { core, enclosing } = self;
        core.get_or_insert_with(|| create(None, enclosing.as_ref()))
    }

    /// The group (created now, on `runtime`, if nothing created it yet) and the scope this one
    /// runs in.
    pub(crate) fn into_group(
        self,
        runtime: Option<tokio::runtime::Handle>,
    ) -> (Arc<Core>, Option<Arc<Core>>) {
        let Ungrouped { core, enclosing } = self;
        let core = core.unwrap_or_else(|| create(runtime, enclosing.as_ref()));
        (core, enclosing)
    }
}

/// The group of a scope that ran without one so far.
fn create(runtime: Option<tokio::runtime::Handle>, enclosing: Option<&Arc<Core>>) -> Arc<Core> {
    let core = Core::with_runtime(RuntimeCapture::with(runtime));
    core.members.set_enclosing(enclosing);
    core
}

impl Core {
    /// The scope was dropped before it finished: cancel (`Dropped`, which does not travel up),
    /// abort every task (shielded ones too), and hand the tasks still alive to `target`, which
    /// waits for them. Never blocks and runs no user code under a lock.
    pub(crate) fn drop_scope(self: &Arc<Self>, target: Option<&Arc<Core>>) {
        // Counted in advance so that the last task of this group can never release the target
        // before it was counted; given back below if nothing is left.
        let target = target.filter(|t| t.accept_handover());
        let mut first = Deferred::default();
        let mut walk = Walk::default();
        let (links, handed_over, panic) = {
            let mut st = self.lock();
            if st.phase == Phase::Open {
                // A panic recorded before the drop (the body's, a task's that already ended):
                // nobody reads this scope's outcome, so it goes to the scope it ran in.
                let panic = st.failures.as_mut().and_then(|f| f.take_panic());
                first.notify_self = mark(self, &mut st, CancelReason::Dropped, &mut first);
                st.phase = Phase::Dropped;
                st.grace = GraceState::Over;
                st.abort_at_cancel(Abort::All, &mut first);
                if let Some(limiter) = &mut st.limit {
                    limiter.wake_queued(&mut first.wakers);
                }
                if first.notify_self {
                    // Newly cancelled: its cancel goes down the links. (Already cancelled, the
                    // walk that cancelled it went down already.)
                    walk.visited.insert(self, Direction::Down);
                    walk.spread(&st, Direction::Down);
                }
                let live = !st.tasks.is_empty() || st.handover.handed_in > 0;
                let handed_over = live && target.is_some();
                if handed_over {
                    st.handover.to = target.cloned();
                }
                (st.links.take(), handed_over, panic)
            } else {
                (None, false, None)
            }
        };
        if let (Some(target), false) = (target, handed_over) {
            first.releases.push(target.clone());
        }
        walk.run();
        if let Some(links) = links {
            super::links::unlink(*links);
        }
        if let Some(payload) = panic {
            // Recorded while the target still counts this hand-over, so before it can finish.
            // Without a scope to wait for it, nobody can resume it: dropped.
            match target {
                Some(target) => target.record_panic(payload),
                None => super::failures::drop_discarded(payload),
            }
        }
        walk.fire(first, self);
    }

    /// Counts one dropped nested scope whose tasks this scope will wait for. `false` if this
    /// scope can no longer wait (it finished).
    fn accept_handover(&self) -> bool {
        let mut st = self.lock();
        // A scope that was itself dropped unfinished and handed over still accounts for its
        // live tasks: it keeps accepting, so the outermost awaiting scope waits for every level.
        if st.phase == Phase::Finished || (st.phase == Phase::Dropped && st.handover.to.is_none()) {
            return false;
        }
        st.handover.handed_in += 1;
        true
    }
}

/// Records `payload` where a panic of `group` belongs: the group itself, or, for a scope
/// dropped unfinished, the end of its chain of hand-overs (nobody reads a dropped scope's
/// outcome). Iterative. The phase is read under the lock the panic is pushed under, so a panic
/// never lands in a scope that a concurrent drop has just handed over (`drop_scope` forwards
/// what was recorded before it). Returns the group that holds it and a later panic's payload,
/// for the caller to drop outside the lock.
pub(crate) fn record_panic_at(
    group: &Arc<Core>,
    payload: Box<dyn std::any::Any + Send>,
) -> (Arc<Core>, Option<Box<dyn std::any::Any + Send>>) {
    let mut at = group.clone();
    loop {
        let next = {
            let mut st = at.lock();
            if let (Phase::Dropped, Some(to)) = (&st.phase, &st.handover.to) {
                to.clone()
            } else {
                let later = st.failures.get_or_insert_default().push_panic(payload);
                drop(st);
                return (at, later);
            }
        };
        at = next;
    }
}
