//! SPEC sections 2 and 3: which runtime a group spawns on (captured at `new()`, `group()` or
//! `run()`, from plain threads and `spawn_blocking`), spawning without a runtime, runtime
//! shutdown, `TaskHandle`, and the static guarantees of the public types.

#[macro_use]
mod common;

use std::fmt::Debug;
use std::panic::{RefUnwindSafe, UnwindSafe};

use cancel_scope::{
    BoxError, CancelReason, CancelScope, Outcome, ScopeResult, SpawnError, TaskGroup, TaskHandle,
};
use common::*;
use tokio::sync::oneshot;

both!(
    group_captured_at_new_spawns_from_a_plain_thread,
    group_spawns_from_spawn_blocking,
    handle_captured_at_group_when_new_had_none,
    handle_captured_at_run_when_none_before,
    without_capture_the_current_runtime_is_used,
    dropped_handle_detaches_nothing,
    handle_resolves_none_for_failed_and_cancelled_tasks,
    debug_impls_do_not_need_debug_contents,
);

// Waits on another runtime's thread: real time (the paused clock would auto-advance meanwhile).
both!(real: runtime_shutdown_counts_like_abort);

/// Builds a scope on a plain thread, where no runtime is current.
fn scope_without_runtime() -> CancelScope {
    std::thread::spawn(CancelScope::new).join().unwrap()
}

/// `new()` captures the runtime: a plain `std::thread` spawns into the group.
async fn group_captured_at_new_spawns_from_a_plain_thread() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let t = tg.clone();
            let h = std::thread::spawn(move || {
                assert!(tokio::runtime::Handle::try_current().is_err());
                t.spawn(async { Ok::<_, BoxError>(tokio::task::id()) })
            })
            .join()
            .unwrap();
            Ok::<_, BoxError>(within("task spawned from a thread", h).await)
        })
        .await;
    assert!(out.unwrap().completed().unwrap().is_some());
}

/// A `spawn_blocking` closure spawns into the group.
async fn group_spawns_from_spawn_blocking() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let t = tg.clone();
            let h = tokio::task::spawn_blocking(move || t.spawn(async { Ok::<_, BoxError>(3) }))
                .await
                .unwrap();
            Ok::<_, BoxError>(h.await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(3)));
}

/// A scope made where no runtime was current captures one at `group()`.
async fn handle_captured_at_group_when_new_had_none() {
    let scope = scope_without_runtime();
    let tg = scope.group(); // captures the test runtime
    let t = tg.clone();
    let h = std::thread::spawn(move || t.spawn(async { Ok::<_, BoxError>(4) }))
        .join()
        .unwrap();
    let out = scope
        .run(async { Ok::<_, BoxError>(within("task", h).await) })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(4)));
}

