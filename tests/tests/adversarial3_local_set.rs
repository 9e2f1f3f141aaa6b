//! Adversarial 3: scopes inside tokio's `LocalSet`: `!Send` bodies and `!Send` local tasks in
//! `spawn_local` tasks, a `LocalSet` driven inside another scope's body and dropped with it,
//! `LocalSet`s and local `JoinHandle`s dropped or aborted with live scopes, many interleaved
//! local scopes linked to one parent, panics through a local `JoinHandle`.
//!
//! SPEC rules attacked: sec. 2 "The scope's body runs in the caller's own task (it may borrow
//! locals and need not be Send or 'static)", "Nothing outlives its scope": a dropped scope
//! "hands its still-live tasks to the scope it ran in (the innermost enclosing scope, found when
//! run is first polled)", "A scope that is dropped before it finishes ... cancels its group
//! (reason Dropped ...) and requests the abort of every task ... without blocking and without
//! panicking"; rule 4; sec. 5 linking; sec. 10 local tasks (`!Send`, cancel by signal).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome, TaskGroup};
use tokio::task::LocalSet;

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial::{Flag, ms};
use adversarial3::{Count, Payload, SlowFlag, panic_with, payload, quiet_payload_panics};

both!(
    unsend_body_in_spawn_local_task_completes_with_send_tasks,
    unsend_locals_in_local_set_cancelled_by_signal_drop_their_rcs,
    local_set_in_body_dropped_by_cancel_hands_inner_scope_tasks_over,
    local_set_dropped_with_live_scope_aborts_its_tasks,
    aborted_local_join_handle_drops_scope_with_reason_dropped,
    local_task_panic_reaches_local_join_handle_with_payload,
    many_interleaved_local_scopes_linked_to_one_parent,
);

/// Waits (briefly, on the runtime) until `f` holds; fails after 5 s.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !f() {
        assert!(std::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(ms(1)).await;
    }
}

