//! Issue 12's members against their peers: local tasks (`Locals`, polled in the scope's own
//! task) against `moro` (whose jobs also run in the scope's task), and blocking members
//! (`TaskGroup::spawn_blocking`) against `JoinSet::spawn_blocking`.

use std::future::Future;
use std::hint::black_box;

use cancel_scope::{CancelScope, Locals};
use tokio::task::JoinSet;

/// Ours: `n` local tasks spawned by the body (handles dropped), then the scope waits for them.
pub async fn ours_local_spawn_join<F: Future<Output = ()> + Send>(n: usize, make: impl Fn() -> F) {
    let locals = Locals::new();
    let out = CancelScope::new()
        .run_with_locals(&locals, async {
            for _ in 0..n {
                drop(locals.spawn(make()));
            }
            Ok(())
        })
        .await;
    out.expect("scope failed");
}

/// Ours: `n` blocking members (a trivial closure each), then the scope waits for them.
pub async fn ours_blocking(n: usize) {
    let scope = CancelScope::new();
    let tg = scope.group();
    for i in 0..n {
        drop(tg.spawn_blocking(move || {
            black_box(i);
        }));
    }
    scope.run(async { Ok(()) }).await.expect("scope failed");
}

/// `JoinSet::spawn_blocking` `n` trivial closures, then join them all.
pub async fn joinset_blocking(n: usize) {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn_blocking(move || {
            black_box(i);
        });
    }
    while let Some(res) = set.join_next().await {
        res.expect("closure failed");
    }
}
