//! Adversarial 2, deeper: combinations of secs. 9-10 with the promises of secs. 2-6.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use futures::FutureExt;
use tokio::time::Instant;

#[macro_use]
mod adversarial;

use adversarial::{Flag, err, flag, ms};

struct Counted(u32, Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}
type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    race_loser_panic_during_grace_resumed,
    race_iterator_panics_after_a_win,
    race_all_fail_one_panics,
    race_parent_cancel_gives_parent,
    blocking_output_of_dropped_handle_dropped_before_return,
    blocking_in_dropped_inner_scope_waited_by_outer,
    blocking_queued_in_dropped_scope_never_runs,
    local_panic_in_drop_on_cancel_is_a_panic,
    local_output_of_dropped_handle_dropped_before_return,
    deadline_through_link_to_nested_group,
    deadline_running_parent_timeout_seen_by_linked_child,
    deadline_transitive_task_body_nesting,
    join_all_supervise_collects_every_error,
    race_err_then_outside_cancel_with_grace_late_err_counts,
);
multi!(
    race_two_winners_loser_value_dropped_loop,
    join_all_wakeup_stress
);

// sec. 2/4 rule 4: "A panic is never turned into a value" (a loser panicking in its grace clean-up)
async fn race_loser_panic_during_grace_resumed() {
    let scope = CancelScope::new().grace(ms(500));
    let tg = scope.group();
    let tg2 = tg.clone();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            Ok(1)
        }),
        Box::pin(async move {
            tg2.cancelled().await;
            if true {
                panic!("loser-boom");
            }
            Ok(2)
        }),
    ];
    let r = AssertUnwindSafe(scope.race(futs)).catch_unwind().await;
    let p = r.expect_err("a loser's panic was swallowed by the win");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("loser-boom"));
}

// sec. 4 rule 4: panics never swallowed, even after a win
async fn race_iterator_panics_after_a_win() {
    let it = (0..3).map(|i| -> Fut<u32> {
        if i == 1 {
            std::thread::sleep(ms(30));
            panic!("late-iter-boom");
        }
        Box::pin(async { Ok(1) })
    });
    let r = AssertUnwindSafe(cancel_scope::race(it))
        .catch_unwind()
        .await;
    let p = r.expect_err("iterator panic swallowed after a win");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("late-iter-boom"));
}

// rule 4: the first panic is resumed, not the errors
async fn race_all_fail_one_panics() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async { Err(err("a")) }),
        Box::pin(async {
            tokio::time::sleep(ms(10)).await;
            if true {
                panic!("p");
            }
            Ok(1)
        }),
    ];
    let r = AssertUnwindSafe(cancel_scope::race(futs))
        .catch_unwind()
        .await;
    assert_eq!(
        r.expect_err("panic swallowed")
            .downcast_ref::<&str>()
            .copied(),
        Some("p")
    );
}

// sec. 9: "a cancel from outside with no error gives Ok(Cancelled(reason))" (parent)
async fn race_parent_cancel_gives_parent() {
    let p = CancelScope::new();
    let ptg = p.group();
    let ptg2 = ptg.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(10)).await;
        ptg2.cancel();
    });
    let futs: Vec<Fut<u32>> = vec![Box::pin(async {
        std::future::pending::<()>().await;
        Ok(1)
    })];
    let out = CancelScope::new().parent(&ptg).race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    drop(p);
}

// sec. 9: the winner's value is returned, a simultaneous loser's value is dropped before the race returns
async fn race_two_winners_loser_value_dropped_loop() {
    for i in 0..200 {
        let drops = Arc::new(AtomicUsize::new(0));
        let (d1, d2) = (drops.clone(), drops.clone());
        // values made outside the futures: a loser aborted before its first poll drops it too
        let (c1, c2) = (Counted(1, d1), Counted(2, d2));
        let futs: Vec<Fut<Counted>> = vec![
            Box::pin(async move { Ok(c1) }),
            Box::pin(async move { Ok(c2) }),
        ];
        let out = cancel_scope::race(futs).await;
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "iter {i}: loser's value not dropped before return"
        );
        let v = match out {
            Ok(Outcome::Completed(v)) => v,
            _ => panic!("iter {i}: no winner"),
        };
        assert!(v.0 == 1 || v.0 == 2);
        drop(v);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

// join_all: the body must never miss the last member's completion
async fn join_all_wakeup_stress() {
    for i in 0..2000u32 {
        let futs: Vec<Fut<u32>> = (0..3u32)
            .map(|k| -> Fut<u32> {
                Box::pin(async move {
                    if k == 1 {
                        tokio::task::yield_now().await;
                    }
                    Ok(k + i)
                })
            })
            .collect();
        let out = tokio::time::timeout(ms(2000), cancel_scope::join_all(futs))
            .await
            .unwrap_or_else(|_| panic!("iter {i}: join_all hung"));
        assert_eq!(out.unwrap(), Outcome::Completed(vec![i, i + 1, i + 2]));
    }
}

// sec. 2: "the output of a task whose handle was dropped ... is dropped before the scope returns" (blocking)
async fn blocking_output_of_dropped_handle_dropped_before_return() {
    let (d, f) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            drop(tg.spawn_blocking(move || {
                std::thread::sleep(ms(20));
                Ok::<Flag, BoxError>(f)
            }));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        d.load(Ordering::SeqCst),
        "blocking output outlived the scope"
    );
}

