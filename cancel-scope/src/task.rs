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
    pub(crate) struct TaskFuture<F, E, G: Gate> {
        #[pin]
        future: Option<F>,
        core: Option<Arc<Core>>,
        key: usize,
        gate: G,
        // Set for outputs with a destructor: see `detach`.
        detach: Option<Arc<Detach>>,
        _error: std::marker::PhantomData<fn() -> E>,
    }

    impl<F, E, G: Gate> PinnedDrop for TaskFuture<F, E, G> {
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

impl<F, E, G: Gate> TaskFuture<F, E, G> {
    pub(crate) fn new(
        future: F,
        core: Arc<Core>,
        key: usize,
        gate: G,
        detach: Option<Arc<Detach>>,
    ) -> Self {
        TaskFuture {
            future: Some(future),
            core: Some(core),
            key,
            gate,
            detach,
            _error: std::marker::PhantomData,
        }
    }
}

impl<F, E, G> Future for TaskFuture<F, E, G>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: Send + 'static,
    G: Gate,
{
    type Output = Option<<F::Output as TaskOutput<E>>::Value>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(core) = this.core.as_ref() else {
            return Poll::Ready(None);
        };
        match this.gate.poll_gate(core, *this.key, cx) {
            GateState::Admitted => {}
            GateState::Waiting => return Poll::Pending,
            GateState::Dropped => {
                let core = core.clone();
                drop_future(this.future.as_mut(), Some(&core));
                return Poll::Ready(None);
            }
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let detach = this.detach.as_deref();
        let polled = handover::enter(this.core, || {
            catch_unwind(AssertUnwindSafe(|| match future.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(output) => Poll::Ready(deliver(output.into_result(), detach)),
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
                    (Ok(value), _) => Poll::Ready(value),
                    (Err(error), Some(core)) => {
                        core.record_error_named(error, name);
                        Poll::Ready(None)
                    }
                    (Err(_), None) => Poll::Ready(None),
                }
            }
            Err(payload) => {
                // Recorded before the future is dropped: should its destructor panic too, the
                // poll's panic stays the first.
                if let Some(core) = core {
                    core.record_panic(payload);
                }
                drop_future(this.future.as_mut(), core);
                Poll::Ready(None)
            }
        }
    }
}

/// Whether the value of a task that completed goes to its handle: `Some(value)` if the handle
/// still wants it, else the value is dropped here, inside the task (still registered, with its
/// group current), so the scope waits for its destructor like for any task's.
pub(crate) fn deliver<T, E>(result: Result<T, E>, detach: Option<&Detach>) -> Result<Option<T>, E> {
    let value = result?;
    match detach {
        Some(detach) if !detach.deliver() => {
            drop(value);
            Ok(None)
        }
        _ => Ok(Some(value)),
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
    /// An agreement for an output of type `T`, if it has a destructor.
    pub(crate) fn for_output<T>() -> Option<Arc<Detach>> {
        std::mem::needs_drop::<T>().then(|| Arc::new(Detach(AtomicU8::new(ATTACHED))))
    }

    /// The task completed: `true` if the handle still wants the value.
    fn deliver(&self) -> bool {
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
/// cancelled, aborted or never started.
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
    join: Option<JoinHandle<Option<T>>>,
    detach: Option<Arc<Detach>>,
    /// The task's name ([`TaskGroup::named`](crate::TaskGroup::named)).
    pub(crate) name: Option<crate::member::names::TaskName>,
}

impl<T> TaskHandle<T> {
    pub(crate) fn spawned(join: JoinHandle<Option<T>>, detach: Option<Arc<Detach>>) -> Self {
        TaskHandle {
            join: Some(join),
            detach,
            name: None,
        }
    }

    /// A handle to a future that was never started: it resolves to `None` at once.
    pub(crate) fn unstarted() -> Self {
        TaskHandle {
            join: None,
            detach: None,
            name: None,
        }
    }

    /// Requests the abort of this one task (it stops at its next `Pending`). This is neither a
    /// failure nor a cancel of the group.
    pub fn abort(&self) {
        if let Some(join) = &self.join {
            join.abort();
        }
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
        let Some(join) = self.join.as_mut() else {
            return Poll::Ready(None);
        };
        let result = std::task::ready!(Pin::new(join).poll(cx));
        // Polling a finished tokio `JoinHandle` again panics; a finished handle resolves to `None`.
        self.join = None;
        Poll::Ready(result.ok().flatten())
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
