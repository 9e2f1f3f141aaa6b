//! Runs one async test body on both runtime flavors: current-thread with tokio's paused clock,
//! and multi-thread (2 workers) on real time.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

/// `both_flavors!(name)` makes `name::current_thread` and `name::multi_thread` tests from
/// `async fn name(paused: bool)`, `paused` telling whether the clock is paused.
#[macro_export]
macro_rules! both_flavors {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "current_thread", start_paused = true)]
            async fn current_thread() {
                $crate::flavors::within(super::$name(true)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                $crate::flavors::within(super::$name(false)).await;
            }
        }
    };
}

/// Fails the test instead of hanging if `fut` takes more than 20 s (tokio time; with a paused
/// clock this fires only if the test deadlocks with no timer pending).
pub(crate) async fn within<F: std::future::Future>(fut: F) -> F::Output {
    match tokio::time::timeout(std::time::Duration::from_secs(20), fut).await {
        Ok(out) => out,
        Err(_) => panic!("test timed out: a scope or task hung"),
    }
}

/// Counts drops of the guards it hands out.
#[derive(Clone, Default)]
pub(crate) struct DropCounter(pub(crate) std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl DropCounter {
    /// A guard that counts one drop.
    pub(crate) fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    /// Drops counted so far.
    pub(crate) fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Increments its counter when dropped.
pub(crate) struct DropGuard(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}
