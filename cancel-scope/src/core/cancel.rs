//! Marking a group cancelled, and propagating a cancel along links.
//!
//! # The rules
//!
//! A group records the **first** reason it is cancelled for. Along links:
//! - every group reachable *upwards* (through `parent()` links) from a group cancelled by
//!   request, through groups themselves reached upwards, is cancelled with `Child`;
//! - every group reachable *downwards* from any group a propagation cancels or passes through
//!   is cancelled with `Parent`.
//!
//! Reasons other than `Requested` and `Child` do not travel up ([`CancelReason::travels_up`],
//! the one place that says so).
//!
//! # Invariants
//!
//! 1. `Core::reason` is written only under the group's own lock, and only from 0: the first
//!    reason stays. Readers need no lock (`is_cancelled` is one atomic load).
//! 2. A walk holds **at most one group lock at a time**, and runs no user code while holding
//!    it: wakers and `cancelled()` notifications are collected and fired once the walk is done.
//!    So there is no lock order to get wrong, and no deadlock, whatever the link graph.
//! 3. A walk ends cycles by what *it* has visited (a group and a direction), never by "already
//!    cancelled": a group cancelled earlier for a reason that does not travel up (say `Parent`)
//!    is still passed through when this walk reaches it upwards, so in a DAG every ancestor of a
//!    requesting group is reached whatever the order of the `parent()` calls.
//! 4. `cancel()` returns only once every group reachable from its group has been marked (by this
//!    walk or an earlier one): each cancel walks the whole reachable graph itself instead of
//!    trusting a concurrent walk that may still be on its way. Its cost is confined to the
//!    groups it touches; there is no process-wide lock.
//! 5. Upwards, ancestors are marked **before** their descendants (the walk first collects the
//!    ancestors in post-order, then marks them farthest first). So a scope that sees its own
//!    travelling cancel can never finish, and let its parent finish uncancelled, before the
//!    cancel reached that parent. The origin's reason is reserved under its lock before the
//!    walk: a parent that reacts to its mark by dropping the origin's scope (or any other cause
//!    that reaches the origin meanwhile) leaves the origin with that reason, its first cause.
//!    And every group's aborts are requested only once the walk has marked every group it
//!    reaches ([`Deferred`]'s `aborts`): a task that runs a linked scope, aborted by the mark of
//!    the group it belongs to, cannot drop that scope (`Dropped`, passed on down as `Parent`)
//!    before the walk marked it.
//! 6. A link formed while a walk runs is never missed: the link is recorded under the parent's
//!    lock, where the walk also reads the children, and the linker checks the parent's state
//!    under that same lock (see [`links`](super::links)); a parent link found by a walk after
//!    its first pass is visited late.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::few::Few;
use super::grace::{Abort, GraceState};
use super::{AbortRequest, Core, Deferred, Phase, State};
use crate::CancelReason;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

/// Cancels `origin` for `reason` and propagates along its links. Returns once every group the
/// cancel reaches is marked (invariant 4); wakes everyone concerned with no lock held.
pub(crate) fn cancel(origin: &Arc<Core>, reason: CancelReason) {
    let mut out = Deferred::default();
    let walk_up = {
        let mut st = origin.lock();
        if st.links.is_none() {
            // No links: the common case, one lock.
            out.notify_self = mark(origin, &mut st, reason, &mut out);
            drop(st);
            out.run(origin);
            return;
        }
        let travels = reason.travels_up() && origin.reason().is_none_or(CancelReason::travels_up);
        if !travels && origin.is_cancelled() {
            // Already cancelled for a reason that stays here: the walk that cancelled it
            // reached (or is reaching) everything below.
            return;
        }
        if travels && !origin.is_cancelled() && st.phase == Phase::Open {
            // Marked last (invariant 5), but the first cause from now on.
            if let Some(links) = &mut st.links {
                links.reserved.get_or_insert(reason);
            }
        }
        travels
    };
    let mut walk = Walk::default();
    if walk_up {
        // Invariant 5: ancestors first, the origin last.
        for group in walk.ancestors_first(origin) {
            let why = if Arc::ptr_eq(&group, origin) {
                reason
            } else {
                CancelReason::Child
            };
            walk.visit(group, why, Direction::Up);
        }
    } else {
        walk.visited.insert(origin, Direction::Down);
        walk.visit(origin.clone(), reason, Direction::Down);
    }
    walk.run();
    walk.fire(out, origin);
}

