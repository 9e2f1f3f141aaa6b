//! The shared state of one task group ([`Core`]) and its hot path: a task is reserved in the
//! registry, handed to tokio, and removed once its future was dropped; the scope's `run` asks
//! whether it is done.
//!
//! Each concept of the group lives in a file of its own:
//!
//! | file | what lives there |
//! |---|---|
//! | `mod.rs` | the state, its lock, spawn -> task ends -> scope wakes, the scope's finish |
//! | [`cancel`] | marking a group cancelled and propagating along links (the lock rules) |
//! | [`deferred`] | what is collected under a lock and done after it (wake-ups, releases) |
//! | [`few`] | the list type of that work: one item inline, more in a `Vec` |
//! | [`links`] | `parent()` links: forming them, unlinking a finished group |
//! | [`handover`] | the running scope of a thread, and dropped scopes handing their tasks over |
//! | [`limit`] | the FIFO queue of `limit(n)` |
//! | [`grace`] | grace periods and shielding: which tasks an abort reaches, and when |
//! | [`failures`] | the errors and the first panic collected |
//! | [`registry`] | the live tasks by key, in chunks that never move |
//! | [`policy`] | what a task's `Err` does (fail-fast, supervise, race) and a race's win |
//! | [`runtime`] | which tokio runtime the group spawns on |
//! | [`members`] | blocking and local members, the group's deadline and token (issue 12) |
//!
//! Locking: one `Mutex` per group, held briefly, never two at once, and no user code (wakers,
//! destructors of user values) runs while it is held: work for after the unlock is collected in
//! a [`Deferred`] and done once the lock is released. There is no process-wide lock.

pub(crate) mod cancel;
pub(crate) mod deferred;
pub(crate) mod failures;
pub(crate) mod few;
pub(crate) mod grace;
pub(crate) mod handover;
pub(crate) mod limit;
pub(crate) mod links;
pub(crate) mod members;
pub(crate) mod policy;
pub(crate) mod registry;
pub(crate) mod runtime;

use std::any::Any;
use std::task::Waker;

pub(crate) use self::deferred::{AbortRequest, Deferred};
use self::failures::{Failures, Taken};
use self::grace::{GraceSetting, GraceState, Shield};
use self::handover::Handover;
use self::limit::{Admission, GateState, Limiter};
use self::links::Links;
use self::policy::ErrorPolicy;
use self::registry::Registry;
use self::runtime::RuntimeCapture;
use crate::CancelReason;
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{AbortHandle, Arc, Mutex, MutexGuard, Notify, PoisonError};

/// The state of one group, shared by the scope, every `TaskGroup` handle and every task.
pub(crate) struct Core {
    /// 0 while not cancelled, else `CancelReason::to_u8`: `is_cancelled` is one atomic load.
    /// Written only under `state`'s lock (the first reason stays), read anywhere.
    reason: AtomicU8,
    /// Wakes `TaskGroup::cancelled()` futures.
    notify: Notify,
    /// The runtime tasks are spawned on.
    pub(crate) runtime: RuntimeCapture,
    /// The grace setting; decided into a [`GraceState`] at the cancel.
    pub(crate) grace: GraceSetting,
    /// Deadline, enclosing scope and token (see [`members`]).
    pub(crate) members: members::MemberState,
    state: Mutex<State>,
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

/// Where the scope is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Running (or not yet run): spawns are accepted.
    Open,
    /// The scope returned: spawns are refused, cancels do nothing.
    Finished,
    /// The scope was dropped unfinished: every task is aborted, shielded or not, and the live
    /// ones are handed over (see [`handover`]).
    Dropped,
}

