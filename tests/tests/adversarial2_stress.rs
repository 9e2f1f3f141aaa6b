//! Adversarial 2, part 10: multi-thread loops racing signals, cancels and completions.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};

#[macro_use]
mod adversarial;

use adversarial::{err, ms};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

multi!(
    signal_vs_task_error_loop,
    join_all_vs_outside_cancel_loop,
    race_loser_cancels_after_win_keeps_racewon,
);

// rule 3 / sec. 10: a Signal racing a task error: an error is never lost, Failed is never an Ok
async fn signal_vs_task_error_loop() {
    for i in 0..300 {
        let scope = CancelScope::new().cancel_on(tokio::task::yield_now());
        let tg = scope.group();
        let out = scope
            .run(async {
                tg.spawn(async {
                    tokio::task::yield_now().await;
                    Err::<(), BoxError>(err("e"))
                });
                Ok(())
            })
            .await;
        match out {
            Err(e) => assert_eq!(e.len(), 1, "iter {i}"),
            Ok(Outcome::Cancelled(r)) => {
                assert_eq!(r, CancelReason::Signal, "iter {i}");
                assert_eq!(tg.cancel_reason(), Some(CancelReason::Signal));
            }
            Ok(Outcome::Completed(())) => {
                panic!("iter {i}: Completed although the signal resolved")
            }
        }
    }
}

// sec. 9: join_all gives Completed(values) or Cancelled(Requested), nothing else, under a racing cancel
async fn join_all_vs_outside_cancel_loop() {
    for i in 0..300u32 {
        let scope = CancelScope::new();
        let tg = scope.group();
        let tg2 = tg.clone();
        let c = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tg2.cancel();
        });
        let futs: Vec<Fut<u32>> = (0..3u32)
            .map(|k| -> Fut<u32> {
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    Ok(k)
                })
            })
            .collect();
        match scope.join_all(futs).await {
            Ok(Outcome::Completed(v)) => assert_eq!(v, [0, 1, 2], "iter {i}"),
            Ok(Outcome::Cancelled(r)) => assert_eq!(r, CancelReason::Requested, "iter {i}"),
            Err(_) => panic!("iter {i}: error without any failure"),
        }
        c.await.unwrap();
    }
}

// sec. 5: "The reason recorded is always the first cause" (a loser's cancel() after the win)
async fn race_loser_cancels_after_win_keeps_racewon() {
    for i in 0..100 {
        let scope = CancelScope::new().grace(ms(500));
        let tg = scope.group();
        let tg2 = tg.clone();
        let futs: Vec<Fut<u32>> = vec![
            Box::pin(async { Ok(1) }),
            Box::pin(async move {
                tg2.cancelled().await;
                tg2.cancel();
                Err(err("loser"))
            }),
        ];
        let out = scope.race(futs).await;
        assert_eq!(out.unwrap(), Outcome::Completed(1), "iter {i}");
        assert_eq!(tg.cancel_reason(), Some(CancelReason::RaceWon), "iter {i}");
    }
}
