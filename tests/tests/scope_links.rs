//! SPEC section 5: linking (`parent`), in both directions, chains, cycles and deep chains.

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, TaskGroup};
use common::*;
use tokio::sync::oneshot;

both!(
    parent_cancel_cancels_linked_child_not_running_inside,
    child_request_cancels_parent_with_child,
    chain_of_three_unwinds_immediately,
    chain_of_three_running_scopes_unwinds,
    deadline_does_not_travel_up,
    failure_does_not_travel_up,
    parent_reason_does_not_travel_up,
    dropped_does_not_travel_up,
    several_parents_with_different_error_types,
    linking_to_cancelled_running_parent_cancels_at_once,
    linking_to_cancelled_unrun_parent_cancels_at_once,
    linking_to_finished_parent_has_no_effect,
    parent_takes_effect_when_called,
    cycle_of_links_is_harmless,
    self_link_is_harmless,
    deep_chain_of_running_scopes_unwinds,
    many_short_linked_scopes_leave_nothing_behind,
);

/// A linked scope (run elsewhere, not inside the parent) is cancelled with `Parent`.
async fn parent_cancel_cancels_linked_child_not_running_inside() {
    let drops = Counter::new();
    let parent = CancelScope::new();
    let ptg = parent.group();
    let child = CancelScope::new().parent(&ptg);
    let ctg = child.group();
    let d = drops.clone();
    let (started_tx, started) = oneshot::channel::<()>();
    // The child runs in a plain tokio task, not inside the parent.
    let child_run = tokio::spawn(child.run(async move {
        ctg.spawn(hold_forever(d.guard()));
        started_tx.send(()).unwrap();
        std::future::pending::<Result<(), BoxError>>().await
    }));
    started.await.unwrap();
    let out: ScopeResult<()> = parent
        .run(async {
            ptg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let c = within("linked child", child_run).await.unwrap();
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(drops.get(), 1);
}

/// A child cancelled by request cancels its parent with `Child`.
async fn child_request_cancels_parent_with_child() {
    let drops = Counter::new();
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out: ScopeResult<()> = parent
        .run(async {
            ptg.spawn(hold_forever(drops.guard()));
            let child = CancelScope::new().parent(&ptg);
            let ctg = child.group();
            let c: ScopeResult<()> = child
                .run(async {
                    ctg.cancel();
                    Ok(())
                })
                .await;
            // The child had nothing left to wait for, so it ended in this same poll.
            assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Requested));
            assert_eq!(ptg.cancel_reason(), Some(CancelReason::Child));
            // The parent's body is dropped at its next `Pending`.
            tokio::task::yield_now().await;
            unreachable!("the parent's body is dropped");
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(drops.get(), 1);
}

/// tg1 <- tg2 <- tg3: cancelling tg3 cancels tg2 and tg1 before `cancel()` returns.
async fn chain_of_three_unwinds_immediately() {
    let s1 = CancelScope::new();
    let g1 = s1.group();
    let s2 = CancelScope::new().parent(&g1);
    let g2 = s2.group();
    let s3 = CancelScope::new().parent(&g2);
    let g3 = s3.group();
    g3.cancel();
    assert_eq!(g3.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(g2.cancel_reason(), Some(CancelReason::Child));
    assert_eq!(g1.cancel_reason(), Some(CancelReason::Child));
    for s in [s1, s2, s3] {
        let out: ScopeResult<()> = s.run(async { Ok(()) }).await;
        assert!(out.unwrap().is_cancelled());
    }
}

/// The same chain with running scopes, nested in each other's tasks, and tasks everywhere.
async fn chain_of_three_running_scopes_unwinds() {
    let drops = Counter::new();
    let s1 = CancelScope::new();
    let g1 = s1.group();
    let (g3_tx, g3_rx) = oneshot::channel::<TaskGroup>();
    let d = drops.clone();
    let g1c = g1.clone();
    let t = tokio::spawn(async move {
        let out: ScopeResult<()> = s1
            .run(async {
                g1c.spawn(hold_forever(d.guard()));
                let s2 = CancelScope::new().parent(&g1c);
                let g2 = s2.group();
                let d2 = d.clone();
                g1c.spawn(drop_result(s2.run(async move {
                    g2.spawn(hold_forever(d2.guard()));
                    let s3 = CancelScope::new().parent(&g2);
                    let g3 = s3.group();
                    let d3 = d2.clone();
                    g2.spawn(drop_result(s3.run(async move {
                        g3.spawn(hold_forever(d3.guard()));
                        g3_tx.send(g3.clone()).unwrap();
                        std::future::pending::<Result<(), BoxError>>().await
                    })));
                    std::future::pending::<Result<(), BoxError>>().await
                })));
                std::future::pending().await
            })
            .await;
        out
    });
    let g3 = g3_rx.await.unwrap();
    g3.cancel();
    assert!(
        g1.is_cancelled(),
        "the root is cancelled when cancel() returns"
    );
    let out = within("root scope", t).await.unwrap();
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(drops.get(), 3);
}

/// A child's deadline does not cancel its parent.
async fn deadline_does_not_travel_up() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            let child = CancelScope::new().parent(&ptg).timeout(short());
            let c: ScopeResult<()> = child.run(std::future::pending()).await;
            assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
            assert!(!ptg.is_cancelled());
            let zero = CancelScope::new().parent(&ptg).timeout(Duration::ZERO);
            let c: ScopeResult<()> = zero.run(async { Ok(()) }).await;
            assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
            assert!(!ptg.is_cancelled());
            Ok::<_, BoxError>(1)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(1));
}

/// A child's failure does not cancel its parent.
async fn failure_does_not_travel_up() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            let child = CancelScope::new().parent(&ptg);
            let ctg = child.group();
            let c: ScopeResult<()> = child
                .run(async {
                    ctg.spawn(async { Err::<(), _>(err("child task failed")) });
                    std::future::pending().await
                })
                .await;
            assert_eq!(msgs(&c.unwrap_err()), ["child task failed"]);
            assert_eq!(ctg.cancel_reason(), Some(CancelReason::Failed));
            assert!(!ptg.is_cancelled());
            Ok::<_, BoxError>(2)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(2));
}

