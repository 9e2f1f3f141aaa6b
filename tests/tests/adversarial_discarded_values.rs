//! Adversarial: SPEC section 2 "Nothing outlives its scope", through values the scope discards
//! (the body's value under rules 3 and 5, the output of a task whose handle was dropped).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::*;

/// Sets its flag after a slow (blocking) destructor.
struct SlowFlag(Arc<AtomicBool>);

impl Drop for SlowFlag {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(20));
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

async fn pending_with(f: SlowFlag) {
    let _f = f;
    std::future::pending::<()>().await
}

/// A nested scope never run, whose group has a live task with a slow destructor.
fn unrun_nested(f: &Arc<AtomicBool>) -> CancelScope {
    let inner = CancelScope::new();
    inner.group().spawn(pending_with(SlowFlag(f.clone())));
    inner
}

type BoxRun = Pin<Box<dyn Future<Output = cancel_scope::ScopeResult<()>> + Send>>;

/// A nested scope's `run` future polled once (so it found its enclosing scope), not finished.
async fn started_nested(f: &Arc<AtomicBool>) -> BoxRun {
    let inner = CancelScope::new();
    let itg = inner.group();
    itg.spawn(pending_with(SlowFlag(f.clone())));
    let mut fut: BoxRun = Box::pin(inner.run(std::future::pending::<Result<(), BoxError>>()));
    // poll it once
    let polled = futures::poll!(fut.as_mut());
    assert!(polled.is_pending());
    fut
}

both!(real:
    rule5_body_value_owning_unrun_scope_is_waited_for,
    rule5_body_value_owning_started_run_future_is_waited_for,
    rule5_body_value_discarded_by_later_cancel_is_waited_for,
    rule3_body_value_owning_unrun_scope_is_waited_for,
    rule3_body_value_owning_started_run_future_is_waited_for,
    task_output_with_slow_destructor_dropped_before_scope_returns,
    task_output_owning_nested_scope_is_waited_for,
    panic_in_discarded_task_output_destructor_is_resumed,
    panic_in_discarded_body_value_destructor_is_resumed,
    control_unrun_scope_dropped_in_body_is_waited_for,
    rule4_body_value_owning_unrun_scope_is_waited_for_before_panic,
);

// SPEC 2: "the body's value under rules 3, 4 and 5 ... is dropped before the scope returns" (rule 4: a task panics)
async fn rule4_body_value_owning_unrun_scope_is_waited_for_before_panic() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let r = catch(scope.run(async move {
        tg.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if true {
                std::panic::panic_any(Payload(5));
            }
        });
        let v = unrun_nested(&f2);
        Ok::<_, BoxError>(v)
    }))
    .await;
    let p = r.expect_err("task panic resumed");
    assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(5)));
    assert!(
        f.load(Ordering::SeqCst),
        "the panic was resumed before the discarded body value's nested task was dropped"
    );
}

// SPEC 2: "a dropped scope hands its still-live tasks to the scope it ran in" (control: dropped inside the body)
async fn control_unrun_scope_dropped_in_body_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let f2 = f.clone();
    let out = scope
        .run(async move {
            drop(unrun_nested(&f2));
            Ok::<_, BoxError>(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Completed(()))));
    assert!(
        f.load(Ordering::SeqCst),
        "dropped nested scope's task not waited for"
    );
}

// SPEC 2: "A value that a scope discards (the body's value under rules 3, 4 and 5 ...) is dropped before the scope returns"
async fn rule5_body_value_owning_unrun_scope_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let out = scope
        .run(async move {
            let v = unrun_nested(&f2);
            tg.cancel();
            Ok::<_, BoxError>(v)
        })
        .await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Requested))
    ));
    assert!(
        f.load(Ordering::SeqCst),
        "outer scope returned before the discarded body value's nested task was dropped"
    );
}

// SPEC 2: "a scope owned by such a value is handed over and waited for like any other"
async fn rule5_body_value_owning_started_run_future_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let out = scope
        .run(async move {
            let v = started_nested(&f2).await;
            tg.cancel();
            Ok::<_, BoxError>(v)
        })
        .await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Requested))
    ));
    assert!(
        f.load(Ordering::SeqCst),
        "outer scope returned before the discarded run future's task was dropped"
    );
}

