//! One task of a group: the wrapper future handed to tokio ([`TaskFuture`]), the bound on what a
//! task may return ([`TaskOutput`]) and the handle the spawner keeps ([`TaskHandle`]).
//!
//! Per-task state stays small and outside the user's future where it can: the wrapper adds the
//! group pointer and the registry key (16 bytes); the abort handle lives in the group's registry.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, UnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::task::JoinHandle;

use crate::core::Core;
use crate::core::handover;
use crate::core::limit::{Admission, GateState};
use crate::task_end::{Ended, TaskEnd};

mod sealed {
    pub trait Sealed<E> {}
    impl<E> Sealed<E> for () {}
    impl<T, E> Sealed<E> for Result<T, E> {}
}

/// What a task of a `TaskGroup<E>` may return: `()` or `Result<T, E>` with the group's own `E`.
///
/// Tying the task's error type to the group's is what lets `?` inside a spawned `async` block
/// infer its error type. A future with another error type is mapped by the caller:
/// `tg.spawn(fut.map_err(Into::into))` (with `futures::TryFutureExt`) or
/// `tg.spawn(async { fut.await.map_err(Into::into) })`.
///
/// Sealed: implemented for `()` and `Result<T, E>` only.
#[diagnostic::on_unimplemented(
    message = "a task of a `TaskGroup<{E}>` must return `()` or `Result<_, {E}>`, but this one returns `{Self}`",
    label = "this future's output is `{Self}`",
    note = "the task's error type must be the group's own error type `{E}`",
    note = "convert the error inside the task, e.g. `async move {{ fut.await.map_err(|e| /* a `{E}` */) }}` (or `.map_err(Into::into)` where `From` is implemented), or give the group another error type: `error = ...;` in `cancel_scope!`, `CancelScope::<E>::with_error()`"
)]
pub trait TaskOutput<E>: sealed::Sealed<E> + Send + 'static {
    /// The value a successful task gives its [`TaskHandle`].
    type Value: Send + 'static;

    /// Splits the output into the value and the error.
    ///
    /// # Errors
    ///
    /// The task's error, for `Err` outputs.
    fn into_result(self) -> Result<Self::Value, E>;
}

impl<E: Send + 'static> TaskOutput<E> for () {
    type Value = ();

    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<T: Send + 'static, E: Send + 'static> TaskOutput<E> for Result<T, E> {
    type Value = T;

    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// How a task waits for its slot under `limit(n)`; `()` for groups without a limit, so their
/// tasks carry no gate state at all.
pub(crate) trait Gate: Send + 'static {
    fn admission(&self) -> Admission;
    fn poll_gate(&mut self, core: &Core, key: usize, cx: &mut Context<'_>) -> GateState;
}

impl Gate for () {
    fn admission(&self) -> Admission {
        Admission::Unlimited
    }

    fn poll_gate(&mut self, _: &Core, _: usize, _: &mut Context<'_>) -> GateState {
        GateState::Admitted
    }
}

impl Gate for Admission {
    fn admission(&self) -> Admission {
        *self
    }

    fn poll_gate(&mut self, core: &Core, key: usize, cx: &mut Context<'_>) -> GateState {
        let Admission::Queued(ticket) = *self else {
            return GateState::Admitted;
        };
        let state = core.poll_gate(key, ticket, cx.waker());
        if state == GateState::Admitted {
            *self = Admission::Admitted;
        }
        state
    }
}

pin_project_lite::pin_project! {
    /// The future tokio runs for one task: the user's future, its group and its registry key.
    ///
    /// Field order matters: on drop the user's future is dropped first (in `PinnedDrop`), and only
    /// then is the task removed from the registry, so an awaited scope returns only after every
    /// task's destructors ran.
    pub(crate) struct TaskFuture<F, E, G: Gate, D: Delivery> {
        #[pin]
        future: Option<F>,
        core: Option<Arc<Core>>,
        key: usize,
        gate: G,
        delivery: D,
        _error: std::marker::PhantomData<fn() -> E>,
    }

    impl<F, E, G: Gate, D: Delivery> PinnedDrop for TaskFuture<F, E, G, D> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            drop_future(this.future.as_mut(), this.core.as_ref());
            if let Some(core) = this.core.take() {
                core.task_ended(*this.key, this.gate.admission());
            }
        }
    }
}

/// Drops a task's future, catching a panic in its destructor: that counts as a task panic.
fn drop_future<F>(future: Pin<&mut Option<F>>, core: Option<&Arc<Core>>) {
    if future.is_none() {
        return;
    }
    let mut future = future;
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
        if let Some(core) = core {
            core.record_panic(payload);
        }
    }
}

impl<F, E, G: Gate, D: Delivery> TaskFuture<F, E, G, D> {
    pub(crate) fn new(future: F, core: Arc<Core>, key: usize, gate: G, delivery: D) -> Self {
        TaskFuture {
            future: Some(future),
            core: Some(core),
            key,
            gate,
            delivery,
            _error: std::marker::PhantomData,
        }
    }
}