/// Marks `core` cancelled for `reason` under its lock, unless it is finished or already
/// cancelled (invariant 1). Decides the grace, queues the aborts of what must stop now (they
/// are requested once the lock is released), and collects the wake-ups. Returns whether this
/// call marked it (its `cancelled()` futures are then to be notified).
pub(crate) fn mark(
    core: &Arc<Core>,
    st: &mut State,
    reason: CancelReason,
    out: &mut Deferred,
) -> bool {
    if st.phase != Phase::Open || core.is_cancelled() {
        return false;
    }
    // A travelling cancel reserved its reason before marking the ancestors: it came first.
    let reason = st
        .links
        .as_mut()
        .and_then(|links| links.reserved.take())
        .unwrap_or(reason);
    core.reason.store(reason.to_u8(), Ordering::Release);
    #[cfg(feature = "tracing")]
    core.span.record("reason", tracing::field::display(reason));
    st.grace = GraceState::decide(&core.grace);
    if st.grace == GraceState::Over {
        out.aborts
            .push(AbortRequest::Tasks(core.clone(), Abort::Unshielded));
    }
    if let Some(limiter) = &mut st.limit {
        // Queued tasks learn of the cancel when polled: unshielded ones end unstarted.
        limiter.wake_queued(&mut out.wakers);
    }
    out.wakers.extend(st.scope_waker.take());
    true
}

/// Which way a walk passes through a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// Reached from a child by a travelling cancel: goes on to parents and children.
    Up = 0,
    /// Reached from a parent: goes on to children only.
    Down = 1,
}

/// The groups one walk has visited, by address and direction (invariant 3). A short list
/// while small (the common pair or chain), a hash set beyond.
#[derive(Default)]
pub(crate) struct Visited {
    few: Vec<usize>,
    many: AddressSet<usize>,
}

/// A set keyed by group addresses: hashed with one multiply per word (the keys are addresses
/// of live allocations, chosen by the allocator, not by anyone who could aim at collisions).
pub(crate) type AddressSet<K> = HashSet<K, BuildHasherDefault<AddressHasher>>;

