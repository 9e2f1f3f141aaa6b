//! SPEC section 9: `CancelScope::race` and `cancel_scope::race`.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, TaskGroup};
use common::*;

type Contender<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

fn after<T: Send + 'static>(d: Duration, r: Result<T, &'static str>) -> Contender<T> {
    Box::pin(async move {
        tokio::time::sleep(d).await;
        r.map_err(err)
    })
}

fn forever<T: Send + 'static>(drops: &Counter) -> Contender<T> {
    let g = drops.guard();
    Box::pin(async move {
        hold_forever(g).await;
        unreachable!()
    })
}

both!(
    first_success_wins_and_cancels_the_rest,
    errors_do_not_cancel_and_are_dropped_after_a_win,
    every_error_without_a_win,
    deadline_without_error_is_cancelled,
    deadline_with_error_is_err,
    parent_cancel_ends_the_race,
    race_won_does_not_travel_up,
    linked_child_sees_parent,
    limit_staggers_and_drops_queued_after_win,
    errors_after_the_win_are_dropped,
    late_success_after_win_is_dropped_inside_the_scope,
    success_after_outside_cancel_does_not_win,
    panic_of_a_contender_is_resumed,
    panicking_iterator_cancels_spawned_then_resumes,
    empty_race_panics,
    free_fn_race,
    tasks_see_race_won,
    drop_race_future_at_every_poll,
    win_racing_a_failure,
    win_racing_an_outside_cancel,
    limited_race_with_grace_ended_by_a_parent,
);

/// A limited race with a grace period, ended by its linked parent: contenders see the cancel
/// (reason `Parent`), one fails during the grace (kept: no win), one succeeds during the grace
/// (not a win: the race was already over), the queued one never starts.
async fn limited_race_with_grace_ended_by_a_parent() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let scope = CancelScope::new().limit(2).grace(short() * 10).parent(&ptg);
    let tg = scope.group();
    let started = Arc::new(AtomicUsize::new(0));
    let drops = Counter::new();
    let (t1, t2, s1, s2, s3, d) = (
        tg.clone(),
        tg.clone(),
        started.clone(),
        started.clone(),
        started.clone(),
        drops.clone(),
    );
    let fails: Contender<Guard> = Box::pin(async move {
        s1.fetch_add(1, Ordering::SeqCst);
        t1.cancelled().await;
        assert_eq!(t1.cancel_reason(), Some(CancelReason::Parent));
        Err(err("during grace"))
    });
    let succeeds_late: Contender<Guard> = Box::pin(async move {
        s2.fetch_add(1, Ordering::SeqCst);
        t2.cancelled().await;
        tokio::time::sleep(short()).await;
        Ok(d.guard())
    });
    let queued: Contender<Guard> = Box::pin(async move {
        s3.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    });
    let c = ptg.clone();
    tokio::spawn(async move {
        tokio::time::sleep(short()).await;
        c.cancel();
    });
    let out = scope.race([fails, succeeds_late, queued]).await;
    let Err(e) = out else {
        panic!("the error during the grace counts: no win")
    };
    assert_eq!(msgs(&e), ["during grace"]);
    assert_eq!(
        drops.get(),
        1,
        "the late success was dropped inside the scope"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "the queued contender never started"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Parent));
    drop(parent);
}

/// A success and failures finishing at the same moment (in parallel on multi-thread): the
/// success always wins, and no error of the race survives it.
async fn win_racing_a_failure() {
    for round in 0..200u32 {
        let gate = Arc::new(tokio::sync::Barrier::new(3));
        let make = |r: Result<u32, &'static str>| {
            let gate = gate.clone();
            Box::pin(async move {
                gate.wait().await;
                r.map_err(err)
            }) as Contender<u32>
        };
        let out = CancelScope::new()
            .race([make(Err("a")), make(Ok(round)), make(Err("b"))])
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(round), "round {round}");
    }
}

/// A success and an outside cancel at the same moment: either the win came first
/// (`Completed`), or the cancel did (`Cancelled(Requested)`), and then the value was dropped
/// inside the scope. Never both, never neither.
async fn win_racing_an_outside_cancel() {
    for round in 0..200u32 {
        let drops = Counter::new();
        let scope = CancelScope::new();
        let tg = scope.group();
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let (g1, g2, d) = (gate.clone(), gate.clone(), drops.clone());
        let canceller = tg.clone();
        std::mem::drop(tokio::spawn(async move {
            g1.wait().await;
            canceller.cancel();
        }));
        let winner: Contender<Guard> = Box::pin(async move {
            g2.wait().await;
            Ok(d.guard())
        });
        let out = within("race", scope.race([winner])).await;
        match out {
            Ok(Outcome::Completed(g)) => {
                assert_eq!(drops.get(), 0, "round {round}");
                drop(g);
            }
            Ok(Outcome::Cancelled(CancelReason::Requested)) => {
                // Either it never completed, or its value was dropped inside the scope.
                assert!(drops.get() <= 1, "round {round}");
            }
            other => panic!(
                "round {round}: unexpected {:?}",
                other.map(|o| o.is_cancelled())
            ),
        }
    }
}

