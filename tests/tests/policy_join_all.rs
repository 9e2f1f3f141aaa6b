//! SPEC section 9: `CancelScope::join_all` and `cancel_scope::join_all`.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};
use common::*;

type Member<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

fn after<T: Send + 'static>(d: Duration, r: Result<T, &'static str>) -> Member<T> {
    Box::pin(async move {
        tokio::time::sleep(d).await;
        r.map_err(err)
    })
}

both!(
    values_in_input_order,
    empty_input_completes_empty,
    fail_fast_cancels_the_rest,
    supervised_keeps_going_with_every_error,
    deadline_discards_values_inside_the_scope,
    limit_bounds_running_and_keeps_order,
    limit_later_tasks_finish_while_an_earlier_one_runs,
    panicking_iterator_cancels_spawned_then_resumes,
    task_panic_is_resumed,
    free_fn_join_all,
    readme_policies,
    drop_join_all_future_at_every_poll,
);

/// Dropping the `join_all` future after each number of polls: every member's future (and every
/// value collected) is dropped before the enclosing scope returns.
async fn drop_join_all_future_at_every_poll() {
    for polls in 0..10usize {
        let drops = Counter::new();
        let created = Arc::new(AtomicUsize::new(0));
        let outer = CancelScope::new();
        let (d, c) = (drops.clone(), created.clone());
        let out = outer
            .run(async move {
                let futures = (0..4usize).map(|i| {
                    c.fetch_add(2, Ordering::SeqCst); // its future's guard and its value
                    let (g, v) = (d.guard(), d.guard());
                    Box::pin(async move {
                        let _g = g;
                        for _ in 0..=i {
                            tokio::task::yield_now().await;
                        }
                        Ok(v)
                    }) as Member<Guard>
                });
                let mut join = std::pin::pin!(CancelScope::new().join_all(futures));
                for _ in 0..polls {
                    let ready = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(join.as_mut().poll(cx).is_ready())
                    })
                    .await;
                    if ready {
                        return Ok(());
                    }
                    tokio::task::yield_now().await;
                }
                Ok(())
            })
            .await;
        assert!(out.is_ok(), "polls {polls}");
        assert_eq!(
            drops.get(),
            created.load(Ordering::SeqCst),
            "every future and value was dropped before the outer scope returned (polls {polls})"
        );
    }
}

/// The README's join-policies example (same code, rustfmt-formatted).
async fn readme_policies() {
    let fetch = |n: u32| async move {
        if n == 3 {
            Err::<u32, BoxError>("page 3: 503".into())
        } else {
            Ok(n * 10)
        }
    };
    // Every error, not just the first: no task is cancelled by a sibling's failure.
    let out = CancelScope::new()
        .supervise()
        .join_all((1..=4).map(fetch))
        .await;
    assert_eq!(out.unwrap_err().len(), 1);
    // The first success wins; the failed attempt does not stop the race.
    let out = cancel_scope::race([3, 4].map(fetch)).await;
    assert_eq!(out.unwrap(), Outcome::Completed(40));
}

async fn values_in_input_order() {
    let s = short();
    let out = CancelScope::new()
        .join_all([
            after(s * 3, Ok(1)),
            after(s, Ok(2)),
            after(s * 2, Ok(3)),
            after(Duration::ZERO, Ok(4)),
        ])
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![1, 2, 3, 4]));
}

async fn empty_input_completes_empty() {
    let out = cancel_scope::join_all(Vec::<Member<u8>>::new()).await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![]));
}

async fn fail_fast_cancels_the_rest() {
    let drops = Counter::new();
    let d = drops.clone();
    let forever: Member<u8> = Box::pin(async move {
        hold_forever(d.guard()).await;
        Ok(0)
    });
    let out = CancelScope::new()
        .join_all([
            after(Duration::ZERO, Ok(1)),
            after(short(), Err("bad")),
            forever,
        ])
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["bad"]);
    assert_eq!(drops.get(), 1);
}

