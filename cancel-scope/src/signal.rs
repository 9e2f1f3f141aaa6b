//! Signals a scope listens to: [`CancelScope::cancel_on`]. When any signal future resolves, the
//! group is cancelled with [`CancelReason::Signal`] (which does not travel up to linked parents).
//!
//! The signals are polled by the scope's own `run` future, in its task, before the body (a
//! signal that already fired keeps the body from starting, like a deadline already past). They
//! are dropped as soon as the group is cancelled, and at the latest when the scope finishes. A
//! signal that panics (when polled or dropped) is a panic of the scope, like the body's: the
//! group is cancelled (`Failed`) and the panic is resumed once everything stopped.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;

use crate::core::Core;
use crate::core::cancel::cancel;
use crate::{CancelReason, CancelScope};

/// One signal, boxed.
pub(crate) type BoxSignal = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

impl<E: Send + 'static> CancelScope<E> {
    /// Cancels the group (reason [`Signal`](CancelReason::Signal)) when `signal` resolves,
    /// whatever its output. May be called several times: any one signal fires.
    ///
    /// Anything that resolves once works as it is: `tokio::signal::ctrl_c()`,
    /// `token.cancelled_owned()` of a `CancellationToken`, a `oneshot::Receiver`, a
    /// `tokio::time::sleep`. A cancel by signal does not travel up to linked parents (linked
    /// children see [`Parent`](CancelReason::Parent)). The signals are polled by `run` (a
    /// signal that resolved before `run` starts cancels at its first poll; the body is then not
    /// started), and are dropped once the group is cancelled, at the latest when the scope
    /// finishes. A signal that panics is a panic of the scope: the group is cancelled
    /// ([`Failed`](CancelReason::Failed)) and the panic is resumed once everything stopped.
    ///
    /// ```
    /// use cancel_scope::{CancelReason, CancelScope, Outcome};
    /// use tokio::sync::oneshot;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (shutdown, on_shutdown) = oneshot::channel::<()>();
    /// let scope = CancelScope::new().cancel_on(on_shutdown);
    /// let tg = scope.group();
    /// tg.spawn(std::future::pending::<()>()); // a server loop, say
    /// tokio::spawn(async move { shutdown.send(()) });
    /// let out = scope.run(async { Ok(()) }).await;
    /// assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    /// # }
    /// ```
    pub fn cancel_on<S>(mut self, signal: S) -> Self
    where
        S: Future + Send + 'static,
    {
        self.signals.push(Box::pin(async move {
            signal.await;
        }));
        self
    }
}

/// The signals of a scope: none (no allocation), or a boxed list. The list is in a `Mutex`
/// only so that the builder and the `run` future stay `Sync`; it is never locked (`get_mut`).
#[derive(Default)]
pub(crate) struct Signals {
    signals: Option<Box<std::sync::Mutex<Vec<BoxSignal>>>>,
}

impl Signals {
    pub(crate) fn push(&mut self, signal: BoxSignal) {
        self.signals
            .get_or_insert_default()
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(signal);
    }

    pub(crate) fn len(&self) -> usize {
        self.signals
            .as_ref()
            .map_or(0, |s| s.lock().map_or(0, |list| list.len()))
    }

    fn list(&mut self) -> &mut Vec<BoxSignal> {
        self.signals
            .get_or_insert_default()
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.signals.is_none()
    }

    /// Polls every signal; the first that resolves cancels the group (`Signal`), one that
    /// panics records the panic. Either way, every signal is then dropped.
    #[inline]
    pub(crate) fn poll(&mut self, core: &Arc<Core>, cx: &mut Context<'_>) {
        if !self.is_empty() {
            self.poll_all(core, cx);
        }
    }

    /// [`poll`](Self::poll) with at least one signal (kept out of line: most scopes have none).
    fn poll_all(&mut self, core: &Arc<Core>, cx: &mut Context<'_>) {
        let mut fired = false;
        for signal in self.list() {
            match catch_unwind(AssertUnwindSafe(|| signal.as_mut().poll(cx))) {
                Ok(std::task::Poll::Pending) => {}
                Ok(std::task::Poll::Ready(())) => {
                    fired = true;
                    cancel(core, CancelReason::Signal);
                    break;
                }
                Err(payload) => {
                    fired = true;
                    core.record_panic(payload);
                    break;
                }
            }
        }
        if fired {
            self.drop_all(core);
        }
    }

    /// Drops every signal, recording a panic in a destructor as a panic of the scope.
    pub(crate) fn drop_all(&mut self, core: &Arc<Core>) {
        if self.is_empty() {
            return;
        }
        for signal in std::mem::take(self.list()) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(signal))) {
                core.record_panic(payload);
            }
        }
    }

    /// Drops every signal once the scope finished; a panic in a destructor is returned.
    #[inline]
    pub(crate) fn drop_finished(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        if self.is_empty() {
            return None;
        }
        self.drop_every()
    }

    /// [`drop_finished`](Self::drop_finished) with at least one signal.
    fn drop_every(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        let mut first = None;
        for signal in std::mem::take(self.list()) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(signal))) {
                first.get_or_insert(payload);
            }
        }
        first
    }
}
