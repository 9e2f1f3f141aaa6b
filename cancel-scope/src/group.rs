//! [`TaskGroup`], the handle through which tasks are spawned into a scope and the scope is
//! cancelled, and [`cancel_group`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::TaskHandle;
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::grace::Shield;
use crate::core::limit::Admission;
use crate::delivery::{Delivery, Detach};
use crate::task::{TaskFuture, TaskOutput};
use crate::task_end::Ended;
use crate::{CancelReason, SpawnError};

/// A handle to the task group of a [`CancelScope`](crate::CancelScope): spawn tasks into it,
/// cancel it, watch it.
///
/// `Clone + Send + Sync + 'static`: clone it into tasks so they can spawn siblings or cancel
/// their own group. A handle that outlives its scope is harmless: spawns are refused and
/// cancels do nothing.
///
/// ```
/// use std::time::Duration;
/// use cancel_scope::{cancel_group, CancelReason, CancelScope, Outcome};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let out = scope
///     .run(async move {
///         for secs in 1..=4 {
///             tg.spawn(tokio::time::sleep(Duration::from_secs(secs)));
///         }
///         cancel_group(&tg); // stops every task; the scope ends without an error
///         Ok(())
///     })
///     .await;
/// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
/// # }
/// ```
pub struct TaskGroup<E = crate::BoxError> {
    pub(crate) core: Arc<Core>,
    _error: PhantomData<fn() -> E>,
}

impl<E> Clone for TaskGroup<E> {
    fn clone(&self) -> Self {
        TaskGroup {
            core: self.core.clone(),
            _error: PhantomData,
        }
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    pub(crate) fn from_core(core: Arc<Core>) -> Self {
        TaskGroup {
            core,
            _error: PhantomData,
        }
    }

    /// Spawns `future` as a task of the group and returns its handle.
    ///
    /// The task runs on the group's runtime, in parallel with the body. Its output is `()` or
    /// `Result<T, E>` with the group's own `E`: an `Err` cancels the group (reason
    /// [`Failed`](CancelReason::Failed)) and is reported by the scope; a panic cancels the group
    /// and is resumed by the scope once every task stopped.
    ///
    /// If the group was cancelled or has finished, the future is dropped unstarted and the
    /// handle resolves to `None` (use [`try_spawn`](Self::try_spawn) to get it back).
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current (use `try_spawn` to get an
    /// error instead).
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let out = scope
    ///     .run(async move {
    ///         let n = tg.spawn(async {
    ///             let n: u32 = "42".parse()?; // `?` into the group's error type
    ///             Ok(n)
    ///         });
    ///         Ok(n.await)
    ///     })
    ///     .await?;
    /// assert_eq!(out.completed(), Some(Some(42)));
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> TaskHandle<<F::Output as TaskOutput<E>>::Value>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        match self.spawn_inner(future, Shield::Unshielded) {
            Ok(handle) => handle,
            Err(err) if err.is_closed() => TaskHandle::unstarted(),
            Err(_) => no_runtime(),
        }
    }

    /// Like [`spawn`](Self::spawn), but gives the future back if it was not started.
    ///
    /// # Errors
    ///
    /// A [`SpawnError`] holding the future, unstarted, if the group was cancelled or has
    /// finished ([`SpawnError::is_closed`]) or if no tokio runtime could be found
    /// ([`SpawnError::is_no_runtime`]).
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// tg.cancel();
    /// let rejected = tg.try_spawn(async {}).unwrap_err();
    /// assert!(rejected.is_closed());
    /// # drop(scope);
    /// # }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn try_spawn<F>(
        &self,
        future: F,
    ) -> Result<TaskHandle<<F::Output as TaskOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        self.spawn_inner(future, Shield::Unshielded)
    }

    /// Spawns a task that cancellation does not abort: neither a cancel of the group (or of a
    /// linked parent) nor the end of a grace period stops it. It can observe the cancel through
    /// [`cancelled`](Self::cancelled); the scope still waits for it. Only dropping the scope
    /// aborts it.
    ///
    /// Like `spawn`, it is not started once the group is cancelled or finished.
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let (tg2, flushed2) = (tg.clone(), flushed.clone());
    /// tg.spawn_shielded(async move {
    ///     tg2.cancelled().await; // sees the cancel...
    ///     tokio::task::yield_now().await; // ...and still finishes its work
    ///     flushed2.store(true, Ordering::SeqCst);
    /// });
    /// tg.cancel();
    /// let out = scope.run(async { Ok(()) }).await.unwrap();
    /// assert!(out.is_cancelled());
    /// assert!(flushed.load(Ordering::SeqCst));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_shielded<F>(&self, future: F) -> TaskHandle<<F::Output as TaskOutput<E>>::Value>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        match self.spawn_inner(future, Shield::Shielded) {
            Ok(handle) => handle,
            Err(err) if err.is_closed() => TaskHandle::unstarted(),
            Err(_) => no_runtime(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn spawn_inner<F>(
        &self,
        future: F,
        shield: Shield,
    ) -> Result<TaskHandle<<F::Output as TaskOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        self.spawn_inner_named(future, shield, None)
    }

    /// The one spawn path: reserve a registry entry (or a queue ticket), hand the wrapped
    /// future to tokio, register its abort handle. `name` only names the `tracing` span.
    #[allow(clippy::type_complexity)]
    pub(crate) fn spawn_inner_named<F>(
        &self,
        future: F,
        shield: Shield,
        name: impl Into<Option<crate::member::names::TaskName>>,
    ) -> Result<TaskHandle<<F::Output as TaskOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        let name: Option<crate::member::names::TaskName> = name.into();
        // The captured runtime is borrowed, not cloned: the common path costs no refcount.
        let current;
        let runtime = match self.core.runtime.get() {
            Some(runtime) => runtime,
            None => match Handle::try_current() {
                Ok(handle) => {
                    current = handle;
                    &current
                }
                Err(_) => return Err(SpawnError::no_runtime(future)),
            },
        };
        let Some((key, admission)) = self.core.reserve(shield) else {
            return Err(SpawnError::closed(future));
        };
        // Only values with a destructor need the hand-off agreement (see `Detach`); for the
        // others the wrapper carries nothing extra.
        let span_name = name.as_deref();
        let (join, detach) = if std::mem::needs_drop::<<F::Output as TaskOutput<E>>::Value>() {
            let detach = Detach::new();
            let join = self.launch(runtime, future, key, admission, detach.clone(), span_name);
            (join, Some(detach))
        } else {
            (
                self.launch(runtime, future, key, admission, (), span_name),
                None,
            )
        };
        self.core.register(key, join.abort_handle());
        Ok(TaskHandle::spawned(join, detach))
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// Hands the wrapped future to tokio; a limited group's tasks carry their admission.
    fn launch<F, D>(
        &self,
        runtime: &Handle,
        future: F,
        key: usize,
        admission: Admission,
        delivery: D,
        name: Option<&str>,
    ) -> JoinHandle<Result<<F::Output as TaskOutput<E>>::Value, Ended>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        D: Delivery,
    {
        let core = self.core.clone();
        match admission {
            Admission::Unlimited => runtime.spawn(crate::trace::task(
                &self.core,
                name,
                TaskFuture::<F, E, (), D>::new(future, core, key, (), delivery),
            )),
            gate => runtime.spawn(crate::trace::task(
                &self.core,
                name,
                TaskFuture::<F, E, Admission, D>::new(future, core, key, gate, delivery),
            )),
        }
    }
}

