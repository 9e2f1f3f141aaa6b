//! SPEC section 10, `TaskGroup::spawn_blocking`: a closure on tokio's blocking pool is a member
//! in every respect (counted, limited, not started after a cancel, handed over, its error and
//! panic count) except that a cancel cannot stop it once it runs: the scope waits for it.
//!
//! Blocking closures run on real threads, so these tests use real time on both runtimes (the
//! paused clock would auto-advance while a pool thread works).

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::*;

both!(real:
    blocking_outlives_a_cancel_and_is_counted,
    blocking_value_error_and_panic_count,
    blocking_not_started_after_cancel_or_finish,
    blocking_holds_a_slot_under_limit,
    blocking_queued_under_limit_is_dropped_by_a_cancel,
    blocking_of_a_dropped_scope_is_handed_over,
    blocking_sees_its_group_as_current_scope,
    blocking_queued_value_dropped_with_its_handle,
);

/// A gate a blocking closure waits on, opened from async code.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0.0.lock().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !*open {
            assert!(std::time::Instant::now() < deadline, "gate never opened");
            open = self
                .0
                .1
                .wait_timeout(open, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }
}

/// Waits (on a plain thread, off the runtime) until `rx` says the closure started.
async fn started(rx: mpsc::Receiver<()>) {
    within(
        "blocking closure start",
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)).unwrap()),
    )
    .await
    .unwrap();
}

/// A cancel does not stop a running closure: `len()` still counts it, the scope returns only
/// after it ended, and its value reaches its handle.
async fn blocking_outlives_a_cancel_and_is_counted() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let gate = Gate::default();
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let h = {
        let (gate, done, watcher) = (gate.clone(), done.clone(), tg.clone());
        tg.spawn_blocking(move || {
            tx.send(()).unwrap();
            gate.wait();
            // It can watch the cancel, and still finishes its work.
            assert!(watcher.is_cancelled());
            done.store(true, Ordering::SeqCst);
            Ok::<_, BoxError>(7)
        })
    };
    started(rx).await;
    assert_eq!(tg.len(), 1);
    tg.cancel();
    assert_eq!(
        tg.len(),
        1,
        "a running closure stays a member after the cancel"
    );
    let opener = {
        let (gate, done) = (gate.clone(), done.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            assert!(!done.load(Ordering::SeqCst));
            gate.open();
        })
    };
    let out = within(
        "scope waiting for a blocking closure",
        scope.run(async { Ok(()) }),
    )
    .await;
    assert!(
        done.load(Ordering::SeqCst),
        "the scope returned before the closure ended"
    );
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(tg.len(), 0);
    assert_eq!(
        h.await,
        Some(7),
        "a closure that completes after the cancel counts"
    );
    opener.join().unwrap();
}

/// `Ok` values reach the handle, an `Err` fails the group (even after a cancel), a panic is
/// resumed with its payload once everything stopped.
async fn blocking_value_error_and_panic_count() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let a = tg.spawn_blocking(|| Ok::<_, BoxError>(20));
            let b = tg.spawn_blocking(|| Ok::<_, BoxError>(22));
            Ok::<_, BoxError>(a.await.unwrap() + b.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(42));

    let scope = CancelScope::new();
    let tg = scope.group();
    let err = scope
        .run(async {
            tg.spawn_blocking(|| Err::<(), BoxError>(err("disk full")));
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(msgs(&err), ["disk full"]);

    let slow = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let s = slow.clone();
    let caught = catch(scope.run(async {
        // A shielded task still running when the panic happens: the panic waits for it.
        tg.spawn_shielded(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            s.hit();
        });
        tg.spawn_blocking(|| boom(Payload(3)));
        Ok(())
    }))
    .await
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<Payload>(), Some(&Payload(3)));
    assert_eq!(
        slow.get(),
        1,
        "the panic was resumed before every task stopped"
    );
}

/// Not started once the group is cancelled, nor once the scope finished: the closure is
/// dropped unrun and its handle resolves to `None`.
async fn blocking_not_started_after_cancel_or_finish() {
    let ran = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    let r = ran.clone();
    let h = tg.spawn_blocking(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(tg.len(), 0);
    assert_eq!(h.await, None);
    let out = scope.run(async { Ok(()) }).await;
    assert!(out.unwrap().is_cancelled());

    let scope = CancelScope::new();
    let tg = scope.group();
    scope.run(async { Ok(()) }).await.unwrap();
    let r = ran.clone();
    let dropped = Counter::new();
    let g = dropped.guard();
    assert_eq!(
        tg.spawn_blocking(move || {
            let _g = g;
            r.fetch_add(1, Ordering::SeqCst);
        })
        .await,
        None
    );
    assert_eq!(dropped.get(), 1, "the refused closure was dropped");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

/// Under `limit(1)` a blocking closure holds the slot: a second one (or a task) waits, is
/// counted by `len()`, and starts once the first ended.
async fn blocking_holds_a_slot_under_limit() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Gate::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    {
        let (gate, order) = (gate.clone(), order.clone());
        tg.spawn_blocking(move || {
            tx.send(()).unwrap();
            gate.wait();
            order.lock().unwrap().push("first");
        });
    }
    started(rx).await;
    let o = order.clone();
    let second = tg.spawn_blocking(move || {
        o.lock().unwrap().push("second");
        Ok::<_, BoxError>(2)
    });
    let o = order.clone();
    tg.spawn(async move { o.lock().unwrap().push("task") });
    assert_eq!(tg.len(), 3);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        order.lock().unwrap().len(),
        0,
        "a queued member started early"
    );
    gate.open();
    let out = within("limited scope", scope.run(async { Ok(()) })).await;
    out.unwrap();
    assert_eq!(*order.lock().unwrap(), ["first", "second", "task"]);
    assert_eq!(second.await, Some(2));
}

