//! Adversarial 2, part 12: a scope run inside a `spawn_blocking` member (`Handle::block_on`).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cancel_scope::{BoxError, CancelScope, Outcome};
use tokio::time::Instant;

#[macro_use]
mod adversarial;

use adversarial::ms;

both!(
    deadline_seen_in_scope_inside_blocking_member,
    scope_in_blocking_member_completes
);

// sec. 10: spawn_blocking is "a member in every respect"; deadline(): "of the scopes it runs in"
async fn deadline_seen_in_scope_inside_blocking_member() {
    let at = Instant::now() + ms(2500);
    let outer = CancelScope::new().deadline(at);
    let otg = outer.group();
    let out = outer
        .run(async {
            let h = otg.spawn_blocking(|| {
                let inner = CancelScope::new();
                let itg = inner.group();
                let r = tokio::runtime::Handle::current()
                    .block_on(inner.run(async { Ok(itg.deadline()) }));
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
}

// sec. 2: a scope run on a blocking thread works like any other (waits for its tasks)
async fn scope_in_blocking_member_completes() {
    let fin = Arc::new(AtomicBool::new(false));
    let f2 = fin.clone();
    let outer = CancelScope::new();
    let otg = outer.group();
    let out = outer
        .run(async {
            let h = otg.spawn_blocking(move || {
                let inner = CancelScope::new();
                let itg = inner.group();
                let r = tokio::runtime::Handle::current().block_on(inner.run(async move {
                    itg.spawn(async move {
                        tokio::time::sleep(ms(20)).await;
                        f2.store(true, Ordering::SeqCst);
                    });
                    Ok(3)
                }));
                Ok::<_, BoxError>(r.unwrap().completed().unwrap())
            });
            Ok(h.await.unwrap())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    assert!(fin.load(Ordering::SeqCst));
}
