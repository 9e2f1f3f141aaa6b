//! Adversarial, part 3: races of cancel against completion, callbacks from destructors at the end
//! of a scope, handle aborts under limit, self links, extreme durations, runtime shutdown.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::future::Future;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, ms};
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

both!(
    output_drop_spawning_sibling_is_waited_for,
    task_local_drop_spawning_sibling_is_waited_for,
    panic_waits_for_shielded_task_before_resuming,
    abort_queued_task_under_limit_frees_nothing_wrong,
    abort_shielded_task_stops_it,
    self_link_cancel_terminates,
    double_link_to_same_parent,
    timeout_duration_max_does_not_panic,
    deadline_far_future_does_not_panic,
    no_runtime_try_spawn_and_spawn_panics,
    runtime_drop_with_live_scopes_does_not_panic,
);

multi!(
    running_poll_completing_after_cancel_counts_its_error,
    running_poll_completing_after_cancel_counts_its_value,
    cancel_racing_scope_end_is_consistent,
    cancel_from_thread_racing_body_completion_is_consistent,
);

both!(
    nested_tree_cancelled_at_random_times_leaves_nothing,
    past_deadline_still_runs_shielded_task_spawned_before_run,
);

multi!(concurrent_requests_on_linked_pair_record_consistent_first_causes);

// SPEC 5: "a group keeps the first reason it records": two requests racing on a parent and its linked child
async fn concurrent_requests_on_linked_pair_record_consistent_first_causes() {
    for i in 0..300 {
        let ps = CancelScope::new();
        let p = ps.group();
        let cs = CancelScope::new().parent(&p);
        let c = cs.group();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (p2, b2) = (p.clone(), barrier.clone());
        let t = std::thread::spawn(move || {
            b2.wait();
            p2.cancel();
        });
        barrier.wait();
        c.cancel();
        t.join().unwrap();
        let (rp, rc) = (p.cancel_reason().unwrap(), c.cancel_reason().unwrap());
        assert!(
            !(rp == CancelReason::Child && rc == CancelReason::Parent),
            "iteration {i}: parent Child and child Parent: each blames the other"
        );
        assert!(
            matches!(rp, CancelReason::Requested | CancelReason::Child),
            "{i}: parent {rp:?}"
        );
        assert!(
            matches!(rc, CancelReason::Requested | CancelReason::Parent),
            "{i}: child {rc:?}"
        );
        drop((ps, cs));
    }
}

fn nested_tree(depth: u32, tg: TaskGroup, created: Arc<AtomicUsize>, dropped: Arc<AtomicUsize>) {
    struct D(Arc<AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_micros(300));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for k in 0..2 {
        created.fetch_add(1, Ordering::SeqCst);
        let d = D(dropped.clone());
        let (c2, d2) = (created.clone(), dropped.clone());
        let own = tg.clone();
        let fut = async move {
            let _d = d;
            // shielded tasks (k == 1) end when they see their group cancelled
            let wait_end = async move {
                if k == 0 {
                    std::future::pending::<()>().await;
                } else {
                    own.cancelled().await;
                }
            };
            if depth == 0 {
                wait_end.await;
            } else {
                let s = CancelScope::new();
                nested_tree(depth - 1, s.group(), c2, d2);
                if k == 0 {
                    let _ = s.run(std::future::pending::<Result<(), BoxError>>()).await;
                } else {
                    // dropped unfinished through a timeout
                    let _ = tokio::time::timeout(
                        Duration::from_micros(500),
                        s.run(std::future::pending::<Result<(), BoxError>>()),
                    )
                    .await;
                    wait_end.await;
                }
            }
        };
        if k == 0 {
            tg.spawn(fut);
        } else {
            tg.spawn_shielded(fut);
        }
    }
}

