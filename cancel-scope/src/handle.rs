//! [`TaskHandle`]: what the spawner keeps of a task. A future of the task's value (`Some` if it
//! completed, `None` otherwise), [`TaskHandle::outcome`] for why there is none, `abort`, the
//! task's name; dropping it takes a delivered value out of tokio (see
//! [`Detach`](crate::delivery::Detach)).

use std::fmt;
use std::future::Future;
use std::panic::UnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::delivery::Detach;
use crate::task_end::{Ended, TaskEnd};

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
