//! Scopes whose group is never asked for (no `group()`, no option: an empty scope, one that
//! only runs nested scopes). Written for a group created only when something needs it (built
//! in wave 3 and reverted, see BENCHMARKS.md, "A scope without a group"), they pin what any such
//! optimisation must keep, against SPEC section 2 and the outcome rules: the body's value, error and panic
//! (also a panic in the destructor of a body that already returned), nothing outlives the scope
//! when a nested scope is dropped inside its body (unrun, in `select!`, nested 10,000 deep), a
//! dropped scope of this kind hands on what its nested scopes handed to it, and the runtime
//! captured at `new()` is the one the group spawns on when `group()` is called elsewhere.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use cancel_scope::{BoxError, CancelScope, Outcome, ScopeResult};
use common::*;

both!(
    empty_scope_completes_with_the_body_value,
    body_error_without_a_group_is_the_group_error,
    body_panic_without_a_group_is_resumed,
    panic_in_the_destructor_of_a_finished_body_is_resumed,
    nested_scope_dropped_unrun_is_waited_for,
    nested_scope_dropped_in_select_is_waited_for,
    dropped_ungrouped_scope_hands_nested_tasks_to_its_enclosing_scope,
    nested_scope_that_completes_leaves_the_outer_scope_completed,
    debug_of_a_scope_without_a_group,
);

/// A scope (not run) whose group holds one task that keeps `guard` until it is dropped.
fn scope_holding(guard: Guard) -> CancelScope {
    let scope = CancelScope::new();
    scope.group().spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    scope
}

