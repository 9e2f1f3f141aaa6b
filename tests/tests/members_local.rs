//! SPEC section 10, local tasks (`Locals` + `CancelScope::run_with_locals`): polled inside the
//! scope's own `run` future, concurrently with the body, never in parallel; they may borrow what
//! outlives the scope expression and be `!Send`; every rule of a task applies.

#[macro_use]
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use common::*;

both!(
    local_tasks_borrow_a_vec_and_mutate_a_refcell,
    unsend_local_task_holds_an_rc_across_awaits,
    local_tasks_run_concurrently_with_the_body_in_its_task,
    local_error_fails_the_group,
    local_panic_is_resumed_after_everything_stopped,
    cancel_drops_local_tasks_at_their_next_pending,
    grace_lets_local_tasks_finish,
    grace_end_drops_local_tasks,
    local_tasks_are_counted_and_limited,
    scope_returns_after_every_local_task_was_dropped,
    local_handles_resolve,
    spawns_refused_when_unbound_cancelled_or_finished,
    body_error_drops_local_tasks,
    deadline_drops_local_tasks,
    local_handle_abort_stops_one_task_only,
);

fn assert_send<T: Send>(_: &T) {}

/// The run future of a `Locals::new()` scope is `Send` (checked at compile time) and its local
/// tasks borrow a `Vec` declared before the scope.
async fn local_tasks_borrow_a_vec_and_mutate_a_refcell() {
    let words = vec!["a".to_string(), "bb".to_string(), "ccc".to_string()];
    let total = {
        let locals = Locals::new();
        let run = CancelScope::new().run_with_locals(&locals, async {
            let mut hs = Vec::new();
            for w in &words {
                hs.push(locals.spawn(async move {
                    tokio::task::yield_now().await;
                    Ok(w.len())
                }));
            }
            let mut total = 0;
            for h in hs {
                total += h.await.unwrap();
            }
            Ok(total)
        });
        assert_send(&run);
        run.await.unwrap().completed().unwrap()
    };
    assert_eq!(total, 6);

    // A `RefCell` declared before the scope, mutated by local tasks across awaits.
    let log = RefCell::new(Vec::new());
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            for i in 0..3 {
                let log = &log;
                locals.spawn(async move {
                    log.borrow_mut().push(i);
                    tokio::task::yield_now().await;
                    log.borrow_mut().push(10 + i);
                });
            }
            Ok(())
        })
        .await;
    drop(locals);
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let mut log = log.into_inner();
    assert_eq!(log.len(), 6);
    // Interleaved: every task ran its first half before any ran its second.
    assert_eq!(&log[..3], [0, 1, 2]);
    log.sort_unstable();
    assert_eq!(log, [0, 1, 2, 10, 11, 12]);
}

/// A `!Send` local task holding an `Rc` across awaits, with a `!Send` output.
async fn unsend_local_task_holds_an_rc_across_awaits() {
    let shared = Rc::new(Cell::new(0));
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            let s = shared.clone();
            let h = locals.spawn(async move {
                for _ in 0..3 {
                    s.set(s.get() + 1);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Ok::<_, BoxError>(s) // a `!Send` output
            });
            let rc = h.await.unwrap();
            Ok(rc.get())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    assert_eq!(Rc::strong_count(&shared), 1);
}

/// Local tasks run in the scope's task, interleaved with the body, never in parallel: on the
/// multi-thread runtime too, every poll happens on the thread polling `run`.
async fn local_tasks_run_concurrently_with_the_body_in_its_task() {
    let order = RefCell::new(Vec::new());
    let threads = RefCell::new(Vec::new());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            locals.spawn(async {
                order.borrow_mut().push("local waits");
                threads.borrow_mut().push(std::thread::current().id());
                rx.await.unwrap();
                threads.borrow_mut().push(std::thread::current().id());
                order.borrow_mut().push("local resumed");
            });
            tokio::task::yield_now().await;
            order.borrow_mut().push("body signals");
            threads.borrow_mut().push(std::thread::current().id());
            tx.send(()).unwrap();
            Ok(())
        })
        .await;
    out.unwrap();
    drop(locals);
    assert_eq!(
        order.into_inner(),
        ["local waits", "body signals", "local resumed"]
    );
    let threads = threads.into_inner();
    assert_eq!(threads.len(), 3);
    assert!(
        threads.iter().all(|t| *t == threads[0]),
        "polled on another thread"
    );
}