// SPEC 2: "An awaited scope returns only after ... every task's future has been dropped ... including the tasks of scopes nested in them that were dropped unfinished" (random cancel times)
async fn nested_tree_cancelled_at_random_times_leaves_nothing() {
    for round in 0..30u64 {
        let created = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let tg = scope.group();
        let task = {
            let (tg2, c, d) = (tg.clone(), created.clone(), dropped.clone());
            async move {
                nested_tree(3, tg2, c, d);
                Ok::<_, BoxError>(())
            }
        };
        let out = within(
            "outer",
            scope.run(async move {
                task.await?;
                tokio::time::sleep(Duration::from_micros(100 * (round % 10))).await;
                tg.cancel();
                Ok::<_, BoxError>(())
            }),
        );
        // the outer scope itself is dropped by a timeout in odd rounds, inside an enclosing scope
        if round % 2 == 0 {
            assert!(out.await.unwrap().is_cancelled());
        } else {
            let _ = CancelScope::new()
                .run(async move {
                    let _ = tokio::time::timeout(Duration::from_micros(300), out).await;
                    Ok::<_, BoxError>(())
                })
                .await;
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            created.load(Ordering::SeqCst),
            "round {round}: a task outlived its scope"
        );
    }
}

// SPEC 5: "A deadline already past cancels at once; the body is not started"; SPEC 6 shield: "the scope still waits for it"
async fn past_deadline_still_runs_shielded_task_spawned_before_run() {
    let scope = CancelScope::new().timeout(Duration::ZERO);
    let tg = scope.group();
    let h = tg.spawn_shielded(async {
        tokio::time::sleep(ms(10)).await;
        Ok::<_, BoxError>(3)
    });
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(within("h", h).await, Some(3));
}

