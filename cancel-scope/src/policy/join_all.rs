//! [`CancelScope::join_all`] and [`join_all`]: every task's value, in input order.
//!
//! Each future runs as a task of the group, wrapped in [`member`], which moves its value into
//! the slot of its index as soon as it is ready: the output leaves tokio's task cell at once
//! (the task's handle is not kept), so a finished task holds no memory, and under `limit(n)` at
//! most `n` tasks run. The body counts the members still running and returns the values once
//! the last one ended. The slots are shared by the body and the members: if the group is
//! cancelled (a failure), the body is dropped and the values collected are dropped by the last
//! member to end, inside its task, so before the scope returns.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};

/// The values of the members, by index, and the count of members still running.
struct Joined<T> {
    slots: Mutex<Vec<Option<T>>>,
    /// Members not yet ended, plus one while the body is still taking futures.
    pending: AtomicUsize,
    /// Signalled (a stored permit) when `pending` reaches zero.
    done: Notify,
}

impl<T> Joined<T> {
    /// A new slot; its index.
    fn add(&self) -> usize {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.push(None);
        slots.len() - 1
    }

    /// One member (or the body's taking of futures) ended.
    fn ended(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }
}

/// Counts a member as ended when its future is dropped, however it ended.
struct Member<T>(Arc<Joined<T>>);

impl<T> Drop for Member<T> {
    fn drop(&mut self) {
        self.0.ended();
    }
}

impl<E: Send + 'static> CancelScope<E> {
    /// Runs every future of `futures` as a task of the group and returns their values **in
    /// input order**: `Ok(Outcome::Completed(values))` when every task succeeded.
    ///
    /// Fail-fast, like any scope: the first `Err` cancels the others, and the scope returns
    /// `Err(GroupError)` with every error. On a [`supervise`](Self::supervise)d builder no
    /// error cancels the others: every task runs to its end and every error is reported (a
    /// keep-going fan-out). A cancel from outside gives `Ok(Outcome::Cancelled(reason))` and
    /// discards the values already collected (see the crate docs, "Partial results under a
    /// deadline", to keep them).
    ///
    /// With [`limit(n)`](Self::limit) it is a bounded `map`: at most `n` tasks run at once, the
    /// others start in input order as slots free, and each value moves into the result as soon
    /// as its task finished: no finished task's output is held anywhere else.
    ///
    /// The futures are taken from the iterator inside the scope, as its body: an iterator that
    /// panics while yielding is a body panic (the tasks already spawned are cancelled and
    /// waited for, then the panic is resumed). An empty input gives `Completed(vec![])`.
    ///
    /// Should a task stop without a result and without a cancel or an error (the runtime
    /// shutting down), the scope returns `Ok(Outcome::Cancelled(CancelReason::Dropped))`.
    ///
    /// # Errors
    ///
    /// `Err(GroupError)` with every task's error, in order, if any task failed.
    ///
    /// # Panics
    ///
    /// Resumes the first panic of a task or of the iterator, like any scope.
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope, Outcome};
    ///
    /// async fn square(n: u64) -> Result<u64, BoxError> {
    ///     tokio::time::sleep(std::time::Duration::from_millis(10 - n)).await;
    ///     Ok(n * n)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let out = CancelScope::new().limit(3).join_all((1..=5).map(square)).await;
    /// assert_eq!(out.unwrap(), Outcome::Completed(vec![1, 4, 9, 16, 25]));
    /// # }
    /// ```
    pub fn join_all<T, F, I>(self, futures: I) -> impl Future<Output = ScopeResult<Vec<T>, E>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let tg = self.group();
        let run = self.run(async move {
            let joined = Arc::new(Joined {
                slots: Mutex::new(Vec::new()),
                pending: AtomicUsize::new(1),
                done: Notify::new(),
            });
            // Counts the taking of futures as one pending member, so that the body cannot see
            // zero before the last future was spawned (and still counts it if the iterator
            // panics).
            let taking = Member(joined.clone());
            for future in futures {
                let index = joined.add();
                tg.spawn(member(future, index, Member(joined.clone())));
            }
            drop(taking);
            while joined.pending.load(Ordering::Acquire) != 0 {
                joined.done.notified().await;
            }
            let slots =
                std::mem::take(&mut *joined.slots.lock().unwrap_or_else(PoisonError::into_inner));
            Ok(slots)
        });
        async move {
            match run.await {
                Ok(Outcome::Completed(slots)) => {
                    let len = slots.len();
                    let values: Vec<T> = slots.into_iter().flatten().collect();
                    if values.len() == len {
                        Ok(Outcome::Completed(values))
                    } else {
                        Ok(Outcome::Cancelled(CancelReason::Dropped))
                    }
                }
                Ok(Outcome::Cancelled(reason)) => Ok(Outcome::Cancelled(reason)),
                Err(errors) => Err(errors),
            }
        }
    }
}

/// Joins `futures` in a scope of the default builder (`CancelScope::new().join_all(futures)`);
/// see [`CancelScope::join_all`].
///
/// # Errors
///
/// `Err(GroupError)` with every task's error, in order, if any task failed.
///
/// # Panics
///
/// Resumes the first panic of a task or of the iterator.
///
/// ```
/// use cancel_scope::{BoxError, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let out = cancel_scope::join_all((1..=3).map(|n| async move { Ok::<_, BoxError>(n * 10) })).await;
/// assert_eq!(out.unwrap(), Outcome::Completed(vec![10, 20, 30]));
///
/// let out = cancel_scope::join_all((1..=3).map(|n| async move {
///     if n == 2 { Err::<u32, BoxError>("two".into()) } else { Ok(n) }
/// }))
/// .await;
/// assert_eq!(out.unwrap_err().first().to_string(), "two");
/// # }
/// ```
pub fn join_all<T, F, I>(futures: I) -> impl Future<Output = ScopeResult<Vec<T>, BoxError>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    CancelScope::new().join_all(futures)
}

/// One member: runs `future` and moves its value into its slot.
async fn member<T, E, F>(future: F, index: usize, member: Member<T>) -> Result<(), E>
where
    F: Future<Output = Result<T, E>>,
{
    let value = future.await?;
    let mut slots = member
        .0
        .slots
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Replaces `None`: no user code runs under the lock.
    slots[index] = Some(value);
    drop(slots);
    drop(member);
    Ok(())
}
