//! Adversarial 3: destructors that call back into their own group or into linked groups, from
//! every place a scope drops user values: a task aborted by a cancel, a task's discarded output,
//! the body's discarded value, the body dropped at a cancel, a later panic's payload, errors
//! dropped with the unwinding, a race loser's error, queued members, a shielded task of a
//! dropped scope, local tasks. Each destructor spawns (every kind), reads `len`, reasons and
//! `deadline`, polls `cancelled()`, links a scope and drops it, and may cancel.
//!
//! SPEC rules attacked: sec. 2 "Nothing outlives its scope" (a value a scope discards is dropped
//! before it returns; a dropped scope hands its tasks over); sec. 3 "cancel() ... immediate,
//! idempotent, sync, callable from anywhere"; sec. 5 "After a cancel, spawn does not start the
//! future", "No error, no panic, in any state", "The reason recorded is always the first
//! cause", "no process-wide lock ... dropping a scope never blocks on another scope's
//! propagation", "run no user code while holding a lock", "Linking to a parent that is
//! cancelled but still running cancels the new scope at once"; rules 2, 4 and 5 of sec. 4;
//! sec. 9 (race losers' errors dropped after a win).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome, TaskGroup};
use tokio::sync::Notify;

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial::ms;
use adversarial3::{CREATED_PER_GROUP, CallsBack, Payload, Probe, catch, panic_with, payload};

both!(
    aborted_tasks_call_back_into_own_cancelled_group,
    deadline_cancelled_task_cancels_linked_running_parent_from_destructor,
    discarded_output_destructor_cancelling_own_group_makes_it_cancelled,
    discarded_body_value_destructor_calls_back_after_cancel,
    dropped_body_calls_back_into_linked_child_during_propagation,
    later_panic_payload_destructor_calls_back,
    errors_dropped_with_the_unwinding_call_back,
    race_loser_error_destructor_calls_back_after_the_win,
    queued_members_call_back_when_dropped_by_cancel_under_limit_one,
    shielded_task_of_dropped_scope_spawns_into_enclosing_group,
    destructor_runs_linked_scope_to_completion_synchronously,
    local_tasks_call_back_when_dropped_by_cancel,
    local_tasks_call_back_when_run_is_dropped,
);

/// Waits until `n` tasks reported through `count`/`notify`.
async fn all_started(count: &AtomicUsize, notify: &Notify, n: usize) {
    loop {
        let notified = notify.notified();
        if count.load(Ordering::SeqCst) >= n {
            return;
        }
        notified.await;
    }
}

fn reasons(probe: &Probe) -> Vec<(usize, Option<CancelReason>)> {
    probe
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|&(i, _, r)| (i, r))
        .collect()
}

// sec. 5: spawns after a cancel are not started; the reason stays the first cause; the request
// travels up to the linked parent before `cancel()` returns
async fn aborted_tasks_call_back_into_own_cancelled_group() {
    let probe = Probe::new();
    let parent_scope = CancelScope::new();
    let p = parent_scope.group();
    let scope = CancelScope::new().parent(&p);
    let tg = scope.group();
    let started = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(Notify::new());
    const N: usize = 10;
    for _ in 0..N {
        let cb = CallsBack::new(&[&tg, &p], &[0], &probe);
        let (s, n) = (started.clone(), notify.clone());
        tg.spawn(async move {
            let _cb = cb;
            s.fetch_add(1, Ordering::SeqCst);
            n.notify_one();
            std::future::pending::<()>().await;
        });
    }
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            all_started(&started, &notify, N).await;
            tg2.cancel();
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(p.cancel_reason(), Some(CancelReason::Child));
    assert_eq!(
        probe.ran(),
        N,
        "every aborted task's destructor ran before run returned"
    );
    assert_eq!(probe.created(), N * 2 * CREATED_PER_GROUP);
    assert_eq!(probe.started(), 0, "a spawn after the cancel started");
    assert_eq!(probe.accepted(), 0, "try_spawn after the cancel accepted");
    assert_eq!(
        probe.dropped(),
        probe.created(),
        "a refused future outlived the scope"
    );
    for (i, r) in reasons(&probe) {
        let want = if i == 0 {
            CancelReason::Requested
        } else {
            CancelReason::Child
        };
        assert_eq!(r, Some(want), "group {i} seen from a destructor");
    }
    assert_eq!(tg.len(), 0);
    drop(parent_scope);
}

