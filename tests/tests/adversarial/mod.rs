//! What the `adversarial_*` test binaries share: a watchdog that runs one test on a fresh
//! runtime in a thread with a known stack and turns a hang into a failure, the macros that
//! instantiate a test on both runtimes, and small helpers.
#![allow(dead_code, unused_macros)] // each binary uses what it needs

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, GroupError};

/// A test body.
pub(crate) type TestFut = Pin<Box<dyn Future<Output = ()>>>;

/// Which runtime a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    /// Two workers.
    MultiThread,
}

/// Runs `f` on a fresh runtime of `flavor` in a thread with an 8 MiB stack; fails if it does
/// not finish within 10 s, and resumes its panic.
pub(crate) fn wd(flavor: Flavor, name: &'static str, f: fn() -> TestFut) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .stack_size(8 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = match flavor {
                    Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap(),
                    Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap(),
                };
                rt.block_on(f());
                rt.shutdown_timeout(Duration::from_millis(500));
            }));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("hung (deadlock or never-ending scope): {name}")
        }
    }
}

/// Instantiates each `async fn NAME()` as `NAME::current_thread` and `NAME::multi_thread`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn current_thread() {
                crate::adversarial::wd(
                    crate::adversarial::Flavor::CurrentThread,
                    stringify!($name),
                    || Box::pin(super::$name()),
                )
            }
            #[test]
            fn multi_thread() {
                crate::adversarial::wd(
                    crate::adversarial::Flavor::MultiThread,
                    stringify!($name),
                    || Box::pin(super::$name()),
                )
            }
        }
    )*};
}

/// Instantiates each `async fn NAME()` as `NAME::multi_thread` only.
macro_rules! multi {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn multi_thread() {
                crate::adversarial::wd(
                    crate::adversarial::Flavor::MultiThread,
                    stringify!($name),
                    || Box::pin(super::$name()),
                )
            }
        }
    )*};
}

/// A boxed error with message `m`.
pub(crate) fn err(m: &str) -> BoxError {
    m.into()
}

/// `n` milliseconds.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The messages of a group's errors, in order.
pub(crate) fn msgs(e: &GroupError<BoxError>) -> Vec<String> {
    e.errors().iter().map(ToString::to_string).collect()
}

/// Sets its flag when dropped.
pub(crate) struct Flag(pub(crate) Arc<AtomicBool>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A flag and the value whose drop sets it.
pub(crate) fn flag() -> (Arc<AtomicBool>, Flag) {
    let a = Arc::new(AtomicBool::new(false));
    (a.clone(), Flag(a))
}
