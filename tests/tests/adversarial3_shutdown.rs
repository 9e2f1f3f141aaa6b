//! Adversarial 3: runtime shutdown with live scopes. Runtimes dropped (multi-thread,
//! current-thread, `shutdown_background`) while trees of nested, linked, limited scopes run on
//! them, with shielded and queued tasks and destructors that call back into their groups; a
//! scope whose tasks run on a runtime that shuts down under it while it runs on another; a
//! scope whose runtime is gone before it runs.
//!
//! SPEC rules attacked: sec. 2 "A task stopped by the runtime's own shutdown counts like
//! `TaskHandle::abort`" (neither a failure nor a cancel of the group), "A panic while a
//! cancelled task is being dropped counts as a task panic", "A group captures the current tokio
//! Handle ... and spawns there from any thread", "A scope that is dropped before it finishes
//! ... cancels its group (reason Dropped ...) and requests the abort of every task ... without
//! blocking and without panicking", "Nothing outlives its scope" (hand-over); sec. 5 "No error,
//! no panic, in any state"; sec. 6 limit (a freed slot with queued tasks).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use tokio::runtime::{Builder, Runtime};

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial::ms;
use adversarial3::{CallsBack, Count, PanicOnDrop, Probe, catch, payload, quiet_payload_panics};

both!(
    tasks_on_a_runtime_shut_down_under_a_running_scope_count_like_abort,
    queued_tasks_under_limit_one_on_a_runtime_shut_down_count_like_abort,
    task_destructor_panic_during_shutdown_is_resumed,
    nested_scope_on_dying_runtime_handed_over_to_scope_on_live_runtime,
    scope_whose_captured_runtime_is_gone_runs_elsewhere,
);

/// Runs `f` on a thread of its own; fails if it takes more than 10 s.
fn watchdog(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
    }
}

fn other_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// A tree of scopes on the current runtime: `depth` levels, each a scope (linked to the level
/// above when `link`) with `width` pending tasks holding guards (one shielded), a queue under
/// limit(1) at the leaves, tasks whose destructors call back into their own group and the root,
/// and a task running the next level. Registers every group; counts in `ready` when a level is
/// built.
fn tree(
    depth: usize,
    link: bool,
    enclosing: Option<TaskGroup>,
    root: Option<TaskGroup>,
    c: Count,
    probe: Arc<Probe>,
    groups: Arc<Mutex<Vec<TaskGroup>>>,
    ready: Arc<AtomicUsize>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let mut scope = CancelScope::new();
        if let (true, Some(p)) = (link, &enclosing) {
            scope = scope.parent(p);
        }
        if depth == 0 {
            scope = scope.limit(1);
        }
        let tg = scope.group();
        let root = root.unwrap_or_else(|| tg.clone());
        groups.lock().unwrap().push(tg.clone());
        for i in 0..3 {
            let g = c.guard();
            let f = async move {
                let _g = g;
                std::future::pending::<()>().await;
            };
            if i == 0 {
                tg.spawn_shielded(f);
            } else {
                tg.spawn(f);
            }
        }
        let cb = CallsBack::new(&[&tg, &root], &[], &probe);
        tg.spawn(async move {
            let _cb = cb;
            std::future::pending::<()>().await;
        });
        if depth > 0 {
            tg.spawn(tree(
                depth - 1,
                link,
                Some(tg.clone()),
                Some(root),
                c.clone(),
                probe.clone(),
                groups.clone(),
                ready.clone(),
            ));
        }
        ready.fetch_add(1, Ordering::SeqCst);
        let _ = scope
            .run(std::future::pending::<Result<(), BoxError>>())
            .await;
    })
}

const DEPTH: usize = 4;

fn check_tree_after_shutdown(c: &Count, probe: &Probe, groups: &[TaskGroup]) {
    // 3 guards per level; the queued ones at the leaf were spawned too
    assert_eq!(
        c.get(),
        3 * (DEPTH + 1),
        "a task future outlived its runtime"
    );
    assert_eq!(probe.ran(), DEPTH + 1);
    assert_eq!(
        probe.dropped(),
        probe.created(),
        "a future spawned by a destructor during the shutdown was never dropped"
    );
    assert_eq!(groups.len(), DEPTH + 1);
    for (i, g) in groups.iter().enumerate() {
        assert!(
            g.is_cancelled(),
            "level {i} not cancelled although its scope was dropped"
        );
        assert_eq!(g.len(), 0, "level {i}");
        // after the end, a spawn is refused and nothing starts
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let e = g
            .try_spawn(async move {
                s.fetch_add(1, Ordering::SeqCst);
            })
            .expect_err("a group whose scope was dropped accepted a task");
        assert!(e.is_closed());
        g.cancel();
        assert_eq!(started.load(Ordering::SeqCst), 0);
    }
}

