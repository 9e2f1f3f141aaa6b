//! Adversarial 2: local tasks, `cancel_on`, `deadline()` (SPEC sec. 10).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use futures::FutureExt;
use tokio::time::Instant;

#[macro_use]
mod adversarial;

use adversarial::{err, flag, ms, msgs};

both!(
    local_borrow_refcell,
    local_rc_unsend,
    local_error_fails_group,
    local_panic_resumed_after_everything_stopped,
    local_cancel_drops_at_next_pending,
    local_grace_lets_finish,
    local_counted_by_len,
    local_holds_limit_slot,
    local_queued_behind_task_under_limit,
    local_dropping_run_future_drops_locals,
    local_scope_waits_for_locals_after_body,
    local_error_under_supervise_does_not_cancel,
    local_spawn_after_cancel_not_started,
    local_loop_drop_flags_all_set,
    signal_any_of_several,
    signal_panic_resumed,
    signal_already_resolved_body_not_started,
    signal_dropped_when_scope_finishes,
    signal_does_not_travel_up,
    signal_after_request_keeps_requested,
    signal_with_error_is_err,
    signal_after_body_value_discards_it,
    deadline_none_without_any,
    deadline_builder_before_run,
    deadline_timeout_only_when_running,
    deadline_nested_earliest_wins,
    deadline_nested_in_task,
    deadline_linked_transitive_before_run,
    deadline_several_parents_earliest,
);

