//! Adversarial: free attacks on SPEC sections 2 to 6 (orders of calls, races, drops at every
//! poll, destructors that call back, shutdown, limit, shield, reasons, errors).
//! Every test runs on its own thread under a real-time watchdog, so a deadlock fails too.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::future::Future;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, ms};

fn msgs(e: &cancel_scope::GroupError<BoxError>) -> Vec<String> {
    e.errors().iter().map(ToString::to_string).collect()
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

/// Counts drops.
#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);
impl Count {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    fn guard(&self) -> G {
        G(self.0.clone())
    }
}
struct G(Arc<AtomicUsize>);
impl Drop for G {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

both!(
    cancel_before_run_then_timeout_zero_keeps_requested,
    past_deadline_does_not_start_body,
    timeout_zero_does_not_start_body_and_aborts_early_tasks,
    failure_after_request_keeps_reason_requested_and_returns_err,
    errors_after_cancel_are_kept_in_order,
    finished_group_stays_not_cancelled,
    linking_to_finished_parent_has_no_effect,
    linking_to_cancelled_finished_parent_has_no_effect,
    linking_to_cancelled_running_parent_cancels_at_once,
    deadline_failed_parent_dropped_do_not_travel_up,
    dropped_scope_cancels_linked_children_with_parent,
    spawn_after_cancel_does_not_start_and_resolves_none,
    try_spawn_after_cancel_gives_future_back,
    task_handle_abort_is_not_failure_nor_cancel,
    len_counts_queued_tasks_under_limit_one,
    limit_one_runs_in_spawn_order_one_at_a_time,
    limit_usize_max_works,
    shielded_queued_task_runs_after_cancel_under_limit,
    shielded_running_task_survives_cancel_and_counts_error,
    cancelled_is_level_triggered,
    destructor_calling_cancel_spawn_len_on_own_group,
    destructor_calling_cancel_on_linked_parent,
    drop_run_future_at_every_poll_count,
    drop_unrun_scope_reason_dropped_and_tasks_aborted,
    nested_scope_dropped_by_outer_cancel_records_dropped,
    panic_in_task_destructor_on_cancel_is_resumed,
    first_panic_is_resumed_body_before_task,
    spawn_from_std_thread_and_spawn_blocking,
    scope_inside_spawn_blocking_block_on,
    race_cancel_vs_spawn_from_threads_leaves_nothing,
    race_cancel_vs_task_spawning_siblings,
    group_error_display_and_source,
    hundred_thousand_short_linked_scopes_leave_nothing,
    completed_only_if_never_cancelled_cancel_from_task_after_body,
    spawn_into_other_runtime_group_runs_there,
);

// SPEC 5: "The reason recorded is always the first cause" (cancel before run, then a zero timeout)
async fn cancel_before_run_then_timeout_zero_keeps_requested() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    let scope = scope.timeout(Duration::ZERO);
    let out = within("run", scope.run(async { Ok::<_, BoxError>(1) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// SPEC 5: "A deadline already past cancels at once; the body is not started"
async fn past_deadline_does_not_start_body() {
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let past = tokio::time::Instant::now()
        .checked_sub(Duration::from_millis(1))
        .unwrap_or_else(tokio::time::Instant::now);
    let out = within(
        "run",
        CancelScope::new().deadline(past).run(async move {
            s2.store(true, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(
        !started.load(Ordering::SeqCst),
        "body started under a past deadline"
    );
}

// SPEC 5: "timeout(Duration::ZERO) is a deadline already past"; tasks spawned before run are aborted
async fn timeout_zero_does_not_start_body_and_aborts_early_tasks() {
    let c = Count::default();
    let scope = CancelScope::new().timeout(Duration::ZERO);
    let tg = scope.group();
    let g = c.guard();
    let h = tg.spawn(async move {
        let _g = g;
        std::future::pending::<()>().await;
    });
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let out = within(
        "run",
        scope.run(async move {
            s2.store(true, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(!started.load(Ordering::SeqCst));
    assert_eq!(
        c.get(),
        1,
        "early task not dropped before the scope returned"
    );
    assert_eq!(within("handle", h).await, None);
}

// SPEC 5: "a failure after a Requested cancel leaves the reason Requested (and the scope still returns Err, rule 3)"
async fn failure_after_request_keeps_reason_requested_and_returns_err() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        Err::<(), _>(err("late"))
    });
    let tg3 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            tg3.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    let e = out.expect_err("rule 3: an error after a cancel is still an error");
    assert_eq!(msgs(&e), ["late"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// SPEC 4 rule 3: "holding every error that happened, body included, also those that happened after a cancel" (in order)
async fn errors_after_cancel_are_kept_in_order() {
    let scope = CancelScope::new();
    let tg = scope.group();
    for (i, d) in [(1, 30u64), (2, 60), (3, 90)] {
        let tg2 = tg.clone();
        tg.spawn_shielded(async move {
            tg2.cancelled().await;
            tokio::time::sleep(ms(d)).await;
            Err::<(), _>(err(&format!("t{i}")))
        });
    }
    tg.spawn(async {
        tokio::time::sleep(ms(5)).await;
        Err::<(), _>(err("first"))
    });
    let out = within(
        "run",
        scope.run(async move {
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    let e = out.expect_err("errors");
    assert_eq!(msgs(&e), ["first", "t1", "t2", "t3"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    // body error first, then tasks
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        tokio::time::sleep(ms(10)).await;
        Err::<(), _>(err("task"))
    });
    let out = within("run", scope.run(async { Err::<(), _>(err("body")) })).await;
    assert_eq!(msgs(&out.expect_err("errors")), ["body", "task"]);
}

// SPEC 5: "A group that finished without being cancelled stays not cancelled ... cancelled() ... never resolves"
async fn finished_group_stays_not_cancelled() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = within("run", scope.run(async { Ok::<_, BoxError>(3) })).await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    tg.cancel();
    cancel_scope::cancel_group(&tg);
    assert!(!tg.is_cancelled());
    assert_eq!(tg.cancel_reason(), None);
    assert!(
        tokio::time::timeout(ms(30), tg.cancelled()).await.is_err(),
        "cancelled() resolved for a group that finished without a cancel"
    );
    // a spawn into a finished group must not run a task that outlives it
    let c = Count::default();
    let g = c.guard();
    let h = tg.spawn(async move {
        let _g = g;
        std::future::pending::<()>().await;
    });
    tokio::time::sleep(ms(20)).await;
    assert_eq!(
        c.get(),
        1,
        "a task spawned into a finished group is alive after its scope ended"
    );
    assert_eq!(within("handle", h).await, None);
}

// SPEC 5: "linking to a finished parent has no effect, however it finished" (finished by completion)
async fn linking_to_finished_parent_has_no_effect() {
    let ps = CancelScope::new();
    let p = ps.group();
    within("parent", ps.run(async { Ok::<_, BoxError>(()) }))
        .await
        .unwrap();
    let cs = CancelScope::new().parent(&p);
    let c = cs.group();
    assert!(!c.is_cancelled());
    let out = within(
        "child",
        cs.run(async move {
            c.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        !p.is_cancelled(),
        "a finished parent was cancelled by a later child"
    );
}

// SPEC 5: "linking to a finished parent has no effect, however it finished" (finished cancelled)
async fn linking_to_cancelled_finished_parent_has_no_effect() {
    let ps = CancelScope::new();
    let p = ps.group();
    p.cancel();
    within("parent", ps.run(async { Ok::<_, BoxError>(()) }))
        .await
        .unwrap();
    let cs = CancelScope::new().parent(&p);
    let c = cs.group();
    assert!(
        !c.is_cancelled(),
        "linking to a finished (cancelled) parent cancelled the child"
    );
    let out = within("child", cs.run(async { Ok::<_, BoxError>(5) })).await;
    assert_eq!(out.unwrap(), Outcome::Completed(5));
}

// SPEC 5: "Linking to a parent that is cancelled but still running cancels the new scope at once (reason Parent)"
async fn linking_to_cancelled_running_parent_cancels_at_once() {
    let ps = CancelScope::new();
    let p = ps.group();
    let p2 = p.clone();
    let parent = ps.run(async move {
        // keep the parent running after the cancel
        let tg = p2.clone();
        p2.spawn_shielded(async move {
            tg.cancelled().await;
            tokio::time::sleep(ms(200)).await;
        });
        p2.cancel();
        Ok::<_, BoxError>(())
    });
    let child = async {
        tokio::time::sleep(ms(20)).await;
        assert!(p.is_cancelled());
        let cs = CancelScope::new().parent(&p);
        let c = cs.group();
        assert_eq!(c.cancel_reason(), Some(CancelReason::Parent));
        cs.run(async { Ok::<_, BoxError>(()) }).await
    };
    let (op, oc) = within("both", futures::future::join(parent, child)).await;
    assert_eq!(oc.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(op.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// SPEC 5: "Cancels caused by Deadline, Failed or Parent do not travel up"; Dropped "does not travel up"
async fn deadline_failed_parent_dropped_do_not_travel_up() {
    let ps = CancelScope::new();
    let p = ps.group();
    // Deadline
    let out = within(
        "deadline child",
        CancelScope::new()
            .parent(&p)
            .timeout(ms(5))
            .run(std::future::pending::<Result<(), BoxError>>()),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(!p.is_cancelled(), "Deadline travelled up");
    // Failed
    let out = within(
        "failed child",
        CancelScope::new()
            .parent(&p)
            .run(async { Err::<(), _>(err("x")) }),
    )
    .await;
    assert!(out.is_err());
    assert!(!p.is_cancelled(), "Failed travelled up");
    // Dropped
    let cs = CancelScope::new().parent(&p);
    let c = cs.group();
    let mut fut = Box::pin(cs.run(std::future::pending::<Result<(), BoxError>>()));
    assert!(futures::poll!(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(c.cancel_reason(), Some(CancelReason::Dropped));
    assert!(!p.is_cancelled(), "Dropped travelled up");
    // Parent: grandchild request -> child (Child) -> p (Child); then p's sibling link unaffected
    let qs = CancelScope::new();
    let q = qs.group();
    let cs = CancelScope::new().parent(&q);
    let c = cs.group();
    let ds = CancelScope::new().parent(&c);
    let d = ds.group();
    let es = CancelScope::new().parent(&d).parent(&p);
    let e = es.group();
    q.cancel(); // Parent flows down to c, d, e; must not travel up from e to p
    assert_eq!(c.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(d.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(e.cancel_reason(), Some(CancelReason::Parent));
    assert!(!p.is_cancelled(), "Parent travelled up");
    drop((qs, cs, ds, es));
    drop(ps);
}

// SPEC 2/5: dropped scope cancels "(reason Dropped ...)" and "every group reachable downwards from any cancelled group is cancelled with Parent"
async fn dropped_scope_cancels_linked_children_with_parent() {
    let ps = CancelScope::new();
    let p = ps.group();
    let cs = CancelScope::new().parent(&p);
    let c = cs.group();
    drop(ps);
    assert_eq!(p.cancel_reason(), Some(CancelReason::Dropped));
    assert_eq!(c.cancel_reason(), Some(CancelReason::Parent));
    let out = within("child", cs.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
}

// SPEC 5: "After a cancel, spawn does not start the future (it is dropped unstarted and its handle resolves to None)"
async fn spawn_after_cancel_does_not_start_and_resolves_none() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    let c = Count::default();
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let g = c.guard();
    let h = tg.spawn(async move {
        let _g = g;
        s2.store(true, Ordering::SeqCst);
        Ok::<_, BoxError>(1)
    });
    assert_eq!(c.get(), 1, "the future was not dropped at once");
    let hs = tg.spawn_shielded(async { Ok::<_, BoxError>(2) });
    assert_eq!(tg.len(), 0);
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(within("h", h).await, None);
    assert_eq!(
        within("hs", hs).await,
        None,
        "spawn_shielded after cancel started"
    );
    assert!(!started.load(Ordering::SeqCst));
}

// SPEC 5: "try_spawn returns it inside SpawnError"
async fn try_spawn_after_cancel_gives_future_back() {
    let scope = CancelScope::new();
    let tg = scope.group();
    cancel_scope::cancel_group(&tg);
    let r = tg.try_spawn(async { Ok::<_, BoxError>(41) });
    let e = r.expect_err("try_spawn after cancel must fail");
    let _ = format!("{e:?} {e}");
    let v = e.into_inner().await.unwrap();
    assert_eq!(v, 41);
    drop(scope);
}

// SPEC 3: "TaskHandle::abort() stops that one task: it is neither a failure nor a cancel of the group"
async fn task_handle_abort_is_not_failure_nor_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let h = tg.spawn(std::future::pending::<Result<u8, BoxError>>());
    let out = within(
        "run",
        scope.run(async move {
            tokio::task::yield_now().await;
            h.abort();
            assert!(within("h", h).await.is_none());
            Ok::<_, BoxError>(9)
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(9));
    assert!(!tg.is_cancelled());
}

// SPEC 3: "len() counts every task not yet finished, queued ones (under limit) included"
async fn len_counts_queued_tasks_under_limit_one() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Arc::new(tokio::sync::Notify::new());
    for _ in 0..5 {
        let g = gate.clone();
        tg.spawn(async move { g.notified().await });
    }
    assert_eq!(tg.len(), 5);
    let tg2 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            tokio::time::sleep(ms(10)).await;
            assert_eq!(tg2.len(), 5);
            for left in (0..5).rev() {
                gate.notify_one();
                let t0 = std::time::Instant::now();
                while tg2.len() != left {
                    assert!(
                        t0.elapsed() < Duration::from_secs(2),
                        "len stuck at {}",
                        tg2.len()
                    );
                    tokio::time::sleep(ms(1)).await;
                }
            }
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(tg.len(), 0);
}

// SPEC 6: "further spawns queue in spawn order and start as slots free" (limit 1)
async fn limit_one_runs_in_spawn_order_one_at_a_time() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let running = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let tg2 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            for i in 0..20 {
                let (r, l) = (running.clone(), log.clone());
                let sp = move || async move {
                    assert_eq!(r.fetch_add(1, Ordering::SeqCst), 0, "two tasks at once");
                    l.lock().unwrap().push(i);
                    tokio::task::yield_now().await;
                    tokio::time::sleep(ms(1)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                };
                if i % 3 == 0 {
                    tg2.spawn_shielded(sp());
                } else {
                    tg2.spawn(sp());
                }
            }
            Ok::<_, BoxError>(log)
        }),
    )
    .await;
    let log = out.unwrap().completed().unwrap();
    assert_eq!(*log.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

// SPEC 3: ".limit(usize)" with usize::MAX must behave as no limit
async fn limit_usize_max_works() {
    let scope = CancelScope::new().limit(usize::MAX);
    let tg = scope.group();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    for _ in 0..50 {
        let b = barrier.clone();
        tg.spawn(async move {
            b.wait().await;
        });
    }
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// SPEC 6: "queued tasks are dropped unstarted on cancel, except shielded ones, which stay queued and run"
async fn shielded_queued_task_runs_after_cancel_under_limit() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let c = Count::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let g = c.guard();
    let first = tg.spawn(async move {
        let _g = g;
        std::future::pending::<()>().await;
    });
    let r = ran.clone();
    let shielded = tg.spawn_shielded(async move {
        r.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(ms(5)).await;
        Ok::<_, BoxError>(7)
    });
    let r = ran.clone();
    let g = c.guard();
    let plain = tg.spawn(async move {
        let _g = g;
        r.fetch_add(100, Ordering::SeqCst);
    });
    let r = ran.clone();
    let shielded2 = tg.spawn_shielded(async move {
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<_, BoxError>(8)
    });
    assert_eq!(tg.len(), 4);
    tg.cancel();
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "queued plain task started or shielded did not run"
    );
    assert_eq!(c.get(), 2);
    assert_eq!(within("first", first).await, None);
    assert_eq!(within("plain", plain).await, None);
    assert_eq!(within("shielded", shielded).await, Some(7));
    assert_eq!(within("shielded2", shielded2).await, Some(8));
}

// SPEC 6: "Shield: the task is not aborted by cancellation ... the scope still waits for it"; its error counts (rule 3)
async fn shielded_running_task_survives_cancel_and_counts_error() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        tokio::time::sleep(ms(30)).await;
        d2.store(true, Ordering::SeqCst);
        Err::<(), _>(err("shielded"))
    });
    tg.cancel();
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(msgs(&out.expect_err("shielded error counts")), ["shielded"]);
}

// SPEC 5: "Level-triggered: once cancelled, is_cancelled() stays true and cancelled() resolves at once"
async fn cancelled_is_level_triggered() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let early = tg.cancelled();
    let early2 = tg.cancelled();
    drop(early2);
    tg.cancel();
    within("early", early).await;
    for _ in 0..3 {
        let f = tg.cancelled();
        assert!(
            futures::poll!(Box::pin(f)).is_ready(),
            "cancelled() not ready at once"
        );
    }
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert!(out.unwrap().is_cancelled());
    assert!(tg.is_cancelled());
    within("after finish", tg.cancelled()).await;
    // from another thread
    let tg2 = tg.clone();
    std::thread::spawn(move || futures::executor::block_on(tg2.cancelled()))
        .join()
        .unwrap();
}

struct CallsBack {
    tg: TaskGroup,
    spawned: Arc<AtomicUsize>,
}
impl Drop for CallsBack {
    fn drop(&mut self) {
        let _ = self.tg.len();
        let _ = self.tg.is_cancelled();
        self.tg.cancel();
        let s = self.spawned.clone();
        let h = self.tg.spawn(async move {
            s.fetch_add(1, Ordering::SeqCst);
        });
        drop(h);
        let _ = self.tg.try_spawn(async {});
        let _ = self.tg.len();
    }
}

// SPEC 5: cancel is "immediate, idempotent, sync, callable from anywhere ... No error, no panic, in any state" (from a task's destructor)
async fn destructor_calling_cancel_spawn_len_on_own_group() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let spawned = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let cb = CallsBack {
            tg: tg.clone(),
            spawned: spawned.clone(),
        };
        tg.spawn(async move {
            let _cb = cb;
            std::future::pending::<()>().await;
        });
    }
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
        spawned.load(Ordering::SeqCst),
        0,
        "a spawn after the cancel started"
    );
    assert_eq!(tg.len(), 0);
}

struct CancelsOther(TaskGroup);
impl Drop for CancelsOther {
    fn drop(&mut self) {
        self.0.cancel();
        let _ = self.0.len();
    }
}

// SPEC 5: "dropping a scope never blocks on another scope's propagation" (destructor cancels a linked parent during propagation)
async fn destructor_calling_cancel_on_linked_parent() {
    let ps = CancelScope::new();
    let p = ps.group();
    let cs = CancelScope::new().parent(&p);
    let c = cs.group();
    // a task of the child whose destructor cancels the parent, while the parent's cancel propagates
    for _ in 0..10 {
        let co = CancelsOther(p.clone());
        c.spawn(async move {
            let _co = co;
            std::future::pending::<()>().await;
        });
        let co = CancelsOther(c.clone());
        p.spawn(async move {
            let _co = co;
            std::future::pending::<()>().await;
        });
    }
    let p2 = p.clone();
    let (op, oc) = within(
        "both",
        futures::future::join(
            ps.run(async move {
                tokio::task::yield_now().await;
                p2.cancel();
                Ok::<_, BoxError>(())
            }),
            cs.run(std::future::pending::<Result<(), BoxError>>()),
        ),
    )
    .await;
    assert_eq!(op.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(oc.unwrap(), Outcome::Cancelled(CancelReason::Parent));
}

// SPEC 2: "A scope that is dropped before it finishes ... cancels its group (reason Dropped ...) and requests the abort of every task, shielded ones included"
async fn drop_run_future_at_every_poll_count() {
    for k in 0..12usize {
        let outer = CancelScope::new();
        let c = Count::default();
        let c2 = c.clone();
        let out = within(
            "outer",
            outer.run(async move {
                let scope = CancelScope::new();
                let tg = scope.group();
                for i in 0..3 {
                    let g = c2.guard();
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
                let tg2 = tg.clone();
                let mut fut = Box::pin(scope.run(async move {
                    for j in 0..20usize {
                        let g = c2.guard();
                        tg2.spawn(async move {
                            let _g = g;
                            std::future::pending::<()>().await;
                        });
                        let _ = j;
                        tokio::task::yield_now().await;
                    }
                    Ok::<_, BoxError>(())
                }));
                let mut polls = 0;
                while polls < k {
                    if futures::poll!(fut.as_mut()).is_ready() {
                        panic!("scope finished although its tasks never end");
                    }
                    polls += 1;
                }
                drop(fut);
                assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped), "k = {k}");
                assert!(tg.is_cancelled());
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()), "k = {k}");
        let spawned = 3 + k.saturating_sub(0).min(20);
        assert!(
            c.get() >= 3 && c.get() <= spawned + 1,
            "k = {k}: dropped {} guards",
            c.get()
        );
        // every guard created was dropped before the outer scope returned
        let created = c.get();
        tokio::time::sleep(ms(5)).await;
        assert_eq!(c.get(), created, "k = {k}: a task outlived the outer scope");
    }
}

// SPEC 3: "a scope dropped without ever being run aborts them, like any dropped scope"
async fn drop_unrun_scope_reason_dropped_and_tasks_aborted() {
    let c = Count::default();
    let outer = CancelScope::new();
    let c2 = c.clone();
    let out = within(
        "outer",
        outer.run(async move {
            let scope = CancelScope::new().limit(1).grace(Duration::from_secs(60));
            let tg = scope.group();
            for i in 0..4 {
                let g = c2.guard();
                let f = async move {
                    let _g = g;
                    std::future::pending::<()>().await;
                };
                if i % 2 == 0 {
                    tg.spawn_shielded(f);
                } else {
                    tg.spawn(f);
                }
            }
            tokio::task::yield_now().await;
            drop(scope);
            assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
            Ok::<_, BoxError>(tg)
        }),
    )
    .await;
    let tg = out.unwrap().completed().unwrap();
    assert_eq!(
        c.get(),
        4,
        "tasks of a dropped unrun scope outlived the enclosing scope (grace/shield/queue must not matter)"
    );
    assert_eq!(tg.len(), 0);
}

// SPEC 5: "a scope running inside a task or body of another group is cancelled when that group is cancelled, because its future is dropped"
async fn nested_scope_dropped_by_outer_cancel_records_dropped() {
    let outer = CancelScope::new();
    let otg = outer.group();
    let inner_tg = Arc::new(Mutex::new(None));
    let it2 = inner_tg.clone();
    let c = Count::default();
    let c2 = c.clone();
    otg.spawn(async move {
        let s = CancelScope::new();
        let tg = s.group();
        *it2.lock().unwrap() = Some(tg.clone());
        let g = c2.guard();
        tg.spawn_shielded(async move {
            let _g = g;
            std::future::pending::<()>().await;
        });
        let _ = s.run(std::future::pending::<Result<(), BoxError>>()).await;
    });
    let otg2 = otg.clone();
    let out = within(
        "outer",
        outer.run(async move {
            tokio::time::sleep(ms(10)).await;
            otg2.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        c.get(),
        1,
        "a shielded task of a nested scope outlived the outer scope"
    );
    let itg = inner_tg.lock().unwrap().clone().unwrap();
    assert_eq!(itg.cancel_reason(), Some(CancelReason::Dropped));
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

// SPEC 2: "A panic while a cancelled task is being dropped counts as a task panic" (rule 4: resumed)
async fn panic_in_task_destructor_on_cancel_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    tg.spawn(async move {
        let _p = PanicOnDrop(5);
        s2.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    });
    let tg2 = tg.clone();
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async move {
            while !started.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            tg2.cancel();
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(5)));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// SPEC 4 rule 4: "resumes the first panic in the caller with its original payload"
async fn first_panic_is_resumed_body_before_task() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(async {
        tokio::time::sleep(ms(30)).await;
        std::panic::panic_any::<Payload>(Payload(2));
        #[allow(unreachable_code)]
        ()
    });
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        std::panic::panic_any::<Payload>(Payload(3));
        #[allow(unreachable_code)]
        ()
    });
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async {
            tokio::time::sleep(ms(5)).await;
            std::panic::panic_any(Payload(1));
            #[allow(unreachable_code)]
            Ok::<_, BoxError>(())
        }))
        .catch_unwind(),
    )
    .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(1)));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

// SPEC 2: "spawns there from any thread (a plain std::thread, a spawn_blocking closure)"
async fn spawn_from_std_thread_and_spawn_blocking() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let h = std::thread::spawn(move || tg2.spawn(async { Ok::<_, BoxError>(1) }))
        .join()
        .unwrap();
    let tg3 = tg.clone();
    let h2 = tokio::task::spawn_blocking(move || tg3.spawn(async { Ok::<_, BoxError>(2) }))
        .await
        .unwrap();
    let tg4 = tg.clone();
    let out = within(
        "run",
        scope.run(async move {
            let tg5 = tg4.clone();
            let h3 = std::thread::spawn(move || tg5.spawn(async { Ok::<_, BoxError>(3) }))
                .join()
                .unwrap();
            Ok::<_, BoxError>(h.await.unwrap() + h2.await.unwrap() + h3.await.unwrap())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(6));
}

// SPEC 2: a scope inside a spawn_blocking closure via Handle::block_on
async fn scope_inside_spawn_blocking_block_on() {
    let handle = tokio::runtime::Handle::current();
    let v = within(
        "blocking",
        tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                let scope = CancelScope::new();
                let tg = scope.group();
                let h = tg.spawn(async { Ok::<_, BoxError>(20) });
                let tg2 = tg.clone();
                let out = scope
                    .run(async move {
                        tg2.spawn(async {
                            tokio::time::sleep(ms(5)).await;
                        });
                        Ok::<_, BoxError>(h.await.unwrap() + 1)
                    })
                    .await;
                out.unwrap().completed().unwrap()
            })
        }),
    )
    .await
    .unwrap();
    assert_eq!(v, 21);
}

// SPEC 2 "Nothing outlives its scope" under a race: cancel vs spawns from std threads
async fn race_cancel_vs_spawn_from_threads_leaves_nothing() {
    for round in 0..20 {
        let created = Arc::new(AtomicUsize::new(0));
        let c = Count::default();
        let scope = CancelScope::new();
        let tg = scope.group();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let (tg, c, created, stop) = (tg.clone(), c.clone(), created.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut handles = Vec::new();
                for i in 0..300 {
                    if stop.load(Ordering::SeqCst) && i > 50 {
                        break;
                    }
                    created.fetch_add(1, Ordering::SeqCst);
                    let g = c.guard();
                    handles.push(tg.spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await;
                    }));
                }
                handles
            }));
        }
        let tg2 = tg.clone();
        let out = within(
            "run",
            scope.run(async move {
                tokio::time::sleep(Duration::from_micros(200 * (round % 5))).await;
                tg2.cancel();
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        stop.store(true, Ordering::SeqCst);
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        let handles: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(
            c.get(),
            created.load(Ordering::SeqCst),
            "round {round}: a task spawned around the cancel outlived the scope"
        );
        for h in handles {
            assert_eq!(within("handle", h).await, None);
        }
        assert_eq!(tg.len(), 0);
    }
}

// SPEC 2 "Nothing outlives its scope": tasks spawning siblings while a cancel comes from another task
async fn race_cancel_vs_task_spawning_siblings() {
    for round in 0..30 {
        let c = Count::default();
        let created = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let tg = scope.group();
        for _ in 0..4 {
            let (tg2, c2, cr) = (tg.clone(), c.clone(), created.clone());
            tg.spawn(async move {
                for _ in 0..200 {
                    cr.fetch_add(1, Ordering::SeqCst);
                    let g = c2.guard();
                    tg2.spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await;
                    });
                    tokio::task::yield_now().await;
                }
            });
        }
        let tg3 = tg.clone();
        tg.spawn(async move {
            for _ in 0..(round % 7) {
                tokio::task::yield_now().await;
            }
            tg3.cancel();
        });
        let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert_eq!(
            c.get(),
            created.load(Ordering::SeqCst),
            "round {round}: a task outlived the scope"
        );
        assert_eq!(tg.len(), 0);
    }
}

// SPEC 3: "GroupError ... Display (count + each), std::error::Error with source() = first"
async fn group_error_display_and_source() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(async { Err::<(), _>(err("alpha")) });
    let out = within(
        "run",
        scope.run(async {
            tokio::time::sleep(ms(20)).await;
            Err::<(), _>(err("never"))
        }),
    )
    .await;
    let e = out.expect_err("err");
    assert_eq!(msgs(&e), ["alpha"]);
    assert_eq!(e.first().to_string(), "alpha");
    let s = e.to_string();
    assert!(s.contains('1') && s.contains("alpha"), "Display: {s}");
    let src = std::error::Error::source(&e).expect("source() = first");
    assert_eq!(src.to_string(), "alpha");
    let boxed: BoxError = e.into();
    assert!(boxed.to_string().contains("alpha"));
}

// SPEC 5: "A finished scope unlinks itself from its parents, so 100,000 short linked scopes leave nothing behind"
async fn hundred_thousand_short_linked_scopes_leave_nothing() {
    let ps = CancelScope::new();
    let p = ps.group();
    let p2 = p.clone();
    let out = within(
        "parent",
        ps.run(async move {
            let marker = Arc::new(());
            for i in 0..100_000u32 {
                let m = marker.clone();
                let cs = CancelScope::new().parent(&p2);
                let o = cs
                    .run(async move {
                        let _m = m;
                        Ok::<_, BoxError>(i)
                    })
                    .await
                    .unwrap();
                assert_eq!(o, Outcome::Completed(i));
            }
            assert_eq!(Arc::strong_count(&marker), 1);
            // a cancel of the parent now must be cheap and reach nothing
            let t0 = std::time::Instant::now();
            p2.cancel();
            assert!(
                t0.elapsed() < ms(50),
                "cancel took {:?}: links left behind",
                t0.elapsed()
            );
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert!(out.unwrap().is_cancelled());
}

// SPEC 4 rule 5: "Completed(v) means the group was never cancelled" (a task cancels after the body returned)
async fn completed_only_if_never_cancelled_cancel_from_task_after_body() {
    for _ in 0..20 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        tg.spawn(async move {
            tokio::task::yield_now().await;
            tg2.cancel();
        });
        let out = within("run", scope.run(async { Ok::<_, BoxError>(1) }))
            .await
            .unwrap();
        assert_eq!(
            tg.is_cancelled(),
            out.is_cancelled(),
            "outcome {out:?} vs group cancelled {}",
            tg.is_cancelled()
        );
        assert_eq!(out, Outcome::Cancelled(CancelReason::Requested));
    }
}

// SPEC 2: "A group captures the current tokio Handle at new() ... and spawns there from any thread"
async fn spawn_into_other_runtime_group_runs_there() {
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("adv-other-rt")
        .enable_all()
        .build()
        .unwrap();
    let scope = {
        let _e = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    let h = tg.spawn(async { Ok::<_, BoxError>(std::thread::current().name().map(String::from)) });
    let name = within("h", h).await.flatten();
    assert_eq!(
        name.as_deref(),
        Some("adv-other-rt"),
        "task ran on the wrong runtime"
    );
    drop(scope);
    other.shutdown_background();
}
