//! The order in which the processes of one instant run: order 0 emulates tokio's
//! current-thread scheduler ([`Fifo`]); the other orders are random (fixed priorities, or rounds
//! in a random order). Also the wake-ups order 0 follows.

use std::collections::VecDeque;

use super::{Sim, TState, scope};
use crate::reliability::case::{Kind, Member, Shape};

/// Order 0's emulation of tokio's current-thread scheduler: a FIFO run queue of woken tasks
/// (spawns, aborts and wake-ups push at the back, once), `yield_now` deferred until the queue is
/// empty, wake-ups from a blocking pool thread in the injection queue (taken when the local
/// queue is empty), and the `block_on` future polled, when woken, only once the queue is empty.
#[derive(Default)]
pub(super) struct Fifo {
    pub(super) on: bool,
    pub(super) queue: VecDeque<usize>,
    pub(super) inject: VecDeque<usize>,
    pub(super) deferred: Vec<Wake>,
    pub(super) root_woken: bool,
    /// Wake-ups of a cancel, fired once its walk is done: the `cancelled()` futures first,
    /// then the wakers (scopes' `run`s, queued tasks), as the library's `Deferred` does.
    pub(super) later_notify: Vec<Wake>,
    pub(super) later: Vec<Wake>,
    /// Inside a blocking closure: wake-ups come from another thread.
    pub(super) remote: bool,
    /// The task being polled: its own wake-ups queue it after the poll.
    pub(super) current: Option<usize>,
    pub(super) self_woken: bool,
}

/// What a wake-up reaches.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wake {
    /// The `run` of this scope.
    Scope(usize),
    Task(usize),
}

