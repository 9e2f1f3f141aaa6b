//! [`CancelScope`], the builder of a scope, and its `run` future: the body runs in the caller's
//! task while the group's tasks run on the runtime; `run` returns once all of them are done.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::{Core, handover, links};
#[allow(unused_imports)] // rustdoc links
use crate::{BoxError, CancelReason, ScopeResult, TaskGroup};

/// The builder of a cancel scope: a task group, its options, and the body that runs with it.
///
/// `CancelScope::new()` gives a group whose error type is [`BoxError`];
/// `CancelScope::<E>::with_error()` any other `E: Send + 'static`. Options are set with builder
/// methods; [`group`](Self::group) hands out the group's handle (tasks spawned before `run` start
/// at once); [`run`](Self::run) runs the body and waits for every task.
///
/// A scope dropped without being run cancels its group (reason
/// [`Dropped`](CancelReason::Dropped)) and aborts the tasks already spawned.
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{CancelScope, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new().timeout(Duration::from_secs(5));
/// let tg = scope.group();
/// let out = scope
///     .run(async move {
///         let a = tg.spawn(async { Ok(20) });
///         let b = tg.spawn(async { Ok(22) });
///         Ok(a.await.unwrap_or(0) + b.await.unwrap_or(0))
///     })
///     .await;
/// assert_eq!(out.unwrap(), Outcome::Completed(42));
/// # }
/// ```
#[must_use = "a `CancelScope` does nothing unless `run`; dropping it cancels its group"]
pub struct CancelScope<E = BoxError> {
    guard: ScopeGuard,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// `cancel_on` signals (see `signal.rs`), boxed on first use so that a scope without any
    /// stays small.
    pub(crate) signals: crate::signal::Signals,
    _error: PhantomData<fn() -> E>,
}

/// Cancels and aborts the group if the scope is dropped before it finished, and hands its live
/// tasks over to the scope it ran in.
///
/// It owns the scope's reference to its group, and lends it to the thread-local current scope
/// while the body (or a local task, or a discarded value's destructor) runs
/// ([`enter`](Self::enter)): the `run` future keeps no second reference, so a scope costs no
/// reference-count traffic for its context.
pub(crate) struct ScopeGuard {
    /// The group; `None` only while [`enter`](Self::enter) lent it out.
    slot: Option<Arc<Core>>,
    /// The scope whose body or task was running when `run` was first polled (before that, when
    /// the scope was created): the target of a hand-over.
    pub(crate) enclosing: Option<Arc<Core>>,
    /// Cleared once the scope finished, so that a normal end costs no extra lock.
    pub(crate) armed: bool,
}

impl ScopeGuard {
    /// The scope's group.
    ///
    /// # Panics
    ///
    /// Only inside [`enter`](Self::enter)'s closure, which cannot reach the guard (it is
    /// borrowed mutably for the call).
    #[inline]
    pub(crate) fn core(&self) -> &Arc<Core> {
        match &self.slot {
            Some(core) => core,
            None => unreachable!("the group is lent out only during `enter`"),
        }
    }

    /// Runs `f` in the scope's context: the group is the thread's current scope meanwhile (see
    /// [`handover::enter`]), and back in the guard afterwards, even if `f` panics.
    #[inline]
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        handover::enter(&mut self.slot, f)
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Some(core) = &self.slot {
                core.drop_scope(self.enclosing.as_ref());
            }
        }
    }
}

impl CancelScope<BoxError> {
    /// A scope whose group's error type is [`BoxError`].
    ///
    /// Captures the current tokio runtime, if any (see the crate docs, "Which runtime").
    pub fn new() -> Self {
        Self::with_error()
    }
}

impl Default for CancelScope<BoxError> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> CancelScope<E> {
    /// A scope whose group's error type is `E`: `CancelScope::<std::io::Error>::with_error()`.
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let out = CancelScope::<std::io::Error>::with_error()
    ///     .run(async { Err(std::io::Error::other("disk full")) })
    ///     .await
    ///     .map(|_: cancel_scope::Outcome<()>| ());
    /// assert_eq!(out.unwrap_err().first().to_string(), "disk full");
    /// # }
    /// ```
    pub fn with_error() -> Self {
        let core = Core::new();
        // Looked up again when `run` is first polled; until then (a scope dropped before it
        // ran), the scope it was created in waits for its tasks.
        let enclosing = handover::current();
        if enclosing.is_some() {
            core.members.set_enclosing(enclosing.as_ref());
        }
        CancelScope {
            guard: ScopeGuard {
                slot: Some(core),
                enclosing,
                armed: true,
            },
            timeout: None,
            deadline: None,
            signals: crate::signal::Signals::default(),
            _error: PhantomData,
        }
    }

    /// Links this scope to `parent`'s group (its error type is free): when the parent is
    /// cancelled, this scope is cancelled (reason [`Parent`](CancelReason::Parent)); when this
    /// scope is cancelled by request or by a linked child of its own, the parent is cancelled
    /// (reason [`Child`](CancelReason::Child)). May be called several times, for several parents.
    ///
    /// Takes effect when called. Linking to a parent that is cancelled but still running cancels
    /// this scope at once; linking to a finished parent has no effect. If this scope was already
    /// cancelled by request, the link passes that on to the parent at once.
    ///
    /// ```
    /// use cancel_scope::{CancelReason, CancelScope, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let outer = CancelScope::new();
    /// let outer_tg = outer.group();
    /// let out = outer
    ///     .run(async {
    ///         let inner = CancelScope::new().parent(&outer_tg);
    ///         let inner_tg = inner.group();
    ///         let inner_out = inner.run(async move { inner_tg.cancel(); Ok(()) }).await;
    ///         assert_eq!(inner_out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    /// # }
    /// ```
    pub fn parent<E2>(self, parent: &TaskGroup<E2>) -> Self {
        links::link(self.guard.core(), &parent.core);
        self
    }

