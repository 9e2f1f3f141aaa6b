//! Adversarial 4: scopes whose group is never asked for ("ungrouped": no `group()`, no option),
//! written from the SPEC alone against a version that ran such a body without a group until
//! something needed one (built in wave 3, then reverted: see BENCHMARKS.md, "A scope without a
//! group"). They stay as the tests any such optimisation must pass; every SPEC promise must hold
//! exactly as for a scope that uses its group:
//!
//! - SPEC 2 "Nothing outlives its scope": nested scopes dropped in every way (unrun, `select!`,
//!   `timeout`, polled once, inside `futures::join!`, in an aborted task) at several depths of
//!   alternating grouped and ungrouped scopes; an ungrouped `run` future itself dropped in those
//!   ways, moved between tasks, never polled; dropped after every number of polls; 20,000 deep
//!   body-in-body and task-in-task.
//! - SPEC 2, a discarded value: a body value owning a nested scope, discarded by a panic.
//! - Rules 3 and 4: the body's error and panic (payload identity), a panic in the destructor of
//!   a body that returned `Ok` or `Err`, a panic of a handed-over task.
//! - SPEC 5: cancellation never leaks as an error (requested, linked parent, deadline), and
//!   `TaskGroup::deadline` sees through an ungrouped scope.
//! - The thread-local "current scope": correct after an ungrouped scope returned, failed,
//!   panicked or was dropped mid-poll; inside `spawn_blocking` + `Handle::block_on`, `LocalSet`,
//!   `block_in_place`, `futures::executor::block_on`.
//! - The crate docs ("Nothing outlives its scope"): a scope dropped before its `run` was polled
//!   hands over to "the scope it was created in" (this found a regression of the lazy group:
//!   the enclosing scope was looked up when the group was created, not at `new()`).
//! - SPEC 6 "each scope and task in a span": in `tracing_spans.rs`
//!   (`ungrouped_scopes_have_spans_like_any_scope`, run with `--features tracing`; it found a
//!   regression of the lazy group too: a scope without a group had no span). It lives there
//!   because a subscriber set with `with_default` misses spans while tests on other threads of
//!   the same binary run without one.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};
use common::*;
use tokio::sync::{Notify, oneshot};

type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;
type SendFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Panics with `Payload(n)` when dropped (unless already unwinding).
struct Bomb(u32);

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(self.0));
        }
    }
}

/// The `Payload` number of a caught panic.
fn payload_of(p: &(dyn std::any::Any + Send)) -> u32 {
    match p.downcast_ref::<Payload>() {
        Some(Payload(n)) => *n,
        None => match p.downcast_ref::<&str>() {
            Some(s) => panic!("expected a Payload, got the panic {s:?}"),
            None => match p.downcast_ref::<String>() {
                Some(s) => panic!("expected a Payload, got the panic {s:?}"),
                None => panic!("expected a Payload, got another payload type"),
            },
        },
    }
}

/// A body future that polls `fut` and owns `hold`, dropped (after `fut`) only when the body is
/// dropped: a destructor that runs after the body returned.
struct Owning<F, H> {
    fut: Pin<Box<F>>,
    #[allow(dead_code)]
    hold: H,
}

impl<F: Future, H> Future for Owning<F, H> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

// Pin<Box<F>> is Unpin, H is only held.
impl<F, H> Unpin for Owning<F, H> {}

/// A scope with one task that holds `guard` until it is dropped.
fn scope_holding(guard: Guard) -> CancelScope {
    let s = CancelScope::new();
    s.group().spawn(hold_forever(guard));
    s
}

/// A body that never ends.
fn forever() -> impl Future<Output = Result<(), BoxError>> {
    std::future::pending()
}

/// The ways a future is dropped before it finished.
#[derive(Clone, Copy, Debug)]
enum How {
    /// `tokio::select!` with a branch that is ready at the second poll.
    Select,
    /// `tokio::time::timeout` that elapses.
    Timeout,
    /// Polled once by hand, then dropped.
    PolledOnce,
    /// One branch of a `futures::join!` that is itself dropped in `select!`.
    Join,
}

const DROPS: [How; 4] = [How::Select, How::Timeout, How::PolledOnce, How::Join];

/// Starts `fut` and drops it unfinished, the way `how` says. `fut` must not finish in its
/// first two polls.
async fn drop_started<F: Future>(how: How, fut: F) {
    match how {
        How::Select => {
            tokio::select! {
                biased;
                _ = fut => panic!("the future was meant to stay pending"),
                () = tokio::task::yield_now() => {}
            }
        }
        How::Timeout => {
            let r = tokio::time::timeout(ms(1), fut).await;
            assert!(r.is_err(), "the future was meant to stay pending");
        }
        How::PolledOnce => {
            let mut fut = Box::pin(fut);
            assert!(futures::poll!(fut.as_mut()).is_pending());
            drop(fut);
        }
        How::Join => {
            tokio::select! {
                biased;
                _ = async { futures::join!(fut, tokio::task::yield_now()) } => {
                    panic!("the future was meant to stay pending")
                }
                () = tokio::task::yield_now() => {}
            }
        }
    }
}

/// The ways a nested scope with a live task is dropped inside a body.
#[derive(Clone, Copy, Debug)]
enum Kill {
    Unrun,
    Started(How),
    /// Its `run` is in a task of another scope, and that task is aborted.
    AbortedTask,
}

fn kills() -> Vec<Kill> {
    let mut v = vec![Kill::Unrun, Kill::AbortedTask];
    v.extend(DROPS.iter().map(|&d| Kill::Started(d)));
    v
}

/// Drops a nested scope whose task holds `guard`, the way `kill` says.
async fn kill_nested(kill: Kill, guard: Guard) {
    match kill {
        Kill::Unrun => drop(scope_holding(guard)),
        Kill::Started(how) => drop_started(how, scope_holding(guard).run(forever())).await,
        Kill::AbortedTask => {
            let x = CancelScope::new();
            let xtg = x.group();
            let (tx, rx) = oneshot::channel();
            let h = xtg.spawn(async move {
                let s = scope_holding(guard);
                let _ = tx.send(());
                drop_result(s.run(forever())).await;
            });
            let out = x
                .run(async move {
                    let _ = rx.await;
                    tokio::task::yield_now().await;
                    h.abort();
                    Ok(())
                })
                .await;
            assert_eq!(out.unwrap(), Outcome::Completed(()));
        }
    }
}