async fn first_success_wins_and_cancels_the_rest() {
    let drops = Counter::new();
    let s = short();
    // Losers far behind the winner: the order holds on a loaded machine too.
    let out = cancel_scope::race([
        after(s * 30, Ok(3)),
        after(s, Ok(1)),
        forever(&drops),
        after(s * 20, Ok(2)),
    ])
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(
        drops.get(),
        1,
        "the losers were stopped and dropped before the race returned"
    );
}

async fn errors_do_not_cancel_and_are_dropped_after_a_win() {
    let s = short();
    let out = CancelScope::new()
        .race([
            after(Duration::ZERO, Err("e0")),
            after(s, Err("e1")),
            after(s * 2, Ok(7u8)),
        ])
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(7));
}

async fn every_error_without_a_win() {
    let s = short();
    let out: ScopeResult<u8> = CancelScope::new()
        .race([
            after(s * 2, Err("b")),
            after(s, Err("a")),
            after(s * 3, Err("c")),
        ])
        .await;
    let mut errors = msgs(&out.unwrap_err());
    if !paused() {
        // Real time on two workers: timers close together may fire in one tick.
        errors.sort();
    }
    assert_eq!(errors, ["a", "b", "c"]);
}

async fn deadline_without_error_is_cancelled() {
    let drops = Counter::new();
    let out: ScopeResult<u8> = CancelScope::new()
        .timeout(short())
        .race([forever(&drops), forever(&drops)])
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(drops.get(), 2);
}

async fn deadline_with_error_is_err() {
    let drops = Counter::new();
    let out: ScopeResult<u8> = CancelScope::new()
        .timeout(short())
        .race([forever(&drops), after(Duration::ZERO, Err("lost"))])
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["lost"]);
    assert_eq!(drops.get(), 1);
}

async fn parent_cancel_ends_the_race() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let c = ptg.clone();
    ptg.spawn(async move {
        tokio::time::sleep(short()).await;
        c.cancel();
    });
    let drops = Counter::new();
    let out: ScopeResult<u8> = CancelScope::new()
        .parent(&ptg)
        .race([forever(&drops), after(Duration::ZERO, Err("e"))])
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["e"]);
    let out: ScopeResult<u8> = CancelScope::new()
        .parent(&ptg)
        .race([forever(&drops)])
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert!(parent.run(async { Ok(()) }).await.unwrap().is_cancelled());
}

async fn race_won_does_not_travel_up() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = CancelScope::new()
        .parent(&ptg)
        .race([after(Duration::ZERO, Ok(1u8)), after(short() * 20, Ok(2))])
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert!(!ptg.is_cancelled(), "RaceWon does not travel up");
    assert_eq!(
        parent.run(async { Ok(5) }).await.unwrap(),
        Outcome::Completed(5)
    );
}

async fn linked_child_sees_parent() {
    let scope = CancelScope::new();
    let race_tg: TaskGroup = scope.group();
    let child = CancelScope::new().parent(&race_tg);
    let child_tg = child.group();
    let out = scope.race([after(short(), Ok(1u8))]).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(race_tg.cancel_reason(), Some(CancelReason::RaceWon));
    assert_eq!(child_tg.cancel_reason(), Some(CancelReason::Parent));
    let c: ScopeResult<()> = child.run(async { std::future::pending().await }).await;
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Parent));
}

/// Happy-eyeballs shape: `limit(1)` + contenders that give up their slot after a stagger.
/// The winner is found before the queued ones start; they are dropped unstarted.
async fn limit_staggers_and_drops_queued_after_win() {
    let started = Arc::new(AtomicUsize::new(0));
    let contender = |_i: usize, r: Result<usize, &'static str>| {
        let started = started.clone();
        Box::pin(async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(short()).await;
            r.map_err(err)
        }) as Contender<usize>
    };
    let out = CancelScope::new()
        .limit(1)
        .race([
            contender(0, Err("refused")),
            contender(1, Ok(1)),
            contender(2, Ok(2)),
            contender(3, Ok(3)),
        ])
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "queued contenders never started"
    );
}

/// Losers that see the cancel (grace) and return `Err`: not errors of the race.
async fn errors_after_the_win_are_dropped() {
    let scope = CancelScope::new().grace(short() * 10);
    let tg = scope.group();
    let loser = |tg: TaskGroup| -> Contender<u8> {
        Box::pin(async move {
            tg.cancelled().await;
            Err(err("loser"))
        })
    };
    let out = scope
        .race([loser(tg.clone()), loser(tg.clone()), after(short(), Ok(9))])
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(9));
}