// SPEC 4 rule 5: "The body's value is discarded when a cancel follows it" (cancel by a task after the body returned)
async fn rule5_body_value_discarded_by_later_cancel_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            tg.spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                tg2.cancel();
            });
            let v = started_nested(&f2).await;
            Ok::<_, BoxError>(v)
        })
        .await;
    assert!(matches!(
        out,
        Ok(Outcome::Cancelled(CancelReason::Requested))
    ));
    assert!(
        f.load(Ordering::SeqCst),
        "outer scope returned before the discarded body value's nested task was dropped"
    );
}

// SPEC 2: "the body's value under rules 3 ... is dropped before the scope returns"
async fn rule3_body_value_owning_unrun_scope_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let out = scope
        .run(async move {
            tg.spawn(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err::<(), _>(err("task failed"))
            });
            let v = unrun_nested(&f2);
            Ok::<_, BoxError>(v)
        })
        .await;
    let e = out.expect_err("a task failed");
    assert_eq!(msgs(&e), ["task failed"]);
    assert!(
        f.load(Ordering::SeqCst),
        "outer scope returned before the discarded body value's nested task was dropped"
    );
}

// SPEC 2: "the body's value under rules 3 ... is dropped before the scope returns"
async fn rule3_body_value_owning_started_run_future_is_waited_for() {
    let f = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    let f2 = f.clone();
    let out = scope
        .run(async move {
            tg.spawn(async { Err::<(), _>(err("task failed")) });
            let v = started_nested(&f2).await;
            Ok::<_, BoxError>(v)
        })
        .await;
    assert!(out.is_err());
    assert!(
        f.load(Ordering::SeqCst),
        "outer scope returned before the discarded run future's task was dropped"
    );
}

// SPEC 2: "the output of a task whose handle was dropped ... is dropped before the scope returns"
async fn task_output_with_slow_destructor_dropped_before_scope_returns() {
    for i in 0..50 {
        let f = flag();
        let scope = CancelScope::new();
        let tg = scope.group();
        let f2 = f.clone();
        let out = scope
            .run(async move {
                drop(tg.spawn(async move { Ok::<_, BoxError>(SlowFlag(f2)) }));
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(matches!(out, Ok(Outcome::Completed(()))));
        assert!(
            f.load(Ordering::SeqCst),
            "iteration {i}: scope returned before a discarded task output was dropped"
        );
    }
}

// SPEC 2: "a scope owned by such a value is handed over and waited for like any other"
async fn task_output_owning_nested_scope_is_waited_for() {
    for i in 0..50 {
        let f = flag();
        let scope = CancelScope::new();
        let tg = scope.group();
        let f2 = f.clone();
        let out = scope
            .run(async move {
                drop(tg.spawn(async move { Ok::<_, BoxError>(unrun_nested(&f2)) }));
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(matches!(out, Ok(Outcome::Completed(()))));
        assert!(
            f.load(Ordering::SeqCst),
            "iteration {i}: scope returned before the nested scope in a discarded output was waited for"
        );
    }
}

#[derive(Debug)]
struct PanicDrop(#[allow(dead_code)] &'static str);
impl Drop for PanicDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(77));
        }
    }
}

// SPEC 4 rule 4 / 2: "A panic is never turned into a value" -- panic while dropping a discarded output
async fn panic_in_discarded_task_output_destructor_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = catch(scope.run(async move {
        drop(tg.spawn(async move { Ok::<_, BoxError>(PanicDrop("x")) }));
        Ok::<_, BoxError>(())
    }))
    .await;
    let payload = r.expect_err("the panic of the output's destructor was swallowed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(77)));
}

// SPEC 4 rule 4: "A task or the body panicked ... resumes the first panic" -- body value destructor under rule 5
async fn panic_in_discarded_body_value_destructor_is_resumed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = catch(scope.run(async move {
        tg.cancel();
        Ok::<_, BoxError>(PanicDrop("y"))
    }))
    .await;
    let payload = r.expect_err("the panic of the discarded body value's destructor was swallowed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(77)));
}

#[allow(dead_code)]
fn _unused(_: AtomicUsize) {}
