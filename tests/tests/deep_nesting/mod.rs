//! The 20,000-deep task-in-task nesting shared by the `adversarial_deep_nesting*` binaries:
//! each runs one flavour in a process of its own, since a stack overflow aborts the process.
#![allow(dead_code)] // each binary uses one flavour

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use cancel_scope::{BoxError, CancelScope};
use futures::FutureExt;

pub(crate) const MIB: usize = 1024 * 1024;

pub(crate) fn watchdog<T: Send + 'static>(
    what: &str,
    stack: usize,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(v)) => v,
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Payload(u32);

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(4242));
        }
    }
}

struct Ready(Arc<AtomicBool>, Arc<tokio::sync::Notify>);

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One level: a scope whose single task runs the next level; the innermost task holds a
/// `PanicOnDrop` and is pending forever.
fn level(depth: usize, ready: Arc<Ready>, built: Arc<AtomicUsize>) -> BoxFut {
    Box::pin(async move {
        let scope = CancelScope::new();
        let tg = scope.group();
        built.fetch_add(1, Ordering::Relaxed);
        if depth == 0 {
            tg.spawn(async move {
                let _p = PanicOnDrop;
                ready.0.store(true, Ordering::SeqCst);
                ready.1.notify_one();
                std::future::pending::<()>().await;
            });
        } else {
            tg.spawn(level(depth - 1, ready, built));
        }
        let _ = scope.run(async { Ok::<_, BoxError>(()) }).await;
    })
}

const DEPTH: usize = 20_000;

/// Which runtime the nesting runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    /// Two workers, tokio's default 2 MiB stacks.
    MultiThread,
}

/// Nests scopes task-in-task `DEPTH` deep, the innermost task panicking in its destructor,
/// cancels the outermost, and checks that it resumes that panic.
pub(crate) fn nested_cancel(flavor: Flavor) {
    let multi = flavor == Flavor::MultiThread;
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let r = rt.block_on(async {
        let ready = Arc::new(Ready(
            Arc::new(AtomicBool::new(false)),
            Arc::new(tokio::sync::Notify::new()),
        ));
        let built = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let tg = scope.group();
        tg.spawn(level(DEPTH - 1, ready.clone(), built.clone()));
        let tg2 = tg.clone();
        let fut = scope.run(async move {
            while !ready.0.load(Ordering::SeqCst) {
                ready.1.notified().await;
            }
            tg2.cancel();
            Ok::<_, BoxError>(())
        });
        let r = tokio::time::timeout(
            Duration::from_secs(25),
            std::panic::AssertUnwindSafe(fut).catch_unwind(),
        )
        .await
        .expect("the outermost scope never returned");
        assert_eq!(built.load(Ordering::Relaxed), DEPTH);
        r
    });
    let payload = r.expect_err("the innermost task's destructor panic was not resumed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(4242)));
    // shut the runtime down without waiting on stray tasks
    rt.shutdown_timeout(Duration::from_secs(1));
}
