//! The driver of local tasks, run by the scope's `run` future: polls the local tasks that were
//! woken (each has its own waker, so a wake-up polls one task, not all), admits queued ones
//! under `limit(n)`, drops them all on a cancel once the grace period is over, and drops what is
//! left when `run` is dropped unfinished.
//!
//! Futures are taken out of the `Locals` to be polled and dropped, so no lock is held around
//! user code, and a body that spawns while a local task is polled never waits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use super::local::{Binding, LocalKind, Locals};
use crate::core::Core;
use crate::core::limit::Admission;
use crate::core::limit::GateState;
use crate::scope::ScopeGuard;
use crate::task::Gate;

/// The local tasks woken since the driver last looked, and the `run` future's waker.
#[derive(Default)]
pub(crate) struct Ready {
    state: Mutex<ReadyState>,
}

#[derive(Default)]
struct ReadyState {
    slots: Vec<usize>,
    /// Behind an `Arc` so that it is cloned under the lock without running foreign code (a
    /// waker's clone and drop are the runtime's).
    run: Option<Arc<Waker>>,
}

impl Ready {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `slot` and wakes the `run` future (outside the lock).
    fn push(&self, slot: usize) {
        let waker = {
            let mut st = self.lock();
            st.slots.push(slot);
            st.run.clone()
        };
        if let Some(waker) = waker {
            waker.wake_by_ref();
        }
    }

    /// Stores the `run` future's waker and takes the woken slots. The waker is cloned, and a
    /// replaced one dropped, with the lock released.
    fn take(&self, waker: &Waker) -> Vec<usize> {
        let same = self.lock().run.as_ref().is_some_and(|w| w.will_wake(waker));
        let new = (!same).then(|| Arc::new(waker.clone()));
        let mut st = self.lock();
        let replaced = match new {
            Some(new) => st.run.replace(new),
            None => None,
        };
        let slots = std::mem::take(&mut st.slots);
        drop(st);
        drop(replaced);
        slots
    }
}

/// The waker of one local task.
pub(crate) struct TaskWake {
    ready: Arc<Ready>,
    slot: usize,
    pub(crate) queued: AtomicBool,
    /// Set by `LocalHandle::abort`: the driver drops the task instead of polling it.
    pub(crate) aborted: AtomicBool,
}

impl TaskWake {
    pub(crate) fn new(ready: Arc<Ready>, slot: usize) -> Self {
        TaskWake {
            ready,
            slot,
            queued: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
        }
    }
}

impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.slot);
        }
    }
}

/// What the scope's `run` loop does with its local tasks; `()` for a scope without any.
pub(crate) trait LocalDriver {
    /// Polls the woken local tasks (in the scope's context).
    fn poll(&mut self, context: &mut ScopeGuard, cx: &mut Context<'_>);
    /// Drops every local task (a cancel whose grace period is over).
    /// Returns how many there were.
    fn stop(&mut self, context: &mut ScopeGuard) -> usize;
    /// The scope finished: refuse spawns from now on.
    fn close(&mut self);
}

impl LocalDriver for () {
    fn poll(&mut self, _: &mut ScopeGuard, _: &mut Context<'_>) {}
    fn stop(&mut self, _: &mut ScopeGuard) -> usize {
        0
    }
    fn close(&mut self) {}
}

/// The driver of one `Locals`, owned by the `run` future that borrows it. Dropping it (with an
/// unfinished `run`) drops every local task.
pub(crate) struct Driver<'r, 'a, E, K: LocalKind<'a>> {
    pub(crate) locals: &'r Locals<'a, E, K>,
    pub(crate) core: Arc<Core>,
}

impl<'a, E, K: LocalKind<'a>> Driver<'_, 'a, E, K> {
    /// Drops the future of `slot` (taken out of its `Locals`), in the scope's context when
    /// `context` is given (so that a scope its destructor creates and drops unfinished is
    /// handed over to this one), catching a panic in its destructor (a panic of the task), then
    /// removes the slot and the registry entry.
    fn finish(&self, slot: usize, future: Option<K::Boxed>, context: Option<&mut ScopeGuard>) {
        let core = &self.core;
        if let Some(future) = future {
            let release = || catch_unwind(AssertUnwindSafe(|| drop(future)));
            let dropped = match context {
                Some(guard) => guard.enter(release),
                None => release(),
            };
            if let Err(payload) = dropped {
                core.record_panic(payload);
            }
        }
        let removed = self.locals.lock().slots.try_remove(slot);
        if let Some(removed) = removed {
            // Its waker may be the last reference to a `TaskWake`: no user code.
            core.member_ended(removed.key, removed.admission);
        }
    }