impl Sim<'_> {
    /// Steps the processes until nothing changes, in an order chosen by the seed:
    /// - seed 0: tokio's own order, emulated: see [`Fifo`];
    /// - seeds 1, 2, 3 mod 4: every process has a random fixed priority and the one with the
    ///   highest that can make progress runs (the root future last, first, or at random);
    /// - other seeds 0 mod 4: rounds in which every process is stepped once, in a random order.
    pub(super) fn settle(&mut self) {
        if self.fifo.on {
            return self.settle_fifo();
        }
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "model does not settle");
            let mut procs: Vec<Option<usize>> = vec![None];
            procs.extend(
                self.tasks
                    .iter()
                    .filter(|(_, t)| t.state != TState::Done && t.member != Member::Local)
                    .map(|(id, _)| Some(*id)),
            );
            if self.seed != 0 && self.seed % 4 == 0 {
                for i in (1..procs.len()).rev() {
                    let j = (self.rand() % (i as u64 + 1)) as usize;
                    procs.swap(i, j);
                }
                let before = self.fingerprint();
                for p in procs {
                    self.step(p);
                }
                if self.fingerprint() == before {
                    return;
                }
                continue;
            }
            procs.sort_by_key(|p| self.prio(*p));
            let mut progressed = false;
            for p in procs {
                let before = self.fingerprint();
                self.step(p);
                if self.fingerprint() != before {
                    progressed = true;
                    break;
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Order 0 (see [`Fifo`]); should a wake-up be missing from the emulation, the processes
    /// that can still make progress run in spawn order.
    pub(super) fn settle_fifo(&mut self) {
        let mut steps = 0;
        loop {
            if std::mem::take(&mut self.fifo.root_woken) {
                self.step_root();
            }
            // tokio's `event_interval`: after that many tasks it parks (without blocking), which
            // wakes the deferred tasks, and polls the `block_on` future if it was woken.
            let mut budget = 61;
            loop {
                steps += 1;
                assert!(steps < 100_000, "model does not settle");
                if budget == 0 {
                    self.wake_deferred();
                    break;
                }
                budget -= 1;
                if let Some(t) = self
                    .fifo
                    .queue
                    .pop_front()
                    .or_else(|| self.fifo.inject.pop_front())
                {
                    self.fifo.current = Some(t);
                    self.step_task(t);
                    self.fifo.current = None;
                    if std::mem::take(&mut self.fifo.self_woken) {
                        self.wake(Some(t));
                    }
                    continue;
                }
                // Nothing to run: tokio parks, which wakes the deferred tasks (last first).
                if !self.fifo.deferred.is_empty() {
                    self.wake_deferred();
                    break;
                }
                if self.fifo.root_woken {
                    break;
                }
                if !self.make_progress() {
                    return;
                }
            }
        }
    }

    /// `yield_now`'s deferred wake-ups, fired last first (tokio pops them from a stack).
    pub(super) fn wake_deferred(&mut self) {
        while let Some(w) = self.fifo.deferred.pop() {
            match w {
                Wake::Scope(s) => self.wake_scope(s),
                Wake::Task(t) => self.wake_task(t),
            }
        }
    }

    /// Steps the first process (root first, then in spawn order) that can make progress.
    pub(super) fn make_progress(&mut self) -> bool {
        let mut procs: Vec<Option<usize>> = vec![None];
        procs.extend(
            self.tasks
                .iter()
                .filter(|(_, t)| t.state != TState::Done && t.member != Member::Local)
                .map(|(id, _)| Some(*id)),
        );
        for p in procs {
            let before = self.fingerprint();
            self.step(p);
            if self.fingerprint() != before {
                return true;
            }
        }
        false
    }

    /// Wakes process `p` (order 0 only): at the back of the run queue, once.
    pub(super) fn wake(&mut self, p: Option<usize>) {
        if !self.fifo.on {
            return;
        }
        match p {
            None => self.fifo.root_woken = true,
            Some(t) if self.fifo.current == Some(t) => self.fifo.self_woken = true,
            Some(t) => {
                // Not spawned (yet), or ended: nothing to wake.
                if self.tasks.get(&t).is_none_or(|t| t.state == TState::Done)
                    || self.fifo.queue.contains(&t)
                    || self.fifo.inject.contains(&t)
                {
                    return;
                }
                if self.fifo.remote {
                    self.fifo.inject.push_back(t);
                } else {
                    self.fifo.queue.push_back(t);
                }
            }
        }
    }

    /// Wakes the process that polls scope `s`'s `run`.
    pub(super) fn wake_scope(&mut self, s: usize) {
        if let Some(p) = self.ready_chain(s) {
            self.wake(p);
        }
    }

    /// Marks the local tasks that poll scope `s`'s `run` ready (a local task is polled by its
    /// scope's `run`, which may itself run in a local task); the process to wake, if any.
    pub(super) fn ready_chain(&mut self, s: usize) -> Option<Option<usize>> {
        if !self.scopes[s].registered {
            return None;
        }
        match self.local_host[s] {
            Some((l, owner)) => {
                self.make_ready(l);
                self.ready_chain(owner)
            }
            None => Some(self.host[s]),
        }
    }

    /// Puts local task `l` (if spawned) on its scope's ready list, once.
    pub(super) fn make_ready(&mut self, l: usize) {
        if let Some(t) = self.tasks.get_mut(&l) {
            if !t.ready && t.state != TState::Done {
                t.ready = true;
                let s = t.scope;
                self.scopes[s].ready.push(l);
            }
        }
    }

    /// Wakes task `t` (a local task through its scope's `run`).
    pub(super) fn wake_task(&mut self, t: usize) {
        let task = &self.tasks[&t];
        if task.member == Member::Local {
            let s = task.scope;
            self.make_ready(t);
            self.wake_scope(s);
        } else {
            self.wake(Some(t));
        }
    }

    /// Fires the wake-ups a cancel collected.
    pub(super) fn wake_later(&mut self) {
        let mut all = std::mem::take(&mut self.fifo.later_notify);
        all.append(&mut self.fifo.later);
        for w in all {
            match w {
                Wake::Scope(s) => self.wake_scope(s),
                Wake::Task(t) => self.wake_task(t),
            }
        }
    }

    /// Wakes the processes (and local tasks) whose timers are due now.
    pub(super) fn wake_timers(&mut self) {
        let now = self.now;
        // Timers due at the same instant fire in the order they were registered (a task's at
        // its first poll, a clean-up's at the cancel), then by id.
        let mut due_tasks: Vec<(u64, usize)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state == TState::Running && !t.aborted)
            .filter_map(|(id, t)| match &t.kind {
                Kind::Complete(d)
                | Kind::Fail(d)
                | Kind::Panic(d)
                | Kind::CancelOwn(d)
                | Kind::CancelOther(d, _)
                | Kind::Signal(d, _)
                | Kind::Spawn(d, _) => (t.start + d == now).then_some((t.start, *id)),
                Kind::Cleanup(d, _) => (t.cleanup_end == Some(now)).then(|| (now - d, *id)),
                _ => None,
            })
            .collect();
        due_tasks.sort_unstable();
        let due_tasks: Vec<usize> = due_tasks.into_iter().map(|(_, id)| id).collect();
        let mut hosts = Vec::new();
        for (i, s) in self.scopes.iter().enumerate() {
            if !s.started || s.finished {
                continue;
            }
            let spec = &self.case.scopes[i];
            let due = (s.body_alive
                && s.act_result.is_none()
                && spec.shape == Shape::Run
                && scope::act_time(spec.body) == Some(now))
                || (s.cancelled.is_none()
                    && (s.deadline_armed == Some(now)
                        || (s.signals_live && spec.signal_at == Some(now))))
                || s.grace_end == Some(now);
            if due {
                hosts.push(i);
            }
        }
        for t in due_tasks {
            self.wake_task(t);
        }
        for s in hosts {
            self.wake_scope(s);
        }
    }

    /// The lower, the sooner.
    pub(super) fn prio(&self, p: Option<usize>) -> u64 {
        match (p, self.seed % 4) {
            (None, 1) => return u64::MAX,
            (None, 2) => return 0,
            _ => {}
        }
        self.hash_prio(p)
    }

    pub(super) fn hash_prio(&self, p: Option<usize>) -> u64 {
        let key = p.map_or(u64::MAX / 3, |t| t as u64);
        let mut x = (key ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(1);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}
