//! Helpers shared by the `scope_*` behaviour tests and `python_ports`.
//!
//! Each behaviour is written once as an `async fn` and instantiated on both runtimes by
//! [`both!`]: a current-thread runtime with tokio's paused clock (`current_thread`) and a
//! multi-thread runtime with two workers and real time (`multi_thread`). `both!(real: ...)` uses
//! a current-thread runtime with real time instead, for tests that wait on plain threads (the
//! paused clock would auto-advance past the hang guard while a `std::thread` works).
//!
//! Every instantiated test runs under a hang guard (10 s of tokio time), so a bug fails rather
//! than hangs.
#![allow(dead_code)]

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, GroupError};
use futures::FutureExt;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;

/// Instantiates each `async fn NAME()` of the calling file as `NAME::current_thread` and
/// `NAME::multi_thread` tests.
macro_rules! both {
    (real: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() {
                crate::common::guarded(super::$name()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                crate::common::guarded(super::$name()).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "current_thread", start_paused = true)]
            async fn current_thread() {
                crate::common::PAUSED.set(true);
                crate::common::guarded(super::$name()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                crate::common::guarded(super::$name()).await
            }
        }
    )*};
}

/// The hang guard of every test: 10 s of real time, or 1000 s of the paused clock (which
/// auto-advances when the runtime is idle, so a hang fails at once there).
pub(crate) fn hang() -> Duration {
    if paused() {
        Duration::from_secs(1000)
    } else {
        Duration::from_secs(10)
    }
}

/// Runs a test body under the hang guard.
pub(crate) async fn guarded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(hang(), test)
        .await
        .expect("test hung: it did not finish within the hang guard");
}

/// Runs `fut` under the hang guard, failing with `what` if it does not finish.
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(hang(), fut).await {
        Ok(v) => v,
        Err(_) => panic!("hung: {what}"),
    }
}

thread_local! {
    /// Set by `both!` on the thread of a paused current-thread test runtime.
    pub(crate) static PAUSED: Cell<bool> = const { Cell::new(false) };
}

/// `true` on the paused-clock current-thread runtime of `both!`.
pub(crate) fn paused() -> bool {
    PAUSED.get()
        && Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// A short duration: long on the paused clock (it costs nothing), short in real time.
pub(crate) fn short() -> Duration {
    if paused() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(30)
    }
}

/// Counts drops of its [`Guard`]s and lets a test wait until a number was reached.
#[derive(Clone, Default)]
pub(crate) struct Counter(Arc<(AtomicUsize, Notify)>);

impl Counter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A value whose drop counts one.
    pub(crate) fn guard(&self) -> Guard {
        Guard {
            counter: self.clone(),
            slow: None,
        }
    }

    /// A guard whose drop first blocks the dropping thread for `d` (a slow destructor).
    pub(crate) fn slow_guard(&self, d: Duration) -> Guard {
        Guard {
            counter: self.clone(),
            slow: Some(d),
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.0.0.load(Ordering::SeqCst)
    }

    /// Counts one by hand.
    pub(crate) fn hit(&self) {
        self.0.0.fetch_add(1, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    /// Resolves once at least `n` were counted.
    pub(crate) async fn wait_for(&self, n: usize) {
        loop {
            let notified = self.0.1.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.get() >= n {
                return;
            }
            notified.await;
        }
    }
}

/// Counts one on its counter when dropped.
pub(crate) struct Guard {
    counter: Counter,
    slow: Option<Duration>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(d) = self.slow {
            std::thread::sleep(d);
        }
        self.counter.hit();
    }
}

/// Panics with its message when dropped.
pub(crate) struct PanicOnDrop(pub(crate) &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A custom panic payload, to check that the original payload is resumed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Payload(pub(crate) u32);

/// A boxed error with this message.
pub(crate) fn err(msg: &str) -> BoxError {
    msg.into()
}

/// The messages of a `GroupError<BoxError>`, in order.
pub(crate) fn msgs(e: &GroupError<BoxError>) -> Vec<String> {
    e.errors().iter().map(ToString::to_string).collect()
}

/// Awaits `fut`, catching a panic.
pub(crate) async fn catch<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    AssertUnwindSafe(fut).catch_unwind().await
}

/// The message of a `&str` or `String` panic payload.
pub(crate) fn panic_msg(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        panic!("panic payload is neither &str nor String")
    }
}

/// Pending forever while holding `guard`.
pub(crate) async fn hold_forever(guard: Guard) {
    let _guard = guard;
    std::future::pending::<()>().await
}

/// Panics with `payload`; typed `()` so it can be a task's or a block's last expression.
pub(crate) fn boom<P: Any + Send + 'static>(payload: P) {
    std::panic::panic_any(payload)
}

/// Awaits `fut` and discards its output: runs a nested scope as a `()` task.
pub(crate) async fn drop_result<F: Future>(fut: F) {
    let _ = fut.await;
}