// sec. 5: Deadline does not travel up; a destructor may cancel a linked running parent, which
// then passes its own cancel down (the child keeps Deadline, the first cause)
async fn deadline_cancelled_task_cancels_linked_running_parent_from_destructor() {
    let probe = Probe::new();
    let parent_scope = CancelScope::new();
    let p = parent_scope.group();
    let scope = CancelScope::new().parent(&p).timeout(ms(20));
    let tg = scope.group();
    let cb = CallsBack::new(&[&tg, &p], &[1], &probe);
    tg.spawn(async move {
        let _cb = cb;
        std::future::pending::<()>().await;
    });
    let (po, so) = futures::join!(
        parent_scope.run(std::future::pending::<Result<(), BoxError>>()),
        scope.run(std::future::pending::<Result<(), BoxError>>()),
    );
    assert_eq!(so.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(po.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(probe.ran(), 1);
    assert_eq!(
        reasons(&probe),
        [(0, Some(CancelReason::Deadline)), (1, None)],
        "what the destructor saw"
    );
    // the spawns into the running, not yet cancelled parent were accepted (the try_spawn too)
    assert_eq!(probe.accepted(), 1);
    // the shielded one is not aborted by the parent's cancel that followed: it started
    assert!(probe.started() >= 1, "started {}", probe.started());
    assert_eq!(
        probe.dropped(),
        probe.created(),
        "a future spawned into the parent outlived it"
    );
}

// sec. 2: a discarded output is dropped before the scope returns; rule 5: Completed means never
// cancelled, so a cancel from that destructor makes the outcome Cancelled
async fn discarded_output_destructor_cancelling_own_group_makes_it_cancelled() {
    let probe = Probe::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    let p2 = probe.clone();
    let out = scope
        .run(async move {
            let cb = CallsBack::new(&[&tg2], &[0], &p2);
            drop(tg2.spawn(async move { Ok::<_, BoxError>(cb) }));
            Ok::<_, BoxError>(5)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(probe.ran(), 1);
    assert_eq!(reasons(&probe), [(0, None)]);
    assert_eq!(probe.accepted(), 1);
    assert!(probe.started() >= 1, "the shielded spawn did not start");
    assert_eq!(probe.dropped(), probe.created());
}

// rule 5: the body's value discarded by a later cancel is dropped before the scope returns;
// its destructor sees the first causes and cannot start anything
async fn discarded_body_value_destructor_calls_back_after_cancel() {
    let probe = Probe::new();
    let parent_scope = CancelScope::new();
    let p = parent_scope.group();
    let scope = CancelScope::new().parent(&p);
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tg2 = tg.clone();
    tg.spawn(async move {
        let _ = rx.await;
        tg2.cancel();
    });
    let (tg3, p3, probe3) = (tg.clone(), p.clone(), probe.clone());
    let out = scope
        .run(async move {
            let cb = CallsBack::new(&[&tg3, &p3], &[0, 1], &probe3);
            tx.send(()).unwrap();
            Ok::<_, BoxError>(cb)
        })
        .await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Requested))
    ));
    assert_eq!(
        probe.ran(),
        1,
        "the discarded value was not dropped before run returned"
    );
    assert_eq!(
        reasons(&probe),
        [
            (0, Some(CancelReason::Requested)),
            (1, Some(CancelReason::Child))
        ]
    );
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.accepted(), 0);
    assert_eq!(probe.dropped(), probe.created());
    assert_eq!(p.cancel_reason(), Some(CancelReason::Child));
    drop(parent_scope);
}