async fn supervised_keeps_going_with_every_error() {
    let ran = Arc::new(AtomicUsize::new(0));
    let futures = (0..8u32).map(|i| {
        let ran = ran.clone();
        async move {
            tokio::time::sleep(short() * i).await;
            ran.fetch_add(1, Ordering::SeqCst);
            if i % 2 == 1 {
                Err(err(&format!("e{i}")))
            } else {
                Ok(i)
            }
        }
    });
    let out = CancelScope::new().supervise().join_all(futures).await;
    let mut errors = msgs(&out.unwrap_err());
    if !paused() {
        // Real time on two workers: timers close together may fire in one tick.
        errors.sort();
    }
    assert_eq!(errors, ["e1", "e3", "e5", "e7"]);
    assert_eq!(ran.load(Ordering::SeqCst), 8, "every task ran to its end");
}

/// A deadline: `Cancelled(Deadline)`, and the values already collected are dropped before the
/// scope returns.
async fn deadline_discards_values_inside_the_scope() {
    let drops = Counter::new();
    let futures = (0..4u32).map(|i| {
        let d = drops.clone();
        Box::pin(async move {
            let g = d.guard();
            if i == 3 {
                std::future::pending::<()>().await;
            }
            Ok(g)
        }) as Member<Guard>
    });
    let out = CancelScope::new().timeout(short()).join_all(futures).await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Deadline))
    ));
    assert_eq!(
        drops.get(),
        4,
        "every collected value and the stopped task's were dropped"
    );
}

async fn limit_bounds_running_and_keeps_order() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let futures = (0..20u64).map(|i| {
        let (running, peak) = (running.clone(), peak.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis((i * 7) % 5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(i)
        }
    });
    let out = CancelScope::new().limit(3).join_all(futures).await;
    assert_eq!(
        out.unwrap(),
        Outcome::Completed((0..20).collect::<Vec<_>>())
    );
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

/// Under a limit, tasks after a slow first one start and finish (their slots free) while the
/// first still runs: no head-of-line blocking by the input order.
async fn limit_later_tasks_finish_while_an_earlier_one_runs() {
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let observer = tg.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut rx = Some(rx);
    let futures = (0..6u32).map(move |i| {
        let rx = if i == 0 { rx.take() } else { None };
        let observer = observer.clone();
        Box::pin(async move {
            if let Some(rx) = rx {
                let _ = rx.await; // the first one ends last
            } else if i == 5 {
                // Every other task finished: only the first is alive.
                while observer.len() > 2 {
                    tokio::task::yield_now().await;
                }
            }
            Ok(i)
        }) as Member<u32>
    });
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(short()).await;
        let _ = tx.send(());
    });
    let out = within("join_all", scope.join_all(futures)).await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![0, 1, 2, 3, 4, 5]));
    releaser.await.unwrap();
}

async fn panicking_iterator_cancels_spawned_then_resumes() {
    let drops = Counter::new();
    let d = drops.clone();
    let futures = (0..5).map(move |i| {
        if i == 2 {
            boom(Payload(2));
        }
        let g = d.guard();
        Box::pin(async move {
            hold_forever(g).await;
            Ok(0u8)
        }) as Member<u8>
    });
    let caught = catch(CancelScope::new().join_all(futures)).await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(2))
    );
    assert_eq!(drops.get(), 2);
}

async fn task_panic_is_resumed() {
    let p: Member<u8> = Box::pin(async {
        boom(Payload(9));
        Ok(0)
    });
    let caught = catch(CancelScope::new().join_all([after(short(), Ok(1)), p])).await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(9))
    );
}

async fn free_fn_join_all() {
    let out: ScopeResult<Vec<u32>> =
        cancel_scope::join_all((0..100u32).map(|i| async move { Ok(i * 2) })).await;
    assert_eq!(
        out.unwrap().completed().unwrap(),
        (0..100).map(|i| i * 2).collect::<Vec<_>>()
    );
}
