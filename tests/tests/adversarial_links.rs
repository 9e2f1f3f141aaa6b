//! Adversarial: SPEC section 5 "Linking": propagation by reachability in any link graph (DAG,
//! cycle), whatever the order of the `parent()` calls; link chains 20,000 deep.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::mpsc;
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};

/// Runs `f` on a thread with a known stack; fails if it does not finish within `secs`.
fn watchdog<T: Send + 'static>(
    what: &str,
    stack: usize,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(v)) => v,
            Ok(Err(p)) => std::panic::resume_unwind(p),
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
    }
}

const MIB: usize = 1024 * 1024;

/// The three `parent()` calls of the DAG A <- B, A <- C, B <- C (child.parent(parent)).
#[derive(Clone, Copy, Debug)]
enum Link {
    BtoA,
    CtoA,
    CtoB,
}

fn permutations() -> Vec<[Link; 3]> {
    use Link::*;
    vec![
        [BtoA, CtoA, CtoB],
        [BtoA, CtoB, CtoA],
        [CtoA, BtoA, CtoB],
        [CtoA, CtoB, BtoA],
        [CtoB, BtoA, CtoA],
        [CtoB, CtoA, BtoA],
    ]
}

struct Dag {
    sa: CancelScope,
    sb: CancelScope,
    sc: CancelScope,
    a: TaskGroup,
    b: TaskGroup,
    c: TaskGroup,
}

fn dag(order: [Link; 3]) -> Dag {
    let sa = CancelScope::new();
    let mut sb = CancelScope::new();
    let mut sc = CancelScope::new();
    let (a, b, c) = (sa.group(), sb.group(), sc.group());
    for l in order {
        match l {
            Link::BtoA => sb = sb.parent(&a),
            Link::CtoA => sc = sc.parent(&a),
            Link::CtoB => sc = sc.parent(&b),
        }
    }
    Dag {
        sa,
        sb,
        sc,
        a,
        b,
        c,
    }
}

// SPEC 5: "in a DAG, every ancestor of a requesting scope is cancelled whatever the order of the parent() calls" (idle groups)
#[test]
fn dag_request_reaches_every_ancestor_idle_groups_every_order() {
    watchdog("dag idle", 8 * MIB, 10, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _e = rt.enter();
        let mut bad = Vec::new();
        for order in permutations() {
            let d = dag(order);
            d.c.cancel();
            let got = (
                d.a.cancel_reason(),
                d.b.cancel_reason(),
                d.c.cancel_reason(),
            );
            let want = (
                Some(CancelReason::Child),
                Some(CancelReason::Child),
                Some(CancelReason::Requested),
            );
            if got != want {
                bad.push(format!("{order:?}: (A, B, C) = {got:?}"));
            }
            drop(d);
        }
        assert!(bad.is_empty(), "wrong reasons: {bad:#?}");
    });
}

// SPEC 5: "every ancestor of a requesting scope is cancelled whatever the order" (running scopes)
#[test]
fn dag_request_reaches_every_ancestor_running_scopes_every_order() {
    watchdog("dag running", 8 * MIB, 10, || {
        for flavor in ["current", "multi"] {
            let rt = if flavor == "current" {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
            };
            let mut bad = Vec::new();
            for order in permutations() {
                let d = dag(order);
                let Dag { sa, sb, sc, c, .. } = d;
                let outs = rt.block_on(async move {
                    tokio::time::timeout(Duration::from_secs(5), async move {
                        let ra =
                            tokio::spawn(sa.run(std::future::pending::<Result<(), BoxError>>()));
                        let rb =
                            tokio::spawn(sb.run(std::future::pending::<Result<(), BoxError>>()));
                        let rc = tokio::spawn(sc.run(async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            c.cancel();
                            Ok::<_, BoxError>(())
                        }));
                        (
                            rc.await.unwrap().unwrap(),
                            rb.await.unwrap().unwrap(),
                            ra.await.unwrap().unwrap(),
                        )
                    })
                    .await
                });
                match outs {
                    Err(_) => bad.push(format!(
                        "{flavor} {order:?}: hung (an ancestor never cancelled)"
                    )),
                    Ok((oc, ob, oa)) => {
                        let want = (
                            Outcome::Cancelled(CancelReason::Child),
                            Outcome::Cancelled(CancelReason::Child),
                            Outcome::Cancelled(CancelReason::Requested),
                        );
                        if (oa.clone(), ob.clone(), oc.clone()) != want {
                            bad.push(format!(
                                "{flavor} {order:?}: (A, B, C) = {oa:?} {ob:?} {oc:?}"
                            ));
                        }
                    }
                }
            }
            assert!(bad.is_empty(), "wrong outcomes: {bad:#?}");
        }
    });
}

// SPEC 5: "linking to a parent that is cancelled but still running cancels the new scope at once (reason Parent)"; DAG built while A and B already run
#[test]
fn dag_links_made_while_parents_run_reach_every_ancestor() {
    watchdog("dag links while running", 8 * MIB, 10, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // order: C->B first (B not yet linked to A), then B->A, then C->A
            let sa = CancelScope::new();
            let a = sa.group();
            let sb = CancelScope::new();
            let b = sb.group();
            let sc = CancelScope::new().parent(&b);
            let c = sc.group();
            let sb = sb.parent(&a);
            let ra = tokio::spawn(sa.run(std::future::pending::<Result<(), BoxError>>()));
            let rb = tokio::spawn(sb.run(std::future::pending::<Result<(), BoxError>>()));
            tokio::task::yield_now().await;
            let sc = sc.parent(&a);
            let oc = sc
                .run(async move {
                    c.cancel();
                    Ok::<_, BoxError>(())
                })
                .await
                .unwrap();
            let r = tokio::time::timeout(Duration::from_secs(5), async {
                (rb.await.unwrap().unwrap(), ra.await.unwrap().unwrap())
            })
            .await
            .expect("an ancestor was not cancelled");
            assert_eq!(oc, Outcome::Cancelled(CancelReason::Requested));
            assert_eq!(r.0, Outcome::Cancelled(CancelReason::Child));
            assert_eq!(r.1, Outcome::Cancelled(CancelReason::Child));
        });
    });
}