/// A child cancelled by one parent (`Parent`) does not cancel its other parent.
async fn parent_reason_does_not_travel_up() {
    let p1 = CancelScope::new();
    let g1 = p1.group();
    let p2 = CancelScope::new();
    let g2 = p2.group();
    let child = CancelScope::new().parent(&g1).parent(&g2);
    let cg = child.group();
    g1.cancel();
    assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
    assert!(!g2.is_cancelled());
    let c: ScopeResult<()> = child.run(async { Ok(()) }).await;
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    let out = p2.run(async { Ok::<_, BoxError>(3) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    drop(p1);
}

/// A linked child dropped unfinished (inside `select!`) is `Dropped`; that does not travel up.
async fn dropped_does_not_travel_up() {
    let drops = Counter::new();
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            let child = CancelScope::new().parent(&ptg);
            let ctg = child.group();
            tokio::select! {
                _ = child.run(async {
                    ctg.spawn(hold_forever(drops.guard()));
                    std::future::pending::<Result<(), BoxError>>().await
                }) => unreachable!(),
                _ = tokio::task::yield_now() => {}
            }
            assert_eq!(ctg.cancel_reason(), Some(CancelReason::Dropped));
            assert!(!ptg.is_cancelled());
            Ok::<_, BoxError>(4)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(4));
    assert_eq!(
        drops.get(),
        1,
        "the parent (enclosing) scope waited for the child's task"
    );
}

/// Several parents with different error types: a child request cancels all of them; any parent
/// cancels the child.
async fn several_parents_with_different_error_types() {
    let p1 = CancelScope::new();
    let g1: TaskGroup<BoxError> = p1.group();
    let p2 = CancelScope::<std::io::Error>::with_error();
    let g2: TaskGroup<std::io::Error> = p2.group();
    let child = CancelScope::<String>::with_error().parent(&g1).parent(&g2);
    let cg: TaskGroup<String> = child.group();
    let c = child
        .run(async {
            cg.cancel();
            Ok::<(), String>(())
        })
        .await;
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(g1.cancel_reason(), Some(CancelReason::Child));
    assert_eq!(g2.cancel_reason(), Some(CancelReason::Child));
    let o1: ScopeResult<()> = p1.run(async { Ok(()) }).await;
    assert_eq!(o1.unwrap(), Outcome::Cancelled(CancelReason::Child));
    let o2 = p2.run(async { Ok::<(), std::io::Error>(()) }).await;
    assert_eq!(o2.unwrap(), Outcome::Cancelled(CancelReason::Child));

    // The other direction, through the second parent only.
    let q1 = CancelScope::<u8>::with_error();
    let h1 = q1.group();
    let q2 = CancelScope::<std::io::Error>::with_error();
    let h2 = q2.group();
    let child = CancelScope::new().parent(&h1).parent(&h2);
    let cg = child.group();
    h2.cancel();
    assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
    assert!(!h1.is_cancelled());
    drop((q1, q2, child));
}

/// Linking to a parent that is cancelled but still running cancels the new scope at once.
async fn linking_to_cancelled_running_parent_cancels_at_once() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let (tx, rx) = oneshot::channel::<()>();
    let (linked_tx, linked) = oneshot::channel::<()>();
    let p = ptg.clone();
    let parent_run = tokio::spawn(parent.run(async move {
        // Keeps the parent running after its cancel.
        p.spawn_shielded(async move {
            let _ = rx.await;
        });
        p.cancel();
        let _ = linked_tx.send(());
        Ok::<(), BoxError>(())
    }));
    let _ = linked.await;
    assert!(ptg.is_cancelled());
    assert_eq!(ptg.len(), 1, "the parent is still running");
    let child = CancelScope::new().parent(&ptg);
    let cg = child.group();
    assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
    let started = Counter::new();
    let c: ScopeResult<()> = child
        .run(async {
            started.hit();
            Ok(())
        })
        .await;
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Parent));
    assert_eq!(started.get(), 0);
    tx.send(()).unwrap();
    let out = within("parent", parent_run).await.unwrap();
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// The same before the parent ever ran.
async fn linking_to_cancelled_unrun_parent_cancels_at_once() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    ptg.cancel();
    let child = CancelScope::new().parent(&ptg);
    assert_eq!(child.group().cancel_reason(), Some(CancelReason::Parent));
    drop(child);
    drop(parent);
}