// sec. 10: "may be !Send ... and may borrow what outlives the scope expression"
async fn local_borrow_refcell() {
    let log = RefCell::new(Vec::new());
    let words = vec!["a", "bb", "ccc"];
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            for (i, w) in words.iter().enumerate() {
                let log = &log;
                locals.spawn(async move {
                    tokio::time::sleep(ms(10 * (3 - i as u64))).await;
                    log.borrow_mut().push(*w);
                });
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    drop(locals);
    assert_eq!(log.into_inner(), ["ccc", "bb", "a"]);
}

// sec. 10: "may be !Send (output included)"
async fn local_rc_unsend() {
    let shared = Rc::new(RefCell::new(1));
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            let s = shared.clone();
            let h = locals.spawn(async move {
                tokio::task::yield_now().await;
                *s.borrow_mut() += 1;
                tokio::task::yield_now().await;
                Ok::<_, BoxError>(s)
            });
            let rc = h.await.expect("local completed");
            Ok(*rc.borrow())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}

// sec. 10: "every rule of a task applies: errors"
async fn local_error_fails_group() {
    let (dt, ft) = flag();
    let (dl, fl) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            tg.spawn(async move {
                let _f = ft;
                std::future::pending::<()>().await;
            });
            locals.spawn(async move {
                let _f = fl;
                std::future::pending::<()>().await;
            });
            locals.spawn(async {
                tokio::time::sleep(ms(5)).await;
                Err::<(), BoxError>(err("local"))
            });
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["local"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert!(dt.load(Ordering::SeqCst));
    assert!(dl.load(Ordering::SeqCst));
}

// sec. 10 + rule 4: "resumes the first panic ... after every task has stopped"
async fn local_panic_resumed_after_everything_stopped() {
    let (dt, ft) = flag();
    let (dl, fl) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let r = AssertUnwindSafe(scope.run_with_locals(&locals, async {
        tg.spawn(async move {
            let _f = ft;
            std::future::pending::<()>().await;
        });
        locals.spawn(async move {
            let _f = fl;
            std::future::pending::<()>().await;
        });
        locals.spawn(async {
            tokio::time::sleep(ms(5)).await;
            if true {
                panic!("local-boom");
            }
        });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("local panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("local-boom"));
    assert!(dt.load(Ordering::SeqCst));
    assert!(dl.load(Ordering::SeqCst));
}

// sec. 10: "cancel (dropped at the next Pending ...)"
async fn local_cancel_drops_at_next_pending() {
    let (dl, fl) = flag();
    let polled = Arc::new(AtomicBool::new(false));
    let p2 = polled.clone();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = fl;
                p2.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            tokio::time::sleep(ms(10)).await;
            assert!(
                polled.load(Ordering::SeqCst),
                "local task not polled concurrently with the body"
            );
            tg.cancel();
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(dl.load(Ordering::SeqCst));
}

// sec. 10: "with a grace they are first asked, like tasks"
async fn local_grace_lets_finish() {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let scope = CancelScope::new().grace(ms(500));
    let tg = scope.group();
    let locals = Locals::new();
    let tg2 = tg.clone();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                tg2.cancelled().await;
                tokio::time::sleep(ms(10)).await;
                d2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(10)).await;
            tg.cancel();
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        done.load(Ordering::SeqCst),
        "grace did not let the local task finish its clean-up"
    );
}

// sec. 10: "counted by len()"
async fn local_counted_by_len() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            let h = locals.spawn(async {
                tokio::time::sleep(ms(30)).await;
            });
            tokio::task::yield_now().await;
            assert_eq!(tg.len(), 1);
            assert_eq!(h.await, Some(()));
            assert_eq!(tg.len(), 0);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 10: "held to limit like any member"
async fn local_holds_limit_slot() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            let hl = locals.spawn(async {
                tokio::time::sleep(ms(60)).await;
            });
            let h = tg.spawn(async move {
                r2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(30)).await;
            assert!(
                !ran.load(Ordering::SeqCst),
                "task ran while a local task held the only slot"
            );
            assert_eq!(tg.len(), 2);
            assert_eq!(hl.await, Some(()));
            assert_eq!(h.await, Some(()));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 6 + 10: "further spawns queue in spawn order and start as slots free"
async fn local_queued_behind_task_under_limit() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            let h = tg.spawn(async {
                tokio::time::sleep(ms(60)).await;
            });
            let hl = locals.spawn(async move {
                r2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(30)).await;
            assert!(
                !ran.load(Ordering::SeqCst),
                "local ran while a task held the only slot"
            );
            assert_eq!(h.await, Some(()));
            assert_eq!(hl.await, Some(()));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// run_with_locals rustdoc: "dropping it drops them"; sec. 2 dropped scope
async fn local_dropping_run_future_drops_locals() {
    let (dl, fl) = flag();
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = tokio::time::timeout(
        ms(30),
        scope.run_with_locals(&locals, async {
            locals.spawn(async move {
                let _f = fl;
                std::future::pending::<()>().await;
            });
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .await;
    assert!(r.is_err());
    assert!(
        dl.load(Ordering::SeqCst),
        "local task outlived its dropped run future"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
}

// rule 1: "The scope waits for running tasks after the body returns" (local tasks too)
async fn local_scope_waits_for_locals_after_body() {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                tokio::time::sleep(ms(30)).await;
                d2.store(true, Ordering::SeqCst);
            });
            Ok(5)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(5));
    assert!(done.load(Ordering::SeqCst));
}

// sec. 10: "errors (and supervise)"
async fn local_error_under_supervise_does_not_cancel() {
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async { Err::<(), BoxError>(err("l1")) });
            locals.spawn(async move {
                tokio::time::sleep(ms(30)).await;
                d2.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(ms(10)).await;
            locals.spawn(async { Err::<(), BoxError>(err("l2")) });
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["l1", "l2"]);
    assert!(done.load(Ordering::SeqCst));
    assert!(!tg.is_cancelled());
}

// sec. 5: "After a cancel, spawn does not start the future (... handle resolves to None)"
async fn local_spawn_after_cancel_not_started() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let (dl, fl) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let out = scope
        .run_with_locals(&locals, async {
            tg.cancel();
            let h = locals.spawn(async move {
                let _f = fl;
                r2.store(true, Ordering::SeqCst);
            });
            assert!(
                dl.load(Ordering::SeqCst),
                "refused local future not dropped at once"
            );
            assert_eq!(h.await, None);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!ran.load(Ordering::SeqCst));
}

// sec. 10: "nothing outlives the scope" (many locals, some never polled)
async fn local_loop_drop_flags_all_set() {
    let mut flags = vec![];
    let scope = CancelScope::new().limit(3);
    let tg = scope.group();
    let locals = Locals::new();
    let mut fs = vec![];
    for _ in 0..20 {
        let (d, f) = flag();
        flags.push(d);
        fs.push(f);
    }
    let out = scope
        .run_with_locals(&locals, async {
            for f in fs {
                locals.spawn(async move {
                    let _f = f;
                    tokio::time::sleep(ms(5000)).await;
                });
            }
            tokio::time::sleep(ms(10)).await;
            assert_eq!(tg.len(), 20);
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    for d in flags {
        assert!(d.load(Ordering::SeqCst));
    }
}

// sec. 10: "When a signal resolves, the group is cancelled with the new reason CancelReason::Signal" (several)
async fn signal_any_of_several() {
    let out = CancelScope::new()
        .cancel_on(std::future::pending::<()>())
        .cancel_on(tokio::time::sleep(ms(20)))
        .cancel_on(std::future::pending::<u32>())
        .run(async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

// cancel_on rustdoc: "A signal that panics is a panic of the scope ... resumed once everything stopped"
async fn signal_panic_resumed() {
    let (dt, ft) = flag();
    let scope = CancelScope::new().cancel_on(async {
        tokio::time::sleep(ms(10)).await;
        if true {
            panic!("sig-boom");
        }
    });
    let tg = scope.group();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn(async move {
            let _f = ft;
            std::future::pending::<()>().await;
        });
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("signal panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("sig-boom"));
    assert!(dt.load(Ordering::SeqCst));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

// cancel_on rustdoc: "a signal that resolved before run starts cancels at its first poll; the body is then not started"
async fn signal_already_resolved_body_not_started() {
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let out = CancelScope::new()
        .cancel_on(std::future::ready(()))
        .run(async move {
            s2.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(!started.load(Ordering::SeqCst));
}

// cancel_on rustdoc: signals "are dropped once the group is cancelled, at the latest when the scope finishes"
async fn signal_dropped_when_scope_finishes() {
    let (ds, fs) = flag();
    let out = CancelScope::new()
        .cancel_on(async move {
            let _f = fs;
            std::future::pending::<()>().await;
        })
        .run(async {
            tokio::time::sleep(ms(5)).await;
            Ok(1)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert!(ds.load(Ordering::SeqCst), "signal outlived its scope");
}

// sec. 10: "CancelReason::Signal, which does not travel up"
async fn signal_does_not_travel_up() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            let child = CancelScope::new()
                .parent(&ptg)
                .cancel_on(tokio::time::sleep(ms(10)));
            let ctg = child.group();
            let gc = CancelScope::new().parent(&ctg);
            let gtg = gc.group();
            let (r1, r2) = tokio::join!(
                child.run(async {
                    std::future::pending::<()>().await;
                    Ok(())
                }),
                gc.run(async {
                    std::future::pending::<()>().await;
                    Ok(())
                })
            );
            assert_eq!(r1.unwrap(), Outcome::Cancelled(CancelReason::Signal));
            assert_eq!(r2.unwrap(), Outcome::Cancelled(CancelReason::Parent));
            assert_eq!(gtg.cancel_reason(), Some(CancelReason::Parent));
            assert!(!ptg.is_cancelled(), "Signal travelled up");
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 5: "The reason recorded is always the first cause"
async fn signal_after_request_keeps_requested() {
    let scope = CancelScope::new().cancel_on(tokio::time::sleep(ms(10)));
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn_shielded(async {
                tokio::time::sleep(ms(40)).await;
            });
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// rule 3: "No error is ever dropped" (also after a Signal cancel)
async fn signal_with_error_is_err() {
    let scope = CancelScope::new()
        .cancel_on(tokio::time::sleep(ms(5)))
        .grace(ms(500));
    let tg = scope.group();
    let tg2 = tg.clone();
    let out = scope
        .run(async {
            tg.spawn(async move {
                tg2.cancelled().await;
                Err::<(), BoxError>(err("late"))
            });
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["late"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Signal));
}

// rule 5: "The body's value is discarded when a cancel follows it"
async fn signal_after_body_value_discards_it() {
    let scope = CancelScope::new().cancel_on(tokio::time::sleep(ms(10)));
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(async {
                tokio::time::sleep(ms(5000)).await;
            });
            Ok(3)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
}

// sec. 10 deadline(): "the earliest deadline of this scope, of the scopes it runs in and of the scopes it is linked to" (None without any)
async fn deadline_none_without_any() {
    let scope = CancelScope::new();
    let tg = scope.group();
    assert_eq!(tg.deadline(), None);
    let out = scope
        .run(async {
            assert_eq!(tg.deadline(), None);
            let inner = CancelScope::new();
            let itg = inner.group();
            inner
                .run(async {
                    assert_eq!(itg.deadline(), None);
                    Ok(())
                })
                .await
                .unwrap();
            Ok(())
        })
        .await;
    assert!(out.is_ok());
}

// sec. 10: "deadline(at) and the linked parents' deadlines already are"
async fn deadline_builder_before_run() {
    let at = Instant::now() + ms(3000);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    assert_eq!(tg.deadline(), Some(at));
    let out = scope
        .run(async {
            assert_eq!(tg.deadline(), Some(at));
            Ok(())
        })
        .await;
    assert!(out.is_ok());
}

// sec. 10: "Before run starts, a timeout (which counts from the first poll) is not yet a deadline"
async fn deadline_timeout_only_when_running() {
    let scope = CancelScope::new().timeout(ms(3000));
    let tg = scope.group();
    assert_eq!(tg.deadline(), None);
    let before = Instant::now();
    let out = scope
        .run(async {
            let d = tg.deadline().expect("running timeout is a deadline");
            assert!(d >= before + ms(3000) && d <= Instant::now() + ms(3000));
            Ok(())
        })
        .await;
    assert!(out.is_ok());
}

// sec. 10: "of the scopes it runs in" ... earliest wins
async fn deadline_nested_earliest_wins() {
    let outer = CancelScope::new().timeout(ms(2000));
    let otg = outer.group();
    let out = outer
        .run(async {
            let od = otg.deadline().unwrap();
            let a = CancelScope::new();
            let atg = a.group();
            a.run(async {
                assert_eq!(atg.deadline(), Some(od));
                let b = CancelScope::new().timeout(ms(5000));
                let btg = b.group();
                b.run(async {
                    assert_eq!(btg.deadline(), Some(od));
                    let c = CancelScope::new().timeout(ms(500));
                    let ctg = c.group();
                    c.run(async {
                        let cd = ctg.deadline().unwrap();
                        assert!(cd < od);
                        Ok(())
                    })
                    .await
                    .unwrap();
                    Ok(())
                })
                .await
                .unwrap();
                Ok(())
            })
            .await
            .unwrap();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 10: "of the scopes it runs in" (a scope running in a task of another)
async fn deadline_nested_in_task() {
    let at = Instant::now() + ms(2500);
    let outer = CancelScope::new().deadline(at);
    let otg = outer.group();
    let out = outer
        .run(async {
            let h = otg.spawn(async {
                let inner = CancelScope::new();
                let itg = inner.group();
                let r = inner.run(async { Ok(itg.deadline()) }).await;
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(Some(at))));
}

// sec. 10: "of the scopes it is linked to, transitively ... the linked parents' deadlines already are"
async fn deadline_linked_transitive_before_run() {
    let at = Instant::now() + ms(2500);
    let p = CancelScope::new().deadline(at);
    let ptg = p.group();
    let c = CancelScope::new().parent(&ptg);
    let ctg = c.group();
    let g = CancelScope::new().parent(&ctg);
    let gtg = g.group();
    assert_eq!(ctg.deadline(), Some(at));
    assert_eq!(gtg.deadline(), Some(at));
    drop((p, c, g));
}

// sec. 10: earliest among several linked parents
async fn deadline_several_parents_earliest() {
    let a1 = Instant::now() + ms(4000);
    let a2 = Instant::now() + ms(2000);
    let p1 = CancelScope::new().deadline(a1);
    let p2 = CancelScope::new().deadline(a2);
    let c = CancelScope::new()
        .parent(&p1.group())
        .parent(&p2.group())
        .timeout(ms(3000));
    let ctg = c.group();
    assert_eq!(ctg.deadline(), Some(a2));
    let out = c.run(async { Ok(ctg.deadline()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(a2)));
    drop((p1, p2));
}
