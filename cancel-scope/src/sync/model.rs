//! The loom stand-ins for the two tokio types the core holds (built only for the loom model,
//! `cfg(all(test, loom))`): [`Notify`], for `TaskGroup::cancelled()`, and [`AbortHandle`], for
//! a task's abort. Both are built on loom's primitives, so loom explores their interleavings
//! with the core's own locks and atomics.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::future::AtomicWaker;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicUsize, Ordering};

use super::{Arc, PoisonError};

/// tokio's `Notify`, for the calls the core makes: a [`Notified`] future created by
/// [`notified`](Notify::notified) resolves after any later
/// [`notify_waiters`](Notify::notify_waiters), polled or not (tokio's guarantee). Like tokio's,
/// `notified()` reads the count of `notify_waiters` calls without the lock (`SeqCst`), and
/// `notify_waiters` bumps it under the lock of the waiters' list.
pub(crate) struct Notify {
    /// How many times `notify_waiters` was called.
    calls: AtomicUsize,
    /// The wakers of `Notified` futures that returned `Pending`.
    waiters: Mutex<Vec<Waker>>,
}

impl Notify {
    pub(crate) fn new() -> Notify {
        Notify {
            calls: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// A future that resolves at the next `notify_waiters`.
    pub(crate) fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            calls: self.calls.load(Ordering::SeqCst),
        }
    }

    /// Wakes every `Notified` future created before this call (with no lock held).
    pub(crate) fn notify_waiters(&self) {
        let wakers = {
            let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::mem::take(&mut *waiters)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The future of [`Notify::notified`].
pub(crate) struct Notified<'a> {
    notify: &'a Notify,
    /// The count of `notify_waiters` calls when this future was created.
    calls: usize,
}

impl Notified<'_> {
    /// tokio's `Notified::enable`: a no-op here, since a `Notified` receives `notify_waiters`
    /// from its creation on. Returns whether it was already notified.
    pub(crate) fn enable(self: Pin<&mut Self>) -> bool {
        self.notify.calls.load(Ordering::SeqCst) != self.calls
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiters = self
            .notify
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.notify.calls.load(Ordering::SeqCst) != self.calls {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A task's abort handle in the model: tokio's, carried by the runtime code (which compiles
/// under loom but never runs in a model), or a modelled task's [`AbortFlag`].
#[derive(Clone)]
pub(crate) enum AbortHandle {
    /// A real tokio task's handle.
    Runtime(tokio::task::AbortHandle),
    /// A modelled task's flag.
    Model(Arc<AbortFlag>),
}

impl AbortHandle {
    /// A handle for a modelled task, and the flag that task watches.
    pub(crate) fn model() -> (AbortHandle, Arc<AbortFlag>) {
        let flag = Arc::new(AbortFlag {
            requests: AtomicUsize::new(0),
            task: AtomicWaker::new(),
        });
        (AbortHandle::Model(flag.clone()), flag)
    }

    /// Requests the abort and wakes the task, as tokio's `abort` schedules it (no user code
    /// runs: the waker is a modelled task's).
    pub(crate) fn abort(&self) {
        match self {
            AbortHandle::Runtime(handle) => handle.abort(),
            AbortHandle::Model(flag) => {
                flag.requests.fetch_add(1, Ordering::Release);
                flag.task.wake();
            }
        }
    }
}

impl From<tokio::task::AbortHandle> for AbortHandle {
    fn from(handle: tokio::task::AbortHandle) -> Self {
        AbortHandle::Runtime(handle)
    }
}

/// What a modelled task sees of its abort handle: whether an abort was requested, and how
/// many times.
pub(crate) struct AbortFlag {
    requests: AtomicUsize,
    /// The task, while it waits (under `limit`) for its slot.
    task: AtomicWaker,
}

impl AbortFlag {
    /// Registers the waiting task's waker, woken by a later `abort()`.
    pub(crate) fn register(&self, waker: &Waker) {
        self.task.register_by_ref(waker);
    }

    /// `true` once an abort was requested (tokio stops the task at its next `Pending`, or
    /// before its first poll).
    pub(crate) fn is_aborted(&self) -> bool {
        self.requests.load(Ordering::Acquire) > 0
    }

    /// How many times `abort()` was called.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }
}