/// Linking to a finished parent has no effect, however it finished.
async fn linking_to_finished_parent_has_no_effect() {
    let mut finished: Vec<TaskGroup> = Vec::new();
    // Completed.
    let s = CancelScope::new();
    finished.push(s.group());
    assert!(s.run(async { Ok::<_, BoxError>(()) }).await.is_ok());
    // Cancelled.
    let s = CancelScope::new();
    let g = s.group();
    finished.push(g.clone());
    let o: ScopeResult<()> = s
        .run(async {
            g.cancel();
            Ok(())
        })
        .await;
    assert!(o.unwrap().is_cancelled());
    // Failed.
    let s = CancelScope::new();
    finished.push(s.group());
    let o: ScopeResult<()> = s.run(async { Err(err("x")) }).await;
    assert!(o.is_err());
    // Dropped without running.
    let s = CancelScope::new();
    finished.push(s.group());
    drop(s);

    for p in &finished {
        let reason_before = p.cancel_reason();
        let child = CancelScope::new().parent(p);
        let cg = child.group();
        assert!(
            !cg.is_cancelled(),
            "linking to a finished parent does not cancel"
        );
        let o = child.run(async { Ok::<_, BoxError>(9) }).await;
        assert_eq!(o.unwrap(), Outcome::Completed(9));
        // Nor does the child's cancel reach the finished parent.
        let child = CancelScope::new().parent(p);
        let cg = child.group();
        cg.cancel();
        assert_eq!(p.cancel_reason(), reason_before);
        drop(child);
    }
}

/// `parent()` takes effect when called: a parent cancelled right after linking cancels the
/// child before it runs, and a child cancelled before running reaches the parent.
async fn parent_takes_effect_when_called() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let child = CancelScope::new().parent(&ptg);
    let cg = child.group();
    assert!(!cg.is_cancelled());
    ptg.cancel();
    assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
    drop((parent, child));

    let parent = CancelScope::new();
    let ptg = parent.group();
    let child = CancelScope::new().parent(&ptg);
    child.group().cancel();
    assert_eq!(ptg.cancel_reason(), Some(CancelReason::Child));
    drop((parent, child));
}

