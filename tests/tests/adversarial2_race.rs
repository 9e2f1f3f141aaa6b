//! Adversarial 2: `race` and `join_all` (SPEC sec. 9) against secs. 2-6.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::{err, flag, ms, msgs};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    race_all_fail_keeps_every_error_in_order,
    race_empty_panics,
    race_panicking_iterator_resumes_and_drops_started,
    race_limit_one_first_wins_second_never_starts,
    race_limit_one_first_fails_second_runs_and_wins,
    race_linked_to_parent_racewon_stays_down,
    race_losers_dropped_before_return,
    race_outside_cancel_with_error_is_err,
    race_deadline_with_error_is_err,
    race_outside_cancel_without_error_is_cancelled,
    race_contender_panic_resumed_after_losers_dropped,
    race_win_reason_is_racewon,
    join_all_order_under_limit,
    join_all_failure_cancels_rest,
    join_all_panic_resumed_others_dropped,
    join_all_panicking_iterator,
    join_all_outside_cancel_is_cancelled,
    join_all_empty_is_completed_empty,
);
multi!(race_win_fail_cancel_loop);

// sec. 9: "Without a win, every error counts (rule 3): any error gives Err(GroupError) with every error"
async fn race_all_fail_keeps_every_error_in_order() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(10)).await;
            Err(err("a"))
        }),
        Box::pin(async {
            tokio::time::sleep(ms(60)).await;
            Err(err("c"))
        }),
        Box::pin(async {
            tokio::time::sleep(ms(35)).await;
            Err(err("b"))
        }),
    ];
    let out = cancel_scope::race(futs).await;
    assert_eq!(msgs(&out.unwrap_err()), ["a", "b", "c"]);
}

// sec. 9: "An empty input panics with a clear message"
async fn race_empty_panics() {
    let r = AssertUnwindSafe(cancel_scope::race(Vec::<Fut<u32>>::new()))
        .catch_unwind()
        .await;
    assert!(r.is_err(), "empty race must panic");
}

// sec. 4 rule 4 / sec. 2: panics never swallowed; nothing outlives its scope
async fn race_panicking_iterator_resumes_and_drops_started() {
    let (dropped, f) = flag();
    let mut first = Some(f);
    let it = (0..3).map(move |i| -> Fut<u32> {
        if i == 1 {
            panic!("iter-boom");
        }
        let f = first.take();
        Box::pin(async move {
            let _f = f;
            std::future::pending::<()>().await;
            Ok(0)
        })
    });
    let r = AssertUnwindSafe(cancel_scope::race(it))
        .catch_unwind()
        .await;
    let p = r.expect_err("iterator panic must be resumed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("iter-boom"));
    assert!(
        dropped.load(Ordering::SeqCst),
        "started contender outlived the race"
    );
}

// sec. 6: "at most n tasks run at once; ... queued tasks are dropped unstarted on cancel"
async fn race_limit_one_first_wins_second_never_starts() {
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(20)).await;
            Ok(1)
        }),
        Box::pin(async move {
            s.store(true, Ordering::SeqCst);
            Ok(2)
        }),
    ];
    let out = CancelScope::new().limit(1).race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert!(
        !started.load(Ordering::SeqCst),
        "queued contender started after the win"
    );
}

// sec. 9: "A task's Err does not cancel the others" (under limit)
async fn race_limit_one_first_fails_second_runs_and_wins() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async { Err(err("a")) }),
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            Ok(2)
        }),
    ];
    let out = CancelScope::new().limit(1).race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}