// sec. 5: the body is dropped at the next Pending after a cancel; the linked child was marked
// Parent by the cancel itself; a destructor's cancel of that child changes nothing
async fn dropped_body_calls_back_into_linked_child_during_propagation() {
    let probe = Probe::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let child_scope = CancelScope::new().parent(&tg);
    let c = child_scope.group();
    let tg2 = tg.clone();
    // The cancel comes once the body holds its guard (on multi-thread, a task that only
    // yielded once could cancel before the body's first poll).
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = started_rx.await;
        tokio::task::yield_now().await;
        tg2.cancel();
    });
    let (tg3, c3, probe3) = (tg.clone(), c.clone(), probe.clone());
    let (so, co) = futures::join!(
        scope.run(async move {
            let _cb = CallsBack::new(&[&tg3, &c3], &[0, 1], &probe3);
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        }),
        child_scope.run(std::future::pending::<Result<(), BoxError>>()),
    );
    assert_eq!(so.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(co.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(probe.ran(), 1);
    assert_eq!(
        reasons(&probe),
        [
            (0, Some(CancelReason::Requested)),
            (1, Some(CancelReason::Parent))
        ]
    );
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), probe.created());
}

/// A panic payload whose destructor calls back.
struct CbPayload(u32, #[allow(dead_code)] CallsBack);

// rule 4: the first panic is resumed; later ones are dropped with the unwinding (outside any
// lock: their destructors call back into the group)
async fn later_panic_payload_destructor_calls_back() {
    let probe = Probe::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tg2, p2) = (tg.clone(), probe.clone());
    // the later panic: shielded, it waits for the cancel that the first panic causes
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        let cb = CallsBack::new(&[&tg2], &[0], &p2);
        panic_with(CbPayload(2, cb));
    });
    let (tg3, p3) = (tg.clone(), probe.clone());
    tg.spawn(async move {
        tokio::task::yield_now().await;
        let cb = CallsBack::new(&[&tg3], &[0], &p3);
        panic_with(CbPayload(1, cb));
    });
    let caught = catch(scope.run(std::future::pending::<Result<(), BoxError>>()))
        .await
        .expect_err("a panic was swallowed");
    let first = caught
        .downcast::<CbPayload>()
        .unwrap_or_else(|_| panic!("not the original payload"));
    assert_eq!(first.0, 1, "not the first panic");
    assert_eq!(
        probe.ran(),
        1,
        "the later payload was not dropped before the scope resumed the first"
    );
    drop(first);
    assert_eq!(probe.ran(), 2);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.accepted(), 0);
    assert_eq!(probe.dropped(), probe.created());
    for (_, r) in reasons(&probe) {
        assert_eq!(r, Some(CancelReason::Failed));
    }
}

/// An error whose destructor calls back.
struct CbError(#[allow(dead_code)] CallsBack);

impl fmt::Debug for CbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CbError")
    }
}
impl fmt::Display for CbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("calls back")
    }
}
impl std::error::Error for CbError {}

// rule 4: the errors collected are dropped with the unwinding; their destructors call back
async fn errors_dropped_with_the_unwinding_call_back() {
    let probe = Probe::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        panic_with(Payload(7));
    });
    let (tg3, p3) = (tg.clone(), probe.clone());
    tg.spawn(async move {
        let cb = CallsBack::new(&[&tg3], &[0], &p3);
        Err::<(), BoxError>(Box::new(CbError(cb)))
    });
    let caught = catch(scope.run(std::future::pending::<Result<(), BoxError>>()))
        .await
        .expect_err("the panic was swallowed");
    assert_eq!(payload(&*caught), Ok(7));
    assert_eq!(probe.ran(), 1, "the collected error was not dropped");
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), probe.created());
}

type Contender = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