/// Two successes: the second is dropped inside its task, before the race returns.
async fn late_success_after_win_is_dropped_inside_the_scope() {
    let drops = Counter::new();
    let scope = CancelScope::new().grace(short() * 10);
    let tg = scope.group();
    let (d1, d2, t) = (drops.clone(), drops.clone(), tg.clone());
    let first: Contender<Option<Guard>> = Box::pin(async move {
        tokio::time::sleep(short()).await;
        Ok(Some(d1.guard()))
    });
    let second: Contender<Option<Guard>> = Box::pin(async move {
        t.cancelled().await;
        Ok(Some(d2.guard()))
    });
    let out = scope.race([second, first]).await;
    assert_eq!(
        drops.get(),
        1,
        "the late success was dropped before the race returned"
    );
    let Ok(Outcome::Completed(Some(_winner))) = out else {
        panic!("the first success wins")
    };
    assert_eq!(tg.cancel_reason(), Some(CancelReason::RaceWon));
}

/// A success after a deadline does not win; its value is dropped inside the scope.
async fn success_after_outside_cancel_does_not_win() {
    let drops = Counter::new();
    let scope = CancelScope::new().timeout(short()).grace(short() * 10);
    let tg = scope.group();
    let (d, t) = (drops.clone(), tg.clone());
    let late: Contender<Guard> = Box::pin(async move {
        t.cancelled().await;
        Ok(d.guard())
    });
    let out = scope.race([late]).await;
    assert_eq!(drops.get(), 1);
    let Ok(Outcome::Cancelled(reason)) = out else {
        panic!("expected a cancel")
    };
    assert_eq!(reason, CancelReason::Deadline);
}

async fn panic_of_a_contender_is_resumed() {
    let drops = Counter::new();
    let boom_after: Contender<u8> = Box::pin(async {
        tokio::time::sleep(short()).await;
        boom(Payload(11));
        Ok(0)
    });
    let caught = catch(CancelScope::new().race([forever(&drops), boom_after])).await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(11))
    );
    assert_eq!(drops.get(), 1);
}

async fn panicking_iterator_cancels_spawned_then_resumes() {
    let drops = Counter::new();
    let d = drops.clone();
    let futures = (0..5).map(move |i| {
        if i == 3 {
            boom(Payload(3));
        }
        forever::<u8>(&d)
    });
    let caught = catch(CancelScope::new().race(futures)).await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(3))
    );
    assert_eq!(
        drops.get(),
        3,
        "the three spawned contenders were dropped before the resume"
    );
}

async fn empty_race_panics() {
    let caught = catch(cancel_scope::race(Vec::<Contender<u8>>::new())).await;
    let msg = panic_msg(&*caught.unwrap_err());
    assert!(msg.contains("no futures to race"), "{msg}");
}

async fn free_fn_race() {
    let out = cancel_scope::race((1..=3u64).map(|i| async move {
        tokio::time::sleep(short() * 10 * (4 - u32::try_from(i).unwrap())).await;
        Ok::<_, BoxError>(i)
    }))
    .await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
}

async fn tasks_see_race_won() {
    let scope = CancelScope::new().grace(short() * 10);
    let tg = scope.group();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (t, s) = (tg.clone(), seen.clone());
    let watcher: Contender<u8> = Box::pin(async move {
        t.cancelled().await;
        *s.lock().unwrap() = t.cancel_reason();
        Err(err("loser"))
    });
    let out = scope.race([watcher, after(short(), Ok(1))]).await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    assert_eq!(*seen.lock().unwrap(), Some(CancelReason::RaceWon));
}

/// Dropping the race future after each number of polls: every contender's future is dropped
/// before the enclosing scope returns, whatever the poll it was dropped at.
async fn drop_race_future_at_every_poll() {
    for polls in 0..12usize {
        let drops = Counter::new();
        let created = Arc::new(AtomicUsize::new(0));
        let outer = CancelScope::new();
        let d = drops.clone();
        let c = created.clone();
        let out = outer
            .run(async move {
                let futures = (0..4).map(|i| {
                    c.fetch_add(1, Ordering::SeqCst);
                    let g = d.guard();
                    Box::pin(async move {
                        let _g = g;
                        for _ in 0..(i + 1) {
                            tokio::task::yield_now().await;
                        }
                        if i == 3 { Ok(i) } else { Err(err("no")) }
                    }) as Contender<i32>
                });
                let mut race = std::pin::pin!(CancelScope::new().race(futures));
                for _ in 0..polls {
                    if std::future::poll_fn(|cx| match race.as_mut().poll(cx) {
                        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
                        std::task::Poll::Pending => std::task::Poll::Ready(None),
                    })
                    .await
                    .is_some()
                    {
                        return Ok(true);
                    }
                    tokio::task::yield_now().await;
                }
                Ok(false)
            })
            .await;
        assert!(out.is_ok(), "polls {polls}");
        assert_eq!(
            drops.get(),
            created.load(Ordering::SeqCst),
            "every contender created was dropped before the outer scope returned (polls {polls})"
        );
    }
}