/// Runs `inner` inside scopes nested body-in-body, outermost first: `true` a scope with a group
/// (`group()` called), `false` one without. Every level must complete.
fn nest(levels: &'static [bool], inner: BoxFut<()>) -> BoxFut<()> {
    let mut fut = inner;
    for (i, &grouped) in levels.iter().enumerate().rev() {
        let inner = fut;
        fut = Box::pin(async move {
            let s = CancelScope::new();
            if grouped {
                let _tg = s.group();
            }
            match s
                .run(async move {
                    inner.await;
                    Ok(())
                })
                .await
            {
                Ok(Outcome::Completed(())) => {}
                other => panic!("level {i} of {levels:?}: {other:?}"),
            }
        });
    }
    fut
}

const SHAPES: [&[bool]; 6] = [
    &[false],
    &[false, false],
    &[true, false],
    &[false, true, false],
    &[true, false, true, false],
    &[false, false, false, false],
];

both!(
    nested_scope_dropped_any_way_in_nested_ungrouped_bodies_is_waited_for,
    ungrouped_run_dropped_any_way_hands_on_to_the_enclosing_scope,
    ungrouped_run_in_an_aborted_task_hands_on_to_the_tasks_scope,
    ungrouped_run_never_polled_drops_its_body_in_the_right_scope,
    ungrouped_run_moved_between_tasks_finishes_and_waits,
    ungrouped_run_moved_between_tasks_then_dropped_is_waited_for_by_first_poll_scope,
    discarded_value_owning_a_nested_scope_is_waited_for,
    body_error_at_once_after_awaits_and_after_the_group_was_created,
    body_error_waits_for_handed_over_tasks,
    body_panic_payload_is_preserved_in_every_phase,
    destructor_panic_after_ok_waits_for_handed_over_tasks,
    destructor_panic_after_err_or_panic_keeps_the_first_panic,
    destructor_panic_of_a_pure_body_is_resumed_and_its_held_scope_waited_for,
    handed_over_task_panic_is_resumed_by_the_ungrouped_scope,
    handed_over_task_panic_of_a_dropped_ungrouped_scope_goes_to_the_enclosing_scope,
    nested_task_panic_propagates_through_ungrouped_scopes_with_its_payload,
    requested_cancel_around_an_ungrouped_scope_is_not_an_error,
    linked_parent_cancel_around_an_ungrouped_scope,
    ungrouped_scope_in_a_task_of_a_cancelled_parent_linked_child_never_starts,
    deadline_around_an_ungrouped_scope_waits_and_is_not_an_error,
    deadline_is_seen_through_an_ungrouped_scope,
    current_scope_is_right_after_an_ungrouped_scope_ends_in_any_way,
    current_scope_inside_spawn_blocking_block_on,
    current_scope_in_a_local_set_polled_by_a_body,
    drop_after_every_number_of_polls_loses_nothing,
    dsl_bodies_without_a_group,
);

/// A nested scope with a live task, dropped in every way, inside ungrouped bodies nested in
/// grouped and ungrouped ones: the outermost awaited scope returns after the task's slow
/// destructor ran.
async fn nested_scope_dropped_any_way_in_nested_ungrouped_bodies_is_waited_for() {
    for kill in kills() {
        for shape in SHAPES {
            let dropped = Counter::new();
            let guard = dropped.slow_guard(ms(5));
            nest(shape, Box::pin(kill_nested(kill, guard))).await;
            assert_eq!(
                dropped.get(),
                1,
                "{kill:?} in {shape:?}: the outer scope returned before the task was dropped"
            );
        }
    }
}

/// An ungrouped scope whose body runs (one or two ungrouped levels deep) a nested scope with a
/// live task is itself dropped unfinished in every way: the scope around it (grouped or not)
/// waits for the task.
async fn ungrouped_run_dropped_any_way_hands_on_to_the_enclosing_scope() {
    for how in DROPS {
        for outer_grouped in [false, true] {
            for two_levels in [false, true] {
                let dropped = Counter::new();
                let guard = dropped.slow_guard(ms(5));
                let outer = CancelScope::new();
                if outer_grouped {
                    let _tg = outer.group();
                }
                let out = outer
                    .run(async move {
                        let leaf = async move {
                            let _ = scope_holding(guard).run(forever()).await;
                            Ok::<(), BoxError>(())
                        };
                        let middle: BoxFut<ScopeResult<()>> = if two_levels {
                            Box::pin(CancelScope::new().run(async move {
                                let _ = CancelScope::new().run(leaf).await;
                                Ok(())
                            }))
                        } else {
                            Box::pin(CancelScope::new().run(leaf))
                        };
                        drop_started(how, middle).await;
                        Ok(())
                    })
                    .await;
                assert_eq!(out.unwrap(), Outcome::Completed(()));
                assert_eq!(
                    dropped.get(),
                    1,
                    "{how:?} outer_grouped={outer_grouped} two_levels={two_levels}: returned \
                     before the task was dropped"
                );
            }
        }
    }
}