/// The body's value, with and without awaits in the body.
async fn empty_scope_completes_with_the_body_value() {
    let out = CancelScope::new().run(async { Ok(7) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(7));
    let out = CancelScope::new()
        .run(async {
            tokio::task::yield_now().await;
            tokio::time::sleep(short()).await;
            Ok(8)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(8));
    let out: ScopeResult<()> = cancel_scope::cancel_scope! {};
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

/// Rule 3: the body's `Err` is the scope's `GroupError`, at the first poll or after a wait.
async fn body_error_without_a_group_is_the_group_error() {
    let out = CancelScope::new()
        .run(async { Err::<(), _>(err("at once")) })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["at once"]);
    let out = CancelScope::new()
        .run(async {
            tokio::task::yield_now().await;
            Err::<(), _>(err("later"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["later"]);
}

/// A panic of the body is resumed with its payload.
async fn body_panic_without_a_group_is_resumed() {
    let caught = catch(CancelScope::new().run(async {
        tokio::task::yield_now().await;
        std::panic::panic_any(Payload(3));
        #[allow(unreachable_code)]
        Ok::<(), BoxError>(())
    }))
    .await;
    let payload = caught.expect_err("the body's panic is resumed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(3)));
}

/// A future that returns `Ok(())` at once and panics when dropped.
struct ReadyThenBomb(#[allow(dead_code)] PanicOnDrop);

impl Future for ReadyThenBomb {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

/// The body returned a value, then its destructor panicked: a body panic, resumed, not a
/// `Completed`.
async fn panic_in_the_destructor_of_a_finished_body_is_resumed() {
    let caught = catch(CancelScope::new().run(ReadyThenBomb(PanicOnDrop("body bomb")))).await;
    let payload = caught.expect_err("the destructor's panic is resumed");
    assert_eq!(panic_msg(&*payload), "body bomb");
}

/// A scope created and dropped unrun inside the body of a scope without a group: its task's
/// slow destructor has run when the outer scope returns.
async fn nested_scope_dropped_unrun_is_waited_for() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(Duration::from_millis(20));
    let out = CancelScope::new()
        .run(async {
            drop(scope_holding(guard));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        dropped.get(),
        1,
        "the outer scope returned before the task was dropped"
    );
}

/// A nested scope whose `run` is dropped inside `select!` in the body of a scope without a
/// group: the outer scope waits for its task.
async fn nested_scope_dropped_in_select_is_waited_for() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(Duration::from_millis(20));
    let out = CancelScope::new()
        .run(async {
            let inner = scope_holding(guard);
            tokio::select! {
                _ = inner.run(std::future::pending::<Result<(), BoxError>>()) => {}
                () = tokio::time::sleep(short()) => {}
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        dropped.get(),
        1,
        "the outer scope returned before the task was dropped"
    );
}

/// A scope without a group of its own is dropped (in `select!`) while a scope nested in it
/// runs a task: the scope around both waits for that task.
async fn dropped_ungrouped_scope_hands_nested_tasks_to_its_enclosing_scope() {
    let dropped = Counter::new();
    let guard = dropped.slow_guard(Duration::from_millis(20));
    let outer = CancelScope::new();
    let _outer_tg = outer.group();
    let out = outer
        .run(async {
            let middle = CancelScope::new().run(async {
                let inner = scope_holding(guard);
                let _ = inner
                    .run(std::future::pending::<Result<(), BoxError>>())
                    .await;
                Ok::<(), BoxError>(())
            });
            tokio::select! {
                _ = middle => unreachable!("the middle scope never ends"),
                () = tokio::time::sleep(short()) => {}
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        dropped.get(),
        1,
        "the outer scope returned before the task was dropped"
    );
}

/// A nested scope with tasks that completes normally: the outer scope (whose group it created
/// by asking for its enclosing scope) completes with its body's value.
async fn nested_scope_that_completes_leaves_the_outer_scope_completed() {
    let out = CancelScope::new()
        .run(async {
            let inner = CancelScope::new();
            let tg = inner.group();
            let h = tg.spawn(async { Ok::<_, BoxError>(20) });
            let got = inner.run(async move { Ok(h.await) }).await;
            tokio::task::yield_now().await;
            Ok(match got {
                Ok(Outcome::Completed(Some(v))) => v + 1,
                other => panic!("inner scope: {other:?}"),
            })
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(21));
}

/// `Debug` does not create the group; it shows the defaults.
async fn debug_of_a_scope_without_a_group() {
    let scope = CancelScope::new();
    let shown = format!("{scope:?}");
    assert!(shown.contains("len: 0"), "{shown}");
    assert!(shown.contains("cancel_reason: None"), "{shown}");
    assert_eq!(
        scope.run(async { Ok(()) }).await.unwrap(),
        Outcome::Completed(())
    );
}

/// SPEC 2, "Which runtime": a scope created on a runtime whose group is first asked for on a
/// plain thread (no runtime there) still spawns on the runtime current at `new()`.
#[test]
fn group_created_later_spawns_on_the_runtime_of_new() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let scope = rt.block_on(async { CancelScope::new() });
    let (scope, handle) = std::thread::spawn(move || {
        let tg = scope.group();
        let h = tg.spawn(async { Ok::<_, BoxError>(5) });
        (scope, h)
    })
    .join()
    .unwrap();
    let out = rt.block_on(scope.run(async move { Ok(handle.await) }));
    assert_eq!(out.unwrap(), Outcome::Completed(Some(5)));
}

/// Scopes without a group of their own nested 10,000 deep, body in body (the caller's stack,
/// so on a thread with a large one); the innermost drops a scope with a live task: every level
/// returns, and the root only after that task's destructor ran.
#[test]
fn nesting_10000_deep_waits_for_the_innermost_task() {
    const DEPTH: usize = 10_000;
    fn level(k: usize, guard: Guard) -> Pin<Box<dyn Future<Output = ScopeResult<usize>>>> {
        Box::pin(async move {
            CancelScope::new()
                .run(async move {
                    if k + 1 == DEPTH {
                        // Dropped unrun at the return.
                        let _inner = scope_holding(guard);
                        return Ok(k);
                    }
                    match level(k + 1, guard).await {
                        Ok(Outcome::Completed(v)) => Ok(v),
                        other => panic!("level {}: {other:?}", k + 1),
                    }
                })
                .await
        })
    }
    let dropped = Counter::new();
    let guard = dropped.slow_guard(Duration::from_millis(20));
    let dropped_after = std::thread::Builder::new()
        .stack_size(512 * 1024 * 1024)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let out = rt.block_on(level(0, guard));
            assert_eq!(out.unwrap(), Outcome::Completed(DEPTH - 1));
            dropped.get()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        dropped_after, 1,
        "the root returned before the innermost task was dropped"
    );
}
