//! One task of a group: the wrapper future handed to tokio ([`TaskFuture`]) and the bound on
//! what a task may return ([`TaskOutput`]). The handle the spawner keeps is in `handle.rs`, the
//! hand-off of the value between them in `delivery.rs`.
//!
//! Per-task state stays small and outside the user's future where it can: the wrapper adds the
//! group pointer and the registry key (16 bytes); the abort handle lives in the group's registry.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::core::Core;
use crate::core::handover;
use crate::core::limit::{Admission, GateState};
use crate::delivery::{Delivery, deliver};
use crate::task_end::Ended;

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
    /// The value a successful task gives its [`TaskHandle`](crate::TaskHandle).
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
    /// On drop the user's future is dropped first (in `PinnedDrop`), and only then is the task
    /// removed from the registry, so an awaited scope returns only after every task's
    /// destructors ran.
    ///
    /// Layout (`repr(C)`): the wrapper's own fields come first, so they share the cache lines
    /// at the start of tokio's task cell (its header, which every poll reads anyway), and the
    /// user's future follows. Left to the compiler, they sat after the future: with a
    /// 256-byte future, every poll touched one more line of the cell (whole-process CPU time
    /// of 21 bursts of 100k yielding 256-byte tasks: 1,514 -> 1,427 ms; see BENCHMARKS.md).
    #[repr(C)]
    pub(crate) struct TaskFuture<F, E, G: Gate, D: Delivery> {
        core: Option<Arc<Core>>,
        key: usize,
        gate: G,
        delivery: D,
        _error: std::marker::PhantomData<fn() -> E>,
        #[pin]
        future: Option<F>,
    }

    impl<F, E, G: Gate, D: Delivery> PinnedDrop for TaskFuture<F, E, G, D> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            drop_future(this.future.as_mut(), this.core);
            if let Some(core) = this.core.take() {
                core.task_ended(*this.key, this.gate.admission());
            }
        }
    }
}

/// Drops a task's future in its group's context (the group is the thread's current scope
/// meanwhile, see [`handover::enter`]: a scope its destructor creates and drops unfinished is
/// handed over to the group), catching a panic in its destructor: that counts as a task panic.
fn drop_future<F>(mut future: Pin<&mut Option<F>>, core: &mut Option<Arc<Core>>) {
    if future.is_none() {
        return;
    }
    let mut release = move || catch_unwind(AssertUnwindSafe(|| future.set(None)));
    let dropped = if core.is_some() {
        handover::enter(core, release)
    } else {
        release()
    };
    if let (Err(payload), Some(core)) = (dropped, core.as_ref()) {
        core.record_panic(payload);
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
                drop_future(this.future.as_mut(), this.core);
                return Poll::Ready(Err(Ended::NotStarted));
            }
        }
        if this.future.is_none() {
            return Poll::Ready(Err(Ended::NotStarted));
        }
        let delivery = &*this.delivery;
        let mut future = this.future.as_mut();
        // Polled in the group's context; a future that completed is dropped right there, in
        // the same context (see `drop_future`), with its output delivered first.
        let polled = handover::enter(this.core, || {
            let polled = catch_unwind(AssertUnwindSafe(|| {
                // `None` cannot happen (checked above); it is treated as pending.
                match future.as_mut().as_pin_mut().map(|f| f.poll(cx)) {
                    None | Some(Poll::Pending) => Poll::Pending,
                    Some(Poll::Ready(output)) => {
                        Poll::Ready(deliver(output.into_result(), delivery))
                    }
                }
            }));
            match polled {
                Ok(Poll::Ready(output)) => {
                    // Taken before the future's destructor runs: a named task's name, left
                    // by its `Err` output in this same poll.
                    let name = if output.is_err() {
                        crate::member::names::take_pending()
                    } else {
                        None
                    };
                    let dropped = catch_unwind(AssertUnwindSafe(|| future.set(None)));
                    Ok(Poll::Ready((output, name, dropped)))
                }
                Ok(Poll::Pending) => Ok(Poll::Pending),
                Err(payload) => Err(payload),
            }
        });
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready((output, name, dropped))) => {
                let core = this.core.as_ref();
                if let (Err(payload), Some(core)) = (dropped, core) {
                    core.record_panic(payload);
                }
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
                if let Some(core) = this.core.as_ref() {
                    core.record_panic(payload);
                }
                drop_future(this.future.as_mut(), this.core);
                Poll::Ready(Err(Ended::Panicked))
            }
        }
    }
}
