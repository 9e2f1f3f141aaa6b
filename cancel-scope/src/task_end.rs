//! [`TaskEnd`]: how a task ended, for [`TaskHandle::outcome`](crate::TaskHandle::outcome) and
//! [`TaskSet::join_next`](crate::TaskSet::join_next).
//!
//! A [`TaskHandle`](crate::TaskHandle) resolves to `Option<T>`: `None` says only that there is
//! no value. `TaskEnd` says why, without changing the handle's `Future` output.

/// How a task ended.
///
/// A failure is reported by the scope (in its `GroupError`) and a panic is resumed by the scope;
/// `TaskEnd` only tells that it happened to this task.
///
/// ```
/// use cancel_scope::{BoxError, CancelScope, TaskEnd};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new().supervise();
/// let tg = scope.group();
/// let _ = scope
///     .run(async move {
///         let ok = tg.spawn(async { Ok::<_, BoxError>(1) });
///         let bad = tg.spawn(async { Err::<u32, BoxError>("bad".into()) });
///         assert_eq!(ok.outcome().await, TaskEnd::Completed(1));
///         assert_eq!(bad.outcome().await, TaskEnd::Failed);
///         tg.cancel();
///         assert_eq!(tg.spawn(async {}).outcome().await, TaskEnd::NotStarted);
///         Ok(())
///     })
///     .await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskEnd<T> {
    /// The task completed with this value (`Ok(value)`, or `()`).
    Completed(T),
    /// The task returned `Err`; the error is in the scope's `GroupError`.
    Failed,
    /// The task panicked (or its future panicked while it was dropped); the scope resumes the
    /// first panic.
    Panicked,
    /// The task was stopped by a cancel of its group (or by the scope's drop).
    ///
    /// Through a [`TaskHandle`](crate::TaskHandle), this includes a task that had not run yet
    /// when the cancel's abort reached it (tokio drops it unpolled and cannot tell); a
    /// [`TaskSet`](crate::TaskSet) tells those apart as `NotStarted`.
    Cancelled,
    /// The task's future was never polled: the spawn was refused (the group was already
    /// cancelled or finished), or it was queued under `limit(n)` and dropped unstarted by a
    /// cancel. Through a `TaskHandle`, a queued task dropped by a cancel may also read
    /// `Cancelled` (see there); through a `TaskSet`, never-polled is always `NotStarted`.
    NotStarted,
    /// The task was stopped by [`TaskHandle::abort`](crate::TaskHandle::abort) (or by the
    /// runtime's shutdown, where that can be told apart from a cancel).
    Aborted,
}

impl<T> TaskEnd<T> {
    /// The value, if the task completed.
    #[must_use]
    pub fn value(self) -> Option<T> {
        match self {
            TaskEnd::Completed(value) => Some(value),
            _ => None,
        }
    }

    /// `true` if the task completed.
    #[must_use]
    pub fn is_completed(&self) -> bool {
        matches!(self, TaskEnd::Completed(_))
    }
}

/// Why a task's wrapper future ended without a value (what tokio's `JoinHandle` carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It returned `Err`.
    Failed,
    /// It panicked.
    Panicked,
    /// It never started.
    NotStarted,
    /// It completed, but its handle was gone: the value was dropped in the task.
    Detached,
    /// Seen by the handle: stopped by a cancel.
    Cancelled,
    /// Seen by the handle: stopped by `TaskHandle::abort`.
    Aborted,
    /// Seen by the handle: it completed and its value was already taken.
    Taken,
}

impl Ended {
    /// The public form. A detached task's end is never seen by anyone; a handle polled again
    /// after it gave its value has no value left to give and no other end to tell: it reports
    /// `NotStarted` (there is nothing more to run).
    pub(crate) fn end<T>(self) -> TaskEnd<T> {
        match self {
            Ended::Failed => TaskEnd::Failed,
            Ended::Panicked => TaskEnd::Panicked,
            Ended::Cancelled => TaskEnd::Cancelled,
            Ended::Aborted => TaskEnd::Aborted,
            Ended::NotStarted | Ended::Detached | Ended::Taken => TaskEnd::NotStarted,
        }
    }
}