// sec. 9: once a task has won, the losers' errors are dropped (inside their tasks, which the
// race waits for); their destructors see RaceWon and start nothing
async fn race_loser_error_destructor_calls_back_after_the_win() {
    let probe = Probe::new();
    let scope = CancelScope::new().grace(Duration::from_secs(30));
    let tg = scope.group();
    let (tg2, p2) = (tg.clone(), probe.clone());
    let loser: Contender = Box::pin(async move {
        tg2.cancelled().await;
        let cb = CallsBack::new(&[&tg2], &[0], &p2);
        Err(Box::new(CbError(cb)) as BoxError)
    });
    let winner: Contender = Box::pin(async { Ok(1) });
    let out = scope.race(vec![loser, winner]).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(probe.ran(), 1, "the loser's error outlived the race");
    assert_eq!(reasons(&probe), [(0, Some(CancelReason::RaceWon))]);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), probe.created());
}

// sec. 6 / 10: queued members (task, shielded task, blocking closure) under limit(1); the
// plain ones are dropped unstarted by the cancel, the shielded one runs; every destructor
// calls back into the cancelled group
async fn queued_members_call_back_when_dropped_by_cancel_under_limit_one() {
    let probe = Probe::new();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = tx.send(());
        std::future::pending::<()>().await;
    });
    let cb = CallsBack::new(&[&tg], &[0], &probe);
    let queued_plain = tg.spawn(async move {
        let _cb = cb;
    });
    let cb = CallsBack::new(&[&tg], &[0], &probe);
    let queued_blocking = tg.spawn_blocking(move || {
        let _cb = cb;
    });
    let cb = CallsBack::new(&[&tg], &[0], &probe);
    let queued_shielded = tg.spawn_shielded(async move {
        let _cb = cb;
        Ok::<_, BoxError>(3)
    });
    assert_eq!(tg.len(), 4);
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            let _ = rx.await;
            tg2.cancel();
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(probe.ran(), 3);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.accepted(), 0);
    assert_eq!(probe.dropped(), probe.created());
    for (_, r) in reasons(&probe) {
        assert_eq!(r, Some(CancelReason::Requested));
    }
    assert_eq!(queued_plain.await, None);
    assert_eq!(queued_blocking.await, None);
    assert_eq!(queued_shielded.await, Some(3));
}

