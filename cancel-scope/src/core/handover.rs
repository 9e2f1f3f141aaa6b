//! The hand-over of a dropped scope's tasks, and the running scope of each thread that it
//! needs.
//!
//! **Nothing outlives its scope**, even a scope dropped unfinished (inside `select!`, a
//! timeout, an aborted task): its `Drop` cannot wait, so it cancels its group, requests the
//! abort of every task (shielded ones too), and *hands over* the tasks still alive to the scope
//! it ran in, which waits for them before it returns. That scope is the innermost one whose
//! body or task (or local task, or discarded value) was being polled or dropped when `run` was
//! first polled (for a scope never run, when it was created): the thread-local [`current`]
//! scope.
//!
//! A dropped scope counts as one hand-over in its target (`handed_in`) until its last task
//! ended; then it releases the target (in [`Deferred::run`](super::Deferred::run), iteratively,
//! so chains of hand-overs of any depth use no stack). A dropped scope whose tasks were handed
//! over keeps accepting hand-overs itself (a scope dropped inside one of its tasks), so the
//! outermost awaiting scope waits for every level. A panic of a handed-over task is recorded
//! where the hand-over chain ends ([`panic_target`]), found iteratively.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::cancel::{Direction, Walk, cancel, mark};
use super::few::Few;
use super::grace::{Abort, GraceState};
use super::{AbortRequest, Core, Deferred, Phase};
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
    static CURRENT: Cell<Option<Arc<Core>>> = const { Cell::new(None) };
}

/// Runs `f` with `slot`'s group as the current scope, moving the `Arc` in and back out so a
/// task's poll costs no reference-count traffic.
///
/// It wraps every poll of every task, so it and its restore are inlined into the caller: as
/// calls, their prologues and epilogues cost about 100 instructions per yielding task
/// (`valgrind --tool=callgrind`, see BENCHMARKS.md).
#[inline(always)]
pub(crate) fn enter<R>(slot: &mut Option<Arc<Core>>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<Arc<Core>>,
        prev: Option<Arc<Core>>,
    }
    impl Drop for Restore<'_> {
        #[inline]
        fn drop(&mut self) {
            let prev = self.prev.take();
            let _ = CURRENT.try_with(|c| *self.slot = c.replace(prev));
        }
    }
    // During thread teardown the slot may be gone: then poll without a current scope.
    let Ok(prev) = CURRENT.try_with(|c| c.replace(slot.take())) else {
        return f();
    };
    let _restore = Restore { slot, prev };
    f()
}

/// The scope running on this thread, if any.
#[inline]
pub(crate) fn current() -> Option<Arc<Core>> {
    CURRENT
        .try_with(|c| {
            let cur = c.take();
            let found = cur.clone();
            c.set(cur);
            found
        })
        .ok()
        .flatten()
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
        // Only a scope newly cancelled by its drop walks down its links.
        let mut walk: Option<Walk> = None;
        let mut children = Few::default();
        let (links, handed_over, panic, errors) = {
            let mut st = self.lock();
            if st.phase == Phase::Open {
                // A panic recorded before the drop (the body's, a task's that already ended):
                // nobody reads this scope's outcome, so it goes to the scope it ran in. Its
                // errors are dropped now (below), and so are later ones as they come
                // (`record_task_error`): a panic in their destructors goes the same way.
                let panic = st.failures.as_mut().and_then(|f| f.take_panic());
                let errors = st.failures.as_mut().and_then(|f| f.take_errors());
                first.notify_self = mark(self, &mut st, CancelReason::Dropped, &mut first);
                st.phase = Phase::Dropped;
                st.grace = GraceState::Over;
                first
                    .aborts
                    .push(AbortRequest::Tasks(self.clone(), Abort::All));
                if let Some(limiter) = &mut st.limit {
                    limiter.wake_queued(&mut first.wakers);
                }
                if first.notify_self {
                    // Newly cancelled: its cancel goes down the links.
                    let walk = walk.insert(Walk::default());
                    walk.visited.insert(self, Direction::Down);
                    walk.spread(&st, Direction::Down);
                } else if let Some(links) = &st.links {
                    // Already cancelled, by a walk that may still be on its way down (invariant
                    // 4 of `cancel`: never trust another walk). Its linked children are marked
                    // below before its tasks are aborted, so a child whose scope runs in one of
                    // those tasks records `Parent`, not `Dropped`. One level is enough: each
                    // child's own drop does the same for its children.
                    children = links.children().collect();
                }
                let live = !st.tasks.is_empty() || st.handover.handed_in > 0;
                let handed_over = live && target.is_some();
                if handed_over {
                    st.handover.to = target.cloned();
                }
                (st.links.take(), handed_over, panic, errors)
            } else {
                (None, false, None, None)
            }
        };
        if let (Some(target), false) = (target, handed_over) {
            first.releases.push(target.clone());
        }
        for child in children {
            // Returns at once for a child already cancelled.
            cancel(&child, CancelReason::Parent);
        }
        if let Some(walk) = &mut walk {
            walk.run();
        }
        if let Some(links) = links {
            super::links::unlink(*links);
        }
        // Recorded while the target still counts this hand-over, so before it can finish.
        // Without a scope to wait for it, nobody can resume it: dropped.
        let forward = |payload| match target {
            Some(target) => target.record_panic(payload),
            None => super::failures::drop_discarded(payload),
        };
        if let Some(payload) = panic {
            forward(payload);
        }
        if let Some(errors) = errors {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(errors))) {
                forward(payload);
            }
        }
        match walk {
            Some(walk) => walk.fire(first, self),
            None => first.run(self),
        }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::cancel::mark;
    use super::super::links::link;
    use super::super::{Core, Deferred};
    use crate::CancelReason;

    // Bug 20 (RELIABILITY.md): a walk that cancels `a` marks `a`, then `b`, then `c`, and
    // requests the aborts last. Here it has marked `a` and `b` but not `c` yet when `b`'s
    // scope is dropped: the drop must mark `c` (`Parent`) itself before it aborts `b`'s tasks
    // (one of which may run `c`'s scope), not trust that walk to have got there.
    #[test]
    fn a_drop_marks_the_linked_children_a_walk_in_progress_has_not_reached() {
        let (a, b, c) = (Core::new(), Core::new(), Core::new());
        link(&b, &a);
        link(&c, &b);
        for (group, reason) in [(&a, CancelReason::Failed), (&b, CancelReason::Parent)] {
            let mut out = Deferred::default();
            let mut st = group.lock();
            assert!(mark(group, &mut st, reason, &mut out));
        }
        assert_eq!(c.reason(), None);
        b.drop_scope(None);
        assert_eq!(c.reason(), Some(CancelReason::Parent));
        assert_eq!(
            b.reason(),
            Some(CancelReason::Parent),
            "the first cause stays"
        );
    }
}
