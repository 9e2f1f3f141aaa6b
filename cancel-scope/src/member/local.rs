//! Local tasks: futures polled inside the scope's own `run` future, concurrently with the body,
//! never in parallel. They may borrow what outlives the scope expression and need not be `Send`
//! (with [`Locals::unsend`]); every rule of a task applies to them.
//!
//! Soundness comes from the types alone (no `unsafe`): a [`Locals<'a>`](Locals) owns its
//! futures, which may borrow for `'a`, so whatever they borrow outlives the `Locals`; the body
//! and the scope's `run` future only borrow the `Locals`, so both end before it is dropped; and
//! `run` drops every local future before it returns, or in its own `Drop` when it is dropped
//! unfinished. Sharing across threads follows from the stored futures: a `Locals::new()` stores
//! `Send` futures and is `Sync` (the `run` future stays `Send`); a `Locals::unsend()` stores any
//! future and is neither `Send` nor `Sync`, so it cannot leave the scope's task.
//!
//! The driver side (polling, cancelling, dropping) is [`driver`](super::local_driver).

use std::future::Future;
use std::marker::PhantomData;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use slab::Slab;
use tokio::sync::oneshot;

use super::local_driver::{Ready, TaskWake};
pub use super::local_kind::{Boxing, LocalKind, LocalOutput, SendOnly, Unsend};
pub use super::local_task::{LocalHandle, LocalTask};
use super::names::TaskName;
use crate::core::Core;
use crate::core::grace::Shield;
use crate::core::limit::Admission;
use crate::{BoxError, SpawnError};

/// Where a [`Locals`] stands.
pub(crate) enum Binding {
    /// Not yet passed to `run_with_locals`: spawns are refused.
    Unbound,
    /// Bound to this scope's group.
    Bound(Arc<Core>),
    /// Its scope finished or was dropped: spawns are refused.
    Closed,
}

/// One local task in its `Locals`.
pub(crate) struct Slot<B> {
    /// `None` while the driver polls it (taken out, no lock held).
    pub(crate) future: Option<B>,
    /// Its registry key in the group.
    pub(crate) key: usize,
    pub(crate) admission: Admission,
    pub(crate) waker: Waker,
    pub(crate) wake: Arc<TaskWake>,
    /// The task's span, entered while it is polled.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

pub(crate) struct Inner<B> {
    pub(crate) binding: Binding,
    pub(crate) slots: Slab<Slot<B>>,
}

/// The local tasks of one scope: spawn into it from the body (or from anything that can borrow
/// it), pass it to [`CancelScope::run_with_locals`](crate::CancelScope::run_with_locals), which
/// polls them in its own task.
///
/// A local task is a member of the group like any task: its `Err` fails the group, its panic is
/// resumed once everything stopped, a cancel drops it at its next `Pending` (after the grace
/// period, if one is set; it can watch [`TaskGroup::cancelled`](crate::TaskGroup::cancelled)),
/// it is counted by [`TaskGroup::len`](crate::TaskGroup::len) and held to
/// [`limit`](crate::CancelScope::limit), and the awaited scope returns only after every local
/// task was dropped. Unlike a task it runs in the scope's task (never in parallel with the body
/// or another local task) and may borrow anything declared before the `Locals`.
///
/// Local tasks are spawned by the body (or anything else that can borrow the `Locals`, such as
/// a `std::thread::scope` thread for a `Locals::new()`); a local task cannot spawn siblings
/// into its own `Locals` (it would have to borrow what owns it: rejected by the borrow
/// checker), it can hand work to the body through a channel, or spawn tasks with a
/// [`TaskGroup`](crate::TaskGroup).
///
/// Spawns are refused (the handle resolves to `None`; [`try_spawn`](Self::try_spawn) gives the
/// future back in a [`SpawnError`]) before the `Locals` is passed to `run_with_locals`, once the
/// group is cancelled, and once the scope finished. A `Locals` serves one scope.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use cancel_scope::{CancelScope, Locals, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = RefCell::new(Vec::new()); // declared before the `Locals`: local tasks may borrow it
/// let locals = Locals::unsend(); // `!Send` tasks allowed
/// let out = CancelScope::new()
///     .run_with_locals(&locals, async {
///         for i in 0..3 {
///             let seen = &seen;
///             locals.spawn(async move {
///                 let rc = Rc::new(i); // `!Send`, held across an await
///                 tokio::task::yield_now().await;
///                 seen.borrow_mut().push(*rc);
///             });
///         }
///         Ok(())
///     })
///     .await;
/// assert_eq!(out.unwrap(), Outcome::Completed(()));
/// drop(locals); // it borrows `seen` until it is gone
/// let mut seen = seen.into_inner();
/// seen.sort_unstable();
/// assert_eq!(seen, [0, 1, 2]);
/// # }
/// ```
///
/// A local task cannot borrow a local of the body, which dies before the `Locals` does:
///
/// ```compile_fail,E0597
/// # use cancel_scope::{CancelScope, Locals};
/// # async fn f() {
/// let locals = Locals::new();
/// let _ = CancelScope::new()
///     .run_with_locals(&locals, async {
///         let mine = vec![1, 2, 3];
///         locals.spawn(async { assert_eq!(mine.len(), 3) });
///         Ok(())
///     })
///     .await;
/// # }
/// ```
///
/// (error E0597: `mine` does not live long enough.) Nor can a `Locals` be reached from a
/// spawned task, which must be `'static`:
///
/// ```compile_fail,E0597
/// # use cancel_scope::{CancelScope, Locals};
/// # async fn f() {
/// let locals = Locals::new();
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let _ = scope
///     .run_with_locals(&locals, async {
///         let locals = &locals;
///         tg.spawn(async move { locals.spawn(async {}); });
///         Ok(())
///     })
///     .await;
/// # }
/// ```
///
/// (error E0597: `locals` does not live long enough ... argument requires that `locals` is
/// borrowed for `'static`.)
pub struct Locals<'a, E = BoxError, K: LocalKind<'a> = SendOnly> {
    pub(crate) inner: Mutex<Inner<K::Boxed>>,
    pub(crate) ready: Arc<Ready>,
    _error: PhantomData<fn() -> E>,
}

impl<E> Locals<'_, E, SendOnly> {
    /// A `Locals` for `Send` local tasks (they may still borrow): it is `Sync`, so the scope's
    /// `run` future stays `Send` whenever the body is.
    ///
    /// ```
    /// use cancel_scope::{CancelScope, Locals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let words = vec!["a", "bb", "ccc"];
    /// let locals = Locals::new();
    /// let out = CancelScope::new()
    ///     .run_with_locals(&locals, async {
    ///         let total = locals.spawn(async { Ok(words.iter().map(|w| w.len()).sum::<usize>()) });
    ///         Ok(total.await)
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap().completed(), Some(Some(6)));
    /// # }
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_kind()
    }
}

