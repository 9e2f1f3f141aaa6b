//! The shared state of one task group ([`Core`]): cancellation, the registry of live tasks,
//! the links to other groups, the concurrency limit and the errors collected.
//!
//! Locking discipline: one `Mutex` per group, never two held at once, and no user code (wakers,
//! destructors of user values) run while it is held. Work that touches other groups (link
//! propagation, hand-over of tasks to an enclosing scope) is collected under the lock and done
//! after it is released, iteratively, so chains of any depth use no stack.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::Waker;
use std::time::Duration;

use slab::Slab;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::CancelReason;

/// The state of one group, shared by the scope, every `TaskGroup` handle and every task.
pub(crate) struct Core {
    /// 0 while not cancelled, else `CancelReason::to_u8`: `is_cancelled` is one atomic load.
    reason: AtomicU8,
    /// Wakes `TaskGroup::cancelled()` futures.
    notify: Notify,
    /// The runtime tasks are spawned on, if one was current at `new()` (the common case: a
    /// plain field, so that creating a scope costs no `OnceLock` initialisation)...
    handle: Option<Handle>,
    /// ... else captured later, at `group()` or `run()`.
    late_handle: OnceLock<Handle>,
    /// The grace period in nanoseconds (0: none), read without the lock.
    grace_nanos: AtomicU64,
    /// Set once the group is linked to another (either way): its cancels then take the
    /// propagation lock.
    linked: AtomicBool,
    state: Mutex<State>,
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

struct State {
    /// `true` once the scope returned or was dropped: spawns are refused, cancels do nothing.
    finished: bool,
    /// `true` once the scope was dropped unfinished: every task, shielded or not, is aborted.
    dropped: bool,
    /// `true` once tasks are aborted on cancel: at once without a grace period, else when it
    /// ran out.
    grace_over: bool,
    /// Live tasks (running or queued), by key.
    tasks: Slab<Entry>,
    /// Live tasks of dropped nested scopes handed to this one, which waits for them.
    adopted: usize,
    /// Where this group's live tasks are accounted once it was dropped unfinished.
    adopter: Option<Arc<Core>>,
    /// The scope's `run` future, waiting for the body, the tasks or a cancel.
    scope_waker: Option<Waker>,
    /// Tasks ever spawned (started or queued), for tracing and `Debug`.
    spawned: u64,
    /// When the group was cancelled, if it has a grace period: the grace runs from here.
    cancelled_at: Option<Instant>,
    // Rarely used parts live behind boxes created on first use, so that a scope that never
    // fails, links or limits stays small and cheap to create and drop.
    failures: Option<Box<Failures>>,
    links: Option<Box<Links>>,
    limit: Option<Box<Limiter>>,
}

/// Errors and panics, created at the first one.
#[derive(Default)]
struct Failures {
    /// `Vec<E>` of the group's error type, created at the first error.
    errors: Option<Box<dyn Any + Send>>,
    /// Errors recorded (for tracing).
    error_count: usize,
    /// The first panic's payload.
    panic: Option<Box<dyn Any + Send>>,
    /// Panics after the first, dropped with the unwinding (counted for tracing).
    later_panics: usize,
}

/// Links to other groups, created at the first one.
#[derive(Default)]
struct Links {
    /// Groups this one is linked to as a child, with this group's key in their `children`.
    parents: Vec<Link>,
    /// Groups linked to this one as their parent.
    children: Slab<Weak<Core>>,
}

/// A live task in the registry.
struct Entry {
    /// Set right after the task was handed to tokio (`None` during that hand-over).
    abort: Option<AbortHandle>,
    shielded: bool,
    /// The task ended during the hand-over: the spawner removes the entry.
    ended_early: bool,
}

struct Link {
    group: Weak<Core>,
    key: usize,
}

/// The FIFO queue of tasks waiting for a slot under `limit(n)`.
///
/// A queued task holds a ticket; tickets `base..base + queue.len()` are waiting, tickets below
/// `base` were admitted (or dropped while queued). A task admitted before it was first polled
/// finds out from its ticket alone.
struct Limiter {
    max: usize,
    running: usize,
    base: u64,
    queue: VecDeque<Slot>,
}

impl Limiter {
    /// The queue slot of a waiting ticket (`ticket >= base`).
    fn slot(&mut self, ticket: u64) -> Option<&mut Slot> {
        let index = usize::try_from(ticket - self.base).ok()?;
        self.queue.get_mut(index)
    }
}

enum Slot {
    Waiting(Option<Waker>),
    Dropped,
}

/// Where a new task stands with respect to `limit(n)`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Admission {
    /// The group has no limit.
    Unlimited,
    /// It holds a slot from the start.
    Admitted,
    /// It waits in the queue with this ticket.
    Queued(u64),
}