/// The hasher of [`AddressSet`] (the multiply-rotate step of rustc's `FxHasher`).
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl AddressHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    #[inline]
    #[allow(clippy::cast_sign_loss)] // the bits of a discriminant, not a quantity
    fn write_isize(&mut self, word: isize) {
        self.add(word as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

const FEW: usize = 16;

// `Direction::key` keeps the direction in the lowest bit of a group's address.
const _: () = assert!(std::mem::align_of::<Core>() >= 2);

impl Direction {
    /// `group`'s address with this direction in its lowest bit (a `Core` is 8-aligned): one
    /// word per visit, so a long walk's set is half the size.
    fn key(self, group: &Arc<Core>) -> usize {
        Arc::as_ptr(group) as usize | self as usize
    }
}

impl Visited {
    /// `true` if `group` had not been visited in `dir` yet (it now is).
    pub(crate) fn insert(&mut self, group: &Arc<Core>, dir: Direction) -> bool {
        let key = dir.key(group);
        if self.many.is_empty() {
            if self.few.contains(&key) {
                return false;
            }
            if self.few.len() < FEW {
                self.few.push(key);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(key)
    }

    fn contains(&self, group: &Arc<Core>, dir: Direction) -> bool {
        let key = dir.key(group);
        self.few.contains(&key) || self.many.contains(&key)
    }
}

/// One propagation: what it visited, what is left to visit, and what it touched.
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) visited: Visited,
    /// Parents found after the first pass (invariant 6), to visit upwards.
    late_up: Few<Arc<Core>>,
    /// Children to visit downwards.
    down: Few<Arc<Core>>,
    /// Wake-ups collected along the way.
    out: Deferred,
    /// Every group touched, kept alive until the wake-ups fired.
    touched: Few<Arc<Core>>,
}

impl Walk {
    /// `origin` and every group reachable upwards from it, each after all of its own parents
    /// (post-order of an iterative depth-first search; in a cycle, some order).
    fn ancestors_first(&mut self, origin: &Arc<Core>) -> Vec<Arc<Core>> {
        let mut order = Vec::new();
        self.visited.insert(origin, Direction::Up);
        let mut stack = vec![(origin.clone(), parents_of(origin))];
        while let Some((_, pending)) = stack.last_mut() {
            if let Some(parent) = pending.pop() {
                if self.visited.insert(&parent, Direction::Up) {
                    let grand = parents_of(&parent);
                    stack.push((parent, grand));
                }
            } else if let Some((group, _)) = stack.pop() {
                order.push(group);
            }
        }
        order
    }

    /// Marks `group` (if it was not cancelled yet) and queues its neighbours: children always,
    /// parents too when passing upwards.
    pub(crate) fn visit(&mut self, group: Arc<Core>, reason: CancelReason, dir: Direction) {
        let mut st = group.lock();
        if mark(&group, &mut st, reason, &mut self.out) {
            self.out.notify.push(group.clone());
        }
        self.spread(&st, dir);
        drop(st);
        self.touched.push(group);
    }

    /// Queues the neighbours of a group whose state is `st` (its lock held).
    pub(crate) fn spread(&mut self, st: &State, dir: Direction) {
        let Some(links) = &st.links else {
            return;
        };
        for child in links.children() {
            if !self.visited.contains(&child, Direction::Up)
                && self.visited.insert(&child, Direction::Down)
            {
                self.down.push(child);
            }
        }
        if dir == Direction::Up {
            for parent in links.parents() {
                if self.visited.insert(&parent, Direction::Up) {
                    self.late_up.push(parent);
                }
            }
        }
    }

    /// Visits everything queued, iteratively.
    pub(crate) fn run(&mut self) {
        loop {
            if let Some(group) = self.late_up.pop() {
                self.visit(group, CancelReason::Child, Direction::Up);
            } else if let Some(group) = self.down.pop() {
                self.visit(group, CancelReason::Parent, Direction::Down);
            } else {
                break;
            }
        }
    }

    /// Fires the wake-ups of the walk (with `first`'s, collected before it, whose
    /// `notify_self` means `origin`), no lock held.
    pub(crate) fn fire(self, first: Deferred, origin: &Core) {
        let Walk {
            mut out, touched, ..
        } = self;
        let mut all = first;
        all.wakers.append(&mut out.wakers);
        all.notify.append(&mut out.notify);
        all.releases.append(&mut out.releases);
        all.aborts.append(&mut out.aborts);
        all.run(origin);
        drop(touched);
    }
}

/// The live parents of `group` (none once it finished).
fn parents_of(group: &Arc<Core>) -> Few<Arc<Core>> {
    let st = group.lock();
    match (&st.links, st.phase) {
        (Some(links), Phase::Open) => links.parents().collect(),
        _ => Few::default(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Direction, FEW, Visited};
    use crate::core::Core;

    // Invariant 3: a walk tells a group visited downwards from the same group visited upwards
    // (a parent found late, after the group was reached as a child, must still be passed
    // through upwards), in the short list and in the hash set alike.
    #[test]
    fn visited_tells_the_two_directions_apart_at_every_size() {
        let groups: Vec<_> = (0..3 * FEW).map(|_| Core::new()).collect();
        let mut visited = Visited::default();
        for group in &groups {
            assert!(visited.insert(group, Direction::Down));
            assert!(!visited.insert(group, Direction::Down));
            assert!(!visited.contains(group, Direction::Up));
        }
        for group in &groups {
            assert!(visited.insert(group, Direction::Up), "Up after Down");
            assert!(!visited.insert(group, Direction::Up));
            assert!(visited.contains(group, Direction::Down));
        }
    }
}
