//! SPEC section 10, `TaskGroup::deadline()`: the earliest deadline of the scope, of the scopes
//! it runs in and of the scopes it is linked to, transitively; a `timeout` counts only once
//! `run` started.

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelScope};
use common::*;
use tokio::time::Instant;

both!(
    no_deadline_is_none,
    timeout_becomes_a_deadline_at_run,
    deadline_at_counts_before_run,
    enclosing_scopes_bound_the_deadline,
    tasks_see_their_scopes_deadline_through_nesting,
    linked_parents_bound_the_deadline_transitively,
    link_cycles_and_finished_parents,
);

const HOUR: Duration = Duration::from_secs(3600);

async fn no_deadline_is_none() {
    let scope = CancelScope::new();
    let tg = scope.group();
    assert_eq!(tg.deadline(), None);
    scope
        .run(async {
            assert_eq!(tg.deadline(), None);
            Ok(())
        })
        .await
        .unwrap();
}

/// A timeout counts from the first poll of `run`: not a deadline before it.
async fn timeout_becomes_a_deadline_at_run() {
    let scope = CancelScope::new().timeout(HOUR);
    let tg = scope.group();
    assert_eq!(tg.deadline(), None);
    tokio::time::sleep(short()).await;
    let start = Instant::now();
    scope
        .run(async {
            let at = tg
                .deadline()
                .expect("a timeout is a deadline once run started");
            assert!(at >= start + HOUR && at <= Instant::now() + HOUR);
            Ok(())
        })
        .await
        .unwrap();
}

/// `deadline(at)` is a deadline at once; with a timeout too, the earlier one.
async fn deadline_at_counts_before_run() {
    let at = Instant::now() + HOUR;
    let scope = CancelScope::new().deadline(at).timeout(HOUR * 2);
    let tg = scope.group();
    assert_eq!(tg.deadline(), Some(at));
    scope
        .run(async {
            assert_eq!(tg.deadline(), Some(at));
            Ok(())
        })
        .await
        .unwrap();
    let at2 = Instant::now() + HOUR * 3;
    let scope = CancelScope::new().deadline(at2).timeout(HOUR);
    let tg = scope.group();
    let start = Instant::now();
    scope
        .run(async {
            let d = tg.deadline().unwrap();
            assert!(d < at2 && d >= start + HOUR);
            Ok(())
        })
        .await
        .unwrap();
}

/// A scope nested body-in-body sees the earlier deadline of the scope it runs in, and its
/// own when that is earlier.
async fn enclosing_scopes_bound_the_deadline() {
    let outer_at = Instant::now() + HOUR;
    let outer = CancelScope::new().deadline(outer_at);
    outer
        .run(async {
            let loose = CancelScope::new().deadline(outer_at + HOUR);
            let loose_tg = loose.group();
            // Created inside the outer body: bounded by it even before it runs.
            assert_eq!(loose_tg.deadline(), Some(outer_at));
            loose
                .run(async {
                    let tight_at = Instant::now() + Duration::from_secs(60);
                    let tight = CancelScope::new().deadline(tight_at);
                    let tight_tg = tight.group();
                    tight
                        .run(async {
                            assert_eq!(tight_tg.deadline(), Some(tight_at));
                            assert_eq!(loose_tg.deadline(), Some(outer_at));
                            Ok(())
                        })
                        .await?;
                    Ok(())
                })
                .await?;
            Ok::<_, BoxError>(())
        })
        .await
        .unwrap();
}

/// Task-in-task nesting: a scope run inside a task of a scope run inside a task of the outer
/// scope sees the outer deadline.
async fn tasks_see_their_scopes_deadline_through_nesting() {
    let at = Instant::now() + HOUR;
    let outer = CancelScope::new().deadline(at);
    let tg = outer.group();
    let seen = tg.spawn(async {
        let mid = CancelScope::new();
        let mid_tg = mid.group();
        let out = mid
            .run(async move {
                let inner_seen = mid_tg.spawn(async {
                    let inner = CancelScope::new().timeout(HOUR * 5);
                    let inner_tg = inner.group();
                    let d = inner.run(async move { Ok(inner_tg.deadline()) }).await;
                    Ok::<_, BoxError>(d.unwrap().completed().unwrap())
                });
                Ok(inner_seen.await.flatten())
            })
            .await;
        Ok::<_, BoxError>(out.unwrap().completed().unwrap())
    });
    outer.run(async { Ok(()) }).await.unwrap();
    assert_eq!(seen.await, Some(Some(at)));
}

/// Linked parents count, transitively (a chain of three), and so do the parents' enclosing
/// scopes.
async fn linked_parents_bound_the_deadline_transitively() {
    let at = Instant::now() + HOUR;
    let root = CancelScope::new().deadline(at);
    let root_tg = root.group();
    let mid = CancelScope::new().parent(&root_tg).deadline(at + HOUR);
    let mid_tg = mid.group();
    let leaf = CancelScope::new().parent(&mid_tg);
    let leaf_tg = leaf.group();
    assert_eq!(leaf_tg.deadline(), Some(at));
    assert_eq!(mid_tg.deadline(), Some(at));
    assert_eq!(root_tg.deadline(), Some(at));
    // A second parent with an earlier deadline wins.
    let other_at = Instant::now() + Duration::from_secs(60);
    let other = CancelScope::new().deadline(other_at);
    let leaf = leaf.parent(&other.group());
    assert_eq!(leaf_tg.deadline(), Some(other_at));
    drop((root, mid, leaf, other));
}

/// A cycle of links terminates; a parent that finished no longer bounds anything.
async fn link_cycles_and_finished_parents() {
    let at = Instant::now() + HOUR;
    let a = CancelScope::new().deadline(at);
    let a_tg = a.group();
    let b = CancelScope::new().parent(&a_tg);
    let b_tg = b.group();
    let a = a.parent(&b_tg);
    assert_eq!(b_tg.deadline(), Some(at));
    assert_eq!(a_tg.deadline(), Some(at));
    drop((a, b));

    let p = CancelScope::new().deadline(at);
    let p_tg = p.group();
    let child = CancelScope::new().parent(&p_tg);
    let child_tg = child.group();
    assert_eq!(child_tg.deadline(), Some(at));
    p.run(async { Ok(()) }).await.unwrap();
    assert_eq!(
        child_tg.deadline(),
        None,
        "a finished parent still bounds the deadline"
    );
    drop(child);
}
