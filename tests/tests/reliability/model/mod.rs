//! A reference model of SPEC sec. 2, 4, 5, 6, 9 and 10 that predicts what a [`Case`] does on a
//! current-thread runtime with tokio's paused clock.
//!
//! The model is a small discrete-event simulation. Each tokio task (and the root future) is a
//! process whose poll is one atomic step, written after the SPEC's rules: a cancel marks the group,
//! propagates along links at once by the reachability rule of sec. 5 ([`links`]) and requests
//! aborts; an aborted task is dropped at its next step; a scope's `run` polls its signals, its
//! body and its local tasks, drops the body once cancelled, starts the grace period, fires its
//! deadline, and finishes when the body is gone and no member is left ([`scope`]); tasks,
//! blocking members and the join policies are in [`tasks`].
//!
//! Within one instant the processes are stepped in some order until nothing changes. Several
//! orders are simulated per case; each distinct result is an **admissible outcome** (the SPEC
//! leaves the order of events within one instant open), and the real run must match one of them.
//! The reason of a scope that did not return is also a set (it may be dropped in the same
//! instant as a linked parent is cancelled: `Dropped` or `Parent`).
#![allow(dead_code)]

mod links;
mod scope;
mod tasks;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cancel_scope::CancelReason;

use super::case::{Case, Host, Kind, Member, Shape};

/// How a scope's `run` ended, as seen by the code that awaited it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Out {
    Completed,
    /// A race won by this contender (its task id).
    Won(usize),
    /// A join's values: the task ids of its members, in input order.
    Joined(Vec<usize>),
    Cancelled(Reason),
    /// `Err(GroupError)` with these error ids, in order.
    Failed(Vec<u32>),
    /// Resumed this panic payload.
    Panicked(u32),
}

/// `CancelReason` with an order, for sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Reason {
    Requested,
    Deadline,
    Parent,
    Child,
    Failed,
    Dropped,
    RaceWon,
    Signal,
}

impl From<CancelReason> for Reason {
    fn from(r: CancelReason) -> Self {
        match r {
            CancelReason::Requested => Reason::Requested,
            CancelReason::Deadline => Reason::Deadline,
            CancelReason::Parent => Reason::Parent,
            CancelReason::Child => Reason::Child,
            CancelReason::Failed => Reason::Failed,
            CancelReason::Dropped => Reason::Dropped,
            CancelReason::RaceWon => Reason::RaceWon,
            CancelReason::Signal => Reason::Signal,
            other => panic!("unknown reason {other:?}"),
        }
    }
}

impl Reason {
    /// SPEC sec. 5: only a request (and the `Child` it causes) travels up.
    fn travels_up(self) -> bool {
        matches!(self, Reason::Requested | Reason::Child)
    }
}

/// One admissible outcome of a case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Prediction {
    /// `None`: the root never finishes (the test's hang guard fires).
    pub(crate) root: Option<Out>,
    /// Per scope: how its `run` returned, `None` if it was dropped (or never returned).
    pub(crate) returned: Vec<Option<Out>>,
    /// Per scope that returned: its final `cancel_reason()`.
    pub(crate) reasons: Vec<Option<Reason>>,
    /// Tasks whose future (or closure) started.
    pub(crate) started: BTreeSet<usize>,
}

/// An admissible outcome and, per scope that did not return, the reasons it may show.
#[derive(Clone, Debug)]
pub(crate) struct Admissible {
    /// Order 0 (tokio's, emulated) gave it.
    pub(crate) tokio_order: bool,
    pub(crate) prediction: Prediction,
    pub(crate) dropped_reasons: Vec<BTreeSet<Option<Reason>>>,
}

