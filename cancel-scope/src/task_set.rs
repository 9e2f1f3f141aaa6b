//! [`TaskSet`]: the results of a set of tasks in the order they finish, with bounded memory.
//!
//! A task spawned through a set is a task of the group like any other (counted, limited,
//! cancelled, waited for); its future is wrapped in a [`Member`] that, when the task ends,
//! pushes how it ended ([`TaskEnd`]) onto the set's queue and wakes the one waiting in
//! [`TaskSet::join_next`]. The task itself is freed at once (no `JoinHandle` is kept), so the set
//! holds only the ends not taken yet. How a task ended is seen by its wrapper: a value or an
//! `Err` when its future returns, a panic when the future is dropped in the middle of a poll
//! (or its destructor panics), a cancel or an abort when it is dropped between polls (told apart
//! by the group's state), and never started when it is dropped unpolled. The end is reported
//! once the user's future was dropped.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::core::Core;
use crate::{TaskEnd, TaskGroup, TaskOutput};

/// Tasks whose results are taken in the order they finish.
///
/// [`spawn`](Self::spawn) puts a future into a group as a task of that group;
/// [`join_next`](Self::join_next) gives the next task to end, as a [`TaskEnd`], or `None` once
/// every task spawned through the set was taken. Unlike tokio's `JoinSet`, a finished task
/// holds no memory but its [`TaskEnd`] while it waits to be taken, and the tasks stay members of
/// their group: the scope's rules apply to them (an `Err` is reported by the scope and, unless
/// the scope [`supervise`](crate::CancelScope::supervise)s, cancels the group).
///
/// Dropping the set detaches nothing: its tasks run on in their group, and their values are
/// dropped as they finish.
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{BoxError, CancelScope, TaskEnd, TaskSet};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let scope = CancelScope::new().supervise();
/// let tg = scope.group();
/// let out = scope
///     .run(async move {
///         let mut set = TaskSet::new();
///         for ms in [30u64, 10, 20] {
///             set.spawn(&tg, async move {
///                 tokio::time::sleep(Duration::from_millis(ms)).await;
///                 if ms == 20 { Err(BoxError::from("twenty")) } else { Ok(ms) }
///             });
///         }
///         let mut ends = Vec::new();
///         while let Some(end) = set.join_next().await {
///             ends.push(end);
///         }
///         assert_eq!(ends, [TaskEnd::Completed(10), TaskEnd::Failed, TaskEnd::Completed(30)]);
///         Ok(())
///     })
///     .await;
/// assert_eq!(out.unwrap_err().first().to_string(), "twenty"); // the scope reports the error
/// # }
/// ```
pub struct TaskSet<T> {
    shared: Arc<Mutex<Queue<T>>>,
}

/// The ends not taken yet, the tasks not ended yet, and the waiting `join_next`.
struct Queue<T> {
    ends: VecDeque<TaskEnd<T>>,
    /// Tasks spawned through the set whose end was not taken yet.
    pending: usize,
    waker: Option<Waker>,
    /// The set was dropped: ends are dropped as they come.
    closed: bool,
}

fn lock<T>(shared: &Mutex<Queue<T>>) -> MutexGuard<'_, Queue<T>> {
    // No user code runs under this lock.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Send + 'static> TaskSet<T> {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        TaskSet {
            shared: Arc::new(Mutex::new(Queue {
                ends: VecDeque::new(),
                pending: 0,
                waker: None,
                closed: false,
            })),
        }
    }

    /// Spawns `future` as a task of `group` (see [`TaskGroup::spawn`]); its end will be given by
    /// [`join_next`](Self::join_next). If the group is cancelled or finished, the future is
    /// dropped unstarted and its end is [`TaskEnd::NotStarted`].
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current, like `TaskGroup::spawn`.
    #[track_caller]
    pub fn spawn<E, F>(&mut self, group: &TaskGroup<E>, future: F)
    where
        E: Send + 'static,
        F: Future + Send + 'static,
        F::Output: TaskOutput<E, Value = T>,
    {
        lock(&self.shared).pending += 1;
        let member = Member {
            future: Some(future),
            queue: Some(self.shared.clone()),
            core: group.core.clone(),
            state: MemberState::Unpolled,
            end: None,
            _error: std::marker::PhantomData::<fn() -> E>,
        };
        // The handle is not kept: the member reports its end itself.
        drop(group.spawn(member));
    }

    /// The end of the next task of the set to end, in the order they end; `None` once every
    /// task spawned through the set was taken (at once, for an empty set).
    ///
    /// Cancel safe: an end is taken only when it is returned.
    pub async fn join_next(&mut self) -> Option<TaskEnd<T>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next end.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<TaskEnd<T>>> {
        // Cloned before the lock, and a replaced waker dropped after it: foreign code.
        let mut waker = Some(cx.waker().clone());
        let mut queue = lock(&self.shared);
        if let Some(end) = queue.ends.pop_front() {
            queue.pending -= 1;
            return Poll::Ready(Some(end));
        }
        if queue.pending == 0 {
            return Poll::Ready(None);
        }
        std::mem::swap(&mut queue.waker, &mut waker);
        drop(queue);
        drop(waker);
        Poll::Pending
    }

    /// Tasks spawned through the set whose end was not taken yet (running, queued, or ended
    /// and waiting in the set).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.shared).pending
    }

    /// `true` if [`join_next`](Self::join_next) would return `None` at once.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send + 'static> Default for TaskSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for TaskSet<T> {
    fn drop(&mut self) {
        let (ends, waker) = {
            let mut queue = lock(&self.shared);
            queue.closed = true;
            (std::mem::take(&mut queue.ends), queue.waker.take())
        };
        // Values dropped here, outside the lock.
        drop(ends);
        drop(waker);
    }
}

