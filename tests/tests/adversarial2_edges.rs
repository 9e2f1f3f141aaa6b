//! Adversarial 2, part 4: edges of race input, deadline() through finished links and local
//! tasks, hand-over from local tasks, `Locals` after its scope, attribute forms.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]
#![allow(unreachable_code)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{
    BoxError, CancelReason, CancelScope, Locals, Outcome, ScopeResult, cancel_scoped,
};
use futures::FutureExt;
use tokio::time::Instant;

#[macro_use]
mod adversarial;

use adversarial::{Flag, err, flag, ms, msgs};

type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

both!(
    race_empty_with_past_deadline_still_panics,
    race_empty_cancelled_before_run_still_panics,
    deadline_link_to_finished_parent_has_no_effect,
    deadline_seen_from_scope_in_local_task,
    local_task_nested_scope_handed_over_and_waited,
    locals_spawn_after_scope_finished_refused_and_dropped,
    attribute_supervise_keeps_going,
    attribute_cancel_on_list,
    attribute_spawn_local,
    token_free_never_run_scope_dropped_reason,
);

// sec. 9: "An empty input panics with a clear message" (also when the deadline is already past)
async fn race_empty_with_past_deadline_still_panics() {
    let r = AssertUnwindSafe(
        CancelScope::new()
            .timeout(std::time::Duration::ZERO)
            .race(Vec::<Fut<u32>>::new()),
    )
    .catch_unwind()
    .await;
    assert!(r.is_err(), "empty race did not panic: {:?}", r.ok());
}

// sec. 9: "An empty input panics with a clear message" (also when cancelled before run)
async fn race_empty_cancelled_before_run_still_panics() {
    let scope = CancelScope::new();
    scope.group().cancel();
    let r = AssertUnwindSafe(scope.race(Vec::<Fut<u32>>::new()))
        .catch_unwind()
        .await;
    assert!(r.is_err(), "empty race did not panic: {:?}", r.ok());
}

// sec. 5: "linking to a finished parent has no effect, however it finished" (deadline() included)
async fn deadline_link_to_finished_parent_has_no_effect() {
    let at = Instant::now() + ms(3000);
    let p = CancelScope::new().deadline(at);
    let ptg = p.group();
    assert_eq!(
        p.run(async { Ok(()) }).await.unwrap(),
        Outcome::Completed(())
    );
    let c = CancelScope::new().parent(&ptg);
    let ctg = c.group();
    assert_eq!(
        ctg.deadline(),
        None,
        "a finished parent's deadline still applies"
    );
    let out = c
        .run(async {
            tokio::time::sleep(ms(5)).await;
            Ok(ctg.deadline())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(None));
}

// sec. 10: deadline "of the scopes it runs in" (a scope running in a local task)
async fn deadline_seen_from_scope_in_local_task() {
    let at = Instant::now() + ms(2500);
    let locals = Locals::new();
    let out = CancelScope::new()
        .deadline(at)
        .run_with_locals(&locals, async {
            let h = locals.spawn(async {
                let inner = CancelScope::new();
                let itg = inner.group();
                let r = inner.run(async { Ok(itg.deadline()) }).await;
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
}

// sec. 2: "a dropped scope hands its still-live tasks to the scope it ran in" (a scope in a local task)
async fn local_task_nested_scope_handed_over_and_waited() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let scope = CancelScope::new();
    let tg = scope.group();
    let locals = Locals::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(async move {
                let inner = CancelScope::new();
                let itg = inner.group();
                let _ = inner
                    .run(async move {
                        itg.spawn_blocking(move || {
                            let _ = tx.send(());
                            std::thread::sleep(ms(150));
                            f2.store(true, Ordering::SeqCst);
                        });
                        std::future::pending::<()>().await;
                        Ok(())
                    })
                    .await;
            });
            rx.await.unwrap();
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(
        fin.load(Ordering::SeqCst),
        "scope returned before the blocking member of a scope dropped in its local task ended"
    );
}

// Locals::spawn rustdoc: "Refused (the future is dropped unstarted and the handle resolves to None) ... once the scope finished"
async fn locals_spawn_after_scope_finished_refused_and_dropped() {
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async { Ok(()) })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let (d, f) = flag();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let h = locals.spawn(async move {
        let _f = f;
        r2.store(true, Ordering::SeqCst);
    });
    assert!(d.load(Ordering::SeqCst), "refused future kept alive");
    assert_eq!(h.await, None);
    assert!(!ran.load(Ordering::SeqCst));
}

#[cancel_scoped(as tg, supervise)]
async fn supervised(done: Arc<AtomicBool>) -> ScopeResult<u32> {
    spawn(async { Err::<(), BoxError>(err("s1")) });
    spawn(async move {
        tokio::time::sleep(ms(20)).await;
        done.store(true, Ordering::SeqCst);
    });
    tokio::time::sleep(ms(5)).await;
    assert!(!tg.is_cancelled());
    1
}

// sec. 9: "attribute argument supervise"
async fn attribute_supervise_keeps_going() {
    let done = Arc::new(AtomicBool::new(false));
    let out = supervised(done.clone()).await;
    assert_eq!(msgs(&out.unwrap_err()), ["s1"]);
    assert!(done.load(Ordering::SeqCst));
}

#[cancel_scoped(cancel_on = [std::future::pending::<()>(), tokio::time::sleep(ms(10))])]
async fn signalled(f: Flag) -> ScopeResult<()> {
    spawn(async move {
        let _f = f;
        std::future::pending::<()>().await;
    });
    std::future::pending::<()>().await;
}

// sec. 10: "attribute argument cancel_on = [a, b]"
async fn attribute_cancel_on_list() {
    let (d, f) = flag();
    let out = signalled(f).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(d.load(Ordering::SeqCst));
}

#[cancel_scoped]
async fn with_local(v: &[u32]) -> ScopeResult<u32> {
    let h = spawn_local(async { Ok::<_, BoxError>(v.iter().sum::<u32>()) });
    h.await.unwrap()
}

// sec. 10: "spawn_local(EXPR); in #[cancel_scoped]"
async fn attribute_spawn_local() {
    let v = vec![1, 2, 3];
    assert_eq!(with_local(&v).await.unwrap(), Outcome::Completed(6));
}

// sec. 2: "a scope dropped without ever being run aborts them, like any dropped scope" (reason Dropped)
async fn token_free_never_run_scope_dropped_reason() {
    let (d, f) = flag();
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(async move {
        let _f = f;
        std::future::pending::<()>().await;
    });
    drop(scope);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped));
    for _ in 0..100 {
        if d.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(ms(5)).await;
    }
    assert!(d.load(Ordering::SeqCst));
}