/// An ungrouped scope runs in a task of a grouped scope; the task is aborted while a nested
/// scope of the ungrouped body runs a task: the grouped scope waits for it.
async fn ungrouped_run_in_an_aborted_task_hands_on_to_the_tasks_scope() {
    for depth in [1usize, 2, 3] {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(10));
        let started = Arc::new(Notify::new());
        let outer = CancelScope::new();
        let tg = outer.group();
        let s2 = started.clone();
        let h = tg.spawn(async move {
            fn level(k: usize, guard: Guard, started: Arc<Notify>) -> SendFut<ScopeResult<()>> {
                Box::pin(CancelScope::new().run(async move {
                    if k == 0 {
                        let s = scope_holding(guard);
                        started.notify_one();
                        let _ = s.run(forever()).await;
                    } else {
                        let _ = level(k - 1, guard, started).await;
                    }
                    Ok(())
                }))
            }
            let _ = level(depth - 1, guard, s2).await;
        });
        let out = outer
            .run(async move {
                started.notified().await;
                h.abort();
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(dropped.get(), 1, "depth {depth}");
    }
}

/// An ungrouped `run` future that is never polled owns a scope with a live task (created in the
/// enclosing scope's body): dropping it hands the task to the enclosing scope.
async fn ungrouped_run_never_polled_drops_its_body_in_the_right_scope() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let outer = CancelScope::new();
    let out = outer
        .run(async move {
            let s = scope_holding(guard);
            let fut = CancelScope::new().run(async move {
                let _ = s.run(forever()).await;
                Ok(())
            });
            drop(fut);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(dropped.get(), 1);
}

/// An ungrouped `run` polled once in one task (pending, no group yet), sent through a channel
/// and finished in another: the scope its body then creates and drops is waited for by it.
async fn ungrouped_run_moved_between_tasks_finishes_and_waits() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let outer = CancelScope::new();
    let tg = outer.group();
    let (fut_tx, fut_rx) = oneshot::channel::<SendFut<ScopeResult<u32>>>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    tg.spawn(async move {
        let mut fut: SendFut<ScopeResult<u32>> = Box::pin(CancelScope::new().run(async move {
            let _ = go_rx.await;
            tokio::task::yield_now().await;
            drop(scope_holding(guard));
            Ok(5)
        }));
        assert!(futures::poll!(fut.as_mut()).is_pending());
        let _ = fut_tx.send(fut);
    });
    let d = dropped.clone();
    let finisher = tg.spawn(async move {
        let fut = fut_rx.await.expect("the run future is sent");
        let _ = go_tx.send(());
        let out = fut.await;
        assert_eq!(out.unwrap(), Outcome::Completed(5));
        Ok::<_, BoxError>(d.get())
    });
    let out = outer.run(async move { Ok(finisher.await) }).await;
    let seen = out.unwrap().completed().expect("completed");
    assert_eq!(
        seen,
        Some(1),
        "the ungrouped scope returned before the task was dropped"
    );
}

/// As above, but the second task drops the moved future while its nested scope runs a task:
/// the scope the future was first polled in (a task of `outer`) waits for it.
async fn ungrouped_run_moved_between_tasks_then_dropped_is_waited_for_by_first_poll_scope() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let outer = CancelScope::new();
    let tg = outer.group();
    let (fut_tx, fut_rx) = oneshot::channel::<SendFut<ScopeResult<()>>>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (running_tx, running_rx) = oneshot::channel::<()>();
    tg.spawn(async move {
        let mut fut: SendFut<ScopeResult<()>> = Box::pin(CancelScope::new().run(async move {
            let _ = go_rx.await;
            let s = scope_holding(guard);
            let _ = running_tx.send(());
            s.run(forever()).await.map(|_| ()).map_err(Into::into)
        }));
        assert!(futures::poll!(fut.as_mut()).is_pending());
        let _ = fut_tx.send(fut);
    });
    tg.spawn(async move {
        let mut fut = fut_rx.await.expect("the run future is sent");
        let _ = go_tx.send(());
        tokio::select! {
            _ = fut.as_mut() => panic!("never ends"),
            _ = running_rx => {}
        }
        assert!(futures::poll!(fut.as_mut()).is_pending());
        drop(fut);
    });
    let out = outer.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        dropped.get(),
        1,
        "outer returned before the task was dropped"
    );
}

/// A body returns `Ok(value)` where the value owns a nested scope with a live task; in the same
/// poll it drops another nested scope whose task panics when dropped. The panic cancels the
/// scope (rule 4) so the value is discarded: its scope is handed over and waited for before the
/// panic is resumed. The group is created late, by the nested scopes.
async fn discarded_value_owning_a_nested_scope_is_waited_for() {
    for outer_grouped in [false, true] {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(10));
        let outer = CancelScope::new();
        if outer_grouped {
            let _tg = outer.group();
        }
        let caught = catch(outer.run(async move {
            let out = CancelScope::new()
                .run(async move {
                    let bomb = CancelScope::new();
                    let b = Bomb(41);
                    bomb.group().spawn(async move {
                        let _b = b;
                        std::future::pending::<()>().await;
                    });
                    let kept = scope_holding(guard);
                    drop(bomb);
                    Ok(kept)
                })
                .await;
            drop(out);
            Ok(())
        }))
        .await;
        let p = caught.expect_err("the handed-over task's panic is resumed");
        assert_eq!(payload_of(&*p), 41);
        assert_eq!(
            dropped.get(),
            1,
            "the discarded value's scope was not waited for"
        );
    }
}