/// A local task's `Err` fails the group: siblings are cancelled, the error is reported.
async fn local_error_fails_the_group() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let tg_len = Cell::new(usize::MAX);
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(hold_forever(dropped.guard()));
            tg.spawn(hold_forever(dropped.guard()));
            locals.spawn(async { Err::<(), BoxError>(err("bad input")) });
            std::future::pending::<()>().await;
            tg_len.set(tg.len());
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["bad input"]);
    assert_eq!(dropped.get(), 2);
    assert_eq!(
        tg_len.get(),
        usize::MAX,
        "the body ran on after the failure"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// A local task's panic cancels the group and is resumed with its payload once every task
/// (here a shielded one still cleaning up) stopped.
async fn local_panic_is_resumed_after_everything_stopped() {
    let finished = Arc::new(AtomicBool::new(false));
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f = finished.clone();
    let caught = catch(scope.run_with_locals(&locals, async {
        tg.spawn_shielded(async move {
            tokio::time::sleep(short()).await;
            f.store(true, Ordering::SeqCst);
        });
        locals.spawn(async {
            tokio::task::yield_now().await;
            boom(Payload(9));
        });
        Ok(())
    }))
    .await
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<Payload>(), Some(&Payload(9)));
    assert!(
        finished.load(Ordering::SeqCst),
        "resumed before the shielded task ended"
    );
}

/// Without a grace period a cancel drops local tasks at once (at their `Pending`), before the
/// scope returns; their handles resolve to `None`.
async fn cancel_drops_local_tasks_at_their_next_pending() {
    let dropped = Counter::new();
    let polls = Cell::new(0);
    let locals = Locals::unsend();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run_with_locals(&locals, async {
            let g = dropped.guard();
            let h = locals.spawn(async {
                let _g = g;
                for _ in 0.. {
                    polls.set(polls.get() + 1);
                    tokio::task::yield_now().await;
                }
            });
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            tg.cancel();
            drop(h);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(dropped.get(), 1);
    let seen = polls.get();
    assert!(seen >= 1, "the local task never ran");
}

/// With a grace period, local tasks see the cancel and may finish; their value counts (here
/// awaited by a second local task, since the body is dropped at the cancel).
async fn grace_lets_local_tasks_finish() {
    let saved = Cell::new(None);
    let locals = Locals::unsend();
    let scope = CancelScope::new().grace(short() * 10);
    let tg = scope.group();
    let watcher = tg.clone();
    let out = scope
        .run_with_locals(&locals, async {
            let h = locals.spawn(async move {
                watcher.cancelled().await;
                tokio::time::sleep(short()).await;
                Ok::<_, BoxError>("saved")
            });
            let saved = &saved;
            locals.spawn(async move { saved.set(h.await) });
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(saved.get(), Some("saved"));
}

/// A local task still running when the grace period ends is dropped then.
async fn grace_end_drops_local_tasks() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let scope = CancelScope::new().grace(short());
    let tg = scope.group();
    let start = tokio::time::Instant::now();
    let g = dropped.guard();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(hold_forever(g));
            tg.cancel();
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(dropped.get(), 1);
    assert!(start.elapsed() >= short(), "dropped before the grace ended");
}

/// Local tasks are counted by `len()` and held to `limit`, with tasks.
async fn local_tasks_are_counted_and_limited() {
    let order = RefCell::new(Vec::new());
    let locals = Locals::unsend();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let out = scope
        .run_with_locals(&locals, async {
            let order = &order;
            locals.spawn(async move {
                order.borrow_mut().push("a start");
                tokio::time::sleep(short()).await;
                order.borrow_mut().push("a end");
            });
            locals.spawn(async move { order.borrow_mut().push("b") });
            assert_eq!(tg.len(), 2);
            tokio::task::yield_now().await;
            assert_eq!(
                tg.len(),
                2,
                "the second local task was not held by the limit"
            );
            Ok(())
        })
        .await;
    out.unwrap();
    drop(locals);
    assert_eq!(order.into_inner(), ["a start", "a end", "b"]);
    assert_eq!(tg.len(), 0);
}

/// The awaited scope returns only after every local task was dropped.
async fn scope_returns_after_every_local_task_was_dropped() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            for i in 0..5u64 {
                let g = dropped.guard();
                locals.spawn(async move {
                    let _g = g;
                    tokio::time::sleep(Duration::from_millis(i)).await;
                });
            }
            Ok(())
        })
        .await;
    out.unwrap();
    assert_eq!(dropped.get(), 5);
}