/// What a gated task learns when it asks for its slot.
pub(crate) enum GateState {
    /// It holds a slot: start.
    Admitted,
    /// Its group was cancelled while it was queued and it is not shielded: end unstarted.
    Dropped,
    /// Still queued; the waker was stored.
    Waiting,
}

/// What the scope's `run` future finds when it checks whether it is done.
pub(crate) enum Progress {
    /// Every task ended and the body is done: the final state, taken out.
    Finished(Finished),
    /// The group was cancelled since the last look: act on it (drop the body, start grace).
    Cancelled,
    /// Still waiting; the waker was stored.
    Waiting,
}

/// The final state of a finished scope.
pub(crate) struct Finished {
    pub(crate) reason: Option<CancelReason>,
    pub(crate) errors: Option<Box<dyn Any + Send>>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
}

/// Wakers and groups to act on once the lock is released.
#[derive(Default)]
struct Deferred {
    wakers: Vec<Waker>,
    /// Linked groups to cancel.
    cancels: Vec<(Arc<Core>, CancelReason)>,
    /// Enclosing scopes whose adopted tasks of a dropped nested scope all ended.
    releases: Vec<Arc<Core>>,
    /// `cancelled()` futures of this group to wake.
    notify: bool,
}

/// Wake-ups gathered while propagating, fired once no lock is held.
struct Wakeups {
    /// Wake the `cancelled()` futures of the group that started the propagation.
    notify_self: bool,
    wakers: Vec<Waker>,
    /// Every other group touched, with whether its `cancelled()` futures are to be woken.
    groups: Vec<(Arc<Core>, bool)>,
}

impl Wakeups {
    fn fire(self, origin: &Core) {
        if self.notify_self {
            origin.notify.notify_waiters();
        }
        for (group, notify) in &self.groups {
            if *notify {
                group.notify.notify_waiters();
            }
        }
        for waker in self.wakers {
            waker.wake();
        }
    }
}

impl Deferred {
    /// Cancels linked groups and releases enclosing scopes, iteratively (a chain of any depth
    /// uses no stack), and gathers the wake-ups for after every lock is released.
    fn propagate(self) -> Wakeups {
        let Deferred {
            wakers,
            mut cancels,
            mut releases,
            notify,
        } = self;
        let mut out = Wakeups {
            notify_self: notify,
            wakers,
            groups: Vec::new(),
        };
        loop {
            let mut next = Deferred::default();
            let group = if let Some((group, reason)) = cancels.pop() {
                group.cancel_locked(&mut lock(&group.state), reason, &mut next);
                group
            } else if let Some(group) = releases.pop() {
                let mut st = lock(&group.state);
                st.adopted -= 1;
                st.after_task_removed(&mut next);
                drop(st);
                group
            } else {
                break;
            };
            out.wakers.append(&mut next.wakers);
            cancels.append(&mut next.cancels);
            releases.append(&mut next.releases);
            // Kept, and dropped only after the wake-ups: a last reference dropped here would
            // run destructors (the group's errors) with the propagation lock held.
            out.groups.push((group, next.notify));
        }
        out
    }