fn shut_down_tree(flavor_multi: bool, linked: bool, how: &'static str) {
    quiet_payload_panics();
    let rt = if flavor_multi {
        other_runtime(2)
    } else {
        Builder::new_current_thread().enable_all().build().unwrap()
    };
    let c = Count::default();
    let probe = Probe::new();
    let groups: Arc<Mutex<Vec<TaskGroup>>> = Arc::default();
    let ready = Arc::new(AtomicUsize::new(0));
    let t = tree(
        DEPTH,
        linked,
        None,
        None,
        c.clone(),
        probe.clone(),
        groups.clone(),
        ready.clone(),
    );
    rt.spawn(t);
    rt.block_on(async {
        while ready.load(Ordering::SeqCst) < DEPTH + 1 {
            tokio::time::sleep(ms(1)).await;
        }
        // let the leaves' tasks start
        tokio::time::sleep(ms(20)).await;
    });
    match how {
        "drop" => drop(rt),
        "shutdown_timeout" => rt.shutdown_timeout(Duration::from_secs(5)),
        "background" => {
            rt.shutdown_background();
            let until = std::time::Instant::now() + Duration::from_secs(5);
            // Every destructor must have run to its end: between two of its spawns (each
            // refused and dropped at once), `dropped` equals `created` while it still runs.
            while c.get() < 3 * (DEPTH + 1)
                || probe.ran() < DEPTH + 1
                || probe.dropped() < probe.created()
            {
                assert!(
                    std::time::Instant::now() < until,
                    "background shutdown never ended"
                );
                std::thread::sleep(ms(1));
            }
        }
        _ => unreachable!(),
    }
    let groups = groups.lock().unwrap().clone();
    check_tree_after_shutdown(&c, &probe, &groups);
}

// sec. 2 + 5: dropping a runtime drops every scope and task on it without a hang, a panic or a
// leak, whatever the destructors call back into; the groups end cancelled and refuse spawns
#[test]
fn runtime_dropped_with_live_tree_of_scopes_multi_thread() {
    watchdog("drop multi", || shut_down_tree(true, false, "drop"));
}

#[test]
fn runtime_dropped_with_live_tree_of_scopes_current_thread() {
    watchdog("drop current", || shut_down_tree(false, false, "drop"));
}

#[test]
fn runtime_shut_down_with_live_linked_tree_multi_thread() {
    watchdog("shutdown_timeout multi", || {
        shut_down_tree(true, true, "shutdown_timeout")
    });
}

#[test]
fn runtime_shut_down_in_background_with_live_linked_tree_multi_thread() {
    watchdog("background multi", || {
        shut_down_tree(true, true, "background")
    });
}

#[test]
fn runtime_dropped_with_live_linked_tree_current_thread() {
    watchdog("drop linked current", || {
        shut_down_tree(false, true, "drop")
    });
}

/// Shuts `rt` down from a blocking thread (a runtime cannot be dropped in async code).
async fn shut_down(rt: Runtime) {
    tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(5)))
        .await
        .unwrap();
}