/// Rule 3 with a body error at the first poll, after awaits, after a nested scope created the
/// group, and inside a grouped scope whose own body then fails too: every error, in order.
async fn body_error_at_once_after_awaits_and_after_the_group_was_created() {
    let out = CancelScope::new()
        .run(async { Err::<(), _>(err("a")) })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["a"]);

    let out = CancelScope::new()
        .run(async {
            tokio::task::yield_now().await;
            tokio::time::sleep(ms(1)).await;
            Err::<(), _>(err("b"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["b"]);

    let out = CancelScope::new()
        .run(async {
            let r = CancelScope::new().run(async { Ok(1) }).await;
            assert_eq!(r.unwrap(), Outcome::Completed(1));
            tokio::task::yield_now().await;
            Err::<(), _>(err("c"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["c"]);

    let outer = CancelScope::new();
    let tg = outer.group();
    let out = outer
        .run(async move {
            let inner = CancelScope::new()
                .run(async {
                    let _ = CancelScope::new().run(async { Ok(()) }).await;
                    Err::<(), _>(err("inner"))
                })
                .await;
            assert_eq!(msgs(&inner.unwrap_err()), ["inner"]);
            tg.spawn(async { Err::<(), _>(err("task")) });
            tg.cancelled().await;
            Err::<(), _>(err("after"))
        })
        .await;
    // The body is dropped at its next `Pending` after the task's failure, unless the poll that
    // saw the cancel (on another worker) returned its error: then it counts, after the task's.
    let got = msgs(&out.unwrap_err());
    assert!(
        got == ["task"] || got == ["task", "after"],
        "errors lost or out of order: {got:?}"
    );

    // Nested ungrouped failures seen by an ungrouped body, which then fails with its own.
    let out = CancelScope::new()
        .run(async {
            let mut seen = Vec::new();
            for i in 0..3 {
                let r = CancelScope::new()
                    .run(async move { Err::<(), _>(err(&format!("e{i}"))) })
                    .await;
                seen.extend(msgs(&r.unwrap_err()));
            }
            Err::<(), _>(err(&seen.join(",")))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["e0,e1,e2"]);
}

/// A body that drops a nested scope with a live task and then fails: the error is returned only
/// after the handed-over task was dropped.
async fn body_error_waits_for_handed_over_tasks() {
    for at_once in [true, false] {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(10));
        let out = CancelScope::new()
            .run(async move {
                drop(scope_holding(guard));
                if !at_once {
                    tokio::task::yield_now().await;
                }
                Err::<(), _>(err("failed"))
            })
            .await;
        assert_eq!(msgs(&out.unwrap_err()), ["failed"]);
        assert_eq!(dropped.get(), 1, "at_once={at_once}");
    }
}

/// Rule 4: a body panic keeps its payload at the first poll, after awaits, after a nested scope
/// created the group, and with a handed-over task still running.
async fn body_panic_payload_is_preserved_in_every_phase() {
    for phase in 0..4u32 {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(5));
        let caught = catch(CancelScope::new().run(async move {
            match phase {
                0 => {}
                1 => tokio::task::yield_now().await,
                2 => {
                    let _ = CancelScope::new().run(async { Ok(()) }).await;
                }
                _ => {
                    drop(scope_holding(guard));
                    tokio::task::yield_now().await;
                }
            }
            std::panic::panic_any(Payload(100 + phase));
            #[allow(unreachable_code)]
            Ok::<(), BoxError>(())
        }))
        .await;
        let p = caught.expect_err("the body's panic is resumed");
        assert_eq!(payload_of(&*p), 100 + phase);
        if phase == 3 {
            assert_eq!(
                dropped.get(),
                1,
                "the panic was resumed before the task stopped"
            );
        }
    }
}

/// The body drops a nested scope with a live task, returns `Ok`, and its destructor panics: the
/// panic is resumed after the handed-over task was dropped.
async fn destructor_panic_after_ok_waits_for_handed_over_tasks() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let body = Owning {
        fut: Box::pin(async move {
            drop(scope_holding(guard));
            Ok::<_, BoxError>(3)
        }),
        hold: Bomb(7),
    };
    let caught = catch(CancelScope::new().run(body)).await;
    let p = caught.expect_err("the destructor's panic is resumed");
    assert_eq!(payload_of(&*p), 7);
    assert_eq!(dropped.get(), 1);
}

/// The body returns `Err` and its destructor panics (with and without a group created by a
/// nested scope): the panic is resumed with its payload, the error dropped with the unwinding.
async fn destructor_panic_after_err_or_panic_keeps_the_first_panic() {
    for with_nested in [false, true] {
        let body = Owning {
            fut: Box::pin(async move {
                if with_nested {
                    let _ = CancelScope::new().run(async { Ok(()) }).await;
                }
                Err::<(), _>(err("the error"))
            }),
            hold: Bomb(8),
        };
        let caught = catch(CancelScope::new().run(body)).await;
        let p = caught.expect_err("a panic wins over the error");
        assert_eq!(payload_of(&*p), 8, "with_nested={with_nested}");
    }
    // The body panics and its destructor panics too: the first panic is the one resumed.
    for with_nested in [false, true] {
        let body = Owning {
            fut: Box::pin(async move {
                if with_nested {
                    let _ = CancelScope::new().run(async { Ok(()) }).await;
                }
                boom(Payload(10));
                Ok::<(), BoxError>(())
            }),
            hold: Bomb(11),
        };
        let caught = catch(CancelScope::new().run(body)).await;
        let p = caught.expect_err("the body's panic is resumed");
        assert_eq!(payload_of(&*p), 10, "with_nested={with_nested}");
    }
}

/// A body that never needed a group returns `Ok`; its destructor first drops a scope with a
/// live task (created in the enclosing scope's body) and then panics: the ungrouped scope
/// resumes the payload, and the enclosing scope still waits for that task.
async fn destructor_panic_of_a_pure_body_is_resumed_and_its_held_scope_waited_for() {
    for outer_grouped in [false, true] {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(10));
        let outer = CancelScope::new();
        if outer_grouped {
            let _tg = outer.group();
        }
        let out = outer
            .run(async move {
                let held = scope_holding(guard);
                let body = Owning {
                    fut: Box::pin(async { Ok::<_, BoxError>(1) }),
                    // Dropped in order: the scope first, then the bomb.
                    hold: (held, Bomb(9)),
                };
                let caught = catch(CancelScope::new().run(body)).await;
                let p = caught.expect_err("the destructor's panic is resumed");
                assert_eq!(payload_of(&*p), 9);
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(dropped.get(), 1, "outer_grouped={outer_grouped}");
    }
}

/// A nested scope whose task panics when dropped is dropped inside an ungrouped body that then
/// returns `Ok` (at once or later): the ungrouped scope resumes that panic.
async fn handed_over_task_panic_is_resumed_by_the_ungrouped_scope() {
    for later in [false, true] {
        let caught = catch(CancelScope::new().run(async move {
            let s = CancelScope::new();
            let b = Bomb(21);
            s.group().spawn(async move {
                let _b = b;
                std::future::pending::<()>().await;
            });
            drop(s);
            if later {
                tokio::task::yield_now().await;
                tokio::time::sleep(ms(5)).await;
            }
            Ok(())
        }))
        .await;
        let p = caught.expect_err("the handed-over task's panic is resumed");
        assert_eq!(payload_of(&*p), 21, "later={later}");
    }
}

/// The same, but the ungrouped scope is itself dropped (in every way) while the nested scope
/// runs: the scope around it resumes the panic.
async fn handed_over_task_panic_of_a_dropped_ungrouped_scope_goes_to_the_enclosing_scope() {
    for how in DROPS {
        for outer_grouped in [false, true] {
            let outer = CancelScope::new();
            if outer_grouped {
                let _tg = outer.group();
            }
            let caught = catch(outer.run(async move {
                let u = CancelScope::new().run(async {
                    let s = CancelScope::new();
                    let b = Bomb(22);
                    s.group().spawn(async move {
                        let _b = b;
                        std::future::pending::<()>().await;
                    });
                    let _ = s.run(forever()).await;
                    Ok(())
                });
                drop_started(how, u).await;
                Ok(())
            }))
            .await;
            let p = caught.expect_err("the handed-over task's panic is resumed");
            assert_eq!(payload_of(&*p), 22, "{how:?} outer_grouped={outer_grouped}");
        }
    }
}

/// A task panic in a scope nested three ungrouped levels deep: every level resumes the same
/// payload.
async fn nested_task_panic_propagates_through_ungrouped_scopes_with_its_payload() {
    fn level(k: usize) -> BoxFut<ScopeResult<()>> {
        Box::pin(CancelScope::new().run(async move {
            if k == 0 {
                let s = CancelScope::new();
                s.group().spawn(async {
                    tokio::task::yield_now().await;
                    boom(Payload(31));
                });
                let _ = s.run(forever()).await;
            } else {
                let _ = level(k - 1).await;
            }
            Ok(())
        }))
    }
    let caught = catch(level(3)).await;
    let p = caught.expect_err("the task's panic is resumed");
    assert_eq!(payload_of(&*p), 31);
}

/// A grouped scope is cancelled (by a task) while its body awaits an ungrouped scope whose
/// nested scope runs a task: `Cancelled(Requested)`, no error, and the task was waited for.
async fn requested_cancel_around_an_ungrouped_scope_is_not_an_error() {
    for levels in [1usize, 2] {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(10));
        let outer = CancelScope::new();
        let tg = outer.group();
        let started = Arc::new(Notify::new());
        let st = started.clone();
        let canceller = tg.clone();
        tg.spawn(async move {
            st.notified().await;
            canceller.cancel();
        });
        let out = outer
            .run(async move {
                let leaf = async move {
                    let s = scope_holding(guard);
                    started.notify_one();
                    let _ = s.run(forever()).await;
                    Ok::<(), BoxError>(())
                };
                if levels == 1 {
                    let _ = CancelScope::new().run(leaf).await;
                } else {
                    let _ = CancelScope::new()
                        .run(async move {
                            let _ = CancelScope::new().run(leaf).await;
                            Ok(())
                        })
                        .await;
                }
                Ok(())
            })
            .await;
        assert_eq!(
            out.unwrap(),
            Outcome::Cancelled(CancelReason::Requested),
            "levels={levels}"
        );
        assert_eq!(dropped.get(), 1, "levels={levels}");
    }
}

/// A child linked to a parent runs an ungrouped scope with a live nested task; the parent is
/// cancelled: the child returns `Cancelled(Parent)` after the task was dropped, the parent
/// `Cancelled(Requested)`.
async fn linked_parent_cancel_around_an_ungrouped_scope() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let parent = CancelScope::new();
    let ptg = parent.group();
    let started = Arc::new(Notify::new());
    let st = started.clone();
    let canceller = ptg.clone();
    ptg.spawn(async move {
        st.notified().await;
        canceller.cancel();
    });
    let d = dropped.clone();
    let child = CancelScope::new().parent(&ptg);
    let child_out = Arc::new(std::sync::Mutex::new(None));
    let co = child_out.clone();
    // The child runs in a shielded task of the parent, so that the cancel reaches it through
    // the link only.
    ptg.spawn_shielded(async move {
        let out = child
            .run(async move {
                let _ = CancelScope::new()
                    .run(async move {
                        let s = scope_holding(guard);
                        started.notify_one();
                        let _ = s.run(forever()).await;
                        Ok(())
                    })
                    .await;
                Ok(())
            })
            .await;
        *co.lock().unwrap() = Some((out.unwrap(), d.get()));
    });
    let out = parent.run(async { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let (child_outcome, seen) = child_out.lock().unwrap().take().expect("the child ran");
    assert_eq!(child_outcome, Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(
        seen, 1,
        "the child returned before the nested task was dropped"
    );
}

/// A child linked to a parent that is already cancelled (but running) is cancelled at once:
/// the ungrouped scope in its body never starts.
async fn ungrouped_scope_in_a_task_of_a_cancelled_parent_linked_child_never_starts() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let started = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Notify::new());
    let (st, g2, p2) = (started.clone(), go.clone(), ptg.clone());
    // Shielded and spawned before the cancel, so it runs on after it.
    let h = ptg.spawn_shielded(async move {
        g2.notified().await;
        let child = CancelScope::new().parent(&p2);
        let out = child
            .run(async move {
                let _ = CancelScope::new()
                    .run(async move {
                        st.store(true, Ordering::SeqCst);
                        Ok(())
                    })
                    .await;
                Ok(())
            })
            .await;
        Ok::<_, BoxError>(out.unwrap())
    });
    ptg.cancel();
    go.notify_one();
    let out = parent.run(async move { Ok(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        h.await,
        Some(Outcome::Cancelled(CancelReason::Parent)),
        "the child's outcome"
    );
    assert!(!started.load(Ordering::SeqCst), "the body ran");
}

/// A deadline of the enclosing scope fires while an ungrouped scope in its body waits on a
/// nested scope with a live task: `Cancelled(Deadline)`, after the task was dropped.
async fn deadline_around_an_ungrouped_scope_waits_and_is_not_an_error() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let out = CancelScope::new()
        .timeout(short())
        .run(async move {
            let _ = CancelScope::new()
                .run(async move {
                    let _ = scope_holding(guard).run(forever()).await;
                    Ok(())
                })
                .await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(dropped.get(), 1);
}

/// SPEC 10: `TaskGroup::deadline()` includes the deadlines of the scopes a scope runs in, also
/// through an ungrouped scope (whose group a nested scope creates on demand).
async fn deadline_is_seen_through_an_ungrouped_scope() {
    let outer = CancelScope::new().timeout(Duration::from_secs(3600));
    let otg = outer.group();
    let out = outer
        .run(async move {
            let at = otg
                .deadline()
                .expect("the outer scope has a deadline once it runs");
            let seen = CancelScope::new()
                .run(async move {
                    let created_inside = CancelScope::new();
                    let tg = created_inside.group();
                    let a = tg.deadline();
                    let r = created_inside.run(async { Ok(()) }).await;
                    assert!(r.is_ok());
                    // Two ungrouped levels deep, run rather than just created.
                    let b = CancelScope::new()
                        .run(async {
                            let s = CancelScope::new();
                            let tg = s.group();
                            let b = s.run(async move { Ok(tg.deadline()) }).await;
                            Ok(b.unwrap().completed().unwrap())
                        })
                        .await;
                    Ok((a, b.unwrap().completed().unwrap()))
                })
                .await;
            let (a, b) = seen.unwrap().completed().unwrap();
            assert_eq!(a, Some(at));
            assert_eq!(b, Some(at));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

/// How an ungrouped scope ends before the checks of the thread-local state.
#[derive(Clone, Copy, Debug)]
enum End {
    Ok,
    OkAfterNested,
    Err,
    Panic,
    DestructorPanic,
    DroppedMidPoll,
    DroppedAfterNested,
}

const ENDS: [End; 7] = [
    End::Ok,
    End::OkAfterNested,
    End::Err,
    End::Panic,
    End::DestructorPanic,
    End::DroppedMidPoll,
    End::DroppedAfterNested,
];

/// Runs an ungrouped scope that ends as `end` says, on this thread.
async fn end_ungrouped(end: End) {
    match end {
        End::Ok => {
            let r = CancelScope::new().run(async { Ok(1) }).await;
            assert_eq!(r.unwrap(), Outcome::Completed(1));
        }
        End::OkAfterNested => {
            let r = CancelScope::new()
                .run(async {
                    let _ = CancelScope::new().run(async { Ok(()) }).await;
                    Ok(2)
                })
                .await;
            assert_eq!(r.unwrap(), Outcome::Completed(2));
        }
        End::Err => {
            let r = CancelScope::new()
                .run(async { Err::<(), _>(err("x")) })
                .await;
            assert!(r.is_err());
        }
        End::Panic => {
            let r = catch(CancelScope::new().run(async {
                boom(Payload(1));
                Ok::<(), BoxError>(())
            }))
            .await;
            assert!(r.is_err());
        }
        End::DestructorPanic => {
            let body = Owning {
                fut: Box::pin(async { Ok::<_, BoxError>(()) }),
                hold: Bomb(2),
            };
            let r = catch(CancelScope::new().run(body)).await;
            assert!(r.is_err());
        }
        End::DroppedMidPoll => {
            let fut = CancelScope::new().run(async {
                std::future::pending::<()>().await;
                Ok::<(), BoxError>(())
            });
            let mut fut = Box::pin(fut);
            assert!(futures::poll!(fut.as_mut()).is_pending());
        }
        End::DroppedAfterNested => {
            let fut = CancelScope::new().run(async {
                let _ = CancelScope::new()
                    .run(async {
                        std::future::pending::<()>().await;
                        Ok::<(), BoxError>(())
                    })
                    .await;
                Ok::<(), BoxError>(())
            });
            let mut fut = Box::pin(fut);
            assert!(futures::poll!(fut.as_mut()).is_pending());
        }
    }
}

/// After an ungrouped scope ended in any way inside a body or a task of `outer`, a scope
/// created next there hands its live task to `outer`, which waits for it.
async fn current_scope_is_right_after_an_ungrouped_scope_ends_in_any_way() {
    for end in ENDS {
        for in_task in [false, true] {
            for outer_grouped in [false, true] {
                if in_task && !outer_grouped {
                    continue;
                }
                let dropped = Counter::new();
                let guard = dropped.slow_guard(ms(5));
                let outer = CancelScope::new();
                let out = if in_task {
                    let tg = outer.group();
                    tg.spawn(async move {
                        end_ungrouped(end).await;
                        drop(scope_holding(guard));
                    });
                    outer.run(async { Ok(()) }).await
                } else {
                    if outer_grouped {
                        let _tg = outer.group();
                    }
                    outer
                        .run(async move {
                            end_ungrouped(end).await;
                            drop(scope_holding(guard));
                            Ok(())
                        })
                        .await
                };
                assert_eq!(out.unwrap(), Outcome::Completed(()));
                assert_eq!(
                    dropped.get(),
                    1,
                    "{end:?} in_task={in_task} outer_grouped={outer_grouped}: a scope created \
                     after it was not handed to the enclosing scope"
                );
            }
        }
    }
}

/// Inside a blocking member of a group, `Handle::block_on` runs an ungrouped scope whose
/// nested scope hands it a task; afterwards a scope created in the closure hands its task to
/// the blocking member's group. Both are waited for.
async fn current_scope_inside_spawn_blocking_block_on() {
    for end in ENDS {
        let in_u = Counter::new();
        let after = Counter::new();
        let g1 = in_u.slow_guard(ms(5));
        let g2 = after.slow_guard(ms(5));
        let outer = CancelScope::new();
        let tg = outer.group();
        let handle = tokio::runtime::Handle::current();
        tg.spawn_blocking(move || {
            let out = handle.block_on(CancelScope::new().run(async move {
                drop(scope_holding(g1));
                Ok(())
            }));
            assert_eq!(out.unwrap(), Outcome::Completed(()));
            handle.block_on(end_ungrouped(end));
            drop(scope_holding(g2));
        });
        let out = outer
            .run(async move {
                // The task inside the block_on was waited for by the ungrouped scope.
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(in_u.get(), 1, "{end:?}");
        assert_eq!(
            after.get(),
            1,
            "{end:?}: the later scope was not waited for"
        );
    }
}

/// A body drives a `LocalSet`: a local task runs ungrouped scopes that end in every way while
/// another local task, polled in between, creates and drops a scope with a live task. That
/// scope's enclosing scope is the body's (the local tasks are polled inside its poll), which
/// waits for it.
async fn current_scope_in_a_local_set_polled_by_a_body() {
    let dropped = Counter::new();
    let n = ENDS.len();
    let outer = CancelScope::new();
    let _tg = outer.group();
    let d = dropped.clone();
    let out = outer
        .run(async move {
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    let mut hs = Vec::new();
                    for end in ENDS {
                        hs.push(tokio::task::spawn_local(end_ungrouped(end)));
                        let g = d.slow_guard(ms(2));
                        hs.push(tokio::task::spawn_local(async move {
                            tokio::task::yield_now().await;
                            drop(scope_holding(g));
                        }));
                    }
                    for h in hs {
                        h.await.unwrap();
                    }
                })
                .await;
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(dropped.get(), n);
}

/// Drops `fut` after `k` polls (returning `false`), unless it finishes first (`true`).
struct DropAfter<F> {
    fut: Option<Pin<Box<F>>>,
    left: usize,
}

impl<F: Future> Future for DropAfter<F> {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.left == 0 {
            self.fut = None;
            return Poll::Ready(false);
        }
        self.left -= 1;
        let fut = self.fut.as_mut().expect("polled after the end");
        match fut.as_mut().poll(cx) {
            Poll::Ready(_) => {
                self.fut = None;
                Poll::Ready(true)
            }
            Poll::Pending => {
                if self.left == 0 {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

/// The body of an ungrouped scope with nested work of every kind, counting the guards it makes.
async fn busy_body(made: Arc<AtomicUsize>, c: Counter) -> Result<(), BoxError> {
    let mk = || {
        made.fetch_add(1, Ordering::SeqCst);
        c.guard()
    };
    tokio::task::yield_now().await;
    drop(scope_holding(mk()));
    tokio::task::yield_now().await;
    drop_started(How::Select, scope_holding(mk()).run(forever())).await;
    let s = CancelScope::new();
    let tg = s.group();
    let g = mk();
    tg.spawn(async move {
        let _g = g;
        tokio::task::yield_now().await;
    });
    let g = mk();
    let r = s
        .run(async move {
            let _g = g;
            tokio::task::yield_now().await;
            Ok(())
        })
        .await;
    assert_eq!(r.unwrap(), Outcome::Completed(()));
    let g = mk();
    let _ = CancelScope::new()
        .run(async move {
            let _ = scope_holding(g).run(forever());
            tokio::task::yield_now().await;
            Ok(())
        })
        .await;
    drop_started(How::PolledOnce, scope_holding(mk()).run(forever())).await;
    tokio::task::yield_now().await;
    Ok(())
}

/// An ungrouped scope (alone, or an ungrouped scope in an ungrouped scope) with nested work is
/// dropped after k polls, for every k until it finishes: inside a grouped or ungrouped scope,
/// nothing its body made outlives that scope, and no panic escapes.
async fn drop_after_every_number_of_polls_loses_nothing() {
    for two_levels in [false, true] {
        for outer_grouped in [false, true] {
            let mut k = 0;
            loop {
                let made = Arc::new(AtomicUsize::new(0));
                let c = Counter::new();
                let outer = CancelScope::new();
                if outer_grouped {
                    let _tg = outer.group();
                }
                let (m, cc) = (made.clone(), c.clone());
                let out = outer
                    .run(async move {
                        let u: BoxFut<ScopeResult<()>> = if two_levels {
                            Box::pin(CancelScope::new().run(async move {
                                CancelScope::new()
                                    .run(busy_body(m, cc))
                                    .await
                                    .map(|_| ())
                                    .map_err(Into::into)
                            }))
                        } else {
                            Box::pin(CancelScope::new().run(busy_body(m, cc)))
                        };
                        let finished = DropAfter {
                            fut: Some(Box::pin(u)),
                            left: k,
                        }
                        .await;
                        Ok(finished)
                    })
                    .await;
                let finished = out.unwrap().completed().expect("completed");
                assert_eq!(
                    c.get(),
                    made.load(Ordering::SeqCst),
                    "k={k} two_levels={two_levels} outer_grouped={outer_grouped}: a guard \
                     outlived the scope"
                );
                if finished {
                    break;
                }
                k += 1;
                assert!(k < 1000, "the body never finished");
            }
        }
    }
}

/// The DSL without `spawn`/`cancel`/`as` (ungrouped): `?`, `return`, a panic payload, and a
/// nested DSL scope with a task dropped in `select!` (waited for).
async fn dsl_bodies_without_a_group() {
    fn fails(fail: bool) -> Result<u32, BoxError> {
        if fail { Err(err("dsl error")) } else { Ok(4) }
    }
    let out: ScopeResult<u32> = cancel_scope::cancel_scope! {
        let v = fails(true)?;
        v + 1
    };
    assert_eq!(msgs(&out.unwrap_err()), ["dsl error"]);
    let out: ScopeResult<u32> = cancel_scope::cancel_scope! {
        let v = fails(false)?;
        if v == 4 {
            return v * 10;
        }
        v
    };
    assert_eq!(out.unwrap(), Outcome::Completed(40));
    let caught = catch(async {
        let out: ScopeResult<()> = cancel_scope::cancel_scope! {
            tokio::task::yield_now().await;
            boom(Payload(55));
        };
        out
    })
    .await;
    assert_eq!(payload_of(&*caught.expect_err("resumed")), 55);

    let dropped = Counter::new();
    let guard = dropped.slow_guard(ms(10));
    let out: ScopeResult<()> = cancel_scope::cancel_scope! {
        tokio::select! {
            biased;
            _ = async {
                let r: ScopeResult<()> = cancel_scope::cancel_scope! {
                    spawn hold_forever(guard);
                    std::future::pending::<()>().await;
                };
                r
            } => unreachable!(),
            () = tokio::task::yield_now() => {}
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(dropped.get(), 1);
}

// ---------------------------------------------------------------------------------------------
// Multi-thread only: block_in_place and a nested executor inside an ungrouped body.

/// Inside an ungrouped body, `block_in_place` + `Handle::block_on` runs a scope that drops a
/// nested scope with a live task, and `futures::executor::block_on` runs an ungrouped scope
/// that does the same: every task is waited for by the awaited scope, and a scope created after
/// both still hands over to the ungrouped scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_in_place_and_nested_executor_in_an_ungrouped_body() {
    guarded(async {
        let dropped = Counter::new();
        let (g1, g2, g3) = (
            dropped.slow_guard(ms(10)),
            dropped.slow_guard(ms(10)),
            dropped.slow_guard(ms(10)),
        );
        let out = CancelScope::new()
            .run(async move {
                tokio::task::block_in_place(move || {
                    let handle = tokio::runtime::Handle::current();
                    handle.block_on(async move {
                        drop(scope_holding(g1));
                    });
                });
                let r = futures::executor::block_on(CancelScope::new().run(async move {
                    drop(scope_holding(g2));
                    Ok(())
                }));
                assert_eq!(r.unwrap(), Outcome::Completed(()));
                tokio::task::yield_now().await;
                drop(scope_holding(g3));
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(dropped.get(), 3);
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Depth.

const DEPTH: usize = 20_000;
const GIB: usize = 1024 * 1024 * 1024;

/// 20,000 ungrouped scopes nested body in body (on a 1 GiB stack); the innermost drops, by a
/// timeout, the run of a nested scope with a live task, then either returns or panics with a
/// payload. The root returns (or resumes that payload) only after the task was dropped.
#[test]
fn nesting_20000_body_in_body_with_a_drop_at_the_innermost_level() {
    fn level(k: usize, guard: Guard, panic: bool) -> BoxFut<ScopeResult<usize>> {
        Box::pin(CancelScope::new().run(async move {
            if k + 1 == DEPTH {
                let s = scope_holding(guard);
                let r = tokio::time::timeout(Duration::ZERO, s.run(forever())).await;
                assert!(r.is_err());
                if panic {
                    boom(Payload(777));
                }
                return Ok(k);
            }
            match level(k + 1, guard, panic).await {
                Ok(Outcome::Completed(v)) => Ok(v),
                other => panic!("level {}: {other:?}", k + 1),
            }
        }))
    }
    std::thread::Builder::new()
        .stack_size(GIB)
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            for panic in [false, true] {
                let dropped = Counter::new();
                let guard = dropped.slow_guard(ms(300));
                let caught = rt.block_on(catch(level(0, guard, panic)));
                match caught {
                    Ok(out) => {
                        assert!(!panic);
                        assert_eq!(out.unwrap(), Outcome::Completed(DEPTH - 1));
                    }
                    Err(p) => {
                        assert!(panic);
                        assert_eq!(payload_of(&*p), 777);
                    }
                }
                assert_eq!(
                    dropped.get(),
                    1,
                    "panic={panic}: the root returned before the innermost task was dropped"
                );
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// 20,000 levels task in task: each level is a task of a grouped scope that runs an ungrouped
/// scope, in whose body the next grouped scope runs. The innermost drops a scope with a live
/// task and waits; then the root is cancelled. Every level's guard and the innermost task's
/// slow guard are dropped before the root returns `Cancelled(Requested)`.
#[test]
fn nesting_20000_task_in_task_through_ungrouped_scopes_root_cancelled() {
    fn level(k: usize, levels: Counter, inner: Guard, ready: Arc<Notify>) -> SendFut<()> {
        Box::pin(async move {
            let _mine = levels.guard();
            let _ = CancelScope::new()
                .run(async move {
                    if k + 1 == DEPTH {
                        drop(scope_holding(inner));
                        ready.notify_one();
                        std::future::pending::<()>().await;
                    } else {
                        let g = CancelScope::new();
                        let tg = g.group();
                        tg.spawn(level(k + 1, levels, inner, ready));
                        let _ = g.run(forever()).await;
                    }
                    Ok(())
                })
                .await;
        })
    }
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let levels = Counter::new();
            let innermost = Counter::new();
            let ready = Arc::new(Notify::new());
            let _entered = rt.enter();
            let root = CancelScope::new();
            let tg = root.group();
            tg.spawn(level(
                0,
                levels.clone(),
                innermost.slow_guard(ms(20)),
                ready.clone(),
            ));
            let out = rt.block_on(root.run(async move {
                ready.notified().await;
                tg.cancel();
                Ok(())
            }));
            assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
            assert_eq!(innermost.get(), 1, "the innermost task outlived the root");
            assert_eq!(levels.get(), DEPTH, "a level outlived the root");
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The enclosing scope of a scope dropped before its `run` was polled.

/// The crate docs ("Nothing outlives its scope"): a scope dropped before its `run` was first
/// polled hands its tasks to "the scope it was created in". Here the scope is created in
/// `outer`'s body, but its group is first asked for (and its task spawned) on a blocking
/// thread, where no scope runs; `outer` must still wait for that task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_created_in_a_body_grouped_elsewhere_is_waited_for_by_the_body_scope() {
    guarded(async {
        let dropped = Counter::new();
        let guard = dropped.slow_guard(ms(50));
        let outer = CancelScope::new();
        let _tg = outer.group();
        let out = outer
            .run(async move {
                let created_here = CancelScope::new();
                tokio::task::spawn_blocking(move || {
                    let tg = created_here.group();
                    tg.spawn(hold_forever(guard));
                    drop(created_here);
                })
                .await
                .unwrap();
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(
            dropped.get(),
            1,
            "the scope created in outer's body was not waited for by outer"
        );
    })
    .await
}