    fn is_empty(&self) -> bool {
        !self.notify
            && self.wakers.is_empty()
            && self.cancels.is_empty()
            && self.releases.is_empty()
    }
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // No user code runs under the lock, so a poisoned lock still holds consistent state.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    pub(crate) fn new() -> Arc<Core> {
        let core = Core {
            reason: AtomicU8::new(0),
            notify: Notify::new(),
            handle: Handle::try_current().ok(),
            late_handle: OnceLock::new(),
            grace_nanos: AtomicU64::new(0),
            linked: AtomicBool::new(false),
            state: Mutex::new(State {
                finished: false,
                dropped: false,
                grace_over: false,
                tasks: Slab::new(),
                adopted: 0,
                adopter: None,
                scope_waker: None,
                spawned: 0,
                cancelled_at: None,
                failures: None,
                links: None,
                limit: None,
            }),
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                "cancel_scope",
                reason = tracing::field::Empty,
                tasks_spawned = tracing::field::Empty,
                errors = tracing::field::Empty,
                panics = tracing::field::Empty,
            ),
        };
        Arc::new(core)
    }

    // ----- runtime -----

    /// Captures the current runtime if none was captured yet.
    pub(crate) fn capture_handle(&self) {
        if self.captured_runtime().is_none() {
            if let Ok(handle) = Handle::try_current() {
                let _ = self.late_handle.set(handle);
            }
        }
    }

    /// The runtime captured by the group, if any.
    pub(crate) fn captured_runtime(&self) -> Option<&Handle> {
        self.handle.as_ref().or_else(|| self.late_handle.get())
    }

    // ----- configuration (builder) -----

    pub(crate) fn set_grace(&self, grace: Duration) {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.grace_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The grace period, if one is set.
    pub(crate) fn grace(&self) -> Option<Duration> {
        match self.grace_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Sets (or changes) the limit. `false` if tasks were already spawned without a limit: they
    /// hold no slots, so a limit set now could not be kept.
    pub(crate) fn set_limit(&self, max: usize) -> bool {
        let mut wakers = Vec::new();
        {
            let mut st = lock(&self.state);
            if st.limit.is_none() && st.spawned > 0 {
                return false;
            }
            let limiter = st.limit.get_or_insert_with(|| {
                Box::new(Limiter {
                    max,
                    running: 0,
                    base: 0,
                    queue: VecDeque::new(),
                })
            });
            limiter.max = max;
            // A raised limit admits queued tasks at once.
            admit_next(limiter, &mut wakers);
        }
        for waker in wakers {
            waker.wake();
        }
        true
    }

    // ----- cancellation -----

    pub(crate) fn is_cancelled(&self) -> bool {
        self.reason.load(Ordering::Acquire) != 0
    }

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

    /// Cancels this group for `reason` and propagates along links, iteratively.
    pub(crate) fn cancel(self: &Arc<Self>, reason: CancelReason) {
        let propagation = self.propagation_lock();
        let mut deferred = Deferred::default();
        self.cancel_locked(&mut lock(&self.state), reason, &mut deferred);
        let wakeups = deferred.propagate();
        drop(propagation);
        wakeups.fire(self);
    }

    /// Serialises cancels of linked groups, so that `cancel()` returns only once its cancel has
    /// reached every group it travels to. Without it, two cancels racing along one chain could
    /// each stop at a group the other marked, and return before the rest of the chain is marked.
    /// Unlinked groups, the common case, skip it. Taken before any group's lock, never after.
    fn propagation_lock(&self) -> Option<MutexGuard<'static, ()>> {
        static PROPAGATION: Mutex<()> = Mutex::new(());
        self.linked
            .load(Ordering::Acquire)
            .then(|| PROPAGATION.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Marks the group cancelled under its lock; collects what must happen after the unlock.
    fn cancel_locked(&self, st: &mut State, reason: CancelReason, out: &mut Deferred) {
        if st.finished || self.is_cancelled() {
            return;
        }
        self.reason.store(reason.to_u8(), Ordering::Release);
        #[cfg(feature = "tracing")]
        self.span.record("reason", tracing::field::display(reason));
        if self.grace().is_none() {
            st.grace_over = true;
            abort_tasks(st, false);
        } else {
            st.cancelled_at = Some(Instant::now());
        }
        if let Some(limiter) = &mut st.limit {
            // Queued tasks learn of the cancel when polled: unshielded ones end unstarted.
            for slot in &mut limiter.queue {
                if let Slot::Waiting(waker) = slot {
                    out.wakers.extend(waker.take());
                }
            }
        }
        if let Some(links) = &st.links {
            if reason.travels_up() {
                for link in &links.parents {
                    if let Some(parent) = link.group.upgrade() {
                        out.cancels.push((parent, CancelReason::Child));
                    }
                }
            }
            for (_, child) in &links.children {
                if let Some(child) = child.upgrade() {
                    out.cancels.push((child, CancelReason::Parent));
                }
            }
        }
        out.wakers.extend(st.scope_waker.take());
        out.notify = true;
    }

    /// Acts on what was collected under the lock, then wakes whom it concerns.
    fn run_deferred(&self, deferred: Deferred) {
        if !deferred.is_empty() {
            deferred.propagate().fire(self);
        }
    }

    /// When the grace period that started with the cancel ends, if there is one.
    pub(crate) fn grace_deadline(&self) -> Option<Instant> {
        let cancelled_at = lock(&self.state).cancelled_at?;
        cancelled_at.checked_add(self.grace()?)
    }

    /// Ends the grace period: aborts every task that is not shielded.
    pub(crate) fn end_grace(&self) {
        let mut st = lock(&self.state);
        st.grace_over = true;
        abort_tasks(&mut st, false);
    }

    // ----- links -----

    /// Links `self` as a child of `parent` (SPEC sec. 5).
    pub(crate) fn link_to_parent(self: &Arc<Self>, parent: &Arc<Core>) {
        if Arc::ptr_eq(self, parent) {
            return;
        }
        self.linked.store(true, Ordering::Release);
        parent.linked.store(true, Ordering::Release);
        let (key, parent_cancelled) = {
            let mut pst = lock(&parent.state);
            if pst.finished {
                return;
            }
            (
                pst.links
                    .get_or_insert_default()
                    .children
                    .insert(Arc::downgrade(self)),
                parent.is_cancelled(),
            )
        };
        let unlinked = {
            let mut st = lock(&self.state);
            if st.finished {
                true
            } else {
                st.links.get_or_insert_default().parents.push(Link {
                    group: Arc::downgrade(parent),
                    key,
                });
                false
            }
        };
        if unlinked {
            unlink(vec![Link {
                group: Arc::downgrade(parent),
                key,
            }]);
            return;
        }
        if parent_cancelled {
            self.cancel(CancelReason::Parent);
        } else if let Some(reason) = self.reason() {
            // Already cancelled by request: the link passes it on, as it would have.
            if reason.travels_up() {
                parent.cancel(CancelReason::Child);
            }
        }
    }

    // ----- tasks -----

    /// Registers a new task before it is handed to tokio. `None` if the group is closed.
    pub(crate) fn reserve(&self, shielded: bool) -> Option<(usize, Admission)> {
        let mut st = lock(&self.state);
        if st.finished || self.is_cancelled() {
            return None;
        }
        let key = st.tasks.insert(Entry {
            abort: None,
            shielded,
            ended_early: false,
        });
        st.spawned += 1;
        let admission = match &mut st.limit {
            None => Admission::Unlimited,
            Some(limiter) if limiter.running < limiter.max && limiter.queue.is_empty() => {
                limiter.running += 1;
                Admission::Admitted
            }
            Some(limiter) => {
                let ticket = limiter.base + limiter.queue.len() as u64;
                limiter.queue.push_back(Slot::Waiting(None));
                Admission::Queued(ticket)
            }
        };
        Some((key, admission))
    }

    /// Completes the hand-over of task `key` to tokio.
    pub(crate) fn register(&self, key: usize, abort: AbortHandle) {
        let mut deferred = Deferred::default();
        {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let Some(entry) = st.tasks.get_mut(key) else {
                return;
            };
            if entry.ended_early {
                st.tasks.remove(key);
                st.after_task_removed(&mut deferred);
            } else {
                let abort_now =
                    st.dropped || (!entry.shielded && self.is_cancelled() && st.grace_over);
                if abort_now {
                    abort.abort();
                }
                entry.abort = Some(abort);
            }
        }
        self.run_deferred(deferred);
    }

    /// Asks for the slot of a queued task (ticket `ticket`).
    pub(crate) fn poll_gate(&self, key: usize, ticket: u64, waker: &Waker) -> GateState {
        // Cloned before the lock and the old one dropped after it: a waker is foreign code.
        let mut new_waker = Some(waker.clone());
        let mut st = lock(&self.state);
        let shielded = st.tasks.get(key).is_some_and(|e| e.shielded);
        let cancelled = self.is_cancelled();
        let Some(limiter) = &mut st.limit else {
            return GateState::Admitted;
        };
        // Checked first: a task admitted after the cancel but before its first poll still
        // ends unstarted (its slot then goes to the next in line).
        if cancelled && !shielded {
            return GateState::Dropped;
        }
        if ticket < limiter.base {
            return GateState::Admitted;
        }
        if let Some(Slot::Waiting(slot)) = limiter.slot(ticket) {
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                std::mem::swap(slot, &mut new_waker);
            }
        }
        drop(st);
        drop(new_waker);
        GateState::Waiting
    }

    /// Removes task `key` from the registry once its future was dropped.
    ///
    /// `admission` says whether it held a slot under `limit(n)`.
    pub(crate) fn task_ended(&self, key: usize, admission: Admission) {
        let mut deferred = Deferred::default();
        {
            let mut st = lock(&self.state);
            if let Some(limiter) = &mut st.limit {
                let held_slot = match admission {
                    Admission::Unlimited => false,
                    Admission::Admitted => true,
                    Admission::Queued(ticket) if ticket < limiter.base => true,
                    Admission::Queued(ticket) => {
                        if let Some(slot) = limiter.slot(ticket) {
                            if let Slot::Waiting(waker) = std::mem::replace(slot, Slot::Dropped) {
                                // Woken, not dropped: dropping it under the lock would run
                                // foreign code; a spurious wake of a dying task is harmless.
                                deferred.wakers.extend(waker);
                            }
                        }
                        false
                    }
                };
                if held_slot {
                    limiter.running -= 1;
                }
                admit_next(limiter, &mut deferred.wakers);
            }
            match st.tasks.get_mut(key) {
                Some(entry) if entry.abort.is_none() => entry.ended_early = true,
                Some(_) => {
                    st.tasks.remove(key);
                    st.after_task_removed(&mut deferred);
                }
                None => {}
            }
        }
        self.run_deferred(deferred);
    }

    /// Number of live tasks (running or queued).
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).tasks.len()
    }

    /// Tasks spawned so far (started or queued).
    pub(crate) fn spawned(&self) -> u64 {
        lock(&self.state).spawned
    }

    // ----- failures -----

    /// Records an error of the group's error type `E` and cancels the group (`Failed`).
    pub(crate) fn record_error<E: Send + 'static>(self: &Arc<Self>, error: E) {
        {
            let mut st = lock(&self.state);
            let failures = st.failures.get_or_insert_default();
            failures.error_count += 1;
            let errors = failures
                .errors
                .get_or_insert_with(|| Box::new(Vec::<E>::new()));
            match errors.downcast_mut::<Vec<E>>() {
                Some(errors) => errors.push(error),
                None => unreachable!("a group's errors all have the group's error type"),
            }
        }
        self.cancel(CancelReason::Failed);
    }

    /// Records a panic (the first one is kept) and cancels the group (`Failed`).
    ///
    /// In a scope that was dropped unfinished and handed its tasks to an enclosing scope, a
    /// panic (typically one while a task is being dropped) goes to that scope instead, which
    /// resumes it: nobody will read this group's outcome any more.
    pub(crate) fn record_panic(self: &Arc<Self>, payload: Box<dyn Any + Send>) {
        let later = {
            let mut st = lock(&self.state);
            if st.dropped {
                if let Some(adopter) = st.adopter.clone() {
                    drop(st);
                    adopter.record_panic(payload);
                    return;
                }
            }
            let failures = st.failures.get_or_insert_default();
            if failures.panic.is_none() {
                failures.panic = Some(payload);
                None
            } else {
                failures.later_panics += 1;
                Some(payload)
            }
        };
        // A later payload is dropped outside the lock: its destructor is user code.
        drop(later);
        self.cancel(CancelReason::Failed);
    }

    // ----- the scope's life -----

    /// Called by `run` after each step: finishes the scope if the body is done and no task is
    /// left, else stores the waker.
    pub(crate) fn poll_progress(
        &self,
        body_alive: bool,
        grace_pending: bool,
        waker: &Waker,
    ) -> Progress {
        // A waker is foreign code: cloned only with the lock released, and a replaced one
        // dropped after it (declared before `st`, so dropped after it).
        let mut new_waker: Option<Waker> = None;
        loop {
            let mut st = lock(&self.state);
            let cancelled = self.is_cancelled();
            if cancelled && (body_alive || grace_pending) {
                return Progress::Cancelled;
            }
            if !body_alive && st.tasks.is_empty() && st.adopted == 0 {
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
        st.finished = true;
        let old_waker = st.scope_waker.take();
        let failures = st.failures.take().map(|f| *f).unwrap_or_default();
        #[cfg(feature = "tracing")]
        {
            self.span.record("tasks_spawned", st.spawned);
            self.span.record("errors", failures.error_count);
            self.span.record(
                "panics",
                usize::from(failures.panic.is_some()) + failures.later_panics,
            );
        }
        let links = st.links.take();
        drop(st);
        drop(old_waker);
        if let Some(links) = links {
            // A cancel that travels up reaches the parents after the canceller released our
            // lock: make sure it did before this scope returns, or a parent waiting for this
            // scope could finish first, uncancelled.
            if self.reason().is_some_and(CancelReason::travels_up) {
                for link in &links.parents {
                    if let Some(parent) = link.group.upgrade() {
                        parent.cancel(CancelReason::Child);
                    }
                }
            }
            unlink(links.parents);
        }
        Progress::Finished(Finished {
            reason: self.reason(),
            errors: failures.errors,
            panic: failures.panic,
        })
    }

    /// The scope was dropped before it finished: cancel (`Dropped`), abort every task (shielded
    /// ones too), and hand the tasks still alive to `enclosing`, which waits for them.
    pub(crate) fn drop_scope(self: &Arc<Self>, enclosing: Option<&Arc<Core>>) {
        let propagation = self.propagation_lock();
        let mut deferred = Deferred::default();
        // Counted in advance so that the last task of this group can never release the
        // enclosing scope before it was counted; given back below if nothing is left.
        let adopter = enclosing.filter(|enc| enc.adopt());
        let (links, handed_over) = {
            let mut st = lock(&self.state);
            if st.finished {
                (None, false)
            } else {
                self.cancel_locked(&mut st, CancelReason::Dropped, &mut deferred);
                st.dropped = true;
                st.finished = true;
                st.grace_over = true;
                abort_tasks(&mut st, true);
                if let Some(limiter) = &mut st.limit {
                    for slot in &mut limiter.queue {
                        if let Slot::Waiting(waker) = slot {
                            deferred.wakers.extend(waker.take());
                        }
                    }
                }
                let live = !st.tasks.is_empty() || st.adopted > 0;
                let handed_over = live && adopter.is_some();
                if handed_over {
                    st.adopter = adopter.cloned();
                }
                (st.links.take(), handed_over)
            }
        };
        if let (Some(adopter), false) = (adopter, handed_over) {
            deferred.releases.push(adopter.clone());
        }
        let wakeups = deferred.propagate();
        drop(propagation);
        if let Some(links) = links {
            unlink(links.parents);
        }
        wakeups.fire(self);
    }

    /// Counts one dropped nested scope whose tasks this scope waits for. `false` if finished.
    fn adopt(&self) -> bool {
        let mut st = lock(&self.state);
        // A scope that was itself dropped unfinished and handed to an adopter still accounts
        // for its live tasks (a nested scope dropped in one of them lands here): it keeps
        // adopting, so the outermost awaiting scope waits for every level.
        if st.finished && st.adopter.is_none() {
            return false;
        }
        st.adopted += 1;
        true
    }
}

impl State {
    /// Wakes the scope (or releases the adopting scope) when the last task is gone.
    fn after_task_removed(&mut self, out: &mut Deferred) {
        if self.tasks.is_empty() && self.adopted == 0 {
            out.wakers.extend(self.scope_waker.take());
            // Released after our lock is dropped, by `run_deferred`.
            out.releases.extend(self.adopter.take());
        }
    }
}

fn abort_tasks(st: &mut State, shielded_too: bool) {
    for (_, entry) in &st.tasks {
        if shielded_too || !entry.shielded {
            if let Some(abort) = &entry.abort {
                abort.abort();
            }
        }
    }
}

fn admit_next(limiter: &mut Limiter, wakers: &mut Vec<Waker>) {
    while limiter.running < limiter.max {
        match limiter.queue.pop_front() {
            None => break,
            Some(Slot::Dropped) => limiter.base += 1,
            Some(Slot::Waiting(waker)) => {
                limiter.base += 1;
                limiter.running += 1;
                wakers.extend(waker);
            }
        }
    }
}

/// Removes a finished group from its parents' lists of children.
fn unlink(parents: Vec<Link>) {
    for link in parents {
        if let Some(parent) = link.group.upgrade() {
            if let Some(links) = &mut lock(&parent.state).links {
                links.children.try_remove(link.key);
            }
        }
    }
}