/// Handles resolve to the value, or `None` for a failed task; a dropped handle detaches nothing.
async fn local_handles_resolve() {
    let locals = Locals::new();
    let dropped = Counter::new();
    let scope = CancelScope::new().grace(short());
    let out = scope
        .run_with_locals(&locals, async {
            let ok = locals.spawn(async { Ok::<_, BoxError>(1) });
            let g = dropped.guard();
            drop(locals.spawn(async move {
                tokio::task::yield_now().await;
                Ok::<_, BoxError>(g) // dropped inside the task: nobody wants it
            }));
            Ok(ok.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(1)));
    assert_eq!(dropped.get(), 1);
}

/// Spawns are refused before `run_with_locals`, after a cancel, and once the scope finished.
async fn spawns_refused_when_unbound_cancelled_or_finished() {
    let ran = AtomicBool::new(false);
    let locals: Locals<'_> = Locals::new();
    let e = locals.try_spawn(async {}).unwrap_err();
    assert!(e.is_closed());
    assert_eq!(locals.spawn(async { Ok::<_, BoxError>(1) }).await, None);

    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run_with_locals(&locals, async {
            tg.cancel();
            assert!(locals.try_spawn(async {}).unwrap_err().is_closed());
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(
        locals
            .spawn(async { ran.store(true, Ordering::SeqCst) })
            .await,
        None
    );
    assert!(locals.try_spawn(async {}).unwrap_err().is_closed());
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(tg.len(), 0);
}

/// The body's `Err` cancels the group and drops local tasks.
async fn body_error_drops_local_tasks() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let g = dropped.guard();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            locals.spawn(hold_forever(g));
            tokio::task::yield_now().await;
            Err::<(), BoxError>(err("body failed"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body failed"]);
    assert_eq!(dropped.get(), 1);
}

/// A deadline drops local tasks (reason `Deadline`).
async fn deadline_drops_local_tasks() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let g = dropped.guard();
    let out = CancelScope::new()
        .timeout(short())
        .run_with_locals(&locals, async {
            locals.spawn(hold_forever(g));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(dropped.get(), 1);
}

/// `LocalHandle::abort` drops that one task at its `Pending` (its destructor runs before the
/// scope returns), is neither a failure nor a cancel, and works on a task queued under `limit`.
async fn local_handle_abort_stops_one_task_only() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (g1, g2) = (dropped.guard(), dropped.guard());
    let out = scope
        .run_with_locals(&locals, async {
            let running = locals.spawn(hold_forever(g1));
            let queued = locals.spawn(hold_forever(g2));
            let after = locals.spawn(async { Ok::<_, BoxError>("ran") });
            tokio::task::yield_now().await;
            assert_eq!(tg.len(), 3);
            queued.abort();
            running.abort();
            assert_eq!(running.await, None);
            assert_eq!(queued.await, None);
            Ok(after.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some("ran")));
    assert_eq!(dropped.get(), 2);
    assert!(!tg.is_cancelled());
}