// sec. 2: tasks stopped by their runtime's shutdown: neither failure nor cancel; the scope on
// another runtime completes with the body's value once every task future was dropped
async fn tasks_on_a_runtime_shut_down_under_a_running_scope_count_like_abort() {
    let other = other_runtime(1);
    let scope = {
        let _e = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    let c = Count::default();
    let started = Arc::new(tokio::sync::Barrier::new(4));
    let mut handles = Vec::new();
    for i in 0..3 {
        let (g, s) = (c.guard(), started.clone());
        let f = async move {
            let _g = g;
            s.wait().await;
            std::future::pending::<()>().await;
            Ok::<u32, BoxError>(1)
        };
        handles.push(if i == 0 {
            tg.spawn_shielded(f)
        } else {
            tg.spawn(f)
        });
    }
    let c2 = c.clone();
    let out = scope
        .run(async move {
            started.wait().await;
            shut_down(other).await;
            let mut got = Vec::new();
            for h in handles {
                got.push(h.await);
            }
            Ok::<_, BoxError>((got, c2.get()))
        })
        .await;
    assert_eq!(
        out.unwrap(),
        Outcome::Completed((vec![None, None, None], 3))
    );
    assert!(!tg.is_cancelled());
    assert_eq!(tg.len(), 0);
}

// sec. 6 + 2: under limit(1), the running task stopped by the shutdown frees its slot; the
// queued ones, on the dead runtime, end like aborted ones; nothing hangs, nothing fails
async fn queued_tasks_under_limit_one_on_a_runtime_shut_down_count_like_abort() {
    let other = other_runtime(1);
    let scope = {
        let _e = other.enter();
        CancelScope::new().limit(1)
    };
    let tg = scope.group();
    let c = Count::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let (running, is_running) = tokio::sync::oneshot::channel::<()>();
    let g = c.guard();
    let first = tg.spawn(async move {
        let _g = g;
        let _ = running.send(());
        std::future::pending::<()>().await;
    });
    let mut queued = Vec::new();
    for _ in 0..5 {
        let (g, r) = (c.guard(), ran.clone());
        queued.push(tg.spawn(async move {
            let _g = g;
            r.fetch_add(1, Ordering::SeqCst);
        }));
    }
    assert_eq!(tg.len(), 6);
    let out = scope
        .run(async move {
            is_running.await.unwrap();
            shut_down(other).await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(c.get(), 6, "a task future outlived the scope");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a queued task ran on a dead runtime"
    );
    assert_eq!(first.await, None);
    for h in queued {
        assert_eq!(h.await, None);
    }
    assert!(!tg.is_cancelled());
}

// sec. 2: "A panic while a cancelled task is being dropped counts as a task panic", for a task
// stopped by its runtime's shutdown too
async fn task_destructor_panic_during_shutdown_is_resumed() {
    quiet_payload_panics();
    let other = other_runtime(1);
    let scope = {
        let _e = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    let (running, is_running) = tokio::sync::oneshot::channel::<()>();
    let bomb = PanicOnDrop(41);
    tg.spawn(async move {
        let _bomb = bomb;
        let _ = running.send(());
        std::future::pending::<()>().await;
    });
    let caught = catch(scope.run(async move {
        is_running.await.unwrap();
        shut_down(other).await;
        Ok::<_, BoxError>(())
    }))
    .await
    .expect_err("a panic in a destructor run by the shutdown was swallowed");
    assert_eq!(payload(&*caught), Ok(41));
}

// sec. 2 hand-over across runtimes: the outer scope's group and the inner scope live on a
// runtime that shuts down; the outer scope runs on a live one and waits for every task of the
// dropped inner scope; neither failed nor cancelled
async fn nested_scope_on_dying_runtime_handed_over_to_scope_on_live_runtime() {
    let other = other_runtime(2);
    let outer = {
        let _e = other.enter();
        CancelScope::new()
    };
    let o = outer.group();
    let c = Count::default();
    let inner_group: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let (ready, is_ready) = tokio::sync::oneshot::channel::<()>();
    let (c2, ig) = (c.clone(), inner_group.clone());
    o.spawn(async move {
        let inner = CancelScope::new();
        let i = inner.group();
        *ig.lock().unwrap() = Some(i.clone());
        let b = Arc::new(tokio::sync::Barrier::new(4));
        for _ in 0..3 {
            let (g, b) = (c2.guard(), b.clone());
            i.spawn(async move {
                let _g = g;
                b.wait().await;
                std::future::pending::<()>().await;
            });
        }
        let _ = inner
            .run(async move {
                b.wait().await;
                let _ = ready.send(());
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            })
            .await;
    });
    let c3 = c.clone();
    let out = outer
        .run(async move {
            is_ready.await.unwrap();
            shut_down(other).await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        c3.get(),
        3,
        "a task of the dropped inner scope outlived the outer scope"
    );
    assert!(!o.is_cancelled());
    let i = inner_group.lock().unwrap().take().unwrap();
    assert_eq!(i.cancel_reason(), Some(CancelReason::Dropped));
}

// sec. 2 "Which runtime": a scope created on a runtime that is gone before it runs spawns there:
// its tasks end at once like aborted ones, the body's value is the outcome
async fn scope_whose_captured_runtime_is_gone_runs_elsewhere() {
    let other = other_runtime(1);
    let scope = {
        let _e = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    shut_down(other).await;
    let c = Count::default();
    let g = c.guard();
    let early = tg.spawn(async move {
        let _g = g;
        Ok::<_, BoxError>(1)
    });
    let c2 = c.clone();
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            let g = c2.guard();
            let late = tg2.spawn(async move {
                let _g = g;
                Ok::<_, BoxError>(2)
            });
            Ok::<_, BoxError>((early.await, late.await, c2.get()))
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed((None, None, 2)));
    assert!(!tg.is_cancelled());
    assert_eq!(tg.len(), 0);
}