/// A closure queued under `limit` when the group is cancelled never runs.
async fn blocking_queued_under_limit_is_dropped_by_a_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Gate::default();
    let (tx, rx) = mpsc::channel();
    {
        let gate = gate.clone();
        tg.spawn_blocking(move || {
            tx.send(()).unwrap();
            gate.wait();
        });
    }
    started(rx).await;
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let queued = tg.spawn_blocking(move || r.store(true, Ordering::SeqCst));
    assert_eq!(tg.len(), 2);
    tg.cancel();
    gate.open();
    let out = within("cancelled limited scope", scope.run(async { Ok(()) })).await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(queued.await, None);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued closure ran after the cancel"
    );
}

/// A scope dropped while its closure runs hands it over: the enclosing scope waits for it.
async fn blocking_of_a_dropped_scope_is_handed_over() {
    let gate = Gate::default();
    let done = Arc::new(AtomicBool::new(false));
    let outer = CancelScope::new();
    let (g, d) = (gate.clone(), done.clone());
    let out = outer
        .run(async move {
            let (tx, rx) = mpsc::channel();
            let inner = CancelScope::new();
            let tg = inner.group();
            let (g2, d2) = (g.clone(), d.clone());
            tg.spawn_blocking(move || {
                tx.send(()).unwrap();
                g2.wait();
                d2.store(true, Ordering::SeqCst);
            });
            let run = inner.run(std::future::pending::<Result<(), BoxError>>());
            tokio::select! {
                _ = run => unreachable!(),
                () = started(rx) => {}
            }
            // `run` was dropped: its closure is handed to this scope.
            let g3 = g.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                g3.open();
            });
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(
        done.load(Ordering::SeqCst),
        "the enclosing scope did not wait for the closure"
    );
    out.unwrap();
}

/// The closure runs with its group as the current scope: a scope created inside it sees
/// the group's deadline as its own effective deadline.
async fn blocking_sees_its_group_as_current_scope() {
    let at = tokio::time::Instant::now() + Duration::from_secs(3600);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    tg.spawn_blocking(move || {
        let inner = CancelScope::new();
        *s.lock().unwrap() = Some(inner.group().deadline());
    });
    scope.run(async { Ok(()) }).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Some(at)));
}

/// Under `limit`, a queued closure's value with a destructor: a handle dropped on the runtime
/// thread right after the closure returned neither hangs nor loses the destructor, and a
/// handle dropped before it returned lets the scope drop the value before it returns.
async fn blocking_queued_value_dropped_with_its_handle() {
    let dropped = Counter::new();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Gate::default();
    let (tx, rx) = mpsc::channel();
    {
        let gate = gate.clone();
        tg.spawn_blocking(move || {
            tx.send(()).unwrap();
            gate.wait();
        });
    }
    started(rx).await;
    let (d1, d2) = (dropped.clone(), dropped.clone());
    let kept = tg.spawn_blocking(move || Ok::<_, BoxError>(d1.guard()));
    let detached = tg.spawn_blocking(move || Ok::<_, BoxError>(d2.guard()));
    drop(detached);
    gate.open();
    // Block this runtime thread while the closures complete, then drop the handle here.
    std::thread::sleep(Duration::from_millis(50));
    drop(kept);
    within("limited scope", scope.run(async { Ok(()) }))
        .await
        .unwrap();
    assert_eq!(dropped.get(), 2);
}

/// Found by `reliability_model` (multi-thread): a closure that tokio never starts (its task was
/// aborted by the cancel while it waited for a pool thread) is dropped by the pool later; the
/// scope must not return before what the closure captured was dropped (SPEC sec. 2: nothing
/// outlives its scope). With the pool's only thread busy, the second closure cannot start
/// before the cancel.
#[test]
fn blocking_never_started_by_the_pool_is_dropped_before_the_scope_returns() {
    struct SlowDrop(Arc<AtomicBool>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(100));
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let (release, released) = mpsc::channel::<()>();
        let scope = CancelScope::new();
        let tg = scope.group();
        let guard = SlowDrop(dropped.clone());
        let out = scope
            .run(async move {
                // Holds the pool's only thread until released.
                tg.spawn_blocking(move || {
                    let _ = released.recv_timeout(Duration::from_secs(10));
                });
                // Waits for that thread: aborted by the cancel before it could start.
                tg.spawn_blocking(move || drop(guard));
                tg.cancel();
                release.send(()).unwrap();
                Ok::<_, BoxError>(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the scope returned before the closure it never started was dropped"
        );
    });
}