// sec. 2: "a dropped scope hands its still-live tasks to the scope it ran in ... which waits for them" (blocking)
async fn blocking_in_dropped_inner_scope_waited_by_outer() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let out = CancelScope::new()
        .run(async move {
            let inner = CancelScope::new();
            let itg = inner.group();
            let r = tokio::time::timeout(
                ms(20),
                inner.run(async move {
                    itg.spawn_blocking(move || {
                        std::thread::sleep(ms(150));
                        f2.store(true, Ordering::SeqCst);
                    });
                    std::future::pending::<()>().await;
                    Ok(())
                }),
            )
            .await;
            assert!(r.is_err());
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        fin.load(Ordering::SeqCst),
        "outer scope returned while the handed-over blocking closure ran"
    );
}

// sec. 6: "queued tasks are dropped unstarted" / sec. 2 dropped scope aborts (blocking queued under limit)
async fn blocking_queued_in_dropped_scope_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let r = tokio::time::timeout(
        ms(20),
        scope.run(async {
            tg.spawn(std::future::pending::<()>());
            tg.spawn_blocking(move || r2.store(true, Ordering::SeqCst));
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .await;
    assert!(r.is_err());
    tokio::time::sleep(ms(50)).await;
    assert!(!ran.load(Ordering::SeqCst));
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop-boom");
        }
    }
}

// sec. 2: "A panic while a cancelled task is being dropped counts as a task panic" (local task)
async fn local_panic_in_drop_on_cancel_is_a_panic() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let r = AssertUnwindSafe(scope.run_with_locals(&locals, async {
        locals.spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        tokio::time::sleep(ms(5)).await;
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("panic in a cancelled local task's drop was swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// sec. 2: output of a task whose handle was dropped is dropped before the scope returns (local)
async fn local_output_of_dropped_handle_dropped_before_return() {
    let (d, f) = flag();
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            drop(locals.spawn(async move {
                tokio::time::sleep(ms(10)).await;
                Ok::<Flag, BoxError>(f)
            }));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 10: deadline "of the scopes it runs in and of the scopes it is linked to, transitively"
async fn deadline_through_link_to_nested_group() {
    let at = Instant::now() + ms(2500);
    let outer = CancelScope::new().deadline(at);
    let out = outer
        .run(async {
            let p = CancelScope::new();
            let ptg = p.group();
            p.run(async {
                // a scope linked to ptg (which runs inside `outer`), not running inside it
                let c = CancelScope::new().parent(&ptg);
                let ctg = c.group();
                let d = std::thread::spawn(move || ctg.deadline()).join().unwrap();
                assert_eq!(d, Some(at));
                drop(c);
                Ok(())
            })
            .await
            .unwrap();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 10: "the linked parents' deadlines" (a running parent's timeout)
async fn deadline_running_parent_timeout_seen_by_linked_child() {
    let p = CancelScope::new().timeout(ms(3000));
    let ptg = p.group();
    let out = p
        .run(async {
            let pd = ptg.deadline().expect("running timeout");
            let c = CancelScope::new().parent(&ptg);
            assert_eq!(c.group().deadline(), Some(pd));
            let c2 = CancelScope::new().parent(&ptg).timeout(ms(100));
            let c2g = c2.group();
            let inner = c2
                .run(async { Ok(c2g.deadline()) })
                .await
                .unwrap()
                .completed()
                .unwrap();
            assert!(inner.unwrap() < pd);
            drop(c);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 10: transitively through task -> body nesting
async fn deadline_transitive_task_body_nesting() {
    let at = Instant::now() + ms(2500);
    let outer = CancelScope::new().deadline(at);
    let otg = outer.group();
    let out = outer
        .run(async {
            let h = otg.spawn(async {
                let a = CancelScope::new();
                let r = a
                    .run(async {
                        let b = CancelScope::new();
                        let btg = b.group();
                        let h2 = btg.spawn({
                            let btg = btg.clone();
                            async move { Ok::<_, BoxError>(btg.deadline()) }
                        });
                        let r = b
                            .run(async move {
                                let d = h2.await.unwrap();
                                Ok(d)
                            })
                            .await;
                        Ok(r.unwrap().completed().unwrap())
                    })
                    .await;
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
}

// sec. 9: supervise + join_all: "A task's Err is kept (rule 3's order) but does not cancel the group"
async fn join_all_supervise_collects_every_error() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(20)).await;
            Err(err("b"))
        }),
        Box::pin(async {
            tokio::time::sleep(ms(30)).await;
            Ok(1)
        }),
        Box::pin(async { Err(err("a")) }),
    ];
    let out = CancelScope::new().supervise().join_all(futs).await;
    let e = out.unwrap_err();
    let m: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(m, ["a", "b"]);
}

// sec. 9: "any error gives Err(GroupError) with every error, also when a cancel from outside ... ended the race"; rule 3 "also those that happened after a cancel"
async fn race_err_then_outside_cancel_with_grace_late_err_counts() {
    let scope = CancelScope::new().grace(ms(500));
    let tg = scope.group();
    let (tg2, tg3) = (tg.clone(), tg.clone());
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            Err(err("early"))
        }),
        Box::pin(async move {
            tg2.cancelled().await;
            Err(err("late"))
        }),
        Box::pin(async move {
            tokio::time::sleep(ms(20)).await;
            tg3.cancel();
            std::future::pending::<()>().await;
            Ok(3)
        }),
    ];
    let out = scope.race(futs).await;
    let e = out.unwrap_err();
    let m: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(m, ["early", "late"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}