// SPEC 5: "a cycle through group() before parent() ... is harmless: a propagation visits each group once"
#[test]
fn cycle_cancel_terminates_and_cancels_all() {
    watchdog("cycle", 8 * MIB, 10, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _e = rt.enter();
        for start in 0..3 {
            let s: Vec<CancelScope> = (0..3).map(|_| CancelScope::new()).collect();
            let g: Vec<TaskGroup> = s.iter().map(CancelScope::group).collect();
            let s: Vec<CancelScope> = s
                .into_iter()
                .enumerate()
                .map(|(i, sc)| sc.parent(&g[(i + 1) % 3]))
                .collect();
            g[start].cancel();
            for (i, gi) in g.iter().enumerate() {
                assert!(
                    gi.is_cancelled(),
                    "start {start}: group {i} of the cycle not cancelled"
                );
            }
            assert_eq!(g[start].cancel_reason(), Some(CancelReason::Requested));
            drop(s);
        }
    });
}

// SPEC 5: "a cycle ... is harmless" also with a Dropped/Parent (downward) propagation and running scopes
#[test]
fn cycle_of_running_scopes_ends() {
    watchdog("cycle running", 8 * MIB, 10, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s: Vec<CancelScope> = (0..3).map(|_| CancelScope::new()).collect();
            let g: Vec<TaskGroup> = s.iter().map(CancelScope::group).collect();
            let s: Vec<CancelScope> = s
                .into_iter()
                .enumerate()
                .map(|(i, sc)| sc.parent(&g[(i + 1) % 3]))
                .collect();
            let hs: Vec<_> = s
                .into_iter()
                .map(|sc| tokio::spawn(sc.run(std::future::pending::<Result<(), BoxError>>())))
                .collect();
            tokio::task::yield_now().await;
            g[1].cancel();
            for h in hs {
                let o = tokio::time::timeout(Duration::from_secs(5), h)
                    .await
                    .expect("a scope of the cycle never ended")
                    .unwrap()
                    .unwrap();
                assert!(o.is_cancelled());
            }
        });
    });
}

const DEPTH: usize = 20_000;

fn chain() -> (Vec<CancelScope>, Vec<TaskGroup>) {
    let mut scopes = Vec::with_capacity(DEPTH);
    let mut groups: Vec<TaskGroup> = Vec::with_capacity(DEPTH);
    for i in 0..DEPTH {
        let mut s = CancelScope::new();
        if i > 0 {
            s = s.parent(&groups[i - 1]);
        }
        groups.push(s.group());
        scopes.push(s);
    }
    (scopes, groups)
}

// SPEC 5: "link chains 20,000 deep ... must not overflow a stack" (cancel from the leaf: Child all the way up)
#[test]
fn link_chain_20000_cancel_from_leaf() {
    watchdog("chain leaf", 2 * MIB, 20, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _e = rt.enter();
        let (scopes, groups) = chain();
        groups[DEPTH - 1].cancel();
        assert_eq!(
            groups[DEPTH - 1].cancel_reason(),
            Some(CancelReason::Requested)
        );
        for (i, g) in groups[..DEPTH - 1].iter().enumerate() {
            assert_eq!(g.cancel_reason(), Some(CancelReason::Child), "link {i}");
        }
        drop(scopes);
    });
}

// SPEC 5: "link chains 20,000 deep ... must not overflow a stack" (cancel from the root: Parent all the way down)
#[test]
fn link_chain_20000_cancel_from_root() {
    watchdog("chain root", 2 * MIB, 20, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _e = rt.enter();
        let (scopes, groups) = chain();
        groups[0].cancel();
        assert_eq!(groups[0].cancel_reason(), Some(CancelReason::Requested));
        for (i, g) in groups[1..].iter().enumerate() {
            assert_eq!(
                g.cancel_reason(),
                Some(CancelReason::Parent),
                "link {}",
                i + 1
            );
        }
        drop(scopes);
    });
}

// SPEC 5: "link chains 20,000 deep"; dropping the builders leaf-first and root-first must not overflow either
#[test]
fn link_chain_20000_dropped_both_ways() {
    watchdog("chain drop", 2 * MIB, 20, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _e = rt.enter();
        let (scopes, groups) = chain();
        drop(groups);
        drop(scopes); // root first
        let (mut scopes, groups) = chain();
        drop(groups);
        while let Some(s) = scopes.pop() {
            drop(s); // leaf first
        }
    });
}

// SPEC 5: "link chains 20,000 deep" of running scopes, cancelled from the leaf
#[test]
fn running_link_chain_20000_cancel_from_leaf() {
    watchdog("running chain", 8 * MIB, 25, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (scopes, groups) = chain();
            let hs: Vec<_> = scopes
                .into_iter()
                .map(|s| tokio::spawn(s.run(std::future::pending::<Result<(), BoxError>>())))
                .collect();
            tokio::task::yield_now().await;
            groups[DEPTH - 1].cancel();
            let mut n = 0;
            for h in hs {
                let o = tokio::time::timeout(Duration::from_secs(10), h)
                    .await
                    .expect("a scope of the chain never ended")
                    .unwrap()
                    .unwrap();
                assert!(o.is_cancelled());
                n += 1;
            }
            assert_eq!(n, DEPTH);
            assert_eq!(groups[0].cancel_reason(), Some(CancelReason::Child));
        });
    });
}