impl<T> fmt::Debug for TaskSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = lock(&self.shared);
        f.debug_struct("TaskSet")
            .field("len", &queue.pending)
            .field("ready", &queue.ends.len())
            .finish()
    }
}

/// Where a member's future stands, for telling how it ended when it is dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MemberState {
    Unpolled,
    /// Inside a poll of the future: dropped in this state, the poll panicked.
    Polling,
    Between,
}

pin_project_lite::pin_project! {
    /// A task of a set: the user's future, and where to report its end.
    ///
    /// The end is reported when the member is dropped, after the user's future was dropped:
    /// `join_next` gives a task's end only once its destructors ran.
    struct Member<F, T, E> {
        #[pin]
        future: Option<F>,
        queue: Option<Arc<Mutex<Queue<T>>>>,
        core: Arc<Core>,
        state: MemberState,
        // Set when the future completed: its value, or `Failed`.
        end: Option<TaskEnd<T>>,
        _error: std::marker::PhantomData<fn() -> E>,
    }

    impl<F, T, E> PinnedDrop for Member<F, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // The user's future first, catching a panic in its destructor: the end is reported
            // whatever happens (else `join_next` would wait forever), then the panic goes on to
            // the task's wrapper, which records it as a task panic.
            let mut future = this.future.as_mut();
            let dropped = catch_unwind(AssertUnwindSafe(|| future.set(None)));
            if let Some(queue) = this.queue.take() {
                let end = match (this.end.take(), *this.state, &dropped) {
                    (_, _, Err(_)) | (_, MemberState::Polling, _) => TaskEnd::Panicked,
                    (Some(end), _, _) => end,
                    (None, MemberState::Unpolled, _) => TaskEnd::NotStarted,
                    (None, _, _) if this.core.is_cancelled() => TaskEnd::Cancelled,
                    (None, _, _) => TaskEnd::Aborted,
                };
                report(&queue, end);
            }
            if let Err(payload) = dropped {
                resume_unwind(payload);
            }
        }
    }
}

/// Pushes a task's end and wakes `join_next`; drops it instead if the set is gone.
fn report<T>(queue: &Mutex<Queue<T>>, end: TaskEnd<T>) {
    let mut q = lock(queue);
    if q.closed {
        drop(q);
        drop(end);
        return;
    }
    q.ends.push_back(end);
    let waker = q.waker.take();
    drop(q);
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<F, T, E> Future for Member<F, T, E>
where
    F: Future,
    F::Output: TaskOutput<E, Value = T>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Ok(()));
        };
        *this.state = MemberState::Polling;
        let output = future.poll(cx);
        *this.state = MemberState::Between;
        let Poll::Ready(output) = output else {
            return Poll::Pending;
        };
        // Reported when the member is dropped, right after this (the task's wrapper drops it).
        match output.into_result() {
            Ok(value) => {
                *this.end = Some(TaskEnd::Completed(value));
                Poll::Ready(Ok(()))
            }
            Err(error) => {
                *this.end = Some(TaskEnd::Failed);
                Poll::Ready(Err(error))
            }
        }
    }
}
