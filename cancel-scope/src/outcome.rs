//! What a scope ends with: [`Outcome`], [`CancelReason`] and the [`ScopeResult`] alias.

use std::fmt;

use crate::core::Finished;
use crate::{BoxError, GroupError};

/// What an awaited scope returns: its outcome, or every error that happened in it.
///
/// `Ok(Outcome::Completed(v))` when the group was never cancelled and nothing failed,
/// `Ok(Outcome::Cancelled(reason))` when it was cancelled and nothing failed, and
/// `Err(GroupError)` when the body or a task returned an error (see the crate docs, "Outcome rules").
pub type ScopeResult<T, E = BoxError> = Result<Outcome<T>, GroupError<E>>;

/// How a scope that did not fail ended.
///
/// Cancellation is never an error: a cancelled scope returns `Ok(Outcome::Cancelled(reason))`,
/// with the *first* cause of the cancel.
///
/// ```
/// use cancel_scope::{CancelReason, Outcome};
///
/// let done: Outcome<u32> = Outcome::Completed(7);
/// assert_eq!(done.completed(), Some(7));
///
/// let stopped: Outcome<u32> = Outcome::Cancelled(CancelReason::Deadline);
/// assert!(stopped.is_cancelled());
/// assert_eq!(stopped.reason(), Some(CancelReason::Deadline));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome<T> {
    /// The group was never cancelled; the body's value.
    Completed(T),
    /// The group was cancelled (for any reason but a failure) and nothing failed.
    Cancelled(CancelReason),
}

impl<T> Outcome<T> {
    /// The body's value if the scope completed, `None` if it was cancelled.
    #[must_use]
    pub fn completed(self) -> Option<T> {
        match self {
            Outcome::Completed(value) => Some(value),
            Outcome::Cancelled(_) => None,
        }
    }

    /// `true` if the scope was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Outcome::Cancelled(_))
    }

    /// `true` if the scope completed.
    #[must_use]
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed(_))
    }

    /// Why the scope was cancelled, or `None` if it completed.
    #[must_use]
    pub fn reason(&self) -> Option<CancelReason> {
        match self {
            Outcome::Completed(_) => None,
            Outcome::Cancelled(reason) => Some(*reason),
        }
    }

    /// Maps the completed value, keeping a cancellation as it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Completed(value) => Outcome::Completed(f(value)),
            Outcome::Cancelled(reason) => Outcome::Cancelled(reason),
        }
    }
}

/// Why a group was cancelled. Only the first cause is recorded.
///
/// ```
/// use cancel_scope::{CancelReason, CancelScope, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let out = scope
///     .run(async move {
///         tg.cancel();
///         std::future::pending::<()>().await;
///         Ok(())
///     })
///     .await;
/// assert!(matches!(out, Ok(Outcome::Cancelled(CancelReason::Requested))));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`TaskGroup::cancel`](crate::TaskGroup::cancel) or [`cancel_group`](crate::cancel_group) was
    /// called. Travels up to linked parents (they record [`Child`](Self::Child)).
    Requested,
    /// The scope's `timeout` or `deadline` passed. Does not travel up.
    Deadline,
    /// A linked parent was cancelled. Does not travel up.
    Parent,
    /// A linked child was cancelled by request (or by its own child). Travels up.
    Child,
    /// The body or a task returned an error or panicked. Does not travel up.
    Failed,
    /// The scope was dropped before it finished. Does not travel up.
    Dropped,
    /// A task of a [`race`](crate::CancelScope::race) succeeded: the other tasks are cancelled.
    /// Does not travel up (linked children see [`Parent`](Self::Parent)). A race that was won
    /// returns `Completed` with the winner's value, so this reason is seen by the tasks
    /// ([`TaskGroup::cancel_reason`](crate::TaskGroup::cancel_reason)) and by linked children.
    RaceWon,
    /// A signal passed to [`CancelScope::cancel_on`](crate::CancelScope::cancel_on) resolved.
    /// Does not travel up.
    Signal,
}

impl CancelReason {
    /// Whether a cancel for this reason is passed on to linked parents (as [`Child`](Self::Child)).
    pub(crate) fn travels_up(self) -> bool {
        matches!(self, CancelReason::Requested | CancelReason::Child)
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            CancelReason::Requested => 1,
            CancelReason::Deadline => 2,
            CancelReason::Parent => 3,
            CancelReason::Child => 4,
            CancelReason::Failed => 5,
            CancelReason::Dropped => 6,
            CancelReason::RaceWon => 7,
            CancelReason::Signal => 8,
        }
    }

    pub(crate) fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => CancelReason::Requested,
            2 => CancelReason::Deadline,
            3 => CancelReason::Parent,
            4 => CancelReason::Child,
            5 => CancelReason::Failed,
            6 => CancelReason::Dropped,
            7 => CancelReason::RaceWon,
            8 => CancelReason::Signal,
            _ => return None,
        })
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelReason::Requested => "cancel requested",
            CancelReason::Deadline => "deadline passed",
            CancelReason::Parent => "linked parent cancelled",
            CancelReason::Child => "linked child cancelled",
            CancelReason::Failed => "a task or the body failed",
            CancelReason::Dropped => "scope dropped before it finished",
            CancelReason::RaceWon => "a task won the race",
            CancelReason::Signal => "a cancel_on signal resolved",
        })
    }
}

/// Applies the outcome rules to a finished scope: the first panic is resumed; else every error
/// makes an `Err`; else a cancel gives `Cancelled` with the first cause; else the body's value.
pub(crate) fn decide<T, E: 'static>(finished: Finished, value: Option<T>) -> ScopeResult<T, E> {
    let Finished {
        reason,
        errors,
        panic,
        names,
    } = finished;
    if let Some(payload) = panic {
        // Dropped with the unwinding of the first panic: a panic in their destructors is a
        // later panic and must not replace it.
        crate::core::failures::drop_discarded(errors);
        crate::core::failures::drop_discarded(value);
        std::panic::resume_unwind(payload);
    }
    if let Some(errors) = errors {
        if let Ok(errors) = errors.downcast::<Vec<E>>() {
            return Err(GroupError::new(*errors).with_names(names));
        }
    }
    match (reason, value) {
        (Some(reason), _) => Ok(Outcome::Cancelled(reason)),
        (None, Some(value)) => Ok(Outcome::Completed(value)),
        // The body ended without a value only by an error, a panic or a cancel, all handled
        // above; kept total rather than panicking.
        (None, None) => Ok(Outcome::Cancelled(CancelReason::Failed)),
    }
}
