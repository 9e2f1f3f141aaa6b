//! One local task as the driver polls it ([`LocalTask`]: the user's future, its group, its
//! name, the sender of its value) and the [`LocalHandle`] the spawner keeps.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::local_driver::TaskWake;
use super::local_kind::LocalOutput;
use super::names::TaskName;
use crate::core::Core;

pin_project_lite::pin_project! {
    /// A local task as the driver polls it: the user's future, its group, its name and the
    /// sender of its handle's value. Public only as a name in [`Boxing`] bounds.
    pub struct LocalTask<F, E, T> {
        #[pin]
        pub(crate) future: F,
        pub(crate) core: Arc<Core>,
        pub(crate) name: Option<TaskName>,
        pub(crate) tx: Option<oneshot::Sender<T>>,
        pub(crate) _error: PhantomData<fn() -> E>,
    }
}

impl<F, E, T> Future for LocalTask<F, E, T>
where
    F: Future,
    F::Output: LocalOutput<E, Value = T>,
    E: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match std::task::ready!(this.future.poll(cx)).into_result() {
            Ok(value) => {
                if let Some(tx) = this.tx.take() {
                    // A handle that is gone: the value is dropped here, inside the task.
                    drop(tx.send(value));
                }
            }
            Err(error) => this.core.record_task_error(error, this.name.clone()),
        }
        Poll::Ready(())
    }
}

impl<F, E, T> std::fmt::Debug for LocalTask<F, E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTask")
            .field("name", &self.name.as_deref())
            .finish_non_exhaustive()
    }
}

/// The handle of a local task: resolves to `Some(value)` if it completed with `value`, `None`
/// if it failed, panicked, was cancelled or never started. Dropping it detaches nothing.
///
/// ```
/// use cancel_scope::{CancelScope, Locals};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let locals = Locals::new();
/// let out = CancelScope::new()
///     .run_with_locals(&locals, async {
///         let h = locals.spawn(async { Ok(1) });
///         Ok(h.await)
///     })
///     .await;
/// assert_eq!(out.unwrap().completed(), Some(Some(1)));
/// # }
/// ```
pub struct LocalHandle<T> {
    pub(crate) rx: Option<oneshot::Receiver<T>>,
    pub(crate) wake: Option<Arc<TaskWake>>,
}

impl<T> LocalHandle<T> {
    pub(crate) fn unstarted() -> Self {
        LocalHandle {
            rx: None,
            wake: None,
        }
    }

    /// Stops this one local task: it is dropped at its next `Pending` (the next time the
    /// scope's `run` looks at it), and its handle resolves to `None`. Like
    /// [`TaskHandle::abort`](crate::TaskHandle::abort), this is neither a failure nor a cancel
    /// of the group. Does nothing once the task ended.
    ///
    /// ```
    /// use cancel_scope::{CancelScope, Locals, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let locals = Locals::new();
    /// let out = CancelScope::new()
    ///     .run_with_locals(&locals, async {
    ///         let h = locals.spawn(std::future::pending::<()>());
    ///         h.abort();
    ///         Ok(h.await)
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), Outcome::Completed(None));
    /// # }
    /// ```
    pub fn abort(&self) {
        if let Some(wake) = &self.wake {
            wake.aborted
                .store(true, std::sync::atomic::Ordering::Release);
            std::task::Wake::wake_by_ref(wake);
        }
    }
}

impl<T> Future for LocalHandle<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        let out = std::task::ready!(Pin::new(rx).poll(cx)).ok();
        self.rx = None;
        Poll::Ready(out)
    }
}

impl<T> std::fmt::Debug for LocalHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHandle")
            .field("resolved", &self.rx.is_none())
            .finish_non_exhaustive()
    }
}
