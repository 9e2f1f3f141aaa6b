//! Work collected under a group's lock and done once it is released ([`Deferred`]): no user
//! code (a waker, a destructor) ever runs while a lock is held, so wake-ups, `cancelled()`
//! notifications and the release of hand-over targets wait here until the caller unlocked.

use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Waker;

use super::Core;
use super::failures::drop_discarded;
use super::few::Few;
use super::grace::{Abort, abort_reached};
use crate::sync::{AbortHandle, Arc};

/// Work collected under a lock, done once it is released: wakers to wake, `cancelled()`
/// futures to notify, hand-over targets to release.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) wakers: Few<Waker>,
    /// Notify this group's own `cancelled()` futures.
    pub(crate) notify_self: bool,
    /// Other groups whose `cancelled()` futures are to be notified; the references are kept
    /// until every wake-up fired (a last reference dropped under a lock would run destructors).
    pub(crate) notify: Few<Arc<Core>>,
    /// Scopes whose handed-over tasks of a dropped nested scope all ended.
    pub(crate) releases: Few<Arc<Core>>,
    /// Aborts, requested first thing once the lock is released; at a cancel along links, once
    /// the walk has marked every group it reaches (see [`mark`](super::cancel::mark)).
    pub(crate) aborts: Few<AbortRequest>,
}

/// An abort to request with no lock held.
pub(crate) enum AbortRequest {
    /// Every task of the group that the abort reaches (see [`abort_reached`]).
    Tasks(Arc<Core>, Abort),
    /// One task (registered after its group's cancel).
    Task(AbortHandle),
}

impl Deferred {
    /// Requests the aborts, releases hand-over targets (iteratively: a chain of any depth uses
    /// no stack), then fires every wake-up, with no lock held.
    ///
    /// Most locks collect nothing (a task's registration, and its end while others are
    /// left): that case returns at once, without walking the five lists to drop them.
    #[inline]
    pub(crate) fn run(self, origin: &Core) {
        if self.is_idle() {
            // Every list is `Empty` (no item, no allocation): nothing to drop.
            mem::forget(self);
            return;
        }
        self.run_collected(origin);
    }

    /// Whether nothing was collected: every list is `Empty`, holding no item and no
    /// allocation, so that forgetting the value leaks nothing. The pattern names every field:
    /// a field added later must be added here too.
    fn is_idle(&self) -> bool {
        let Deferred {
            wakers,
            notify_self,
            notify,
            releases,
            aborts,
        } = self;
        !*notify_self
            && matches!(wakers, Few::Empty)
            && matches!(notify, Few::Empty)
            && matches!(releases, Few::Empty)
            && matches!(aborts, Few::Empty)
    }

    /// [`run`](Deferred::run) once something was collected.
    #[inline(never)]
    fn run_collected(mut self, origin: &Core) {
        for request in std::mem::take(&mut self.aborts) {
            match request {
                AbortRequest::Tasks(group, abort) => {
                    abort_reached(&group, abort);
                }
                AbortRequest::Task(handle) => handle.abort(),
            }
        }
        if self.releases.is_empty() && self.wakers.is_empty() && self.notify.is_empty() {
            if self.notify_self {
                origin.notify_cancelled();
            }
            return;
        }
        let mut released = Few::default();
        while let Some(target) = self.releases.pop() {
            let mut next = Deferred::default();
            {
                let mut st = target.lock();
                st.handover.handed_in -= 1;
                st.after_task_removed(&mut next);
            }
            self.wakers.append(&mut next.wakers);
            self.releases.append(&mut next.releases);
            released.push(target);
        }
        if self.notify_self {
            origin.notify_cancelled();
        }
        for group in self.notify.iter() {
            group.notify_cancelled();
        }
        // A waker is foreign code: one that panics does not keep the others from being woken
        // (a scope left unwoken would hang); its panic goes on once they all were.
        let mut panicked = None;
        for waker in self.wakers {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                match panicked {
                    None => panicked = Some(payload),
                    Some(_) => drop_discarded(payload),
                }
            }
        }
        drop(released);
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::{Core, Deferred, Few};
    use crate::sync::Arc;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> std::sync::Arc<Counter> {
        std::sync::Arc::new(Counter::default())
    }

    /// A hand-off that collected `n` wakers of `count`.
    fn with_wakers(count: &std::sync::Arc<Counter>, n: usize) -> Deferred {
        let mut out = Deferred::default();
        for _ in 0..n {
            out.wakers.push(count.clone().into());
        }
        out
    }

    fn woken(count: &Counter) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    #[test]
    fn every_collected_waker_is_woken_once() {
        let core = Core::new();
        let count = counter();
        let out = with_wakers(&count, 1);
        assert!(!out.is_idle());
        out.run(&core);
        assert_eq!(woken(&count), 1);

        with_wakers(&count, 3).run(&core);
        assert_eq!(woken(&count), 4);
        assert_eq!(
            std::sync::Arc::strong_count(&count),
            1,
            "every waker dropped"
        );
    }

    #[test]
    fn an_emptied_list_is_not_idle_and_frees_its_vec() {
        // `Few::Many` with no items still owns its `Vec`: it must be dropped, not forgotten.
        let core = Core::new();
        let count = counter();
        let mut out = with_wakers(&count, 2);
        assert!(matches!(out.wakers, Few::Many(_)));
        while out.wakers.pop().is_some() {}
        assert!(out.wakers.is_empty());
        assert!(
            !out.is_idle(),
            "an emptied `Many` still holds its allocation"
        );
        out.run(&core);
        assert_eq!(woken(&count), 0);
        assert_eq!(std::sync::Arc::strong_count(&count), 1);
    }

    #[test]
    fn only_nothing_at_all_is_idle() {
        assert!(Deferred::default().is_idle());
        let core: Arc<Core> = Core::new();
        let out = Deferred {
            notify_self: true,
            ..Deferred::default()
        };
        assert!(!out.is_idle());
        out.run(&core);
    }
}