/// Everything behind the group's lock.
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) grace: GraceState,
    /// Live tasks (running or queued), by key.
    pub(crate) tasks: Registry,
    pub(crate) handover: Handover,
    /// The scope's `run` future, waiting for the body, the tasks or a cancel.
    scope_waker: Option<Waker>,
    /// Tasks ever spawned (started or queued), for tracing and `Debug`.
    spawned: u64,
    // Rarely used parts live behind boxes created on first use, so that a scope that never
    // fails, links or limits stays small and cheap to create and drop.
    pub(crate) failures: Option<Box<Failures>>,
    pub(crate) policy: ErrorPolicy,
    pub(crate) links: Option<Box<Links>>,
    limit: Option<Box<Limiter>>,
}

/// A live task in the registry.
pub(crate) struct Entry {
    /// The task's abort handle: `Some` exactly while `stage` is [`Stage::Live`].
    abort: Option<AbortHandle>,
    pub(crate) shield: Shield,
    stage: Stage,
}

/// Where a registry entry is in its task's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Reserved, and being handed to tokio by its spawner (a blocking or local member stays
    /// here: it has no abort handle).
    Launching,
    /// The task ended during the hand-off to tokio: the spawner removes the entry.
    EndedEarly,
    /// Handed to tokio; the entry holds its abort handle.
    Live,
    /// Its abort was requested; the handle went with the request.
    Aborted,
}

impl Entry {
    /// The entry of a task (or member) being launched.
    pub(crate) fn launching(shield: Shield) -> Entry {
        Entry {
            abort: None,
            shield,
            stage: Stage::Launching,
        }
    }

    /// The handle of a live task, for its abort: the entry is then `Aborted`. `None` if it is
    /// not live (launching, or already aborted).
    pub(crate) fn take_for_abort(&mut self) -> Option<AbortHandle> {
        let handle = self.abort.take()?;
        self.stage = Stage::Aborted;
        Some(handle)
    }
}

/// Whether the body of the scope is still to be polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// Still running.
    Alive,
    /// Done, its value kept for the outcome (which a cancel, or an error of a supervised
    /// group, discards).
    Holding,
    /// Done, no value held.
    Done,
}

/// Whether `run` has acted on a cancel of its group (dropped the body and any discarded value,
/// armed the grace timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelSeen {
    /// Not yet: a cancel found now sends `run` round its loop again.
    No,
    /// Yes.
    Yes,
}

/// What the scope's `run` future finds when it checks whether it is done.
pub(crate) enum Progress {
    /// Every task ended and the body is done: the final state, taken out.
    Finished(Finished),
    /// The group was cancelled (or failed) and `run` has not acted on it yet.
    Act,
    /// An error was recorded without a cancel (a supervised group) while the body's value is
    /// held: the outcome will be an `Err`, so `run` drops the value now, while the scope can
    /// still take what its destructors hand over.
    Discard,
    /// Still waiting; the waker was stored.
    Waiting,
}

/// The final state of a finished scope.
pub(crate) struct Finished {
    pub(crate) reason: Option<CancelReason>,
    pub(crate) errors: Option<Box<dyn Any + Send>>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Names of named members among the errors, by index.
    pub(crate) names: Vec<(usize, crate::member::names::TaskName)>,
}