/// A cycle of links (through `group()` before `parent()`) is harmless: propagation stops at
/// groups already cancelled, and every scope still ends.
async fn cycle_of_links_is_harmless() {
    for start in 0..3 {
        let a = CancelScope::new();
        let ga = a.group();
        let b = CancelScope::new();
        let gb = b.group();
        let c = CancelScope::new();
        let gc = c.group();
        let a = a.parent(&gc);
        let b = b.parent(&ga);
        let c = c.parent(&gb);
        let groups = [ga.clone(), gb.clone(), gc.clone()];
        groups[start].cancel();
        assert!(groups.iter().all(TaskGroup::is_cancelled));
        assert_eq!(groups[start].cancel_reason(), Some(CancelReason::Requested));
        let (ra, rb, rc) = tokio::join!(
            a.run(async { Ok::<(), BoxError>(()) }),
            b.run(async { Ok::<(), BoxError>(()) }),
            c.run(async { Ok::<(), BoxError>(()) }),
        );
        for r in [ra, rb, rc] {
            assert!(r.unwrap().is_cancelled());
        }
    }
    // A two-cycle a <-> b, with b also a child of a root outside the cycle: the root's cancel
    // goes down to b (`Parent`), and from b down to a (`Parent`), and stops there.
    let root = CancelScope::new();
    let groot = root.group();
    let a = CancelScope::new();
    let ga = a.group();
    let b = CancelScope::new().parent(&ga).parent(&groot);
    let gb = b.group();
    let a = a.parent(&gb);
    groot.cancel();
    assert_eq!(gb.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(ga.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(groot.cancel_reason(), Some(CancelReason::Requested));
    drop((root, a, b));
}

/// Linking a scope to its own group is harmless.
async fn self_link_is_harmless() {
    let s = CancelScope::new();
    let g = s.group();
    let s = s.parent(&g);
    let o = s
        .run(async {
            g.cancel();
            Ok::<(), BoxError>(())
        })
        .await;
    assert_eq!(o.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A chain of running linked scopes 10,000 deep, each level running in a task of the level
/// above (spawned from that level's body): the leaf's cancel unwinds to the root, and every
/// level's body is dropped before the root returns.
async fn deep_chain_of_running_scopes_unwinds() {
    const DEPTH: usize = 10_000;
    let drops = Counter::new();
    let root = CancelScope::new();
    let groot = root.group();
    let (leaf_tx, leaf_rx) = oneshot::channel::<TaskGroup>();
    groot.spawn(level(groot.clone(), DEPTH - 1, drops.clone(), leaf_tx));
    let out: ScopeResult<()> = root
        .run(async {
            let leaf = leaf_rx.await.unwrap();
            leaf.cancel();
            assert_eq!(groot.cancel_reason(), Some(CancelReason::Child));
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(drops.get(), DEPTH, "every level's body was dropped");
}

/// One level of the chain: a scope linked to `parent` whose body spawns the next level.
fn level(
    parent: TaskGroup,
    below: usize,
    drops: Counter,
    leaf_tx: oneshot::Sender<TaskGroup>,
) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(async move {
        let s = CancelScope::new().parent(&parent);
        let g = s.group();
        let _: ScopeResult<()> = s
            .run(async {
                let _d = drops.guard();
                if below == 0 {
                    leaf_tx.send(g.clone()).unwrap();
                } else {
                    g.spawn(level(g.clone(), below - 1, drops.clone(), leaf_tx));
                }
                std::future::pending().await
            })
            .await;
    })
}

/// 100,000 short linked scopes under one long-lived parent leave nothing behind: the parent
/// still works and holds no task. (Memory is measured in `scope_memory`.)
async fn many_short_linked_scopes_leave_nothing_behind() {
    const N: usize = 100_000;
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            for i in 0..N {
                let s = CancelScope::new().parent(&ptg);
                if i % 2 == 0 {
                    let o = s.run(async { Ok::<_, BoxError>(i) }).await;
                    assert_eq!(o.unwrap(), Outcome::Completed(i));
                } else {
                    // Dropped without running: unlinks too.
                    drop(s);
                }
            }
            assert_eq!(ptg.len(), 0);
            assert!(!ptg.is_cancelled());
            // The parent still works: its cancel reaches a new child.
            let child = CancelScope::new().parent(&ptg);
            let cg = child.group();
            ptg.cancel();
            assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
            drop(child);
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// A chain 10,000 deep, built with `group()` before `parent()`, cancelled from either end,
/// on a thread with a small stack: propagation is iterative.
#[test]
fn ten_thousand_deep_chain_no_stack_overflow() {
    for flavor in ["current_thread", "multi_thread"] {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let rt = match flavor {
                    "current_thread" => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build(),
                    _ => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build(),
                }
                .unwrap();
                rt.block_on(deep_chain(10_000));
            })
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("deep chain failed on {flavor}"));
    }
}

async fn deep_chain(depth: usize) {
    // Upward: cancel the leaf.
    let (scopes, groups) = chain(depth);
    groups[depth - 1].cancel();
    assert_eq!(groups[0].cancel_reason(), Some(CancelReason::Child));
    assert!(groups.iter().all(TaskGroup::is_cancelled));
    for s in scopes {
        let o: ScopeResult<()> = s.run(async { Ok(()) }).await;
        assert!(o.unwrap().is_cancelled());
    }
    // Downward: cancel the root.
    let (scopes, groups) = chain(depth);
    groups[0].cancel();
    assert_eq!(
        groups[depth - 1].cancel_reason(),
        Some(CancelReason::Parent)
    );
    drop(scopes);
    // Dropping a deep chain of unrun, uncancelled scopes.
    let (scopes, groups) = chain(depth);
    drop(scopes);
    drop(groups);
}

fn chain(depth: usize) -> (Vec<CancelScope>, Vec<TaskGroup>) {
    let mut scopes: Vec<CancelScope> = Vec::with_capacity(depth);
    let mut groups: Vec<TaskGroup> = Vec::with_capacity(depth);
    for i in 0..depth {
        let mut s = CancelScope::new();
        if i > 0 {
            s = s.parent(&groups[i - 1]);
        }
        groups.push(s.group());
        scopes.push(s);
    }
    (scopes, groups)
}