impl<E> TaskGroup<E> {
    /// Cancels the group: marks it cancelled (reason [`Requested`](CancelReason::Requested),
    /// unless it already was) and requests the abort of every task before it returns, without
    /// waiting. The body is dropped the next time it returns `Pending`; the scope then returns
    /// `Ok(Outcome::Cancelled(..))`, never an error.
    ///
    /// Immediate, idempotent, synchronous, callable from any thread or task; does nothing once
    /// the group finished. Linked parents are cancelled too (reason
    /// [`Child`](CancelReason::Child)).
    ///
    /// # Panics
    ///
    /// Never by itself. The wakers it wakes are foreign code: if one panics, every group the
    /// cancel reaches is still marked and every other waker woken, and then that panic goes on
    /// to the caller (a panic is never swallowed).
    pub fn cancel(&self) {
        cancel(&self.core, CancelReason::Requested);
    }

    /// `true` once the group was cancelled (one atomic load). Stays `true`.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.core.is_cancelled()
    }

    /// Why the group was cancelled (the first cause), or `None` if it was not.
    #[must_use]
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.core.reason()
    }

    /// A future that resolves once the group is cancelled, at once if it already is
    /// (level-triggered). Never resolves if the group finished without being cancelled.
    ///
    /// It owns a reference to the group, so it can be moved into a task or a `select!`.
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let watcher = tg.clone();
    /// tg.spawn(async move {
    ///     watcher.cancelled().await;
    ///     println!("cancelled: {:?}", watcher.cancel_reason());
    /// });
    /// tg.cancel();
    /// # let _ = scope.run(async { Ok(()) }).await;
    /// # }
    /// ```
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        self.core.clone().cancelled()
    }

    /// Number of tasks alive now: running, or queued under [`limit`](crate::CancelScope::limit).
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// `true` if no task is alive.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cancels `tg`'s group; the same as [`TaskGroup::cancel`], named after the Python library's
/// `cancel_group(tg)`.
///
/// ```
/// use cancel_scope::{cancel_group, CancelScope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// cancel_group(&tg);
/// assert!(tg.is_cancelled());
/// # drop(scope);
/// # }
/// ```
pub fn cancel_group<E>(tg: &TaskGroup<E>) {
    tg.cancel();
}

#[track_caller]
pub(crate) fn no_runtime() -> ! {
    panic!(
        "cancel_scope: no tokio runtime to spawn on: the task group captured none when it was \
         created and none is current here; create the scope inside a runtime, or use \
         `TaskGroup::try_spawn` to get the future back"
    )
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("cancel_reason", &self.core.reason())
            .field("len", &self.core.len())
            .field("spawned", &self.core.spawned())
            .finish()
    }
}

// The group's state is behind a mutex that no user code runs under, so it stays consistent
// across a panic.
impl<E> UnwindSafe for TaskGroup<E> {}
impl<E> RefUnwindSafe for TaskGroup<E> {}
