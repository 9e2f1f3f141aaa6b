//! Linked cancels racing from both ends (SPEC 5, "Linking"; invariants 3-5 of
//! `core/cancel.rs`).
//!
//! - A 3-group chain `g1 <- g2 <- g3` (g3 is g2's linked child, g2 is g1's): `g3` cancelled by
//!   request (the cancel travels up) while `g1` is cancelled by request (it travels down).
//! - A DAG: `x` linked to two parents `p` and `q`, `c` linked to `x`: `c` cancelled by request
//!   while `p` is cancelled by request; `q` is reachable from `c` only upwards, through an `x`
//!   that `p`'s cancel may already have marked `Parent`.
//!
//! Asserted whatever the interleaving: when a `cancel()` returns, every group it reaches is
//! marked (invariant 4); a group seen cancelled has its ancestors already marked when the
//! cancel that marked it travelled up, and in a chain always (invariant 5); each group's reason
//! is one the rules allow (the first cause); `cancelled()` of a group that is cancelled
//! resolves (no lost notification).

use loom::thread::{self, JoinHandle};

use super::harness::{check, observe};
use crate::CancelReason::{Child, Parent, Requested};
use crate::core::Core;
use crate::core::cancel::cancel;
use crate::core::links::link;
use crate::sync::Arc;

/// Cancels `origin` by request on a new thread, then asserts that every group of `reached` is
/// cancelled once `cancel()` returned (and runs `after` for checks of its own).
fn cancel_on_a_thread(
    origin: &Arc<Core>,
    reached: &[&Arc<Core>],
    after: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    let origin = origin.clone();
    let reached: Vec<Arc<Core>> = reached.iter().map(|&g| g.clone()).collect();
    thread::spawn(move || {
        cancel(&origin, Requested);
        for (i, group) in reached.iter().enumerate() {
            assert!(
                group.is_cancelled(),
                "cancel() returned before reaching group {i} of its reach"
            );
        }
        after();
    })
}

/// Waits (parked) for `group`'s `cancelled()` on a new thread.
fn wait_cancelled(group: &Arc<Core>) -> JoinHandle<()> {
    let group = group.clone();
    thread::spawn(move || {
        loom::future::block_on(group.clone().cancelled());
        assert!(group.is_cancelled());
    })
}

#[test]
fn loom_linked_cancels_race_from_both_ends_of_a_chain() {
    check("linked cancels from both ends of a chain", || {
        let (g1, g2, g3) = (Core::new(), Core::new(), Core::new());
        link(&g2, &g1);
        link(&g3, &g2);

        let up = cancel_on_a_thread(&g3, &[&g1, &g2, &g3], || {});
        let down = cancel_on_a_thread(&g1, &[&g1, &g2, &g3], || {});
        let waiter = wait_cancelled(&g2);

        // An observer: a group seen cancelled has every ancestor already marked, whichever
        // walk marked it (up-walks mark ancestors first; a down-walk starts at g1).
        let seen3 = observe(&g3).is_some();
        let seen2 = observe(&g2).is_some();
        let seen1 = observe(&g1).is_some();
        assert!(!seen3 || (seen2 && seen1), "g3 marked before an ancestor");
        assert!(!seen2 || seen1, "g2 marked before g1");

        for t in [up, down, waiter] {
            t.join().expect("a thread of the model panicked");
        }
        assert!(
            matches!(g1.reason(), Some(Requested | Child)),
            "g1: {:?}",
            g1.reason()
        );
        assert!(
            matches!(g2.reason(), Some(Child | Parent)),
            "g2: {:?}",
            g2.reason()
        );
        assert!(
            matches!(g3.reason(), Some(Requested | Parent)),
            "g3: {:?}",
            g3.reason()
        );
    });
}

#[test]
fn loom_linked_cancels_race_through_a_dag() {
    check("linked cancels through a DAG", || {
        let (p, q, x, c) = (Core::new(), Core::new(), Core::new(), Core::new());
        link(&x, &p);
        link(&x, &q);
        link(&c, &x);

        // `c`'s request reaches `x` always, and every ancestor when it recorded `Requested`.
        let after_up = {
            let (c, p, q, x) = (c.clone(), p.clone(), q.clone(), x.clone());
            move || {
                if c.reason() == Some(Requested) {
                    for group in [&x, &p, &q] {
                        assert!(group.is_cancelled(), "a requesting group's ancestor missed");
                    }
                }
            }
        };
        let up = cancel_on_a_thread(&c, &[&c, &x], after_up);
        let down = cancel_on_a_thread(&p, &[&p, &x, &c], || {});
        let waiter = wait_cancelled(&x);

        // An observer: a group seen with a travelling reason has its ancestors marked.
        let seen_c = observe(&c);
        let seen_x = observe(&x);
        let seen_p = observe(&p);
        let seen_q = observe(&q).is_some();
        if seen_c == Some(Requested) {
            // `c` shows its reserved first cause whoever marks it (invariant 5): its own walk
            // marks every ancestor first; `p`'s own walk (p `Requested`) marks `x` and `c`,
            // and `q` only once `c`'s walk gets there.
            assert!(
                seen_x.is_some() && seen_p.is_some(),
                "c requested before x and p"
            );
            assert!(
                seen_q || seen_p == Some(Requested),
                "c requested by its own walk before q"
            );
        }
        if seen_x == Some(Child) {
            assert!(
                seen_p.is_some() && seen_q,
                "x marked Child before its parents"
            );
        }

        for t in [up, down, waiter] {
            t.join().expect("a thread of the model panicked");
        }
        assert!(
            matches!(p.reason(), Some(Requested | Child)),
            "p: {:?}",
            p.reason()
        );
        assert!(
            matches!(q.reason(), None | Some(Child)),
            "q: {:?}",
            q.reason()
        );
        assert!(
            matches!(x.reason(), Some(Child | Parent)),
            "x: {:?}",
            x.reason()
        );
        assert!(
            matches!(c.reason(), Some(Requested | Parent)),
            "c: {:?}",
            c.reason()
        );
        if c.reason() == Some(Requested) {
            assert!(q.is_cancelled(), "q missed by c's request");
        }
    });
}