// sec. 9: "RaceWon, which does not travel up (linked children see Parent)"
async fn race_linked_to_parent_racewon_stays_down() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            let scope = CancelScope::new().parent(&ptg);
            let rtg = scope.group();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let child_tg = rtg.clone();
            // a linked child that does not run inside the race (a loser's scope would be dropped)
            tokio::spawn(async move {
                let o = CancelScope::new()
                    .parent(&child_tg)
                    .run(async {
                        std::future::pending::<()>().await;
                        Ok(())
                    })
                    .await;
                let _ = tx.send(o.map_err(|_| ()));
            });
            let futs: Vec<Fut<u32>> = vec![
                Box::pin(async {
                    tokio::time::sleep(ms(30)).await;
                    Ok(7)
                }),
                Box::pin(async {
                    std::future::pending::<()>().await;
                    Ok(0)
                }),
            ];
            let r = scope.race(futs).await;
            assert_eq!(r.unwrap(), Outcome::Completed(7));
            assert_eq!(rtg.cancel_reason(), Some(CancelReason::RaceWon));
            assert!(!ptg.is_cancelled(), "RaceWon travelled up to the parent");
            let child = rx.await.expect("child scope result");
            assert_eq!(child, Ok(Outcome::Cancelled(CancelReason::Parent)));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// sec. 9: "the result is Ok(Completed(v)) once every task ended"; sec. 2 destructors have run
async fn race_losers_dropped_before_return() {
    let mut flags = vec![];
    let mut futs: Vec<Fut<u32>> = vec![Box::pin(async { Ok(1) })];
    for _ in 0..5 {
        let (d, f) = flag();
        flags.push(d);
        futs.push(Box::pin(async move {
            let _f = f;
            tokio::time::sleep(ms(10_000)).await;
            Ok(2)
        }));
    }
    let out = cancel_scope::race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    for d in flags {
        assert!(
            d.load(Ordering::SeqCst),
            "loser not dropped before race returned"
        );
    }
}

// sec. 9: "any error gives Err(GroupError) with every error, also when a cancel from outside (... request) ended the race"
async fn race_outside_cancel_with_error_is_err() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            Err(err("a"))
        }),
        Box::pin(async move {
            tokio::time::sleep(ms(40)).await;
            tg.cancel();
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let out = scope.race(futs).await;
    assert_eq!(msgs(&out.unwrap_err()), ["a"]);
}

// sec. 9: "also when a cancel from outside (deadline, ...) ended the race"
async fn race_deadline_with_error_is_err() {
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async { Err(err("a")) }),
        Box::pin(async {
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let out = CancelScope::new().timeout(ms(40)).race(futs).await;
    assert_eq!(msgs(&out.unwrap_err()), ["a"]);
}

// sec. 9: "a cancel from outside with no error gives Ok(Cancelled(reason))"
async fn race_outside_cancel_without_error_is_cancelled() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tokio::spawn(async move {
        tokio::time::sleep(ms(20)).await;
        tg.cancel();
    });
    let futs: Vec<Fut<u32>> = vec![Box::pin(async {
        std::future::pending::<()>().await;
        Ok(2)
    })];
    let out = scope.race(futs).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// sec. 4 rule 4: "the scope waits until every task has stopped, then resumes the first panic ... original payload"
async fn race_contender_panic_resumed_after_losers_dropped() {
    let (d, f) = flag();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(10)).await;
            panic!("contender-boom")
        }),
        Box::pin(async move {
            let _f = f;
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let r = AssertUnwindSafe(cancel_scope::race(futs))
        .catch_unwind()
        .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("contender-boom"));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 9: "The first Ok(v) wins: the group is cancelled with the new reason CancelReason::RaceWon"
async fn race_win_reason_is_racewon() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            Ok(1)
        }),
        Box::pin(async {
            tokio::time::sleep(ms(5000)).await;
            Ok(2)
        }),
    ];
    assert_eq!(scope.race(futs).await.unwrap(), Outcome::Completed(1));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::RaceWon));
    assert!(tg.is_cancelled());
}

// sec. 9 + rule 2/3: a win, a failure and an outside cancel racing: never anything but the three legal results
async fn race_win_fail_cancel_loop() {
    for i in 0..200 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        let canceller = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tg2.cancel();
        });
        let futs: Vec<Fut<u32>> = vec![
            Box::pin(async {
                tokio::task::yield_now().await;
                Err(err("a"))
            }),
            Box::pin(async {
                tokio::task::yield_now().await;
                Ok(1)
            }),
        ];
        match scope.race(futs).await {
            Ok(Outcome::Completed(v)) => {
                assert_eq!(v, 1);
                assert_eq!(tg.cancel_reason(), Some(CancelReason::RaceWon), "iter {i}");
            }
            Ok(Outcome::Cancelled(r)) => assert_eq!(r, CancelReason::Requested, "iter {i}"),
            Err(e) => assert_eq!(msgs(&e), ["a"], "iter {i}"),
        }
        canceller.await.unwrap();
    }
}

