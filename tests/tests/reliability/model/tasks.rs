//! Members of a group (SPEC sec. 2, 6, 9, 10): spawning (refused after a cancel, queued under
//! `limit`), one poll of a task or a local task, blocking closures, and what a member's result
//! does by the group's policy (fail-fast, `supervise`, `race`).

use super::{MTask, Out, Reason, Sim, TState, Wake};
use crate::reliability::case::{Kind, Member, Shape, TaskSpec};

enum Step {
    Pending,
    Ok,
    Err(u32),
    Panic(u32),
}

impl Sim<'_> {
    /// Spawns `spec` into group `s`; `input`: a contender of a race or a member of a join.
    pub(super) fn spawn(&mut self, s: usize, spec: &TaskSpec, input: bool) {
        let sc = &mut self.scopes[s];
        if sc.finished || sc.cancelled.is_some() {
            return; // dropped unstarted
        }
        if spec.member == Member::Blocking {
            // The spawner waits for the closure (see `world`), which runs at once: the group
            // cannot be cancelled in between.
            debug_assert!(self.case.scopes[s].limit.is_none());
            self.started.insert(spec.id);
            // Its effects come from a pool thread.
            self.fifo.remote = true;
            match spec.kind {
                Kind::Fail(_) => self.task_error(s, spec.error_id()),
                Kind::Panic(_) => self.record_panic(s, spec.error_id()),
                _ => {}
            }
            self.wake_scope(s);
            self.fifo.remote = false;
            return;
        }
        sc.tasks.insert(spec.id);
        let admitted = match self.case.scopes[s].limit {
            None => true,
            Some(max) if sc.running < max && sc.queue.is_empty() => {
                sc.running += 1;
                true
            }
            Some(_) => {
                sc.queue.push_back(spec.id);
                false
            }
        };
        self.tasks.insert(
            spec.id,
            MTask {
                scope: s,
                member: spec.member,
                kind: spec.kind.clone(),
                input,
                state: TState::Queued,
                admitted,
                gated: !admitted,
                aborted: false,
                ready: false,
                start: 0,
                yields_left: match spec.kind {
                    Kind::Yields(k) => k,
                    _ => 0,
                },
                cleanup_end: None,
            },
        );
        self.wake_task(spec.id);
    }

    /// The member's future was dropped (completed, aborted or ended unstarted).
    fn end_task(&mut self, id: usize) {
        let t = self.tasks.get_mut(&id).unwrap();
        t.state = TState::Done;
        let s = t.scope;
        let admitted = t.admitted;
        let sc = &mut self.scopes[s];
        sc.tasks.remove(&id);
        let mut admitted_now = Vec::new();
        if let Some(max) = self.case.scopes[s].limit {
            if admitted {
                sc.running -= 1;
            } else {
                sc.queue.retain(|&q| q != id);
            }
            while sc.running < max {
                let Some(next) = sc.queue.pop_front() else {
                    break;
                };
                sc.running += 1;
                self.tasks.get_mut(&next).unwrap().admitted = true;
                admitted_now.push(next);
            }
        }
        for t in admitted_now {
            self.wake_task(t);
        }
        // The scope that waits for it (its own, or the one a dropped scope handed it to) is
        // woken once nothing is left; a join's body once its last member ended.
        let mut waiting = s;
        while self.scopes[waiting].dropped {
            match self.case.scopes[waiting].nest {
                Some(p) => waiting = p,
                None => break,
            }
        }
        let spec = &self.case.scopes[s];
        let joined = spec.shape == Shape::JoinAll
            && spec.tasks.iter().any(|t| t.id == id)
            && spec.tasks.iter().all(|t| {
                self.tasks
                    .get(&t.id)
                    .is_none_or(|m| m.state == TState::Done)
            });
        if joined || self.live(waiting) == 0 {
            self.wake_scope(waiting);
        }
    }

    /// Drops a member's future: a scope running in it is dropped with it.
    pub(super) fn drop_task(&mut self, id: usize) {
        let t = &self.tasks[&id];
        if t.state == TState::Done {
            return;
        }
        if let (Kind::RunScope(n), TState::Running) = (&t.kind, t.state) {
            let n = *n;
            self.drop_scope(n);
        }
        self.end_task(id);
    }

    /// One poll of a task (a process) or of a local task (by its scope's `run`).
    pub(super) fn step_task(&mut self, id: usize) {
        let t = &self.tasks[&id];
        if t.state == TState::Done {
            return;
        }
        let s = t.scope;
        if t.aborted {
            self.drop_task(id);
            return;
        }
        if t.state == TState::Queued {
            if t.gated && self.scopes[s].cancelled.is_some() && t.member != Member::Shielded {
                self.end_task(id);
                return;
            }
            if !t.admitted {
                return;
            }
            let t = self.tasks.get_mut(&id).unwrap();
            t.state = TState::Running;
            t.start = self.now;
            self.started.insert(id);
        }
        let t = &self.tasks[&id];
        let (now, start, cleanup_end, kind) = (self.now, t.start, t.cleanup_end, t.kind.clone());
        let due = |d: u64| now >= start + d;
        let step = match kind {
            Kind::Yields(_) => {
                let t = self.tasks.get_mut(&id).unwrap();
                if t.yields_left > 0 {
                    t.yields_left -= 1;
                    // `yield_now`: woken once nothing else is ready (a local task is then
                    // ready for its scope's next look, whatever wakes that).
                    if t.member == Member::Local {
                        self.make_ready(id);
                        self.ready_chain(s);
                    }
                    self.fifo.deferred.push(Wake::Task(id));
                    Step::Pending
                } else {
                    Step::Ok
                }
            }
            Kind::Complete(d) if due(d) => Step::Ok,
            Kind::Fail(d) if due(d) => Step::Err(id as u32),
            Kind::Panic(d) if due(d) => Step::Panic(id as u32),
            Kind::CancelOwn(d) if due(d) => {
                self.cancel(s, Reason::Requested);
                Step::Ok
            }
            Kind::CancelOther(d, j) if due(d) => {
                self.cancel(j, Reason::Requested);
                Step::Ok
            }
            Kind::Signal(d, j) if due(d) => {
                if self.case.scopes[j].signal_chan {
                    self.scopes[j].signal_fired = true;
                    self.wake_scope(j);
                }
                Step::Ok
            }
            Kind::Spawn(d, children) if due(d) => {
                for c in &children {
                    self.spawn(s, c, false);
                }
                Step::Ok
            }
            Kind::Cleanup(d, fail) => match cleanup_end {
                None if self.scopes[s].cancelled.is_some() => {
                    self.tasks.get_mut(&id).unwrap().cleanup_end = Some(self.now + d);
                    Step::Pending
                }
                Some(end) if self.now >= end && fail => Step::Err(id as u32),
                Some(end) if self.now >= end => Step::Ok,
                _ => Step::Pending,
            },
            Kind::RunScope(n) => match self.poll_run(n) {
                None => Step::Pending,
                Some(Out::Panicked(p)) => Step::Panic(p),
                Some(_) => Step::Ok,
            },
            _ => Step::Pending,
        };
        match step {
            // Aborted during its own poll (by a cancel it caused): tokio drops it as soon as
            // the poll returns.
            Step::Pending if self.tasks[&id].aborted => self.drop_task(id),
            Step::Pending => {}
            Step::Ok => {
                let t = &self.tasks[&id];
                if t.input && self.case.scopes[s].shape == Shape::Race {
                    // A success wins unless the race is over (its value is then dropped).
                    self.win_race(s, id);
                }
                self.end_task(id);
            }
            Step::Err(e) => {
                self.task_error(s, e);
                self.end_task(id);
            }
            Step::Panic(p) => {
                self.record_panic(s, p);
                self.end_task(id);
            }
        }
    }

    /// A member's `Err`, by the group's policy (SPEC sec. 4 rule 3, sec. 9).
    pub(super) fn task_error(&mut self, s: usize, e: u32) {
        let spec = &self.case.scopes[s];
        if spec.shape == Shape::Race {
            // Kept without a cancel until a win; not an error of the race after it.
            if self.scopes[s].cancelled != Some(Reason::RaceWon) {
                self.scopes[s].errors.push(e);
            }
        } else if spec.supervise {
            self.scopes[s].errors.push(e);
        } else {
            self.record_error(s, e);
        }
    }

    /// The body's `Err` (or a fail-fast member's): kept, and the group is cancelled.
    pub(super) fn record_error(&mut self, s: usize, id: u32) {
        self.scopes[s].errors.push(id);
        self.cancel(s, Reason::Failed);
    }

    pub(super) fn record_panic(&mut self, s: usize, id: u32) {
        if self.scopes[s].panic.is_none() {
            self.scopes[s].panic = Some(id);
        }
        self.cancel(s, Reason::Failed);
    }
}
