//! A scope's `run` future, one poll at a time (after `cancel-scope/src/run.rs`'s loop): the
//! signals, the body, acting once on a cancel, the deadline, the end of the grace, the local
//! tasks, then whether everything ended; and a scope dropped unfinished (SPEC sec. 2).

use super::{Out, Reason, Sim, TState};
use crate::reliability::case::{Act, Member, Shape, body_error_id};

pub(super) fn act_time(act: Act) -> Option<u64> {
    match act {
        Act::Complete(t) | Act::Fail(t, _) | Act::Panic(t, _) | Act::CancelOwn(t) => Some(t),
        Act::Forever => None,
    }
}

impl Sim<'_> {
    /// One poll of scope `s`'s `run` future; `Some` once it returned.
    pub(super) fn poll_run(&mut self, s: usize) -> Option<Out> {
        if self.scopes[s].finished {
            return None;
        }
        let spec = &self.case.scopes[s];
        if !self.scopes[s].started {
            let sc = &mut self.scopes[s];
            sc.started = true;
            sc.body_alive = true;
            sc.signals_live = spec.signal_at.is_some() || spec.signal_chan;
            // A deadline already past cancels at once: the body is not started.
            match spec.deadline {
                Some(at) if at <= self.now => self.cancel(s, Reason::Deadline),
                d => self.scopes[s].deadline_armed = d,
            }
        }
        loop {
            // The signals first: one that fired keeps the body from starting.
            if self.scopes[s].cancelled.is_none() && self.scopes[s].signals_live {
                let sc = &self.scopes[s];
                let due = spec.signal_at.is_some_and(|at| self.now >= at);
                if due || sc.signal_fired {
                    self.scopes[s].signals_live = false;
                    self.cancel(s, Reason::Signal);
                }
            }
            if self.scopes[s].cancelled.is_none() && self.scopes[s].body_alive {
                self.poll_body(s);
            }
            if self.scopes[s].cancelled.is_some() {
                if !self.scopes[s].seen {
                    self.scopes[s].seen = true;
                    self.drop_body(s);
                    let sc = &mut self.scopes[s];
                    sc.signals_live = false;
                    sc.deadline_armed = None;
                    match spec.grace {
                        Some(g) => sc.grace_end = Some(self.now + g),
                        None => self.stop_locals(s),
                    }
                }
            } else if let Some(at) = self.scopes[s].deadline_armed {
                if self.now >= at {
                    self.scopes[s].deadline_armed = None;
                    self.cancel(s, Reason::Deadline);
                    continue;
                }
            }
            if let Some(end) = self.scopes[s].grace_end {
                if self.now >= end {
                    self.scopes[s].grace_end = None;
                    self.abort_tasks(s, false);
                    self.stop_locals(s);
                }
            }
            if !self.scopes[s].locals_stopped {
                // The local tasks woken before this poll, like the library's ready list: one
                // woken meanwhile is polled at `run`'s next turn.
                let ready = std::mem::take(&mut self.scopes[s].ready);
                for &id in &ready {
                    self.tasks.get_mut(&id).unwrap().ready = false;
                }
                for id in ready {
                    self.step_task(id);
                }
            }
            let sc = &self.scopes[s];
            if sc.cancelled.is_some() && !sc.seen {
                continue;
            }
            if !sc.body_alive && self.live(s) == 0 {
                return Some(self.finish(s));
            }
            self.scopes[s].registered = true;
            return None;
        }
    }

    /// Every member and the body ended: the outcome by SPEC sec. 4 (and sec. 9's policies).
    fn finish(&mut self, s: usize) -> Out {
        let shape = self.case.scopes[s].shape;
        let sc = &mut self.scopes[s];
        sc.finished = true;
        let out = if let Some(p) = sc.panic {
            Out::Panicked(p)
        } else if !sc.errors.is_empty() {
            Out::Failed(sc.errors.clone())
        } else if let (Some(Reason::RaceWon), Some(w)) = (sc.cancelled, sc.winner) {
            Out::Won(w)
        } else if let Some(r) = sc.cancelled {
            Out::Cancelled(r)
        } else if !sc.value {
            Out::Cancelled(Reason::Failed)
        } else {
            match shape {
                Shape::Run => Out::Completed,
                Shape::JoinAll => {
                    Out::Joined(self.case.scopes[s].tasks.iter().map(|t| t.id).collect())
                }
                // Every contender ended without a win or a cancel: only a runtime shutdown.
                Shape::Race => Out::Cancelled(Reason::Dropped),
            }
        };
        self.returned[s] = Some(out.clone());
        out
    }

    /// One poll of the body: spawns at the first poll, then `join(action, nested scopes)`; the
    /// body of a join waits for its members, a race's is done once it spawned.
    fn poll_body(&mut self, s: usize) {
        let spec = &self.case.scopes[s];
        if !self.scopes[s].body_spawned {
            self.scopes[s].body_spawned = true;
            for t in &spec.tasks {
                self.spawn(s, t, spec.shape != Shape::Run);
            }
        }
        if self.scopes[s].act_result.is_none() {
            let body_id = body_error_id(s);
            match (spec.shape, spec.body) {
                (Shape::Race, _) => self.scopes[s].act_result = Some(Ok(())),
                (Shape::JoinAll, _) => {
                    let all_ended = spec.tasks.iter().all(|t| {
                        self.tasks
                            .get(&t.id)
                            .is_none_or(|m| m.state == TState::Done)
                    });
                    if all_ended {
                        self.scopes[s].act_result = Some(Ok(()));
                    }
                }
                (_, Act::Complete(at)) if self.now >= at => {
                    self.scopes[s].act_result = Some(Ok(()))
                }
                (_, Act::Fail(at, id)) if self.now >= at => {
                    self.scopes[s].act_result = Some(Err(id))
                }
                (_, Act::Panic(at, id)) if self.now >= at => {
                    debug_assert_eq!(id, body_id);
                    // `run` drops a panicked body before it records the panic: scopes nested in
                    // the body are dropped before the group is cancelled.
                    self.drop_body(s);
                    self.record_panic(s, id);
                    return;
                }
                (_, Act::CancelOwn(at)) if self.now >= at => {
                    self.cancel(s, Reason::Requested);
                    self.scopes[s].act_result = Some(Ok(()));
                }
                _ => {}
            }
        }
        for n in spec.body_nested.clone() {
            if self.scopes[s].nested_done.contains(&n) || !self.scopes[s].body_alive {
                continue;
            }
            if let Some(out) = self.poll_run(n) {
                self.scopes[s].nested_done.insert(n);
                if let Out::Panicked(p) = out {
                    self.drop_body(s);
                    self.record_panic(s, p);
                    return;
                }
            }
        }
        let sc = &self.scopes[s];
        if let Some(result) = sc.act_result {
            if sc.body_alive && sc.nested_done.len() == spec.body_nested.len() {
                self.scopes[s].body_alive = false;
                match result {
                    Ok(()) => self.scopes[s].value = true,
                    Err(id) => self.record_error(s, id),
                }
            }
        }
    }

    /// Drops a scope's `run` future before it finished (SPEC sec. 2): cancelled (`Dropped`, down
    /// the links only), every task aborted, shielded ones too; then its local tasks.
    pub(super) fn drop_scope(&mut self, n: usize) {
        // A `run` future never polled has not taken its scope out of the world yet (see
        // `world::run_scope`): the scope stays there, open, until the case ends.
        if self.scopes[n].finished || !self.scopes[n].started {
            return;
        }
        // `run`'s state drops its locals before its parameters: the body (and the scopes
        // nested in it) first, then the guard (cancel, aborts), then the local tasks.
        self.drop_body(n);
        self.cancel(n, Reason::Dropped);
        let sc = &mut self.scopes[n];
        sc.dropped = true;
        sc.finished = true;
        // A panic it recorded is nobody's to resume here: it goes where its tasks go, to the
        // nearest enclosing scope still running (SPEC sec. 2 and rule 4: never swallowed).
        if let Some(p) = sc.panic.take() {
            let mut at = self.case.scopes[n].nest;
            while let Some(e) = at {
                if !self.scopes[e].dropped {
                    break;
                }
                at = self.case.scopes[e].nest;
            }
            if let Some(e) = at {
                if !self.scopes[e].finished {
                    self.record_panic(e, p);
                }
            }
        }
        self.abort_tasks(n, true);
        self.stop_locals(n);
    }

    fn drop_body(&mut self, s: usize) {
        if !self.scopes[s].body_alive {
            return;
        }
        self.scopes[s].body_alive = false;
        for n in self.case.scopes[s].body_nested.clone() {
            if !self.scopes[s].nested_done.contains(&n) {
                self.drop_scope(n);
            }
        }
    }

    /// Drops every local task of `s` (a cancel whose grace is over, or the scope dropped).
    fn stop_locals(&mut self, s: usize) {
        self.scopes[s].locals_stopped = true;
        let locals: Vec<usize> = self.scopes[s]
            .tasks
            .iter()
            .copied()
            .filter(|id| self.tasks[id].member == Member::Local)
            .collect();
        for id in locals {
            self.drop_task(id);
        }
    }

    /// Live members of `s` and of the dropped scopes it adopted.
    pub(super) fn live(&self, s: usize) -> usize {
        let mut n = self.scopes[s].tasks.len();
        for c in &self.case.scopes {
            if c.nest == Some(s) && self.scopes[c.id].dropped {
                n += self.live(c.id);
            }
        }
        n
    }
}