/// Simulates `case` under `orders` orders; the distinct outcomes, most frequent first.
pub(crate) fn predict(case: &Case, orders: u64) -> Vec<Admissible> {
    let mut found: BTreeMap<Prediction, (usize, Vec<BTreeSet<Option<Reason>>>)> = BTreeMap::new();
    let mut tokio_order = None;
    for seed in 0..orders {
        let (p, reasons) = Sim::new(case, seed).run();
        if seed == 0 {
            tokio_order = Some(p.clone());
        }
        let n = case.scopes.len();
        let entry = found
            .entry(p.clone())
            .or_insert_with(|| (0, vec![BTreeSet::new(); n]));
        entry.0 += 1;
        for (s, r) in reasons.into_iter().enumerate() {
            if p.returned[s].is_none() {
                entry.1[s].insert(r);
            }
        }
    }
    let mut out: Vec<(usize, Admissible)> = found
        .into_iter()
        .map(|(prediction, (count, dropped_reasons))| {
            (
                count,
                Admissible {
                    tokio_order: tokio_order.as_ref() == Some(&prediction),
                    prediction,
                    dropped_reasons,
                },
            )
        })
        .collect();
    out.sort_by_key(|(count, _)| std::cmp::Reverse(*count));
    out.into_iter().map(|(_, a)| a).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TState {
    Queued,
    Running,
    Done,
}

#[derive(Clone, Debug)]
struct MTask {
    scope: usize,
    member: Member,
    kind: Kind,
    /// A contender of a race (its `Ok` asks for the win) or a member of a join.
    input: bool,
    state: TState,
    /// Holds a slot under `limit` (admitted).
    admitted: bool,
    /// Had to queue for a slot at its spawn: its first poll asks the gate, which drops it
    /// unstarted (unless shielded) once the group is cancelled.
    gated: bool,
    aborted: bool,
    /// A local task woken since its scope's `run` last looked (a local task is polled only
    /// then, like the library's ready list).
    ready: bool,
    start: u64,
    yields_left: u8,
    cleanup_end: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct MScope {
    cancelled: Option<Reason>,
    /// Returned, or dropped unfinished: no longer open (spawns refused, cancels ignored, links
    /// gone).
    finished: bool,
    dropped: bool,
    started: bool,
    /// `run` has acted on the cancel (dropped the body, decided the grace).
    seen: bool,
    /// `run` returned `Pending` once: its waker is stored (a wake-up during its first poll
    /// reaches nobody).
    registered: bool,
    body_alive: bool,
    body_spawned: bool,
    act_result: Option<Result<(), u32>>,
    nested_done: BTreeSet<usize>,
    value: bool,
    errors: Vec<u32>,
    panic: Option<u32>,
    winner: Option<usize>,
    deadline_armed: Option<u64>,
    signals_live: bool,
    signal_fired: bool,
    grace_end: Option<u64>,
    locals_stopped: bool,
    /// Live members (ids), queued or running, local ones included.
    tasks: BTreeSet<usize>,
    running: usize,
    queue: VecDeque<usize>,
}

struct Sim<'a> {
    case: &'a Case,
    now: u64,
    seed: u64,
    rng: u64,
    scopes: Vec<MScope>,
    tasks: BTreeMap<usize, MTask>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    root_out: Option<Out>,
    returned: Vec<Option<Out>>,
    started: BTreeSet<usize>,
    /// The process that polls each scope's `run` (`None`: the root future).
    host: Vec<Option<usize>>,
    /// The local task that polls each scope's `run`, if one does, and the scope that polls
    /// that local task.
    local_host: Vec<Option<(usize, usize)>>,
    fifo: Fifo,
}

/// Order 0's emulation of tokio's current-thread scheduler: a FIFO run queue of woken tasks
/// (spawns, aborts and wake-ups push at the back, once), `yield_now` deferred until the queue is
/// empty, wake-ups from a blocking pool thread in the injection queue (taken when the local
/// queue is empty), and the `block_on` future polled, when woken, only once the queue is empty.
/// What a wake-up reaches.
#[derive(Clone, Copy, Debug)]
enum Wake {
    /// The `run` of this scope.
    Scope(usize),
    Task(usize),
}

#[derive(Default)]
struct Fifo {
    on: bool,
    queue: VecDeque<usize>,
    inject: VecDeque<usize>,
    deferred: Vec<Wake>,
    root_woken: bool,
    /// Wake-ups of a cancel, fired once its walk is done: the `cancelled()` futures first,
    /// then the wakers (scopes' `run`s, queued tasks), as the library's `Deferred` does.
    later_notify: Vec<Wake>,
    later: Vec<Wake>,
    /// Inside a blocking closure: wake-ups come from another thread.
    remote: bool,
    /// The task being polled: its own wake-ups queue it after the poll.
    current: Option<usize>,
    self_woken: bool,
}

impl<'a> Sim<'a> {
    fn new(case: &'a Case, seed: u64) -> Self {
        let n = case.scopes.len();
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for s in &case.scopes {
            for &l in &s.links {
                parents[s.id].push(l);
                children[l].push(s.id);
            }
        }
        let mut host = vec![None; n];
        let mut local_host = vec![None; n];
        for sc in &case.scopes {
            for t in &sc.tasks {
                if let Kind::RunScope(c) = t.kind {
                    host[c] = Some(t.id);
                    if t.member == Member::Local {
                        local_host[c] = Some((t.id, sc.id));
                    }
                }
            }
        }
        for sc in &case.scopes {
            // Scopes are nested in earlier ones, whose hosts are known by now. A local task is
            // polled by its scope's `run`, so by that scope's host.
            match (sc.nest, sc.host) {
                (Some(p), Host::Body) => {
                    host[sc.id] = host[p];
                    local_host[sc.id] = local_host[p];
                }
                (Some(p), Host::Local) => host[sc.id] = host[p],
                _ => {}
            }
        }
        Sim {
            host,
            local_host,
            fifo: Fifo {
                on: seed == 0,
                root_woken: true,
                ..Fifo::default()
            },
            case,
            now: 0,
            seed,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            scopes: vec![MScope::default(); n],
            tasks: BTreeMap::new(),
            parents,
            children,
            root_out: None,
            returned: vec![None; n],
            started: BTreeSet::new(),
        }
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn run(mut self) -> (Prediction, Vec<Option<Reason>>) {
        loop {
            self.settle();
            if self.root_out.is_some() {
                break;
            }
            match self.next_timer() {
                Some(t) => {
                    assert!(t > self.now, "timer in the past");
                    self.now = t;
                    self.wake_timers();
                }
                None => break,
            }
        }
        let reasons: Vec<Option<Reason>> = self.scopes.iter().map(|s| s.cancelled).collect();
        let returned_reasons = reasons
            .iter()
            .zip(&self.returned)
            .map(|(r, ret)| if ret.is_some() { *r } else { None })
            .collect();
        (
            Prediction {
                root: self.root_out.clone(),
                returned: self.returned.clone(),
                reasons: returned_reasons,
                started: self.started.clone(),
            },
            reasons,
        )
    }

    /// Steps the processes until nothing changes, in an order chosen by the seed:
    /// - seed 0: tokio's own order, emulated: see [`Fifo`];
    /// - seeds 1, 2, 3 mod 4: every process has a random fixed priority and the one with the
    ///   highest that can make progress runs (the root future last, first, or at random);
    /// - other seeds 0 mod 4: rounds in which every process is stepped once, in a random order.
    fn settle(&mut self) {
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
    fn settle_fifo(&mut self) {
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
    fn wake_deferred(&mut self) {
        while let Some(w) = self.fifo.deferred.pop() {
            match w {
                Wake::Scope(s) => self.wake_scope(s),
                Wake::Task(t) => self.wake_task(t),
            }
        }
    }

    /// Steps the first process (root first, then in spawn order) that can make progress.
    fn make_progress(&mut self) -> bool {
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
    fn wake(&mut self, p: Option<usize>) {
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
    fn wake_scope(&mut self, s: usize) {
        if let Some(p) = self.ready_chain(s) {
            self.wake(p);
        }
    }

    /// Marks the local tasks that poll scope `s`'s `run` ready (a local task is polled by its
    /// scope's `run`, which may itself run in a local task); the process to wake, if any.
    fn ready_chain(&mut self, s: usize) -> Option<Option<usize>> {
        if !self.scopes[s].registered {
            return None;
        }
        match self.local_host[s] {
            Some((l, owner)) => {
                if let Some(t) = self.tasks.get_mut(&l) {
                    t.ready = true;
                }
                self.ready_chain(owner)
            }
            None => Some(self.host[s]),
        }
    }

    /// Wakes task `t` (a local task through its scope's `run`).
    fn wake_task(&mut self, t: usize) {
        let task = self.tasks.get_mut(&t).unwrap();
        if task.member == Member::Local {
            task.ready = true;
            let s = task.scope;
            self.wake_scope(s);
        } else {
            self.wake(Some(t));
        }
    }

    /// Fires the wake-ups a cancel collected.
    fn wake_later(&mut self) {
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
    fn wake_timers(&mut self) {
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
                Kind::Cleanup(d, _) => (t.cleanup_end == Some(now)).then_some((now - d, *id)),
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
    fn prio(&self, p: Option<usize>) -> u64 {
        match (p, self.seed % 4) {
            (None, 1) => return u64::MAX,
            (None, 2) => return 0,
            _ => {}
        }
        self.hash_prio(p)
    }

    fn hash_prio(&self, p: Option<usize>) -> u64 {
        let key = p.map_or(u64::MAX / 3, |t| t as u64);
        let mut x = (key ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(1);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }

    fn step(&mut self, p: Option<usize>) {
        match p {
            None => self.step_root(),
            Some(t) => self.step_task(t),
        }
    }

    fn step_root(&mut self) {
        if self.root_out.is_some() {
            return;
        }
        if let Some(out) = self.poll_run(0) {
            self.root_out = Some(out);
        }
    }

    /// A hash of everything a step can change.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for s in &self.scopes {
            (
                s.cancelled,
                s.finished,
                s.started,
                s.seen,
                s.body_alive,
                s.body_spawned,
                s.act_result,
                s.nested_done.len(),
            )
                .hash(&mut h);
            (
                s.value,
                s.errors.len(),
                s.panic,
                s.winner,
                s.deadline_armed,
                s.signals_live,
                s.signal_fired,
                s.grace_end,
                s.locals_stopped,
            )
                .hash(&mut h);
            (s.tasks.len(), s.running, s.queue.len()).hash(&mut h);
        }
        for (id, t) in &self.tasks {
            (
                id,
                t.admitted,
                t.aborted,
                t.yields_left,
                t.cleanup_end,
                t.start,
                t.state,
            )
                .hash(&mut h);
        }
        self.root_out.is_some().hash(&mut h);
        h.finish()
    }

    fn next_timer(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut add = |t: u64| next = Some(next.map_or(t, |n: u64| n.min(t)));
        for t in self.tasks.values() {
            if t.state != TState::Running || t.aborted {
                continue;
            }
            match &t.kind {
                Kind::Complete(d)
                | Kind::Fail(d)
                | Kind::Panic(d)
                | Kind::CancelOwn(d)
                | Kind::CancelOther(d, _)
                | Kind::Signal(d, _)
                | Kind::Spawn(d, _) => add(t.start + d),
                Kind::Cleanup(..) => {
                    if let Some(e) = t.cleanup_end {
                        add(e)
                    }
                }
                Kind::Yields(_) | Kind::Forever | Kind::RunScope(_) => {}
            }
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if !s.started || s.finished {
                continue;
            }
            let spec = &self.case.scopes[i];
            if s.body_alive && s.act_result.is_none() && spec.shape == Shape::Run {
                if let Some(at) = scope::act_time(spec.body) {
                    add(at);
                }
            }
            if s.cancelled.is_none() {
                if let Some(d) = s.deadline_armed {
                    add(d);
                }
                if let (true, Some(at)) = (s.signals_live, spec.signal_at) {
                    add(at);
                }
            }
            if let Some(g) = s.grace_end {
                add(g);
            }
        }
        next
    }
}