impl<E> Default for Locals<'_, E, SendOnly> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Locals<'_, E, Unsend> {
    /// A `Locals` for any local tasks, `!Send` ones included (an `Rc`, a `RefCell` borrow held
    /// across an await). It, and the scope's `run` future that borrows it, are then neither
    /// `Send` nor `Sync`: run the scope in a task that need not be `Send` (`LocalSet`, a
    /// current-thread `block_on`, or inside another scope's body).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use cancel_scope::{CancelScope, Locals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shared = Rc::new(5);
    /// let locals = Locals::unsend();
    /// let out = CancelScope::new()
    ///     .run_with_locals(&locals, async {
    ///         let h = locals.spawn({
    ///             let shared = shared.clone();
    ///             async move { Ok(*shared * 2) }
    ///         });
    ///         Ok(h.await)
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap().completed(), Some(Some(10)));
    /// # }
    /// ```
    #[must_use]
    pub fn unsend() -> Self {
        Self::with_kind()
    }
}

impl<'a, E, K: LocalKind<'a>> Locals<'a, E, K> {
    fn with_kind() -> Self {
        Locals {
            inner: Mutex::new(Inner {
                binding: Binding::Unbound,
                slots: Slab::new(),
            }),
            ready: Arc::new(Ready::default()),
            _error: PhantomData,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<K::Boxed>> {
        // No user code runs under this lock (futures are polled and dropped outside it).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `future` as a local task and returns its handle. Refused (the future is dropped
    /// unstarted and the handle resolves to `None`) before `run_with_locals`, after a cancel,
    /// or once the scope finished.
    ///
    /// ```
    /// use cancel_scope::{CancelScope, Locals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut total = 0;
    /// {
    ///     let total = &mut total;
    ///     let locals = Locals::new();
    ///     let out = CancelScope::new()
    ///         .run_with_locals(&locals, async {
    ///             locals.spawn(async move { *total += 1; });
    ///             Ok(())
    ///         })
    ///         .await;
    ///     assert!(out.is_ok());
    /// }
    /// assert_eq!(total, 1);
    /// # }
    /// ```
    pub fn spawn<F>(&self, future: F) -> LocalHandle<<F::Output as LocalOutput<E>>::Value>
    where
        F: Future + 'a,
        F::Output: LocalOutput<E>,
        <F::Output as LocalOutput<E>>::Value: 'a,
        E: Send + 'static,
        K: Boxing<'a, LocalTask<F, E, <F::Output as LocalOutput<E>>::Value>>,
    {
        self.spawn_named(future, None)
            .unwrap_or_else(|_| LocalHandle::unstarted())
    }

    /// Like [`spawn`](Self::spawn), but gives the future back if it was not started.
    ///
    /// # Errors
    ///
    /// A [`SpawnError`] holding the future if the `Locals` is not bound to a running scope
    /// yet, its group was cancelled, or its scope finished (all
    /// [`SpawnError::is_closed`]).
    ///
    /// ```
    /// use cancel_scope::Locals;
    ///
    /// let locals: Locals<'_> = Locals::new();
    /// // Not passed to `run_with_locals` yet: refused.
    /// assert!(locals.try_spawn(async {}).unwrap_err().is_closed());
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn try_spawn<F>(
        &self,
        future: F,
    ) -> Result<LocalHandle<<F::Output as LocalOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + 'a,
        F::Output: LocalOutput<E>,
        <F::Output as LocalOutput<E>>::Value: 'a,
        E: Send + 'static,
        K: Boxing<'a, LocalTask<F, E, <F::Output as LocalOutput<E>>::Value>>,
    {
        self.spawn_named(future, None)
    }

    /// Like [`spawn`](Self::spawn), with a name (see [`TaskGroup::named`](crate::TaskGroup::named)).
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope, Locals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let locals = Locals::new();
    /// let err = CancelScope::new()
    ///     .run_with_locals(&locals, async {
    ///         locals.spawn_as("checksum", async { Err::<(), BoxError>("mismatch".into()) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "1 error in task group: [checksum] mismatch");
    /// # }
    /// ```
    pub fn spawn_as<F>(
        &self,
        name: impl Into<Arc<str>>,
        future: F,
    ) -> LocalHandle<<F::Output as LocalOutput<E>>::Value>
    where
        F: Future + 'a,
        F::Output: LocalOutput<E>,
        <F::Output as LocalOutput<E>>::Value: 'a,
        E: Send + 'static,
        K: Boxing<'a, LocalTask<F, E, <F::Output as LocalOutput<E>>::Value>>,
    {
        self.spawn_named(future, Some(name.into()))
            .unwrap_or_else(|_| LocalHandle::unstarted())
    }

    #[allow(clippy::type_complexity)]
    fn spawn_named<F>(
        &self,
        future: F,
        name: Option<TaskName>,
    ) -> Result<LocalHandle<<F::Output as LocalOutput<E>>::Value>, SpawnError<F>>
    where
        F: Future + 'a,
        F::Output: LocalOutput<E>,
        <F::Output as LocalOutput<E>>::Value: 'a,
        E: Send + 'static,
        K: Boxing<'a, LocalTask<F, E, <F::Output as LocalOutput<E>>::Value>>,
    {
        let mut inner = self.lock();
        let Binding::Bound(core) = &inner.binding else {
            return Err(SpawnError::closed(future));
        };
        let Some((key, admission)) = core.reserve(Shield::Unshielded) else {
            return Err(SpawnError::closed(future));
        };
        let core = core.clone();
        #[cfg(feature = "tracing")]
        let span = crate::trace::task_span(&core, name.as_deref(), "local");
        let (tx, rx) = oneshot::channel();
        let task = LocalTask {
            future,
            core,
            name,
            tx: Some(tx),
            _error: PhantomData,
        };
        let entry = inner.slots.vacant_entry();
        let slot = entry.key();
        let wake = Arc::new(TaskWake::new(self.ready.clone(), slot));
        let self_wake = wake.clone();
        let waker = Waker::from(wake.clone());
        entry.insert(Slot {
            future: Some(K::boxed(task)),
            key,
            admission,
            waker: waker.clone(),
            wake,
            #[cfg(feature = "tracing")]
            span,
        });
        drop(inner);
        // Its first poll: in the scope's task, at `run`'s next turn.
        waker.wake();
        Ok(LocalHandle {
            rx: Some(rx),
            wake: Some(self_wake),
        })
    }
}

impl<'a, E, K: LocalKind<'a>> std::fmt::Debug for Locals<'a, E, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        let state = match inner.binding {
            Binding::Unbound => "unbound",
            Binding::Bound(_) => "bound",
            Binding::Closed => "closed",
        };
        f.debug_struct("Locals")
            .field("state", &state)
            .field("len", &inner.slots.len())
            .finish()
    }
}
