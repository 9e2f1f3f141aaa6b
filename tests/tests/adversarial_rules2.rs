//! Adversarial, part 2: runtimes (capture, none, shutdown), body drops and panics, hand-over of
//! scopes dropped on other threads, timeouts from the first poll, grace with deadline and limit.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use futures::FutureExt;

type TestFut = Pin<Box<dyn Future<Output = ()>>>;

fn wd_with(rt: fn() -> tokio::runtime::Runtime, name: &'static str, f: fn() -> TestFut) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .stack_size(8 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = rt();
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

fn current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
fn multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn current_thread() {
                crate::wd_with(crate::current, stringify!($name), || Box::pin(super::$name()))
            }
            #[test]
            fn multi_thread() {
                crate::wd_with(crate::multi, stringify!($name), || Box::pin(super::$name()))
            }
        }
    )*};
}
macro_rules! paused {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            crate::wd_with(crate::paused, stringify!($name), || Box::pin(self::paused_tests::$name()))
        }
    )*};
}

fn err(m: &str) -> BoxError {
    m.into()
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

struct SlowFlag(Arc<AtomicBool>);
impl Drop for SlowFlag {
    fn drop(&mut self) {
        std::thread::sleep(ms(20));
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Payload(u32);
struct PanicOnDrop(u32);
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(self.0));
        }
    }
}

both!(
    tasks_stopped_by_other_runtime_shutdown_count_like_abort,
    body_dropped_at_next_pending_after_cancel,
    body_destructor_panic_on_cancel_is_resumed,
    body_destructor_panic_on_task_failure_is_resumed,
    body_err_after_cancel_is_kept_reason_requested,
    unrun_scope_dropped_on_std_thread_handed_to_creator,
    started_scope_dropped_on_std_thread_handed_to_enclosing,
    destructors_spawning_under_limit_one_during_cancel,
    task_output_discarded_while_scope_cancelled_by_drop_of_outer,
    cancel_from_std_thread_while_body_runs,
    unstarted_task_destructor_panic_on_cancel_is_resumed,
    queued_task_destructor_panic_on_cancel_is_resumed,
    panic_of_task_handed_over_from_std_thread_is_resumed,
    cancelled_resolves_when_scope_dropped,
    link_to_cancelled_idle_parent_cancels_at_once,
    len_is_zero_once_the_only_task_handle_resolved,
);

// SPEC 3: ".len() -> usize // tasks alive now": a task whose handle resolved is no longer alive
async fn len_is_zero_once_the_only_task_handle_resolved() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            for i in 0..200 {
                let h = tg2.spawn(async move { Ok::<_, BoxError>(i) });
                assert_eq!(h.await, Some(i));
                assert_eq!(
                    tg2.len(),
                    0,
                    "iteration {i}: len() counts a task whose handle resolved"
                );
                let h = tg2.spawn(std::future::pending::<()>());
                h.abort();
                assert_eq!(h.await, None);
                assert_eq!(
                    tg2.len(),
                    0,
                    "iteration {i}: len() counts an aborted task whose handle resolved"
                );
            }
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// SPEC 2: "A panic while a cancelled task is being dropped counts as a task panic" (dropped before its first poll)
async fn unstarted_task_destructor_panic_on_cancel_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let p = PanicOnDrop(21);
    tg.spawn(async move {
        let _p = p;
        std::future::pending::<()>().await;
    });
    tg.cancel();
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async { Ok::<_, BoxError>(()) })).catch_unwind(),
    )
    .await;
    let p = r.expect_err("panic of a cancelled task's destructor swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(21)));
}

