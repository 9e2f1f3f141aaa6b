//! [`CancelScope::race`] and [`race`]: the first task to succeed wins and cancels the others.
//!
//! Each future runs as a task of the group, wrapped in [`contender`]: on `Ok(v)` it asks the
//! group for the win ([`Core::win_race`], which succeeds only for the first success before any
//! cancel), stores `v` in the race's slot if it won, and drops `v` inside the task otherwise.
//! The group's error policy is `Race` (see `core/policy.rs`): errors are kept without a cancel
//! until the win, and dropped from the win on.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::core::Core;
use crate::core::policy::ErrorPolicy;
use crate::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};

/// Where the winner leaves its value.
type Slot<T> = Arc<Mutex<Option<T>>>;

impl<E: Send + 'static> CancelScope<E> {
    /// Races `futures`: each one becomes a task of the group, and the first to return `Ok(v)`
    /// wins. The group is then cancelled with reason [`RaceWon`](CancelReason::RaceWon) (which
    /// does not travel up to linked parents; linked children see
    /// [`Parent`](CancelReason::Parent)), and the race returns `Ok(Outcome::Completed(v))` once
    /// every task ended.
    ///
    /// - A task's `Err` does not cancel the others: the race goes on.
    /// - Without a win, every error counts (rule 3): any error gives `Err(GroupError)` with every
    ///   error in order, also when a cancel from outside (deadline, parent, request) ended the
    ///   race. A cancel from outside with no error gives `Ok(Outcome::Cancelled(reason))`.
    /// - **Once a task has won, the errors of the losers are not errors of the race and are
    ///   dropped**, those before the win and those after it: the one exception to "every error
    ///   is kept".
    /// - A success counts as a win only if the group was not cancelled before it: after a
    ///   deadline (or another win) a late success is dropped, inside its task.
    /// - Under [`limit(n)`](Self::limit) at most `n` contenders run at once and the others start
    ///   in input order as slots free: a staggered or bounded race (see the crate docs, "Happy
    ///   eyeballs"). After the win, queued contenders are dropped unstarted.
    /// - `timeout`, `deadline`, `parent` and `grace` work as in any scope; a panic of a
    ///   contender cancels the group and is resumed once every task stopped (a winner's value
    ///   is then dropped with the unwinding, like the errors collected).
    /// - Should every contender stop without a result and without a cancel (the runtime
    ///   shutting down), the race returns `Ok(Outcome::Cancelled(CancelReason::Dropped))`.
    ///
    /// The futures are taken from the iterator inside the scope, as its body: an iterator that
    /// panics while yielding is a body panic (the contenders already spawned are cancelled and
    /// waited for, then the panic is resumed).
    ///
    /// # Errors
    ///
    /// `Err(GroupError)` with every contender's error, in order, when no contender won.
    ///
    /// # Panics
    ///
    /// If `futures` is empty: an empty race has no winner and no error to report. The panic is
    /// raised in the scope's body, so it is resumed when the race is awaited. Also resumes a
    /// contender's panic, like any scope.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::{BoxError, CancelScope, Outcome};
    ///
    /// async fn mirror(delay_ms: u64, name: &'static str) -> Result<&'static str, BoxError> {
    ///     tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    ///     if name == "broken" { Err("broken mirror".into()) } else { Ok(name) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let out = CancelScope::new()
    ///     .timeout(Duration::from_secs(5))
    ///     .race([mirror(10, "broken"), mirror(50, "eu"), mirror(90, "us")])
    ///     .await;
    /// assert_eq!(out.unwrap(), Outcome::Completed("eu")); // "broken"'s error is dropped
    /// # }
    /// ```
    pub fn race<T, F, I>(self, futures: I) -> impl Future<Output = ScopeResult<T, E>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let tg = self.group();
        tg.core.set_policy(ErrorPolicy::Race);
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let winner = slot.clone();
        async move {
            // Checked before the scope runs, so that an empty race panics even when the group
            // is cancelled (or its deadline past) before the body would have started.
            let mut futures = futures.into_iter().peekable();
            assert!(
                futures.peek().is_some(),
                "cancel_scope::race: no futures to race; an empty race has no winner and no \
                 error to report (check for an empty input before racing)"
            );
            let out = self
                .run(async move {
                    for future in futures {
                        tg.spawn(contender(future, tg.core.clone(), winner.clone()));
                    }
                    Ok(())
                })
                .await;
            decide(out, &slot)
        }
    }
}

/// Races `futures` in a scope of the default builder (`CancelScope::new().race(futures)`); see
/// [`CancelScope::race`].
///
/// # Errors
///
/// `Err(GroupError)` with every contender's error, in order, when no contender won.
///
/// # Panics
///
/// If `futures` is empty (when the race is awaited), or to resume a contender's panic.
///
/// ```
/// use cancel_scope::{BoxError, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let out = cancel_scope::race((0..3u32).map(|i| async move {
///     if i == 0 { Err::<u32, BoxError>("no route".into()) } else {
///         tokio::time::sleep(std::time::Duration::from_millis(u64::from(i))).await;
///         Ok(i)
///     }
/// }))
/// .await;
/// assert_eq!(out.unwrap(), Outcome::Completed(1));
/// # }
/// ```
pub fn race<T, F, I>(futures: I) -> impl Future<Output = ScopeResult<T, BoxError>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    CancelScope::new().race(futures)
}

/// One contender: runs `future`; on success, asks for the win and leaves its value in `slot`,
/// or drops it here, inside the task, if the race was already over.
async fn contender<T, E, F>(future: F, core: Arc<Core>, slot: Slot<T>) -> Result<(), E>
where
    F: Future<Output = Result<T, E>>,
{
    let value = future.await?;
    if core.win_race() {
        // Replaces `None`: no user code runs under the lock.
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    } else {
        drop(value);
    }
    Ok(())
}

/// The race's outcome from its scope's: a win becomes `Completed` with the winner's value.
fn decide<T, E>(out: ScopeResult<(), E>, slot: &Slot<T>) -> ScopeResult<T, E> {
    match out {
        Err(errors) => Err(errors),
        Ok(Outcome::Cancelled(CancelReason::RaceWon)) => {
            match slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                Some(value) => Ok(Outcome::Completed(value)),
                // The winner stores its value before its task ends, and the scope waits for it:
                // kept total rather than panicking.
                None => Ok(Outcome::Cancelled(CancelReason::RaceWon)),
            }
        }
        Ok(Outcome::Cancelled(reason)) => Ok(Outcome::Cancelled(reason)),
        Ok(Outcome::Completed(())) => Ok(Outcome::Cancelled(CancelReason::Dropped)),
    }
}
