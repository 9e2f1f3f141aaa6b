//! Task names: [`TaskGroup::named`] and its [`TaskBuilder`] (after tokio's
//! `task::Builder::name`), and how a name reaches the `GroupError`.
//!
//! A name costs nothing to tasks without one: an unnamed task is spawned exactly as before.
//! A named task's future is wrapped in [`Named`], which on an `Err` output leaves the name in a
//! thread-local slot that the group's error recording takes on the same thread, in the same
//! poll ([`take_pending`]); blocking and local members pass their name directly.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::TaskHandle;
use crate::core::grace::Shield;
use crate::task::TaskOutput;
use crate::{SpawnError, TaskGroup};

/// A task's name, shared by its span, its handle and its errors.
pub(crate) type TaskName = Arc<str>;

thread_local! {
    /// The name of the named task whose `Err` output is being recorded on this thread.
    static PENDING: RefCell<Option<TaskName>> = const { RefCell::new(None) };
}

/// Takes the name left by a named task's `Err` output on this thread, if any.
pub(crate) fn take_pending() -> Option<TaskName> {
    PENDING.try_with(|p| p.borrow_mut().take()).ok().flatten()
}

pin_project_lite::pin_project! {
    /// A named task's future: its output as a `Result`, with the name left for the error
    /// recording when it is an `Err`.
    pub(crate) struct Named<F, E> {
        #[pin]
        future: F,
        name: TaskName,
        _error: PhantomData<fn() -> E>,
    }
}

impl<F, E> Future for Named<F, E>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: Send + 'static,
{
    type Output = Result<<F::Output as TaskOutput<E>>::Value, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.future.poll(cx)).into_result();
        if out.is_err() {
            let name = this.name.clone();
            let _ = PENDING.try_with(|p| *p.borrow_mut() = Some(name));
        }
        Poll::Ready(out)
    }
}

/// Spawns one task of a group with options: a name (see [`TaskGroup::named`]).
///
/// The name shows in the task's `tracing` span (field `name`, feature `tracing`), in its
/// handle's `Debug` and [`TaskHandle::name`], and next to its errors in the scope's
/// [`GroupError`](crate::GroupError) ([`GroupError::named`](crate::GroupError::named), and its
/// `Display`).
///
/// ```
/// use cancel_scope::{BoxError, CancelScope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let err = scope
///     .run(async move {
///         tg.named("parse port").spawn(async {
///             let port: u16 = "80x".parse()?;
///             Ok::<_, BoxError>(port)
///         });
///         Ok(())
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.to_string(), "1 error in task group: [parse port] invalid digit found in string");
/// # }
/// ```
#[must_use = "a `TaskBuilder` spawns nothing until `spawn` (or another spawn method) is called"]
pub struct TaskBuilder<'g, E> {
    group: &'g TaskGroup<E>,
    name: TaskName,
}

impl<E> std::fmt::Debug for TaskBuilder<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &&*self.name)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// A builder that spawns one task named `name` (like tokio's `task::Builder::name`): the
    /// name is shown in its span and `Debug`, and next to its errors in the `GroupError`.
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let h = tg.named("heartbeat").spawn(async {});
    /// assert_eq!(h.name(), Some("heartbeat"));
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    pub fn named(&self, name: impl Into<Arc<str>>) -> TaskBuilder<'_, E> {
        TaskBuilder {
            group: self,
            name: name.into(),
        }
    }
}

impl<E: Send + 'static> TaskBuilder<'_, E> {
    /// [`TaskGroup::spawn`], named.
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current.
    ///
    /// ```
    /// # use cancel_scope::CancelScope;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// scope.group().named("tick").spawn(tokio::task::yield_now());
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> TaskHandle<<F::Output as TaskOutput<E>>::Value>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        self.spawn_with(future, Shield::Unshielded)
    }

    /// [`TaskGroup::spawn_shielded`], named.
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current.
    ///
    /// ```
    /// # use cancel_scope::CancelScope;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// scope.group().named("flush").spawn_shielded(async {});
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_shielded<F>(self, future: F) -> TaskHandle<<F::Output as TaskOutput<E>>::Value>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        self.spawn_with(future, Shield::Shielded)
    }

    /// [`TaskGroup::try_spawn`], named.
    ///
    /// # Errors
    ///
    /// As [`TaskGroup::try_spawn`]: the future back, unstarted.
    ///
    /// ```
    /// # use cancel_scope::CancelScope;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// tg.cancel();
    /// assert!(tg.named("late").try_spawn(async {}).unwrap_err().is_closed());
    /// # drop(scope);
    /// # }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn try_spawn<F>(
        self,
        future: F,
    ) -> Result<TaskHandle<<F::Output as TaskOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        let name = self.name.clone();
        let named = Named::<F, E> {
            future,
            name: self.name,
            _error: PhantomData,
        };
        match self
            .group
            .spawn_inner_named(named, Shield::Unshielded, name.clone())
        {
            Ok(mut handle) => {
                handle.name = Some(name);
                Ok(handle)
            }
            Err(err) => Err(err.map(|named| named.future)),
        }
    }

    /// [`TaskGroup::spawn_blocking`], named.
    ///
    /// # Panics
    ///
    /// If the group captured no tokio runtime and none is current.
    ///
    /// ```
    /// # use cancel_scope::CancelScope;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let h = scope.group().named("hash").spawn_blocking(|| ());
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// assert_eq!(h.await, Some(()));
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, O>(self, f: F) -> TaskHandle<O::Value>
    where
        F: FnOnce() -> O + Send + 'static,
        O: TaskOutput<E>,
    {
        match super::blocking::spawn_blocking_inner(self.group, f, Some(self.name)) {
            Ok(handle) => handle,
            Err(err) if err.is_closed() => TaskHandle::unstarted(),
            Err(_) => crate::group::no_runtime(),
        }
    }

    #[track_caller]
    fn spawn_with<F>(
        self,
        future: F,
        shield: Shield,
    ) -> TaskHandle<<F::Output as TaskOutput<E>>::Value>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
    {
        let name = self.name.clone();
        let named = Named::<F, E> {
            future,
            name: self.name,
            _error: PhantomData,
        };
        match self.group.spawn_inner_named(named, shield, name.clone()) {
            Ok(mut handle) => {
                handle.name = Some(name);
                handle
            }
            Err(err) if err.is_closed() => TaskHandle::unstarted(),
            Err(_) => crate::group::no_runtime(),
        }
    }
}
