//! Adversarial cases for issue 12's members and signals: run futures dropped at every poll
//! with local tasks live, local tasks panicking in their destructors, panicking signals, and
//! spawns into groups that can no longer take them.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Context;
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use common::*;

both!(
    run_dropped_at_every_poll_drops_every_local_task,
    local_task_panicking_in_its_destructor_is_resumed,
    dropped_run_forwards_a_local_destructor_panic_to_the_enclosing_scope,
    panicking_signal_is_a_scope_panic_resumed_after_everything_stopped,
    signal_panicking_in_its_destructor_is_resumed,
    spawns_into_finished_groups_are_refused,
    locals_bound_twice_panics_clearly,
    auto_traits_of_the_new_types,
    nested_scope_dropped_in_a_local_task_is_handed_over,
    signal_after_the_body_returned_discards_its_value,
);

/// For k = 0, 1, 2, ...: polls a scope with live local tasks (and a task) k times, then drops
/// its `run` future. Every local task's future is dropped by then, nothing panics, and the
/// task is handed to the enclosing scope, which waits for it.
async fn run_dropped_at_every_poll_drops_every_local_task() {
    for k in 0..12 {
        let dropped = Counter::new();
        let task_dropped = Counter::new();
        let outer = CancelScope::new();
        let (d, td) = (dropped.clone(), task_dropped.clone());
        let out = outer
            .run(async move {
                let locals = Locals::new();
                let scope = CancelScope::new();
                let tg = scope.group();
                let run = scope.run_with_locals(&locals, async {
                    for i in 0..3u64 {
                        let g = d.guard();
                        locals.spawn(async move {
                            let _g = g;
                            for _ in 0..i + 1 {
                                tokio::task::yield_now().await;
                            }
                            std::future::pending::<()>().await;
                        });
                    }
                    tg.spawn(hold_forever(td.guard()));
                    for _ in 0..4 {
                        tokio::task::yield_now().await;
                    }
                    Ok(())
                });
                {
                    let mut run = pin!(run);
                    let waker = std::task::Waker::noop();
                    let mut cx = Context::from_waker(waker);
                    for _ in 0..k {
                        assert!(
                            run.as_mut().poll(&mut cx).is_pending(),
                            "the locals never end"
                        );
                    }
                }
                // Every local future is dropped with the `run` future.
                let locals_dropped = d.get();
                drop(locals);
                Ok::<_, BoxError>(locals_dropped)
            })
            .await;
        let locals_dropped = out.unwrap().completed().unwrap();
        let expected_locals = if k == 0 { 0 } else { 3 };
        assert_eq!(
            locals_dropped, expected_locals,
            "k = {k}: local tasks outlived `run`"
        );
        // The task was handed over and waited for (aborted), or never spawned (k = 0).
        assert_eq!(task_dropped.get(), usize::from(k != 0), "k = {k}");
    }
}

/// A local task whose future panics when dropped (at a cancel): a panic of the task, resumed
/// by the scope once everything stopped.
async fn local_task_panicking_in_its_destructor_is_resumed() {
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let caught = catch(scope.run_with_locals(&locals, async {
        let p = PanicOnDrop("local destructor");
        locals.spawn(async move {
            let _p = p;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        tg.cancel();
        Ok(())
    }))
    .await
    .unwrap_err();
    assert_eq!(panic_msg(&*caught), "local destructor");
}

/// A `run` future dropped unfinished drops its local tasks in its `Drop`: a panic there does
/// not escape the `Drop` but is resumed by the enclosing scope.
async fn dropped_run_forwards_a_local_destructor_panic_to_the_enclosing_scope() {
    let outer = CancelScope::new();
    let caught = catch(outer.run(async {
        let locals = Locals::new();
        let scope = CancelScope::new();
        let p = PanicOnDrop("dropped local");
        let run = scope.run_with_locals(&locals, async {
            locals.spawn(async move {
                let _p = p;
                std::future::pending::<()>().await;
            });
            std::future::pending::<Result<(), BoxError>>().await
        });
        // Polled a few times, then dropped by the timeout.
        let timed_out = tokio::time::timeout(Duration::from_millis(5), run).await;
        assert!(timed_out.is_err());
        Ok(())
    }))
    .await
    .unwrap_err();
    assert_eq!(panic_msg(&*caught), "dropped local");
}

/// A signal future that panics: the group is cancelled (`Failed`), and the panic is resumed
/// once every task stopped.
async fn panicking_signal_is_a_scope_panic_resumed_after_everything_stopped() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new().cancel_on(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        boom(Payload(5));
    });
    let tg = scope.group();
    let c = cleaned.clone();
    let watcher = tg.clone();
    tg.spawn_shielded(async move {
        watcher.cancelled().await;
        tokio::time::sleep(short()).await;
        c.fetch_add(1, Ordering::SeqCst);
    });
    let caught = catch(scope.run(std::future::pending::<Result<(), BoxError>>()))
        .await
        .unwrap_err();
    assert_eq!(caught.downcast_ref::<Payload>(), Some(&Payload(5)));
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "resumed before the task stopped"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// A signal that panics when dropped (the scope completed, so it is dropped at the end): the
/// panic is resumed by the scope.
async fn signal_panicking_in_its_destructor_is_resumed() {
    let p = PanicOnDrop("signal destructor");
    let scope = CancelScope::new().cancel_on(async move {
        let _p = p;
        std::future::pending::<()>().await;
    });
    let caught = catch(scope.run(async { Ok(()) })).await.unwrap_err();
    assert_eq!(panic_msg(&*caught), "signal destructor");

    // Dropped at the cancel: same.
    let p = PanicOnDrop("signal destructor at cancel");
    let scope = CancelScope::new().cancel_on(async move {
        let _p = p;
        std::future::pending::<()>().await;
    });
    let tg = scope.group();
    tg.cancel();
    let caught = catch(scope.run(async { Ok(()) })).await.unwrap_err();
    assert_eq!(panic_msg(&*caught), "signal destructor at cancel");
}

/// Blocking and named spawns into a finished or cancelled group start nothing; a signal that
/// fires after the scope ended changes nothing.
async fn spawns_into_finished_groups_are_refused() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let scope = CancelScope::new().cancel_on(rx);
    let tg = scope.group();
    assert_eq!(
        scope.run(async { Ok(()) }).await.unwrap(),
        Outcome::Completed(())
    );
    assert!(
        tx.send(()).is_err(),
        "the signal was not dropped when the scope finished"
    );
    assert!(!tg.is_cancelled());
    assert_eq!(tg.spawn_blocking(|| Ok::<_, BoxError>(1)).await, None);
    assert_eq!(
        tg.named("late").spawn(async { Ok::<_, BoxError>(1) }).await,
        None
    );
    assert!(
        tg.named("late")
            .try_spawn(async {})
            .unwrap_err()
            .is_closed()
    );
    assert_eq!(tg.named("late").spawn_blocking(|| ()).await, None);
    assert_eq!(tg.len(), 0);
}