/// A group made where no runtime was current captures one at the first poll of `run`.
async fn handle_captured_at_run_when_none_before() {
    let (scope, tg) = std::thread::spawn(|| {
        let s = CancelScope::new();
        let g = s.group();
        (s, g)
    })
    .join()
    .unwrap();
    let t = tg.clone();
    // Before `run`, a plain thread has no runtime to spawn on.
    let e =
        std::thread::spawn(move || t.try_spawn(async {}).map(drop).unwrap_err().is_no_runtime())
            .join()
            .unwrap();
    assert!(e);
    let out = scope
        .run(async {
            let t = tg.clone();
            let h = std::thread::spawn(move || t.spawn(async { Ok::<_, BoxError>(5) }))
                .join()
                .unwrap();
            Ok::<_, BoxError>(within("task", h).await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(5)));
}

/// Before a runtime is captured, the runtime current at the spawn is used.
async fn without_capture_the_current_runtime_is_used() {
    let (scope, tg) = std::thread::spawn(|| {
        let s = CancelScope::new();
        let g = s.group();
        (s, g)
    })
    .join()
    .unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let wait = gate.clone();
    let h = tg.spawn(async move {
        wait.notified().await;
        Ok::<_, BoxError>(6)
    });
    assert_eq!(tg.len(), 1, "spawned on the runtime current at the spawn");
    gate.notify_one();
    let out = scope.run(async { Ok::<_, BoxError>(h.await) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(6)));
}

/// A task stopped by its runtime's shutdown counts like `TaskHandle::abort`: no error, no
/// cancel of the group, its handle resolves to `None`.
async fn runtime_shutdown_counts_like_abort() {
    let drops = Counter::new();
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // The group captures the other runtime.
    let scope = {
        let _enter = other.enter();
        CancelScope::new()
    };
    let tg = scope.group();
    let (started_tx, started) = oneshot::channel::<()>();
    let g = drops.guard();
    let h = tg.spawn(async move {
        let _g = g;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    let out = scope
        .run(async {
            started.await.unwrap();
            other.shutdown_background();
            Ok::<_, BoxError>(within("handle after shutdown", h).await)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(None));
    assert_eq!(
        drops.get(),
        1,
        "the task's future was dropped before the scope returned"
    );
    assert!(!tg.is_cancelled());
}

/// Dropping a `TaskHandle` detaches nothing: the scope still waits for the task.
async fn dropped_handle_detaches_nothing() {
    let done = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let d = done.clone();
    let out = scope
        .run(async {
            drop(tg.spawn(async move {
                tokio::time::sleep(short()).await;
                d.hit();
            }));
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    assert_eq!(done.get(), 1);
}

/// A handle resolves to `None` when its task failed or was cancelled, and `is_finished()` then.
async fn handle_resolves_none_for_failed_and_cancelled_tasks() {
    let checked = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let c = checked.clone();
    let out: ScopeResult<()> = scope
        .run(async {
            let (go_tx, go) = oneshot::channel::<()>();
            let failing = tg.spawn(async move {
                go.await.unwrap();
                Err::<u8, _>(err("failed"))
            });
            let cancelled = tg.spawn(std::future::pending::<Result<u8, BoxError>>());
            tg.spawn_shielded(async move {
                assert_eq!(failing.await, None);
                assert_eq!(cancelled.await, None);
                c.hit();
            });
            go_tx.send(()).unwrap();
            std::future::pending().await
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["failed"]);
    assert_eq!(checked.get(), 1);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// Neither error nor value type needs `Debug` for the handles' `Debug`.
struct Opaque;

async fn debug_impls_do_not_need_debug_contents() {
    let scope = CancelScope::<Opaque>::with_error();
    let tg: TaskGroup<Opaque> = scope.group();
    assert!(format!("{scope:?}").contains("CancelScope"));
    assert!(format!("{tg:?}").contains("TaskGroup"));
    let h: TaskHandle<Opaque> = tg.spawn(async { Ok::<_, Opaque>(Opaque) });
    assert!(format!("{h:?}").contains("TaskHandle"));
    let out = scope
        .run(async { Ok::<_, Opaque>(h.await.is_some()) })
        .await;
    assert!(matches!(out, Ok(Outcome::Completed(true))));
    let e = tg.try_spawn(async { Ok::<_, Opaque>(Opaque) }).unwrap_err();
    assert!(format!("{e:?}").contains("SpawnError"));
}

/// With no runtime captured and none current, `spawn` panics with a clear message.
#[test]
fn spawn_without_runtime_panics_clearly() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = std::panic::catch_unwind(|| {
        drop(tg.spawn(async {}));
    });
    let msg = panic_msg(&*r.expect_err("spawn without a runtime panics"));
    assert!(msg.contains("runtime"), "unclear message: {msg}");
    let r = std::panic::catch_unwind(|| {
        drop(tg.spawn_shielded(async {}));
    });
    assert!(r.is_err());
    assert_eq!(tg.len(), 0);
    drop(scope);
}

/// With no runtime, `try_spawn` returns `SpawnError` (no runtime) with the future inside.
#[test]
fn try_spawn_without_runtime_gives_the_future_back() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let e: SpawnError<_> = tg
        .try_spawn(async { Ok::<_, BoxError>(11) })
        .expect_err("no runtime");
    assert!(e.is_no_runtime());
    assert!(!e.is_closed());
    assert!(e.to_string().contains("runtime"), "{e}");
    assert!(!format!("{e:?}").is_empty());
    // The very future comes back, unstarted: run it by hand.
    assert_eq!(futures::executor::block_on(e.into_inner()).unwrap(), 11);
    drop(scope);
}

/// The static guarantees of SPEC section 3.
#[test]
fn static_guarantees() {
    fn group<T: Clone + Send + Sync + 'static + UnwindSafe + RefUnwindSafe + Debug>() {}
    fn handle<T: Send + Sync + 'static + UnwindSafe + Debug + Unpin>() {}
    fn debug<T: Debug>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    struct NotDebug;
    // `E` and `T` need not be `Debug` (nor `UnwindSafe`).
    group::<TaskGroup<NotDebug>>();
    group::<TaskGroup>();
    handle::<TaskHandle<NotDebug>>();
    handle::<TaskHandle<std::cell::Cell<u8>>>();
    debug::<CancelScope<NotDebug>>();
    debug::<SpawnError<NotDebug>>();
    error::<SpawnError<NotDebug>>();
    debug::<Outcome<u8>>();
    debug::<cancel_scope::GroupError<BoxError>>();
    error::<cancel_scope::GroupError<BoxError>>();
    error::<cancel_scope::GroupError<std::io::Error>>();
    fn reason<T: Copy + Eq + std::hash::Hash + Debug + Send + Sync>() {}
    reason::<CancelReason>();
}