// sec. 2: a dropped scope aborts its shielded tasks too and hands them to the scope it ran in;
// their destructors' spawns into the dropped group are refused, those into the enclosing,
// running group start, and the enclosing scope waits for them
async fn shielded_task_of_dropped_scope_spawns_into_enclosing_group() {
    let probe = Probe::new();
    let outer = CancelScope::new();
    let o = outer.group();
    let (o2, p2) = (o.clone(), probe.clone());
    let inner_group: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let ig = inner_group.clone();
    let out = outer
        .run(async move {
            let inner = CancelScope::new();
            let i = inner.group();
            *ig.lock().unwrap() = Some(i.clone());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let cb = CallsBack::new(&[&i, &o2], &[], &p2);
            i.spawn_shielded(async move {
                let _cb = cb;
                let _ = tx.send(());
                std::future::pending::<()>().await;
            });
            tokio::select! {
                _ = inner.run(std::future::pending::<Result<(), BoxError>>()) => unreachable!(),
                _ = rx => {}
            }
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let i = inner_group.lock().unwrap().take().unwrap();
    assert_eq!(i.cancel_reason(), Some(CancelReason::Dropped));
    assert!(!o.is_cancelled());
    assert_eq!(probe.ran(), 1, "the handed-over task was not waited for");
    assert_eq!(
        probe.seen.lock().unwrap().clone(),
        [(0, 1, Some(CancelReason::Dropped)), (1, 0, None)],
        "(group, len, reason) seen by the destructor"
    );
    assert_eq!(
        probe.accepted(),
        1,
        "try_spawn into the running enclosing group"
    );
    assert_eq!(
        probe.started(),
        CREATED_PER_GROUP,
        "every spawn into the enclosing group starts"
    );
    assert_eq!(
        probe.dropped(),
        probe.created(),
        "a task spawned into the enclosing group outlived it"
    );
}

/// Runs a scope linked to `.0` to completion inside its destructor, without an executor of
/// tokio's: records its outcome in `.1`.
struct RunsLinkedScope(TaskGroup, Arc<Mutex<Vec<Outcome<u8>>>>);

impl Drop for RunsLinkedScope {
    fn drop(&mut self) {
        let child = CancelScope::new().parent(&self.0);
        let out = futures::executor::block_on(child.run(async { Ok::<_, BoxError>(1) }));
        self.1
            .lock()
            .unwrap()
            .push(out.expect("a scope without errors failed"));
    }
}

// sec. 5: "Linking to a parent that is cancelled but still running cancels the new scope at
// once (reason Parent)", even from a destructor run by that parent's cancel; and a scope linked
// to a parent that is not cancelled completes
async fn destructor_runs_linked_scope_to_completion_synchronously() {
    let outs = Arc::new(Mutex::new(Vec::new()));
    let scope = CancelScope::new();
    let tg = scope.group();
    // a task that ends normally: the scope its destructor runs is linked to a live group
    let r = RunsLinkedScope(tg.clone(), outs.clone());
    let done = tg.spawn(async move {
        let _r = r;
        tokio::task::yield_now().await;
    });
    // a task aborted by the cancel
    let r = RunsLinkedScope(tg.clone(), outs.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tg.spawn(async move {
        let _r = r;
        let _ = tx.send(());
        std::future::pending::<()>().await;
    });
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            done.await;
            let _ = rx.await;
            tg2.cancel();
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        outs.lock().unwrap().clone(),
        [
            Outcome::Completed(1),
            Outcome::Cancelled(CancelReason::Parent)
        ]
    );
}

/// Calls back into a group when a local task holding it is dropped.
struct LocalCb(#[allow(dead_code)] CallsBack);

// sec. 10: local tasks are dropped at the next Pending after a cancel (and queued ones under
// limit(1) unstarted); their destructors' spawns are refused
async fn local_tasks_call_back_when_dropped_by_cancel() {
    let probe = Probe::new();
    let locals = Locals::new();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (tg2, p2) = (tg.clone(), probe.clone());
    let out = scope
        .run_with_locals(&locals, async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let cb = LocalCb(CallsBack::new(&[&tg2], &[0], &p2));
            let running = locals.spawn(async move {
                let _cb = cb;
                let _ = tx.send(());
                std::future::pending::<()>().await;
            });
            let cb = LocalCb(CallsBack::new(&[&tg2], &[0], &p2));
            let queued = locals.spawn(async move {
                let _cb = cb;
            });
            assert_eq!(tg2.len(), 2);
            let _ = rx.await;
            tg2.cancel();
            drop((running, queued));
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    drop(locals);
    assert_eq!(probe.ran(), 2);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), probe.created());
}

// sec. 2 / 10: dropping the run future drops its local tasks; their destructors see the group
// cancelled (Dropped) and start nothing
async fn local_tasks_call_back_when_run_is_dropped() {
    let probe = Probe::new();
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (tg2, p2) = (tg.clone(), probe.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    {
        let run = scope.run_with_locals(&locals, async {
            let cb = LocalCb(CallsBack::new(&[&tg2], &[0], &p2));
            locals.spawn(async move {
                let _cb = cb;
                let _ = tx.send(());
                std::future::pending::<()>().await;
            });
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        });
        tokio::select! {
            _ = run => unreachable!(),
            _ = rx => {}
        }
    }
    drop(locals);
    assert_eq!(probe.ran(), 1);
    assert_eq!(reasons(&probe), [(0, Some(CancelReason::Dropped))]);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), probe.created());
}