// sec. 2: the body need not be Send; tasks run on the runtime
async fn unsend_body_in_spawn_local_task_completes_with_send_tasks() {
    let local = LocalSet::new();
    let v = local
        .run_until(async {
            tokio::task::spawn_local(async {
                let rc = Rc::new(Cell::new(1));
                let scope = CancelScope::new();
                let tg = scope.group();
                let out = scope
                    .run(async {
                        let a = tg.spawn(async { Ok::<_, BoxError>(20) });
                        tokio::task::yield_now().await;
                        rc.set(rc.get() + a.await.unwrap());
                        Ok::<_, BoxError>(rc.get() + 21)
                    })
                    .await;
                out.map_err(|e| e.to_string())
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(v, Ok(Outcome::Completed(42)));
}

// sec. 10: !Send local tasks dropped at the signal's cancel; nothing holds an Rc afterwards
async fn unsend_locals_in_local_set_cancelled_by_signal_drop_their_rcs() {
    let local = LocalSet::new();
    let (fire, on_fire) = tokio::sync::oneshot::channel::<()>();
    let (out, strong) = local
        .run_until(async move {
            tokio::task::spawn_local(async move {
                let shared = Rc::new(RefCell::new(Vec::new()));
                let locals = Locals::unsend();
                let scope = CancelScope::new().cancel_on(on_fire);
                let tg = scope.group();
                let out = scope
                    .run_with_locals(&locals, async {
                        for i in 0..5 {
                            let s = shared.clone();
                            locals.spawn(async move {
                                s.borrow_mut().push(i);
                                std::future::pending::<()>().await;
                            });
                        }
                        // a Send task fires the signal once every local task ran
                        let s = shared.clone();
                        while s.borrow().len() < 5 {
                            tokio::task::yield_now().await;
                        }
                        tg.spawn(async move {
                            let _ = fire.send(());
                        });
                        std::future::pending::<()>().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                drop(locals);
                (out.map_err(|e| e.to_string()), Rc::strong_count(&shared))
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(out, Ok(Outcome::Cancelled(CancelReason::Signal)));
    assert_eq!(strong, 1, "a local task outlived the scope");
}

// sec. 2: a scope first polled in a spawn_local task of a LocalSet driven inside the body of an
// outer scope runs in that outer scope; dropped with the body, it hands its tasks over
async fn local_set_in_body_dropped_by_cancel_hands_inner_scope_tasks_over() {
    let outer = CancelScope::new();
    let o = outer.group();
    let dropped = Arc::new(AtomicBool::new(false));
    let inner_group: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let (d2, ig, o2) = (dropped.clone(), inner_group.clone(), o.clone());
    let out = outer
        .run(async move {
            let local = LocalSet::new();
            local
                .run_until(async move {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    tokio::task::spawn_local(async move {
                        let not_send = Rc::new(());
                        let inner = CancelScope::new();
                        let i = inner.group();
                        *ig.lock().unwrap() = Some(i.clone());
                        let slow = SlowFlag(d2);
                        i.spawn(async move {
                            let _slow = slow;
                            let _ = tx.send(());
                            std::future::pending::<()>().await;
                        });
                        let _ = inner
                            .run(async move {
                                let _keep = not_send;
                                std::future::pending::<()>().await;
                                Ok::<_, BoxError>(())
                            })
                            .await;
                    });
                    let _ = rx.await;
                    o2.cancel();
                    std::future::pending::<()>().await;
                })
                .await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        dropped.load(Ordering::SeqCst),
        "a task of the scope in the LocalSet outlived the enclosing scope"
    );
    let i = inner_group.lock().unwrap().take().unwrap();
    assert_eq!(i.cancel_reason(), Some(CancelReason::Dropped));
    assert_eq!(i.len(), 0);
}

// sec. 2: a LocalSet dropped with a scope running in it (no enclosing scope): the scope's drop
// neither blocks nor panics, cancels (Dropped) and aborts every task, shielded ones included
async fn local_set_dropped_with_live_scope_aborts_its_tasks() {
    let c = Count::default();
    let group: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let local = LocalSet::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (c2, g2) = (c.clone(), group.clone());
    local.spawn_local(async move {
        let _not_send = Rc::new(());
        let scope = CancelScope::new();
        let tg = scope.group();
        *g2.lock().unwrap() = Some(tg.clone());
        let (a, b) = (c2.guard(), c2.guard());
        tg.spawn(async move {
            let _a = a;
            std::future::pending::<()>().await;
        });
        tg.spawn_shielded(async move {
            let _b = b;
            std::future::pending::<()>().await;
        });
        let _ = scope
            .run(async move {
                let _ = tx.send(());
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            })
            .await;
    });
    local.run_until(async { rx.await.unwrap() }).await;
    drop(local);
    let tg = group.lock().unwrap().take().unwrap();
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    eventually("both tasks dropped", || c.get() == 2).await;
    eventually("len 0", || tg.len() == 0).await;
}

// sec. 2: a scope whose local task is aborted through its JoinHandle is dropped: Dropped
async fn aborted_local_join_handle_drops_scope_with_reason_dropped() {
    let c = Count::default();
    let local = LocalSet::new();
    let (c2, c3) = (c.clone(), c.clone());
    let tg = local
        .run_until(async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<TaskGroup>();
            let h = tokio::task::spawn_local(async move {
                let scope = CancelScope::new();
                let tg = scope.group();
                let g = c2.guard();
                tg.spawn(async move {
                    let _g = g;
                    std::future::pending::<()>().await;
                });
                let tg2 = tg.clone();
                let _ = scope
                    .run(async move {
                        let _ = tx.send(tg2);
                        std::future::pending::<()>().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
            });
            let tg = rx.await.unwrap();
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            tg
        })
        .await;
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    eventually("the task dropped", || c3.get() == 1).await;
}

// rule 4: a panic of a local task is resumed by its scope in the spawn_local task, whose
// JoinHandle gives the original payload
async fn local_task_panic_reaches_local_join_handle_with_payload() {
    quiet_payload_panics();
    let local = LocalSet::new();
    let err = local
        .run_until(async {
            tokio::task::spawn_local(async {
                let rc = Rc::new(7u32);
                let locals = Locals::unsend();
                let _ = CancelScope::new()
                    .run_with_locals(&locals, async {
                        let r = rc.clone();
                        locals.spawn(async move {
                            tokio::task::yield_now().await;
                            panic_with(Payload(*r));
                        });
                        std::future::pending::<()>().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
            })
            .await
            .unwrap_err()
        })
        .await;
    assert!(err.is_panic());
    assert_eq!(payload(&*err.into_panic()), Ok(7));
}

// sec. 2 + 5: 50 local scopes interleaved on one thread, each with a scope nested in its body;
// a cancel of their common linked parent reaches each; each nested scope (dropped with its
// body) hands its task to its own enclosing local scope, which waits for it
async fn many_interleaved_local_scopes_linked_to_one_parent() {
    const N: usize = 50;
    let parent = CancelScope::new();
    let p = parent.group();
    let flags: Vec<Arc<AtomicBool>> = (0..N).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let local = LocalSet::new();
    let started = Rc::new(Cell::new(0));
    let mut handles = Vec::new();
    for flag in &flags {
        let (p, flag, started) = (p.clone(), flag.clone(), started.clone());
        handles.push(local.spawn_local(async move {
            let scope = CancelScope::new().parent(&p);
            let out = scope
                .run(async {
                    let nested = CancelScope::new();
                    let n = nested.group();
                    let f = Flag(flag.clone());
                    n.spawn(async move {
                        let _f = f;
                        std::future::pending::<()>().await;
                    });
                    started.set(started.get() + 1);
                    let _ = nested
                        .run(async {
                            loop {
                                tokio::task::yield_now().await;
                            }
                            #[allow(unreachable_code)]
                            Ok::<(), BoxError>(())
                        })
                        .await;
                    Ok::<_, BoxError>(())
                })
                .await;
            (out.map_err(|e| e.to_string()), flag.load(Ordering::SeqCst))
        }));
    }
    let outs = local
        .run_until(async {
            while started.get() < N {
                tokio::task::yield_now().await;
            }
            p.cancel();
            let mut outs = Vec::new();
            for h in handles {
                outs.push(h.await.unwrap());
            }
            outs
        })
        .await;
    for (i, (out, flag)) in outs.into_iter().enumerate() {
        assert_eq!(
            out,
            Ok(Outcome::Cancelled(CancelReason::Parent)),
            "scope {i}"
        );
        assert!(
            flag,
            "scope {i} returned before its nested scope's task was dropped"
        );
    }
    drop(parent);
}