impl<F, E, G, D> Future for TaskFuture<F, E, G, D>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: Send + 'static,
    G: Gate,
    D: Delivery,
{
    type Output = Result<<F::Output as TaskOutput<E>>::Value, Ended>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(core) = this.core.as_ref() else {
            return Poll::Ready(Err(Ended::NotStarted));
        };
        match this.gate.poll_gate(core, *this.key, cx) {
            GateState::Admitted => {}
            GateState::Waiting => return Poll::Pending,
            GateState::Dropped => {
                let core = core.clone();
                drop_future(this.future.as_mut(), Some(&core));
                return Poll::Ready(Err(Ended::NotStarted));
            }
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Ended::NotStarted));
        };
        let delivery = &*this.delivery;
        let polled = handover::enter(this.core, || {
            catch_unwind(AssertUnwindSafe(|| match future.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(output) => Poll::Ready(deliver(output.into_result(), delivery)),
            }))
        });
        let core = this.core.as_ref();
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                // Taken before the future's destructor runs: a named task's name, left by
                // its `Err` output in this same poll.
                let name = if output.is_err() {
                    crate::member::names::take_pending()
                } else {
                    None
                };
                drop_future(this.future.as_mut(), core);
                match (output, core) {
                    (Ok(Some(value)), _) => Poll::Ready(Ok(value)),
                    (Ok(None), _) => Poll::Ready(Err(Ended::Detached)),
                    (Err(error), Some(core)) => {
                        core.record_task_error(error, name);
                        Poll::Ready(Err(Ended::Failed))
                    }
                    (Err(_), None) => Poll::Ready(Err(Ended::Failed)),
                }
            }
            Err(payload) => {
                // Recorded before the future is dropped: should its destructor panic too, the
                // poll's panic stays the first.
                if let Some(core) = core {
                    core.record_panic(payload);
                }
                drop_future(this.future.as_mut(), core);
                Poll::Ready(Err(Ended::Panicked))
            }
        }
    }
}

/// Whether the value of a task that completed goes to its handle: `Some(value)` if the handle
/// still wants it, else the value is dropped here, inside the task (still registered, with its
/// group current), so the scope waits for its destructor like for any task's.
fn deliver<T, E>(result: Result<T, E>, delivery: &impl Delivery) -> Result<Option<T>, E> {
    let value = result?;
    if delivery.deliver() {
        Ok(Some(value))
    } else {
        drop(value);
        Ok(None)
    }
}

/// How a task hands its value over: `()` for values without a destructor (always delivered,
/// no state: the wrapper stays as small as it can), an [`Arc<Detach>`] for the others.
pub(crate) trait Delivery: Send + Sync + 'static {
    /// The task completed: `true` if the handle still wants the value.
    fn deliver(&self) -> bool;
}

impl Delivery for () {
    fn deliver(&self) -> bool {
        true
    }
}

impl Delivery for Arc<Detach> {
    fn deliver(&self) -> bool {
        self.wants()
    }
}

/// [`deliver`] for members that hold their agreement as an `Option<&Detach>` (blocking ones).
pub(crate) fn deliver_to<T, E>(
    result: Result<T, E>,
    detach: Option<&Detach>,
) -> Result<Option<T>, E> {
    let value = result?;
    if detach.is_none_or(Detach::wants) {
        Ok(Some(value))
    } else {
        drop(value);
        Ok(None)
    }
}

/// The hand-off of an output with a destructor between a task and its [`TaskHandle`].
///
/// tokio drops the output of a task whose `JoinHandle` was dropped *after* the task's future
/// (our wrapper) was dropped, so after the task left its group's registry, on whichever worker
/// completed it, and it swallows a panic there. For an output with a destructor that would let
/// an awaited scope return before the output's destructor ran. So the task and its handle agree
/// on one atomic: a task whose handle is gone drops the value itself, inside the task; a handle
/// dropped after the value was delivered takes the value out of tokio and drops it itself.
/// Outputs without a destructor (`()`, numbers) need none of this and pay nothing.
pub(crate) struct Detach(AtomicU8);

const ATTACHED: u8 = 0;
const DETACHED: u8 = 1;
const DELIVERED: u8 = 2;

impl Detach {
    /// A new agreement: the handle wants the value.
    pub(crate) fn new() -> Arc<Detach> {
        Arc::new(Detach(AtomicU8::new(ATTACHED)))
    }

    /// An agreement for an output of type `T`, if it has a destructor.
    pub(crate) fn for_output<T>() -> Option<Arc<Detach>> {
        std::mem::needs_drop::<T>().then(Detach::new)
    }

