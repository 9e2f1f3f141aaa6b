//! Cancels and their propagation along `parent()` links (SPEC sec. 5), by reachability:
//! - a group records the first reason it is cancelled for;
//! - from a group cancelled by request (or by a linked child), every open group reachable
//!   *upwards* through open groups is cancelled with `Child`, whatever it recorded before (a
//!   group already cancelled for a reason that stays is passed through);
//! - from every group a cancel marks or passes through, every open group reachable *downwards*
//!   (and not reached upwards) is cancelled with `Parent`;
//! - a finished or dropped group is no longer linked: a cancel neither marks it nor passes it.
//!
//! Also here: what a mark does to the group's tasks (abort now, or after the grace), the win of
//! a race (`RaceWon`: passed down only), and the cancel of a dropped scope (`Dropped`: down only).

use std::collections::BTreeSet;

use super::{Reason, Sim, TState, Wake};
use crate::reliability::case::{Kind, Member};

impl Sim<'_> {
    /// `cancel()` of group `origin` for `reason`, with its propagation.
    pub(super) fn cancel(&mut self, origin: usize, reason: Reason) {
        if self.scopes[origin].finished {
            return;
        }
        let had = self.scopes[origin].cancelled;
        let travels = reason.travels_up() && had.is_none_or(Reason::travels_up);
        if !travels {
            if had.is_some() {
                // The walk that cancelled it went down already.
                return;
            }
            self.mark(origin, reason);
            self.walk_down(&[origin], &BTreeSet::new());
            self.wake_later();
            return;
        }
        // Upwards: the origin and every open group reachable through open parents.
        let mut up: BTreeSet<usize> = BTreeSet::from([origin]);
        let mut stack = vec![origin];
        while let Some(g) = stack.pop() {
            if self.scopes[g].finished {
                continue;
            }
            for &p in &self.parents[g] {
                if up.insert(p) {
                    stack.push(p);
                }
            }
        }
        // Ancestors first, farthest first (the library marks them before the origin).
        let mut order: Vec<usize> = Vec::new();
        let mut stack = vec![origin];
        let mut listed: BTreeSet<usize> = BTreeSet::from([origin]);
        while let Some(g) = stack.pop() {
            order.push(g);
            if self.scopes[g].finished {
                continue;
            }
            for &p in &self.parents[g] {
                if listed.insert(p) {
                    stack.push(p);
                }
            }
        }
        order.reverse();
        for &g in &order {
            self.mark(g, if g == origin { reason } else { Reason::Child });
        }
        self.walk_down(&order, &up);
        self.wake_later();
    }

    /// Marks every open group reachable downwards from `from` (not through finished groups, not
    /// the groups in `up`) with `Parent`, in the library's order (which decides the order of
    /// the aborts and wake-ups): depth first, each group marked when it is taken off a stack
    /// that its parent's children were pushed on in link order.
    fn walk_down(&mut self, from: &[usize], up: &BTreeSet<usize>) {
        let mut seen: BTreeSet<usize> = from.iter().copied().collect();
        let mut stack: Vec<usize> = Vec::new();
        for &g in from {
            self.spread_down(g, up, &mut seen, &mut stack);
        }
        while let Some(c) = stack.pop() {
            self.mark(c, Reason::Parent);
            self.spread_down(c, up, &mut seen, &mut stack);
        }
    }

    /// Pushes the open children of `g` not seen yet.
    fn spread_down(
        &self,
        g: usize,
        up: &BTreeSet<usize>,
        seen: &mut BTreeSet<usize>,
        stack: &mut Vec<usize>,
    ) {
        if self.scopes[g].finished {
            return;
        }
        for &c in &self.children[g] {
            if !up.contains(&c) && !self.scopes[c].finished && seen.insert(c) {
                stack.push(c);
            }
        }
    }

    /// Marks `g` cancelled unless it is finished or already cancelled; without a grace, aborts
    /// its unshielded tasks now. Returns whether it marked.
    pub(super) fn mark(&mut self, g: usize, reason: Reason) -> bool {
        let sc = &mut self.scopes[g];
        if sc.finished || sc.cancelled.is_some() {
            return false;
        }
        sc.cancelled = Some(reason);
        if self.case.scopes[g].grace.is_none() {
            self.abort_tasks(g, false);
        }
        // Wake-ups, fired after the walk: the scope's `run`, the tasks waiting for the cancel,
        // the queued ones (they learn of it at their gate).
        // (In the library's order: the queued tasks' wakers, then the scope's.)
        let tasks: Vec<usize> = self.scopes[g].tasks.iter().copied().collect();
        for id in tasks {
            let t = &self.tasks[&id];
            if t.state == TState::Queued {
                self.fifo.later.push(Wake::Task(id));
            } else if matches!(t.kind, Kind::Cleanup(..)) {
                self.fifo.later_notify.push(Wake::Task(id));
            }
        }
        self.fifo.later.push(Wake::Scope(g));
        true
    }

    /// Requests the abort of the group's tasks (local tasks are stopped by `run` instead, and a
    /// blocking closure cannot be stopped).
    pub(super) fn abort_tasks(&mut self, s: usize, shielded_too: bool) {
        let ids: Vec<usize> = self.scopes[s].tasks.iter().copied().collect();
        for id in ids {
            let t = self.tasks.get_mut(&id).unwrap();
            if t.member == Member::Local {
                continue;
            }
            if (shielded_too || t.member != Member::Shielded) && !t.aborted {
                t.aborted = true;
                // An abort schedules the task at once.
                self.wake(Some(id));
            }
        }
    }

    /// A contender of race `s` returned `Ok`: it wins if the group was not cancelled yet
    /// (`RaceWon`, passed down to linked children as `Parent`); the errors kept so far are
    /// dropped.
    pub(super) fn win_race(&mut self, s: usize, id: usize) -> bool {
        if !self.mark(s, Reason::RaceWon) {
            return false;
        }
        self.walk_down(&[s], &BTreeSet::new());
        self.scopes[s].errors.clear();
        self.scopes[s].winner = Some(id);
        self.wake_later();
        true
    }
}