// sec. 9: "Ok(Completed(values)) in input order when every task succeeded"
async fn join_all_order_under_limit() {
    let delays = [30u64, 5, 20, 1, 15, 0, 10];
    let futs: Vec<Fut<u64>> = delays
        .iter()
        .map(|&d| -> Fut<u64> {
            Box::pin(async move {
                tokio::time::sleep(ms(d)).await;
                Ok(d)
            })
        })
        .collect();
    let out = CancelScope::new().limit(2).join_all(futs).await;
    assert_eq!(out.unwrap(), Outcome::Completed(delays.to_vec()));
}

// sec. 9: "fail-fast like any scope"
async fn join_all_failure_cancels_rest() {
    let done = Arc::new(AtomicUsize::new(0));
    let mut flags = vec![];
    let mut futs: Vec<Fut<u32>> = vec![Box::pin(async {
        tokio::time::sleep(ms(10)).await;
        Err(err("x"))
    })];
    for _ in 0..3 {
        let (d, f) = flag();
        flags.push(d);
        let done = done.clone();
        futs.push(Box::pin(async move {
            let _f = f;
            tokio::time::sleep(ms(3000)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        }));
    }
    let t0 = std::time::Instant::now();
    let out = cancel_scope::join_all(futs).await;
    assert_eq!(msgs(&out.unwrap_err()), ["x"]);
    assert!(t0.elapsed() < ms(1500), "did not fail fast");
    assert_eq!(done.load(Ordering::SeqCst), 0);
    for d in flags {
        assert!(d.load(Ordering::SeqCst));
    }
}

// sec. 4 rule 4: panic resumed with original payload after every task stopped
async fn join_all_panic_resumed_others_dropped() {
    let (d, f) = flag();
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async move {
            let _f = f;
            std::future::pending::<()>().await;
            Ok(1)
        }),
        Box::pin(async {
            tokio::time::sleep(ms(5)).await;
            panic!("join-boom")
        }),
    ];
    let r = AssertUnwindSafe(cancel_scope::join_all(futs))
        .catch_unwind()
        .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("join-boom"));
    assert!(d.load(Ordering::SeqCst));
}

// join_all rustdoc: "Resumes the first panic of a task or of the iterator."
async fn join_all_panicking_iterator() {
    let (dropped, f) = flag();
    let mut first = Some(f);
    let it = (0..3).map(move |i| -> Fut<u32> {
        if i == 1 {
            panic!("iter-boom");
        }
        let f = first.take();
        Box::pin(async move {
            let _f = f;
            std::future::pending::<()>().await;
            Ok(0)
        })
    });
    let r = AssertUnwindSafe(cancel_scope::join_all(it))
        .catch_unwind()
        .await;
    let p = r.expect_err("iterator panic must be resumed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("iter-boom"));
    assert!(dropped.load(Ordering::SeqCst));
}

// rule 2: "Cancellation is never an error"; reason is the first cause
async fn join_all_outside_cancel_is_cancelled() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tokio::spawn(async move {
        tokio::time::sleep(ms(20)).await;
        tg.cancel();
    });
    let futs: Vec<Fut<u32>> = vec![
        Box::pin(async { Ok(1) }),
        Box::pin(async {
            std::future::pending::<()>().await;
            Ok(2)
        }),
    ];
    let out = scope.join_all(futs).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

// sec. 9 + rule 1: no task, nothing failed, never cancelled: Completed(values) (here empty)
async fn join_all_empty_is_completed_empty() {
    let out = cancel_scope::join_all(Vec::<Fut<u32>>::new()).await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![]));
}
