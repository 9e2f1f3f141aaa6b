//! Adversarial 2, part 6: `deadline()` through enclosing scopes' links and timeouts that start
//! later; `Locals` reuse; queued blocking members in `len()`.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{BoxError, CancelScope, Locals, Outcome};
use futures::FutureExt;
use tokio::time::Instant;

#[macro_use]
mod adversarial;

use adversarial::ms;

both!(
    deadline_via_enclosing_scopes_link,
    deadline_via_task_enclosing_scopes_link,
    deadline_linked_parent_timeout_appears_when_parent_runs,
    deadline_run_later_counts_from_first_poll,
    locals_second_scope_panics,
    blocking_queued_counted_by_len,
);

// sec. 10: "the scopes it runs in and ... the scopes it is linked to, transitively" (run-in then linked)
async fn deadline_via_enclosing_scopes_link() {
    let at = Instant::now() + ms(2500);
    let p = CancelScope::new().deadline(at);
    let ptg = p.group();
    let b = CancelScope::new().parent(&ptg);
    let out = b
        .run(async {
            let c = CancelScope::new();
            let ctg = c.group();
            let r = c.run(async { Ok(ctg.deadline()) }).await;
            Ok(r.unwrap().completed().unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
    drop(p);
}

// same, through a task of the enclosing scope
async fn deadline_via_task_enclosing_scopes_link() {
    let at = Instant::now() + ms(2500);
    let p = CancelScope::new().deadline(at);
    let ptg = p.group();
    let b = CancelScope::new().parent(&ptg);
    let btg = b.group();
    let out = b
        .run(async {
            let h = btg.spawn(async {
                let c = CancelScope::new();
                let ctg = c.group();
                let r = c.run(async { Ok(ctg.deadline()) }).await;
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
    drop(p);
}

// sec. 10: a linked parent's timeout becomes a deadline once that parent runs
async fn deadline_linked_parent_timeout_appears_when_parent_runs() {
    let c = CancelScope::new().timeout(ms(2000));
    let ctg = c.group();
    let g = CancelScope::new().parent(&ctg);
    let gtg = g.group();
    assert_eq!(gtg.deadline(), None);
    let out = c
        .run(async {
            let cd = ctg.deadline().expect("running timeout");
            Ok((cd, gtg.deadline()))
        })
        .await;
    let (cd, gd) = out.unwrap().completed().unwrap();
    assert_eq!(gd, Some(cd));
    drop(g);
}

// sec. 5: "timeout(d) counts from the start of run (its first poll)"
async fn deadline_run_later_counts_from_first_poll() {
    let scope = CancelScope::new().timeout(ms(1000));
    let tg = scope.group();
    tokio::time::sleep(ms(100)).await;
    let before = Instant::now();
    let out = scope.run(async { Ok(tg.deadline()) }).await;
    let d = out.unwrap().completed().unwrap().unwrap();
    assert!(
        d >= before + ms(1000),
        "timeout counted from construction, not from the first poll"
    );
}

// run_with_locals rustdoc: "If locals was already passed to another run_with_locals" it panics
async fn locals_second_scope_panics() {
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async { Ok(()) })
        .await;
    assert!(out.is_ok());
    let r = AssertUnwindSafe(async {
        CancelScope::new()
            .run_with_locals(&locals, async { Ok(()) })
            .await
    })
    .catch_unwind()
    .await;
    assert!(r.is_err());
}

// sec. 3: "len() counts every task not yet finished, queued ones (under limit) included" (blocking)
async fn blocking_queued_counted_by_len() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let out = scope
        .run(async {
            // holds the only slot until len() was read (a 40 ms timer could run out before a
            // 10 ms one is seen on a loaded machine, and the member run)
            let (release, held) = tokio::sync::oneshot::channel::<()>();
            let h = tg.spawn(async move {
                let _ = held.await;
            });
            let hb = tg.spawn_blocking(move || r2.store(true, Ordering::SeqCst));
            tokio::time::sleep(ms(10)).await;
            assert_eq!(tg.len(), 2);
            assert!(!ran.load(Ordering::SeqCst));
            release.send(()).unwrap();
            assert_eq!(h.await, Some(()));
            assert_eq!(hb.await, Some(()));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}
