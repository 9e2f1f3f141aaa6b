//! Adversarial 2, part 9: panics raised while members and signals are dropped.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;

use cancel_scope::{CancelScope, Locals};
use futures::FutureExt;

#[macro_use]
mod adversarial;

use adversarial::ms;

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop-boom");
        }
    }
}

both!(
    queued_blocking_closure_drop_panic_on_cancel,
    queued_local_drop_panic_on_cancel,
    running_local_drop_panic_on_body_error,
    signal_drop_panic_not_swallowed,
);

// sec. 2: "A panic while a cancelled task is being dropped counts as a task panic" (a queued blocking member)
async fn queued_blocking_closure_drop_panic_on_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let r = AssertUnwindSafe(scope.run(async {
        tg.spawn(std::future::pending::<()>());
        let p = PanicOnDrop;
        tg.spawn_blocking(move || {
            let _p = p;
        });
        tokio::time::sleep(ms(5)).await;
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("drop panic of a queued blocking member swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// same rule, a queued local task
async fn queued_local_drop_panic_on_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let locals = Locals::new();
    let r = AssertUnwindSafe(scope.run_with_locals(&locals, async {
        tg.spawn(std::future::pending::<()>());
        let p = PanicOnDrop;
        locals.spawn(async move {
            let _p = p;
        });
        tokio::time::sleep(ms(5)).await;
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("drop panic of a queued local task swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// same rule, a running local task cancelled by the body's error
async fn running_local_drop_panic_on_body_error() {
    let locals = Locals::new();
    let r = AssertUnwindSafe(CancelScope::new().run_with_locals(&locals, async {
        locals.spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        Err::<(), cancel_scope::BoxError>("body".into())
    }))
    .catch_unwind()
    .await;
    let p = r.expect_err("drop panic swallowed (the error was returned instead)");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}

// sec. 2/4: "panics never swallowed" / cancel_on rustdoc: "A signal that panics is a panic of the scope" (in its drop)
async fn signal_drop_panic_not_swallowed() {
    let p = PanicOnDrop;
    let r = AssertUnwindSafe(async {
        CancelScope::new()
            .cancel_on(async move {
                let _p = p;
                std::future::pending::<()>().await;
            })
            .run(async { Ok(()) })
            .await
    })
    .catch_unwind()
    .await;
    let p = r.expect_err("a signal's drop panic was swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("drop-boom"));
}