    /// Drops every local task (see [`finish`](Self::finish)); returns how many there were.
    fn drop_all(&self, mut context: Option<&mut ScopeGuard>) -> usize {
        let mut dropped = 0;
        loop {
            let next = self
                .locals
                .lock()
                .slots
                .iter_mut()
                .next()
                .map(|(i, s)| (i, s.future.take()));
            let Some((slot, future)) = next else { break };
            self.finish(slot, future, context.as_deref_mut());
            dropped += 1;
        }
        dropped
    }
}

impl<'a, E, K: LocalKind<'a>> LocalDriver for Driver<'_, 'a, E, K> {
    fn poll(&mut self, context: &mut ScopeGuard, cx: &mut Context<'_>) {
        let core = &self.core;
        for slot in self.locals.ready.take(cx.waker()) {
            let taken = {
                let mut inner = self.locals.lock();
                inner.slots.get_mut(slot).and_then(|s| {
                    let future = s.future.take()?;
                    // Cleared before the poll: a wake-up during it queues the task again.
                    s.wake.queued.store(false, Ordering::Release);
                    #[cfg(feature = "tracing")]
                    let span = s.span.clone();
                    #[cfg(not(feature = "tracing"))]
                    let span = ();
                    let aborted = s.wake.aborted.load(Ordering::Acquire);
                    Some((future, s.key, s.admission, s.waker.clone(), span, aborted))
                })
            };
            let Some((mut future, key, mut admission, waker, span, aborted)) = taken else {
                continue;
            };
            if aborted {
                // `LocalHandle::abort`: dropped at its `Pending`, neither a failure nor a cancel.
                self.finish(slot, Some(future), Some(&mut *context));
                continue;
            }
            #[cfg(feature = "tracing")]
            let _entered = span.enter();
            #[cfg(not(feature = "tracing"))]
            let () = span;
            let mut task_cx = Context::from_waker(&waker);
            match admission.poll_gate(core, key, &mut task_cx) {
                GateState::Admitted => {}
                GateState::Waiting => {
                    self.put_back(slot, future, admission);
                    continue;
                }
                GateState::Dropped => {
                    self.finish(slot, Some(future), Some(&mut *context));
                    continue;
                }
            }
            let polled = context.enter(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    Pin::new(&mut future).poll(&mut task_cx)
                }))
            });
            match polled {
                Ok(Poll::Pending) => self.put_back(slot, future, admission),
                Ok(Poll::Ready(())) => {
                    self.finish_admitted(slot, future, admission, context);
                }
                Err(payload) => {
                    // Recorded first: should the destructor panic too, this one stays first.
                    core.record_panic(payload);
                    self.finish_admitted(slot, future, admission, context);
                }
            }
        }
    }

    fn stop(&mut self, context: &mut ScopeGuard) -> usize {
        self.drop_all(Some(context))
    }

    fn close(&mut self) {
        self.locals.lock().binding = Binding::Closed;
    }
}

impl<'a, E, K: LocalKind<'a>> Driver<'_, 'a, E, K> {
    fn put_back(&self, slot: usize, future: K::Boxed, admission: Admission) {
        let mut inner = self.locals.lock();
        if let Some(s) = inner.slots.get_mut(slot) {
            s.future = Some(future);
            s.admission = admission;
        }
    }

    fn finish_admitted(
        &self,
        slot: usize,
        future: K::Boxed,
        admission: Admission,
        context: &mut ScopeGuard,
    ) {
        if let Some(s) = self.locals.lock().slots.get_mut(slot) {
            s.admission = admission;
        }
        self.finish(slot, Some(future), Some(context));
    }
}

impl<'a, E, K: LocalKind<'a>> Drop for Driver<'_, 'a, E, K> {
    fn drop(&mut self) {
        // The scope was dropped unfinished (its guard first): no context to lend.
        self.drop_all(None);
        self.close();
    }
}

impl<E: Send + 'static> crate::CancelScope<E> {
    /// Like [`run`](Self::run), and also drives the local tasks of `locals`: futures spawned
    /// with [`Locals::spawn`] are polled inside this `run` future, concurrently with the body
    /// and with each other, never in parallel, and may borrow anything declared before
    /// `locals`. Every rule of a task applies to them (see [`Locals`]); the returned future
    /// ends only after every local task was dropped, and dropping it drops them.
    ///
    /// # Panics
    ///
    /// If `locals` was already passed to another `run_with_locals` (a `Locals` serves one
    /// scope).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use cancel_scope::{CancelScope, Locals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let log = RefCell::new(Vec::new());
    /// let locals = Locals::unsend(); // a `RefCell` borrow is `!Send`
    /// let out = CancelScope::new()
    ///     .run_with_locals(&locals, async {
    ///         locals.spawn(async { log.borrow_mut().push("local") });
    ///         log.borrow_mut().push("body");
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert!(out.is_ok());
    /// drop(locals);
    /// assert_eq!(log.into_inner(), ["body", "local"]);
    /// # }
    /// ```
    #[track_caller]
    pub fn run_with_locals<'r, 'a, K, T, F>(
        self,
        locals: &'r Locals<'a, E, K>,
        body: F,
    ) -> impl Future<Output = crate::ScopeResult<T, E>> + 'r
    where
        K: LocalKind<'a>,
        F: Future<Output = Result<T, E>> + 'r,
        T: 'r,
        E: 'r,
        'a: 'r,
    {
        let (guard, timeout, deadline, signals) = self.into_parts();
        let core = guard.core().clone();
        {
            let mut inner = locals.lock();
            assert!(
                matches!(inner.binding, Binding::Unbound),
                "CancelScope::run_with_locals: this `Locals` was already passed to a scope; \
                 create one `Locals` per scope"
            );
            inner.binding = Binding::Bound(core.clone());
        }
        let driver = Driver { locals, core };
        crate::run::run(driver, guard, timeout, deadline, signals, body)
    }
}