// SPEC 2: "Nothing outlives its scope": a discarded output whose destructor spawns a sibling
async fn output_drop_spawning_sibling_is_waited_for() {
    struct SpawnsSibling(TaskGroup, Arc<AtomicBool>);
    impl Drop for SpawnsSibling {
        fn drop(&mut self) {
            let f = self.1.clone();
            self.0.spawn(async move {
                tokio::time::sleep(ms(5)).await;
                f.store(true, Ordering::SeqCst);
            });
        }
    }
    for i in 0..200 {
        let flag = Arc::new(AtomicBool::new(false));
        let scope = CancelScope::new();
        let tg = scope.group();
        let (tg2, f2) = (tg.clone(), flag.clone());
        let out = within(
            "run",
            scope.run(async move {
                let tg3 = tg2.clone();
                drop(tg2.spawn(async move { Ok::<_, BoxError>(SpawnsSibling(tg3, f2)) }));
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert!(
            flag.load(Ordering::SeqCst),
            "iteration {i}: a sibling spawned while dropping a discarded output outlived the scope"
        );
    }
}

// SPEC 2: "Nothing outlives its scope": a task whose locals spawn a sibling when dropped at completion
async fn task_local_drop_spawning_sibling_is_waited_for() {
    struct SpawnsSibling(TaskGroup, Arc<AtomicBool>);
    impl Drop for SpawnsSibling {
        fn drop(&mut self) {
            let f = self.1.clone();
            self.0.spawn(async move {
                tokio::time::sleep(ms(20)).await;
                f.store(true, Ordering::SeqCst);
            });
        }
    }
    let flag = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new();
    let tg = scope.group();
    let s = SpawnsSibling(tg.clone(), flag.clone());
    tg.spawn(async move {
        let _s = s;
        tokio::task::yield_now().await;
    });
    let out = within("run", scope.run(async { Ok::<_, BoxError>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(flag.load(Ordering::SeqCst));
}

// SPEC 4 rule 4: "the scope waits until every task has stopped, then resumes the first panic"
async fn panic_waits_for_shielded_task_before_resuming() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        tokio::time::sleep(ms(30)).await;
        f2.store(true, Ordering::SeqCst);
    });
    tg.spawn(async {
        tokio::time::sleep(ms(5)).await;
        if true {
            panic!("task panic");
        }
    });
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(scope.run(async { Ok::<_, BoxError>(()) })).catch_unwind(),
    )
    .await;
    assert!(r.is_err());
    assert!(
        flag.load(Ordering::SeqCst),
        "the panic was resumed before the shielded task stopped"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

// SPEC 3: "TaskHandle::abort() stops that one task" (a queued one under limit: the others still run, in order)
async fn abort_queued_task_under_limit_frees_nothing_wrong() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let first = tg.spawn(async move {
        let _ = g.acquire().await;
        Ok::<_, BoxError>(1)
    });
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let second = tg.spawn(async move {
        r.fetch_add(10, Ordering::SeqCst);
        Ok::<_, BoxError>(2)
    });
    let r = ran.clone();
    let third = tg.spawn(async move {
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<_, BoxError>(3)
    });
    assert_eq!(tg.len(), 3);
    second.abort();
    let out = within(
        "run",
        scope.run(async move {
            gate.add_permits(1);
            Ok::<_, BoxError>((first.await, second.await, third.await))
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed((Some(1), None, Some(3))));
    assert_eq!(ran.load(Ordering::SeqCst), 1, "an aborted queued task ran");
    assert_eq!(tg.len(), 0);
    assert!(!tg.is_cancelled());
}

// SPEC 3: "TaskHandle::abort() stops that one task" (shielded too: only cancellation does not abort it)
async fn abort_shielded_task_stops_it() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let h = tg.spawn_shielded(std::future::pending::<()>());
    let out = within(
        "run",
        scope.run(async move {
            tokio::task::yield_now().await;
            h.abort();
            assert!(within("h", h).await.is_none());
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// SPEC 5: "A cycle is harmless" (a scope linked to its own group)
async fn self_link_cancel_terminates() {
    let s = CancelScope::new();
    let g = s.group();
    let s = s.parent(&g);
    assert!(!g.is_cancelled());
    let g2 = g.clone();
    let out = within(
        "run",
        s.run(async move {
            g2.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(g.cancel_reason(), Some(CancelReason::Requested));
    // a self-linked scope that completes normally
    let s = CancelScope::new();
    let g = s.group();
    let out = within("run", s.parent(&g).run(async { Ok::<_, BoxError>(4) })).await;
    assert_eq!(out.unwrap(), Outcome::Completed(4));
}

// SPEC 3: ".parent(&TaskGroup<E2>) ... may be called several times; E2 free" (the same parent twice, another E)
async fn double_link_to_same_parent() {
    let ps = CancelScope::<std::io::Error>::with_error();
    let p = ps.group();
    let cs = CancelScope::new().parent(&p).parent(&p);
    let c = cs.group();
    let out = within(
        "child",
        cs.run(async move {
            c.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    assert!(out.unwrap().is_cancelled());
    assert_eq!(p.cancel_reason(), Some(CancelReason::Child));
    let out = within("parent", ps.run(async { Ok::<_, std::io::Error>(()) })).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
}

// SPEC 5: "timeout(d)" for any d: Duration::MAX never fires (and must not overflow)
async fn timeout_duration_max_does_not_panic() {
    let r = within(
        "run",
        std::panic::AssertUnwindSafe(
            CancelScope::new()
                .timeout(Duration::MAX)
                .grace(Duration::MAX)
                .run(async { Ok::<_, BoxError>(1) }),
        )
        .catch_unwind(),
    )
    .await;
    let out = r.unwrap_or_else(|p| panic!("timeout(Duration::MAX) panicked: {p:?}"));
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

// SPEC 5: "deadline(at)" far in the future
async fn deadline_far_future_does_not_panic() {
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30);
    let out = within(
        "run",
        CancelScope::new()
            .deadline(far)
            .run(async { Ok::<_, BoxError>(2) }),
    )
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}

// SPEC 2: "With neither, spawn panics with a clear message and try_spawn returns SpawnError"
async fn no_runtime_try_spawn_and_spawn_panics() {
    std::thread::spawn(|| {
        let scope = CancelScope::new();
        let tg = scope.group();
        let e = tg
            .try_spawn(async { Ok::<_, BoxError>(5) })
            .expect_err("try_spawn without a runtime");
        assert!(!e.to_string().is_empty());
        let v = futures::executor::block_on(e.into_inner()).unwrap();
        assert_eq!(v, 5);
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tg.spawn(async {});
        }));
        assert!(p.is_err(), "spawn without a runtime must panic");
        // then, inside a runtime, the runtime current at the spawn is used
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let h = tg.spawn(async { Ok::<_, BoxError>(6) });
            let out = scope.run(async move { Ok::<_, BoxError>(h.await) }).await;
            assert_eq!(out.unwrap(), Outcome::Completed(Some(6)));
        });
    })
    .join()
    .unwrap();
}

// SPEC 2: "A task stopped by the runtime's own shutdown counts like TaskHandle::abort" (no panic, no hang, destructors run)
async fn runtime_drop_with_live_scopes_does_not_panic() {
    std::thread::spawn(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d2 = dropped.clone();
        rt.block_on(async move {
            for _ in 0..5 {
                let d3 = d2.clone();
                tokio::spawn(async move {
                    let scope = CancelScope::new().grace(Duration::from_secs(60));
                    let tg = scope.group();
                    for _ in 0..4 {
                        let d = D(d3.clone());
                        tg.spawn_shielded(async move {
                            let _d = d;
                            std::future::pending::<()>().await;
                        });
                        let d = D(d3.clone());
                        tg.spawn(async move {
                            let _d = d;
                            std::future::pending::<()>().await;
                        });
                    }
                    let _ = scope
                        .run(std::future::pending::<Result<(), BoxError>>())
                        .await;
                });
            }
            tokio::time::sleep(ms(20)).await;
        });
        let t0 = std::time::Instant::now();
        drop(rt);
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            40,
            "task futures not dropped at runtime shutdown"
        );
    })
    .join()
    .unwrap();
}

// SPEC 2: "a poll already running on another worker finishes, and if it completes the task, its result counts" (error)
async fn running_poll_completing_after_cancel_counts_its_error() {
    for i in 0..5 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        tg.spawn(async move {
            s2.store(true, Ordering::SeqCst);
            std::thread::sleep(ms(40)); // a poll running on a worker
            Err::<(), _>(err("completed during the cancel"))
        });
        let tg2 = tg.clone();
        let out = within(
            "run",
            scope.run(async move {
                while !started.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                tg2.cancel();
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        let e = out.expect_err(&format!(
            "iteration {i}: the completing poll's error was lost"
        ));
        assert_eq!(e.first().to_string(), "completed during the cancel");
        assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
    }
}

// SPEC 2: "if it completes the task, its result counts" (value through the handle)
async fn running_poll_completing_after_cancel_counts_its_value() {
    for i in 0..5 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        let h = tg.spawn(async move {
            s2.store(true, Ordering::SeqCst);
            std::thread::sleep(ms(40));
            Ok::<_, BoxError>(11)
        });
        let tg2 = tg.clone();
        let out = within(
            "run",
            scope.run(async move {
                while !started.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                tg2.cancel();
                Ok::<_, BoxError>(())
            }),
        )
        .await;
        assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
        assert_eq!(
            within("h", h).await,
            Some(11),
            "iteration {i}: completed task's value lost"
        );
    }
}

// SPEC 5: "A group that finished without being cancelled stays not cancelled" / rule 5 "Completed(v) means the group was never cancelled" (cancel racing the end)
async fn cancel_racing_scope_end_is_consistent() {
    let mut seen = (0, 0);
    for i in 0..400 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        tg.spawn(async {
            tokio::task::yield_now().await;
        });
        let t = std::thread::spawn(move || {
            for _ in 0..(i % 50) {
                std::hint::spin_loop();
            }
            tg2.cancel();
        });
        let out = within("run", scope.run(async { Ok::<_, BoxError>(i) }))
            .await
            .unwrap();
        t.join().unwrap();
        match out {
            Outcome::Completed(v) => {
                assert_eq!(v, i);
                assert!(
                    !tg.is_cancelled(),
                    "iteration {i}: Completed but the group reads cancelled"
                );
                assert_eq!(tg.cancel_reason(), None);
                seen.0 += 1;
            }
            Outcome::Cancelled(r) => {
                assert_eq!(r, CancelReason::Requested);
                assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
                seen.1 += 1;
            }
        }
    }
    let _ = seen;
}

// SPEC 4 rule 5: cancel from a plain thread racing the body's Ok (multi-thread): outcome and group agree
async fn cancel_from_thread_racing_body_completion_is_consistent() {
    for i in 0..400 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        let go = Arc::new(AtomicBool::new(false));
        let go2 = go.clone();
        let t = std::thread::spawn(move || {
            while !go2.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            tg2.cancel();
        });
        let out = within(
            "run",
            scope.run(async move {
                go.store(true, Ordering::Release);
                Ok::<_, BoxError>(i)
            }),
        )
        .await
        .unwrap();
        t.join().unwrap();
        assert_eq!(
            out.is_cancelled(),
            tg.is_cancelled(),
            "iteration {i}: outcome {out:?} but is_cancelled() = {}",
            tg.is_cancelled()
        );
        if !tg.is_cancelled() {
            assert!(
                tokio::time::timeout(ms(1), tg.cancelled()).await.is_err(),
                "iteration {i}: cancelled() resolved for a Completed scope"
            );
        }
    }
}