/// A `Locals` serves one scope: passing it to a second one panics with a clear message.
async fn locals_bound_twice_panics_clearly() {
    let locals: Locals<'_> = Locals::new();
    CancelScope::new()
        .run_with_locals(&locals, async { Ok(()) })
        .await
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(CancelScope::new().run_with_locals(&locals, async { Ok(()) }));
    }))
    .unwrap_err();
    assert!(panic_msg(&*caught).contains("already passed to a scope"));
}

fn send_sync<T: Send + Sync>(_: &T) {}

/// The builder with signals stays `Send + Sync`, the `run` future stays `Send` (and `Sync`)
/// with signals and with a `Locals::new()`; handles and the builder of names are `Send`.
async fn auto_traits_of_the_new_types() {
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let scope = CancelScope::new().cancel_on(rx);
    send_sync(&scope);
    let tg = scope.group();
    send_sync(&tg.named("n"));
    let h = tg.spawn_blocking(|| Ok::<_, BoxError>(1));
    send_sync(&h);
    let locals: Locals<'_> = Locals::new();
    send_sync(&locals);
    let lh = locals.spawn(async { Ok::<_, BoxError>(1) });
    send_sync(&lh);
    let run = scope.run_with_locals(&locals, async { Ok(()) });
    send_sync(&run);
    run.await.unwrap();
    assert_eq!(h.await, Some(1));
    assert_eq!(
        lh.await,
        None,
        "spawned before the Locals was bound: refused"
    );
}

/// A local task runs a nested scope; a cancel drops the local task and with it the nested
/// `run` future: the nested scope's live task is handed over to the scope the local task ran
/// in, which waits for its (slow) destructor before returning.
async fn nested_scope_dropped_in_a_local_task_is_handed_over() {
    let dropped = Counter::new();
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let d = dropped.clone();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let inner = CancelScope::new();
                let itg = inner.group();
                itg.spawn(hold_forever(d.slow_guard(Duration::from_millis(30))));
                let _ = inner
                    .run(std::future::pending::<Result<(), BoxError>>())
                    .await;
            });
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(
        dropped.get(),
        1,
        "the scope returned before the handed-over task was dropped"
    );
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A signal that fires after the body returned (a task still running) cancels the group: the
/// body's value is discarded (rule 5) and the outcome is `Cancelled(Signal)`.
async fn signal_after_the_body_returned_discards_its_value() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let scope = CancelScope::new().cancel_on(rx);
    let tg = scope.group();
    let dropped = Counter::new();
    tg.spawn(hold_forever(dropped.guard()));
    tokio::spawn(async move {
        tokio::time::sleep(short()).await;
        let _ = tx.send(());
    });
    let value = dropped.guard();
    let out = scope.run(async move { Ok(value) }).await;
    assert!(matches!(out, Ok(Outcome::Cancelled(CancelReason::Signal))));
    assert_eq!(
        dropped.get(),
        2,
        "the task and the discarded value were dropped"
    );
}