pub(crate) fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // No user code runs under the lock, so a poisoned lock still holds consistent state.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    pub(crate) fn new() -> Arc<Core> {
        Arc::new(Core {
            reason: AtomicU8::new(0),
            notify: Notify::new(),
            runtime: RuntimeCapture::new(),
            grace: GraceSetting::new(),
            members: members::MemberState::default(),
            state: Mutex::new(State {
                phase: Phase::Open,
                grace: GraceState::Undecided,
                tasks: Registry::new(),
                handover: Handover::default(),
                scope_waker: None,
                spawned: 0,
                failures: None,
                policy: ErrorPolicy::FailFast,
                links: None,
                limit: None,
            }),
            #[cfg(feature = "tracing")]
            span: crate::trace::scope_span(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ----- reading the cancel -----

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.reason.load(Ordering::Acquire) != 0
    }

    #[inline]
    pub(crate) fn reason(&self) -> Option<CancelReason> {
        CancelReason::from_u8(self.reason.load(Ordering::Acquire))
    }

    /// A future that resolves once the group is cancelled.
    pub(crate) async fn cancelled(self: Arc<Self>) {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    // ----- configuration -----

    /// Sets (or changes) the limit. `false` if tasks were already spawned without a limit: they
    /// hold no slots, so a limit set now could not be kept.
    pub(crate) fn set_limit(&self, max: usize) -> bool {
        let mut out = Deferred::default();
        {
            let mut st = self.lock();
            if st.limit.is_none() && st.spawned > 0 {
                return false;
            }
            st.limit
                .get_or_insert_with(|| Box::new(Limiter::new(max)))
                .set_max(max, &mut out.wakers);
        }
        out.run(self);
        true
    }

    // ----- tasks: the hot path -----

    /// Registers a new task before it is handed to tokio. `None` if the group is closed.
    pub(crate) fn reserve(&self, shield: Shield) -> Option<(usize, Admission)> {
        let mut st = self.lock();
        if st.phase != Phase::Open || self.is_cancelled() {
            return None;
        }
        let key = st.tasks.insert(Entry::launching(shield));
        st.spawned += 1;
        let admission = match &mut st.limit {
            None => Admission::Unlimited,
            Some(limiter) => limiter.admit(),
        };
        Some((key, admission))
    }

    /// Completes the hand-off of task `key` to tokio. (`impl Into`: tokio's handle itself,
    /// or, in the loom model, a stand-in; see `crate::sync`.)
    pub(crate) fn register(&self, key: usize, abort: impl Into<AbortHandle>) {
        let abort = abort.into();
        let mut out = Deferred::default();
        {
            let mut st = self.lock();
            let st = &mut *st;
            let Some(entry) = st.tasks.get_mut(key) else {
                return;
            };
            if entry.stage == Stage::EndedEarly {
                st.tasks.remove(key);
                st.after_task_removed(&mut out);
            } else {
                let abort_now = st.phase == Phase::Dropped
                    || (entry.shield == Shield::Unshielded
                        && self.is_cancelled()
                        && st.grace == GraceState::Over);
                if abort_now {
                    // Requested once the lock is released, like every abort (see
                    // `grace::take_aborts`).
                    entry.stage = Stage::Aborted;
                    out.aborts.push(AbortRequest::Task(abort));
                } else {
                    entry.stage = Stage::Live;
                    entry.abort = Some(abort);
                }
            }
        }
        out.run(self);
    }

    /// Asks for the slot of a queued task (ticket `ticket`).
    pub(crate) fn poll_gate(&self, key: usize, ticket: u64, waker: &Waker) -> GateState {
        // Cloned before the lock and a replaced one dropped after it: a waker is foreign code.
        let mut waker = Some(waker.clone());
        let mut st = self.lock();
        let shield = st.tasks.get(key).map_or(Shield::Unshielded, |e| e.shield);
        let cancelled = self.is_cancelled();
        let Some(limiter) = &mut st.limit else {
            return GateState::Admitted;
        };
        // Checked first: a task admitted after the cancel but before its first poll still
        // ends unstarted (its slot then goes to the next in line).
        if cancelled && shield == Shield::Unshielded {
            return GateState::Dropped;
        }
        let state = limiter.poll_ticket(ticket, &mut waker);
        drop(st);
        drop(waker);
        state
    }

    /// Removes task `key` from the registry once its future was dropped. `admission` says
    /// whether it held a slot under `limit(n)`.
    pub(crate) fn task_ended(&self, key: usize, admission: Admission) {
        let mut out = Deferred::default();
        {
            let mut st = self.lock();
            let st = &mut *st;
            if let Some(limiter) = &mut st.limit {
                limiter.release(admission, &mut out.wakers);
            }
            match st.tasks.get_mut(key) {
                Some(entry) if entry.stage == Stage::Launching => entry.stage = Stage::EndedEarly,
                Some(_) => {
                    st.tasks.remove(key);
                    st.after_task_removed(&mut out);
                }
                None => {}
            }
        }
        out.run(self);
    }

    /// Number of live tasks (running or queued).
    pub(crate) fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    /// Tasks spawned so far (started or queued).
    pub(crate) fn spawned(&self) -> u64 {
        self.lock().spawned
    }

    // ----- failures -----

    /// Records an error of the body (of the group's error type `E`) and cancels the group
    /// (`Failed`), whatever the policy: the body is the supervisor. Tasks' errors go through
    /// [`record_task_error`](Core::record_task_error).
    pub(crate) fn record_error<E: Send + 'static>(self: &Arc<Self>, error: E) {
        self.lock()
            .failures
            .get_or_insert_default()
            .push_error_named(error, None);
        cancel::cancel(self, CancelReason::Failed);
    }

    /// Records a panic (the first one is kept) and cancels the group (`Failed`). A panic of a
    /// scope that was dropped unfinished goes to the scope its tasks were handed over to.
    pub(crate) fn record_panic(self: &Arc<Self>, payload: Box<dyn Any + Send>) {
        let (target, later) = handover::record_panic_at(self, payload);
        // A later payload is dropped outside the lock: its destructor is user code, and a panic
        // there is one more later panic.
        failures::drop_discarded(later);
        cancel::cancel(&target, CancelReason::Failed);
    }

    // ----- the scope's life -----

    /// Called by `run` after each step: finishes the scope if the body is done and no task is
    /// left, else stores the waker.
    pub(crate) fn poll_progress(&self, body: Body, seen: CancelSeen, waker: &Waker) -> Progress {
        // A waker is foreign code: cloned only with the lock released, and a replaced one
        // dropped after it (declared before `st`, so dropped after it).
        let mut new_waker: Option<Waker> = None;
        loop {
            let mut st = self.lock();
            if self.is_cancelled() && seen == CancelSeen::No {
                return Progress::Act;
            }
            if body == Body::Holding && Core::has_errors(&st) {
                return Progress::Discard;
            }
            if body != Body::Alive && st.tasks.is_empty() && st.handover.handed_in == 0 {
                return self.finish(st);
            }
            if st.scope_waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                return Progress::Waiting;
            }
            if new_waker.is_some() {
                std::mem::swap(&mut st.scope_waker, &mut new_waker);
                return Progress::Waiting;
            }
            drop(st);
            new_waker = Some(waker.clone());
        }
    }

    /// Marks the scope finished and takes its final state out.
    fn finish(&self, mut st: MutexGuard<'_, State>) -> Progress {
        st.phase = Phase::Finished;
        let old_waker = st.scope_waker.take();
        let failures = st.failures.take();
        #[cfg(feature = "tracing")]
        crate::trace::record_finish(
            &self.span,
            st.spawned,
            failures.as_deref().unwrap_or(&Failures::default()),
        );
        let links = st.links.take();
        // The registry's memory goes back now, not when the last handle is dropped (a group
        // that never spawned has none to give back).
        let tasks = if st.tasks.has_memory() {
            Some(std::mem::take(&mut st.tasks))
        } else {
            None
        };
        drop(st);
        drop(old_waker);
        drop(tasks);
        if let Some(links) = links {
            links::unlink(*links);
        }
        // A group that never failed (the common case) builds no `Failures` to take apart.
        let Taken {
            errors,
            panic,
            names,
        } = match failures {
            None => Taken {
                errors: None,
                panic: None,
                names: Vec::new(),
            },
            Some(failures) => (*failures).take(),
        };
        Progress::Finished(Finished {
            reason: self.reason(),
            errors,
            panic,
            names,
        })
    }
}

impl State {
    /// Wakes the scope (or releases the scope its tasks were handed over to) when the last task
    /// is gone (the registry gives its memory back by itself).
    pub(crate) fn after_task_removed(&mut self, out: &mut Deferred) {
        if self.tasks.is_empty() && self.handover.handed_in == 0 {
            out.wakers.extend(self.scope_waker.take());
            out.releases.extend(self.handover.to.take());
        }
    }
}