    /// The task completed: `true` if the handle still wants the value.
    fn wants(&self) -> bool {
        self.0
            .compare_exchange(ATTACHED, DELIVERED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The handle is dropped: `true` if the value was delivered (it is in tokio's task cell,
    /// or is about to be).
    fn detach(&self) -> bool {
        self.0.swap(DETACHED, Ordering::AcqRel) == DELIVERED
    }
}

/// A handle to one task of a group: a future that resolves to `Some(value)` if the task
/// completed with `value` (`Ok(value)`, or `()`), and to `None` if it failed, panicked, was
/// cancelled, aborted or never started. [`outcome`](Self::outcome) says which, as a [`TaskEnd`].
///
/// Dropping the handle detaches nothing: the task stays in its group, which waits for it. A
/// failure is reported by the scope (in its `GroupError`), not by the handle.
///
/// ```
/// use cancel_scope::{BoxError, CancelScope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let out = scope
///     .run(async move {
///         let answer = tg.spawn(async { Ok::<_, BoxError>(42) });
///         Ok(answer.await)
///     })
///     .await;
/// assert_eq!(out.unwrap().completed(), Some(Some(42)));
/// # }
/// ```
pub struct TaskHandle<T> {
    join: Option<JoinHandle<Result<T, Ended>>>,
    detach: Option<Arc<Detach>>,
    /// How it ended, once it resolved (`NotStarted` for a handle that never had a task).
    end: Option<Ended>,
    /// Whether [`abort`](Self::abort) was called: tells an abort from a cancel.
    aborted: std::sync::atomic::AtomicBool,
    /// The task's name ([`TaskGroup::named`](crate::TaskGroup::named)).
    pub(crate) name: Option<crate::member::names::TaskName>,
}

impl<T> TaskHandle<T> {
    pub(crate) fn spawned(join: JoinHandle<Result<T, Ended>>, detach: Option<Arc<Detach>>) -> Self {
        TaskHandle {
            join: Some(join),
            detach,
            end: None,
            aborted: std::sync::atomic::AtomicBool::new(false),
            name: None,
        }
    }

    /// A handle to a future that was never started: it resolves to `None` at once.
    pub(crate) fn unstarted() -> Self {
        TaskHandle {
            join: None,
            detach: None,
            end: Some(Ended::NotStarted),
            aborted: std::sync::atomic::AtomicBool::new(false),
            name: None,
        }
    }

    /// Requests the abort of this one task (it stops at its next `Pending`). This is neither a
    /// failure nor a cancel of the group.
    pub fn abort(&self) {
        if let Some(join) = &self.join {
            self.aborted.store(true, Ordering::Relaxed);
            join.abort();
        }
    }

    /// Waits for the task and says how it ended: [`TaskEnd::Completed`] with its value, or why
    /// there is none (failed, panicked, cancelled, never started, aborted). Awaiting the handle
    /// itself gives the same value as `Option<T>`.
    ///
    /// ```
    /// use cancel_scope::{CancelScope, TaskEnd};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let _ = scope
    ///     .run(async move {
    ///         let h = tg.spawn(std::future::pending::<()>());
    ///         h.abort();
    ///         assert_eq!(h.outcome().await, TaskEnd::Aborted);
    ///         Ok(())
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn outcome(mut self) -> TaskEnd<T> {
        std::future::poll_fn(|cx| self.poll_end(cx)).await
    }

    /// Polls the task to its end.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<TaskEnd<T>> {
        let Some(join) = self.join.as_mut() else {
            return Poll::Ready(self.end.unwrap_or(Ended::NotStarted).end());
        };
        let result = std::task::ready!(Pin::new(join).poll(cx));
        // Polling a finished tokio `JoinHandle` again panics; a finished handle resolves to
        // its end again, without a value.
        self.join = None;
        let ended = match result {
            Ok(Ok(value)) => {
                self.end = Some(Ended::Taken);
                return Poll::Ready(TaskEnd::Completed(value));
            }
            Ok(Err(ended)) => ended,
            Err(error) if error.is_panic() => Ended::Panicked,
            Err(_) if self.aborted.load(Ordering::Relaxed) => Ended::Aborted,
            Err(_) => Ended::Cancelled,
        };
        self.end = Some(ended);
        Poll::Ready(ended.end())
    }

    /// The task's name, if it was spawned through [`TaskGroup::named`](crate::TaskGroup::named).
    ///
    /// ```
    /// # use cancel_scope::CancelScope;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// assert_eq!(tg.named("poll feed").spawn(async {}).name(), Some("poll feed"));
    /// assert_eq!(tg.spawn(async {}).name(), None);
    /// # scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `true` once the task has ended (or if it never started).
    ///
    /// This is tokio's own flag: on the multi-thread runtime it may turn `true` a moment after
    /// the scope returned, since tokio sets it after the task's future was dropped.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_end(cx).map(TaskEnd::value)
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        let (Some(mut join), Some(detach)) = (self.join.take(), self.detach.take()) else {
            return;
        };
        if !detach.detach() {
            // Not delivered: the task drops the value itself (or has none).
            return;
        }
        // Delivered: tokio stores it right after the task's poll returned. Take it out and
        // drop it here, in the caller's scope, so that its destructor (and a panic in it) is
        // nobody else's.
        while !join.is_finished() {
            std::thread::yield_now();
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut unconstrained = tokio::task::unconstrained(&mut join);
        if let Poll::Ready(output) = Pin::new(&mut unconstrained).poll(&mut cx) {
            drop(output);
        }
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("name", &self.name.as_deref())
            .field("id", &self.join.as_ref().map(JoinHandle::id))
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

// `JoinHandle` is unwind safe; `T` is only ever moved out whole.
impl<T> UnwindSafe for TaskHandle<T> {}