    /// Cancels the group (reason [`Deadline`](CancelReason::Deadline)) `timeout` after `run`
    /// is first polled. `Duration::ZERO` is a deadline already past: the body is not started.
    ///
    /// Uses tokio's clock (paused-clock tests work) and needs the runtime's time driver. If
    /// [`deadline`](Self::deadline) is set too, the earlier of the two applies; a timeout too
    /// large to represent means no timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::{CancelReason, CancelScope, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let out = CancelScope::new()
    ///     .timeout(Duration::from_secs(1))
    ///     .run(async {
    ///         tokio::time::sleep(Duration::from_secs(60)).await;
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Cancels the group (reason [`Deadline`](CancelReason::Deadline)) at `deadline`, on tokio's
    /// clock. A deadline already past when `run` starts cancels at once: the body is not started.
    /// If [`timeout`](Self::timeout) is set too, the earlier of the two applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::{CancelReason, CancelScope, Outcome};
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let at = Instant::now() + Duration::from_millis(10);
    /// let out = CancelScope::new()
    ///     .deadline(at)
    ///     .run(async { std::future::pending::<()>().await; Ok(()) })
    ///     .await;
    /// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    /// # }
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self.guard.core().members.set_deadline(Some(deadline));
        self
    }

    /// On cancel, gives tasks `grace` to finish before they are aborted: they see
    /// [`TaskGroup::cancelled`] resolve at once, may do async clean-up, and whatever still runs
    /// after `grace` is aborted. A task that ends in time counts with its result. The body is
    /// dropped at once regardless. Default: zero (abort at once). Needs tokio's time driver.
    ///
    /// The grace runs from the cancel. Its timer is driven by `run`: for a cancel before `run`
    /// starts, tasks still running are aborted as soon as `run` is polled if the grace has run
    /// out by then (or when the scope is dropped, if it never runs).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let scope = CancelScope::new().grace(Duration::from_secs(1));
    /// let tg = scope.group();
    /// let worker = tg.clone();
    /// let saved = tg.spawn(async move {
    ///     worker.cancelled().await;
    ///     tokio::time::sleep(Duration::from_millis(100)).await; // clean-up, within the grace
    ///     Ok::<_, BoxError>("saved")
    /// });
    /// tg.cancel();
    /// let _ = scope.run(async { Ok(()) }).await;
    /// assert_eq!(saved.await, Some("saved"));
    /// # }
    /// ```
    pub fn grace(self, grace: Duration) -> Self {
        self.guard.core().grace.set(grace);
        self
    }

    /// At most `limit` tasks of the group run at once; further spawns queue (without blocking
    /// the spawner) and start in spawn order as slots free. On cancel, queued tasks are dropped
    /// unstarted (their handles resolve to `None`), except shielded ones, which stay queued and
    /// run. [`TaskGroup::len`] counts queued tasks.
    ///
    /// It may be called again to change the limit; a raised limit starts queued tasks at once.
    ///
    /// # Panics
    ///
    /// If `limit` is 0, or if tasks were already spawned into the group (through
    /// [`group`](Self::group)) before any limit was set: set the limit first.
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new().limit(2);
    /// let tg = scope.group();
    /// for _ in 0..10 {
    ///     tg.spawn(async { tokio::task::yield_now().await });
    /// }
    /// assert_eq!(tg.len(), 10); // 2 running, 8 queued
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn limit(self, limit: usize) -> Self {
        assert!(
            limit > 0,
            "CancelScope::limit: the limit must be at least 1, got 0"
        );
        assert!(
            self.guard.core().set_limit(limit),
            "CancelScope::limit: tasks were already spawned into this group without a limit; \
             set the limit before the first spawn"
        );
        self
    }

    /// The handle of the scope's group; may be called any number of times, before `run`.
    #[must_use]
    /// Tasks spawned before `run` start at once and are waited for by `run`.
    pub fn group(&self) -> TaskGroup<E> {
        self.guard.core().runtime.capture();
        TaskGroup::from_core(self.guard.core().clone())
    }

    /// Runs `body` in the caller's task as the scope's body, and returns once the body is done
    /// and every task of the group has ended (their futures dropped). See the crate docs,
    /// "Outcome rules", for what it returns.
    ///
    /// The body need not be `Send` or `'static`: it may borrow locals. It is dropped the next
    /// time it returns `Pending` after the group was cancelled.
    ///
    /// # Panics
    ///
    /// Resumes the first panic of the body or of a task, with its original payload, once every
    /// task stopped. Panics if a timeout, deadline or grace is set and the runtime has no time
    /// driver.
    pub fn run<T, F>(self, body: F) -> impl Future<Output = ScopeResult<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let (guard, timeout, deadline, signals) = self.into_parts();
        crate::run::run((), guard, timeout, deadline, signals, body)
    }

    /// The parts `run` needs.
    pub(crate) fn into_parts(
        self,
    ) -> (
        ScopeGuard,
        Option<Duration>,
        Option<Instant>,
        crate::signal::Signals,
    ) {
        let CancelScope {
            guard,
            timeout,
            deadline,
            signals,
            _error,
        } = self;
        (guard, timeout, deadline, signals)
    }
}

impl<E> fmt::Debug for CancelScope<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("grace", &self.guard.core().grace.get())
            .field("cancel_reason", &self.guard.core().reason())
            .field("len", &self.guard.core().len())
            .field("signals", &self.signals.len())
            .finish()
    }
}