// SPEC 2: "A panic while a cancelled task is being dropped counts as a task panic" (a queued task under limit)
async fn queued_task_destructor_panic_on_cancel_is_resumed() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    tg.spawn(std::future::pending::<()>());
    let p = PanicOnDrop(22);
    tg.spawn(async move {
        let _p = p;
    });
    let tg2 = tg.clone();
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async move {
            tokio::task::yield_now().await;
            tg2.cancel();
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("panic of a queued task's destructor swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(22)));
}

// SPEC 5: "hand-over and panic forwarding": a scope run in the body, dropped on another thread; its task panics while dropped
async fn panic_of_task_handed_over_from_std_thread_is_resumed() {
    let r = within(
        "outer",
        std::panic::AssertUnwindSafe(CancelScope::new().run(async move {
            let inner = CancelScope::new();
            let started = Arc::new(AtomicBool::new(false));
            let s2 = started.clone();
            let p = PanicOnDrop(23);
            inner.group().spawn(async move {
                let _p = p;
                s2.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            let mut fut = Box::pin(inner.run(std::future::pending::<Result<(), BoxError>>()));
            assert!(futures::poll!(fut.as_mut()).is_pending());
            while !started.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            std::thread::spawn(move || drop(fut)).join().unwrap();
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("the handed-over task's panic was not resumed by the enclosing scope");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(23)));
}

// SPEC 2: "A scope that is dropped ... cancels its group (reason Dropped)"; SPEC 5 "cancelled() resolves once cancelled"
async fn cancelled_resolves_when_scope_dropped() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let w = tokio::spawn(async move { tg2.cancelled().await });
    tokio::task::yield_now().await;
    drop(scope);
    within("cancelled()", w).await.unwrap();
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}

// SPEC 5: "Linking to a parent that is cancelled but still running cancels the new scope at once (reason Parent)" (parent not yet run)
async fn link_to_cancelled_idle_parent_cancels_at_once() {
    let ps = CancelScope::new();
    let p = ps.group();
    p.cancel();
    let cs = CancelScope::new().parent(&p);
    assert_eq!(cs.group().cancel_reason(), Some(CancelReason::Parent));
    let out = within("child", cs.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    let out = within("parent", ps.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

paused!(
    timeout_counts_from_first_poll,
    deadline_with_grace_lets_tasks_clean_up_and_drops_body_at_once,
    grace_drops_queued_tasks_at_once_under_limit,
    deadline_after_body_returned_discards_value,
    cancelled_of_finished_group_never_resolves_paused,
    queued_task_dropped_at_cancel_without_grace,
);

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// SPEC 2: "A task stopped by the runtime's own shutdown counts like TaskHandle::abort" (neither failure nor cancel)
async fn tasks_stopped_by_other_runtime_shutdown_count_like_abort() {
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let scope = {
        let _e = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    let h = tg.spawn(std::future::pending::<Result<u8, BoxError>>());
    let out = within(
        "run",
        scope.run(async move {
            tokio::time::sleep(ms(10)).await;
            // shut the other runtime down from a blocking thread
            tokio::task::spawn_blocking(move || other.shutdown_timeout(ms(500)))
                .await
                .unwrap();
            Ok::<_, BoxError>(h.await)
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(None));
    assert!(!tg.is_cancelled());
}

// SPEC 5: "the body is dropped the next time it returns Pending"
async fn body_dropped_at_next_pending_after_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let after = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (a2, d2, tg2) = (after.clone(), dropped.clone(), tg.clone());
    let out = within(
        "run",
        scope.run(async move {
            let _f = SlowFlag(d2);
            tg2.cancel();
            tokio::task::yield_now().await;
            a2.store(true, Ordering::SeqCst);
            tokio::time::sleep(ms(10)).await;
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        !after.load(Ordering::SeqCst),
        "the body ran past a Pending after the cancel"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

// SPEC 4 rule 4: "A task or the body panicked ... resumes the first panic" (body's destructor when dropped by a cancel)
async fn body_destructor_panic_on_cancel_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async move {
            let _p = PanicOnDrop(9);
            tg2.cancel();
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("the body's destructor panic was swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(9)));
}

// SPEC 4 rule 4: "A task or the body panicked" (body's destructor when dropped after a task failure)
async fn body_destructor_panic_on_task_failure_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(async {
        tokio::time::sleep(ms(5)).await;
        Err::<(), _>(err("fail"))
    });
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async move {
            let _p = PanicOnDrop(10);
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("the body's destructor panic was swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(10)));
}

// SPEC 4 rule 3: "the body returned Err ... every error ... also those that happened after a cancel"; SPEC 5 first cause
async fn body_err_after_cancel_is_kept_reason_requested() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            tg2.cancel();
            Err::<(), _>(err("body after cancel"))
        }),
    )
    .await;
    let e = out.expect_err("the body's Err after a cancel was dropped");
    assert_eq!(e.first().to_string(), "body after cancel");
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// SPEC 2 (rustdoc): hand-over "for a scope dropped before that, the scope it was created in" (dropped on a std::thread)
async fn unrun_scope_dropped_on_std_thread_handed_to_creator() {
    for i in 0..50 {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let out = within(
            "outer",
            CancelScope::new().run(async move {
                let inner = CancelScope::new();
                // Built outside the task: a task aborted before its first poll still drops it.
                let guard = SlowFlag(f2.clone());
                inner.group().spawn(async move {
                    let _f = guard;
                    std::future::pending::<()>().await;
                });
                tokio::task::yield_now().await;
                std::thread::spawn(move || drop(inner)).join().unwrap();
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert!(
            flag.load(Ordering::SeqCst),
            "iteration {i}: outer scope did not wait for the handed-over task"
        );
    }
}

// SPEC 2: "hands its still-live tasks to the scope it ran in (the innermost enclosing scope, found when run is first polled)"
async fn started_scope_dropped_on_std_thread_handed_to_enclosing() {
    for i in 0..50 {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let out = within(
            "outer",
            CancelScope::new().run(async move {
                let inner = CancelScope::new();
                // Built outside the task: a task aborted before its first poll still drops it.
                let guard = SlowFlag(f2.clone());
                inner.group().spawn(async move {
                    let _f = guard;
                    std::future::pending::<()>().await;
                });
                let mut fut = Box::pin(inner.run(std::future::pending::<Result<(), BoxError>>()));
                assert!(futures::poll!(fut.as_mut()).is_pending());
                std::thread::spawn(move || drop(fut)).join().unwrap();
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert!(
            flag.load(Ordering::SeqCst),
            "iteration {i}: outer scope did not wait for the handed-over task"
        );
    }
}

struct SpawnsOnDrop(TaskGroup, Arc<AtomicUsize>);
impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        let n = self.1.clone();
        let _ = self.0.len();
        self.0.spawn_shielded(async move {
            n.fetch_add(1, Ordering::SeqCst);
        });
        self.0.cancel();
    }
}

// SPEC 5: "After a cancel, spawn does not start the future"; under limit(1), destructors of queued and running tasks spawn during the cancel
async fn destructors_spawning_under_limit_one_during_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let s = SpawnsOnDrop(tg.clone(), n.clone());
        tg.spawn(async move {
            let _s = s;
            std::future::pending::<()>().await;
        });
    }
    assert_eq!(tg.len(), 10);
    let tg2 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            tokio::task::yield_now().await;
            tg2.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        n.load(Ordering::SeqCst),
        0,
        "a spawn after the cancel started"
    );
    assert_eq!(tg.len(), 0);
}

// SPEC 2: "the output of a task whose handle was dropped" is dropped before the scope returns (nested scope dropped by outer cancel)
async fn task_output_discarded_while_scope_cancelled_by_drop_of_outer() {
    let flag = Arc::new(AtomicBool::new(false));
    let outer = CancelScope::new();
    let otg = outer.group();
    let f2 = flag.clone();
    let otg2 = otg.clone();
    let out = within(
        "outer",
        outer.run(async move {
            let inner = CancelScope::new();
            let itg = inner.group();
            let f3 = f2.clone();
            drop(itg.spawn_shielded(async move {
                tokio::time::sleep(ms(10)).await;
                Ok::<_, BoxError>(SlowFlag(f3))
            }));
            otg2.spawn(async move {
                tokio::time::sleep(ms(30)).await;
            });
            let o = inner.run(async { Ok::<_, BoxError>(()) }).await;
            assert!(o.is_ok());
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        flag.load(Ordering::SeqCst),
        "discarded output of a nested scope's task outlived the outer scope"
    );
}

// SPEC 3: ".cancel() immediate, idempotent, sync, callable from anywhere" (a plain thread while the body is pending)
async fn cancel_from_std_thread_while_body_runs() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(ms(10));
        for _ in 0..3 {
            tg2.cancel();
        }
    });
    let out = within(
        "run",
        scope.run(std::future::pending::<Result<(), BoxError>>()),
    )
    .await;
    t.join().unwrap();
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

mod paused_tests {
    use super::*;
    use tokio::time::Instant;

    // SPEC 5: "timeout(d) counts from the start of run (its first poll)"
    pub(crate) async fn timeout_counts_from_first_poll() {
        let scope = CancelScope::new().timeout(Duration::from_secs(10));
        let tg = scope.group();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!tg.is_cancelled());
        let fut = scope.run(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, BoxError>(1)
        });
        tokio::time::sleep(Duration::from_secs(20)).await; // created, not polled
        let out = tokio::time::timeout(Duration::from_secs(1000), fut)
            .await
            .expect("hung");
        assert_eq!(out.unwrap(), Outcome::Completed(1));
    }

    // SPEC 6: "Grace applies to tasks only: the body is dropped at once" (deadline with grace)
    pub(crate) async fn deadline_with_grace_lets_tasks_clean_up_and_drops_body_at_once() {
        let scope = CancelScope::new()
            .timeout(Duration::from_secs(1))
            .grace(Duration::from_secs(3));
        let tg = scope.group();
        let tg2 = tg.clone();
        let cleaned = Arc::new(AtomicBool::new(false));
        let c2 = cleaned.clone();
        let h = tg.spawn(async move {
            tg2.cancelled().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            c2.store(true, Ordering::SeqCst);
            Ok::<_, BoxError>(5)
        });
        let body_dropped_at = Arc::new(std::sync::Mutex::new(None));
        struct Mark(Arc<std::sync::Mutex<Option<Instant>>>);
        impl Drop for Mark {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = Some(Instant::now());
            }
        }
        let t0 = Instant::now();
        let m = Mark(body_dropped_at.clone());
        let out = tokio::time::timeout(
            Duration::from_secs(1000),
            scope.run(async move {
                let _m = m;
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            }),
        )
        .await
        .expect("hung");
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
        assert!(cleaned.load(Ordering::SeqCst));
        assert_eq!(Instant::now() - t0, Duration::from_secs(3));
        assert_eq!(
            body_dropped_at.lock().unwrap().unwrap() - t0,
            Duration::from_secs(1)
        );
        assert_eq!(
            h.await,
            Some(5),
            "a task that ends in time counts with its result"
        );
    }

    // SPEC 6: "queued tasks are dropped unstarted on cancel" (also with a grace)
    pub(crate) async fn grace_drops_queued_tasks_at_once_under_limit() {
        let scope = CancelScope::new().limit(1).grace(Duration::from_secs(5));
        let tg = scope.group();
        let tg2 = tg.clone();
        tg.spawn(async move {
            tg2.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        let qd = Arc::new(AtomicBool::new(false));
        let g = DropFlag(qd.clone());
        let queued = tg.spawn(async move {
            let _g = g;
            s2.store(true, Ordering::SeqCst);
        });
        tg.cancel();

        let t0 = Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(1000),
            scope.run(async { Ok::<_, BoxError>(()) }),
        )
        .await
        .expect("hung");
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
        assert!(
            !started.load(Ordering::SeqCst),
            "a queued task started after the cancel"
        );
        assert_eq!(queued.await, None);
        assert!(
            qd.load(Ordering::SeqCst),
            "the queued future was not dropped before the scope returned"
        );
    }

    // SPEC 6: "queued tasks are dropped unstarted on cancel" (no grace; the drop itself is an abort request, asynchronous)
    pub(crate) async fn queued_task_dropped_at_cancel_without_grace() {
        let scope = CancelScope::new().limit(1);
        let tg = scope.group();
        tg.spawn(std::future::pending::<()>());
        let qd = Arc::new(AtomicBool::new(false));
        let g = DropFlag(qd.clone());
        let queued = tg.spawn(async move {
            let _g = g;
        });
        tg.cancel();

        let out = tokio::time::timeout(
            Duration::from_secs(1000),
            scope.run(async { Ok::<_, BoxError>(()) }),
        )
        .await
        .expect("hung");
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert_eq!(queued.await, None);
        assert!(
            qd.load(Ordering::SeqCst),
            "the queued future was not dropped before the scope returned"
        );
        assert_eq!(tg.len(), 0);
    }

    // SPEC 4 rule 5: "The body's value is discarded when a cancel follows it" (deadline while tasks run)
    pub(crate) async fn deadline_after_body_returned_discards_value() {
        let scope = CancelScope::new().timeout(Duration::from_secs(1));
        let tg = scope.group();
        tg.spawn(tokio::time::sleep(Duration::from_secs(10)));
        let out = tokio::time::timeout(
            Duration::from_secs(1000),
            scope.run(async { Ok::<_, BoxError>(1) }),
        )
        .await
        .expect("hung");
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    }

    // SPEC 5: "cancelled() of a group that finished without being cancelled never resolves"
    pub(crate) async fn cancelled_of_finished_group_never_resolves_paused() {
        let scope = CancelScope::new().timeout(Duration::from_secs(5));
        let tg = scope.group();
        let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        tokio::time::sleep(Duration::from_secs(60)).await; // the old deadline passes
        assert!(
            !tg.is_cancelled(),
            "a finished scope's deadline fired later"
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(100), tg.cancelled())
                .await
                .is_err()
        );
    }
}
