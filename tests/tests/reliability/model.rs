//! A reference model of SPEC sec. 2, 4, 5, 6 and 9 (`supervise`) that predicts what a [`Case`] does on a
//! current-thread runtime with tokio's paused clock.
//!
//! The model is a small discrete-event simulation. Each tokio task (and the root future) is a
//! process whose poll is one atomic step, written after the SPEC's rules: a cancel marks the group,
//! propagates along links at once and requests aborts; an aborted task is dropped at its next
//! step; a scope's `run` drops its body once cancelled, starts the grace period, fires its
//! deadline, and finishes when the body is gone and no task is left. Within one instant the
//! processes are stepped in a random order until nothing changes, and the whole case is simulated
//! under several orders: when the orders disagree, the case depends on scheduling details the
//! SPEC leaves open and is rejected (rare, thanks to the distinct event times of the generator).
//! The only such detail accepted as a set is the reason of a scope dropped in the same instant as
//! a linked parent: `Dropped` or `Parent`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cancel_scope::CancelReason;

use super::case::{Act, Case, Kind, TaskSpec, body_error_id};

/// How a scope's `run` ended, as seen by the code that awaited it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Out {
    Completed,
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
            other => panic!("unknown reason {other:?}"),
        }
    }
}

impl Reason {
    fn travels_up(self) -> bool {
        matches!(self, Reason::Requested | Reason::Child)
    }
}

/// What the model predicts for a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prediction {
    /// `None`: the root never finishes (the test's hang guard fires).
    pub(crate) root: Option<Out>,
    /// Per scope: how its `run` returned, `None` if it was dropped (or never returned).
    pub(crate) returned: Vec<Option<Out>>,
    /// Per scope that returned: its final `cancel_reason()`.
    pub(crate) reasons: Vec<Option<Reason>>,
    /// Tasks whose future was polled at least once.
    pub(crate) started: BTreeSet<usize>,
}

/// Outcome of simulating a case under several orders.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Every order agreed; dropped scopes' reasons are given as sets.
    Predicted(Prediction, Vec<BTreeSet<Option<Reason>>>),
    /// The orders disagreed: the case depends on unspecified scheduling.
    Ambiguous,
}

pub(crate) fn predict(case: &Case, orders: u64) -> Verdict {
    let mut first: Option<Prediction> = None;
    let mut dropped: Vec<BTreeSet<Option<Reason>>> = vec![BTreeSet::new(); case.scopes.len()];
    for seed in 0..orders {
        let (p, reasons) = Sim::new(case, seed).run();
        for (s, r) in reasons.into_iter().enumerate() {
            if p.returned[s].is_none() {
                dropped[s].insert(r);
            }
        }
        match &first {
            None => first = Some(p),
            Some(f) if *f == p => {}
            Some(_) => return Verdict::Ambiguous,
        }
    }
    Verdict::Predicted(first.expect("at least one order"), dropped)
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
enum TState {
    Queued,
    Running,
    Done,
}

#[derive(Clone, Debug)]
struct MTask {
    scope: usize,
    shielded: bool,
    kind: Kind,
    state: TState,
    /// Holds a slot under `limit` (admitted).
    admitted: bool,
    aborted: bool,
    start: u64,
    yields_left: u8,
    cleanup_end: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct MScope {
    cancelled: Option<Reason>,
    finished: bool,
    dropped: bool,
    started: bool,
    body_alive: bool,
    body_spawned: bool,
    act_result: Option<Result<(), u32>>,
    nested_done: BTreeSet<usize>,
    value: bool,
    errors: Vec<u32>,
    panic: Option<u32>,
    deadline_armed: Option<u64>,
    grace_started: bool,
    grace_end: Option<u64>,
    /// Live tasks (ids), queued or running.
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
    specs: BTreeMap<usize, &'a TaskSpec>,
    link_children: Vec<Vec<usize>>,
    root_out: Option<Out>,
    returned: Vec<Option<Out>>,
    started: BTreeSet<usize>,
}

impl<'a> Sim<'a> {
    fn new(case: &'a Case, seed: u64) -> Self {
        let n = case.scopes.len();
        let mut link_children = vec![Vec::new(); n];
        for s in &case.scopes {
            if let Some(l) = s.link {
                link_children[l].push(s.id);
            }
        }
        let specs = case
            .all_tasks()
            .into_iter()
            .map(|(_, t)| (t.id, t))
            .collect();
        Sim {
            case,
            now: 0,
            seed,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            scopes: vec![MScope::default(); n],
            tasks: BTreeMap::new(),
            specs,
            link_children,
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
    /// - seeds 0 mod 4: every process has a random fixed priority and the highest one that can
    ///   make progress always runs (the root future last: tokio polls `block_on` rarely);
    /// - 1 mod 4: the same with the root future first;
    /// - 2 mod 4: the same with the root at a random priority;
    /// - 3 mod 4: rounds in which every process is stepped once, in a fresh random order.
    fn settle(&mut self) {
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "model does not settle");
            let mut procs: Vec<Option<usize>> = vec![None];
            procs.extend(
                self.tasks
                    .iter()
                    .filter(|(_, t)| t.state != TState::Done)
                    .map(|(id, _)| Some(*id)),
            );
            if self.seed % 4 == 3 {
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
            let root_prio = match self.seed % 4 {
                0 => u64::MAX,
                1 => 0,
                _ => self.prio(None),
            };
            procs.sort_by_key(|p| match p {
                None => root_prio,
                Some(_) => self.prio(*p),
            });
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

    fn prio(&self, p: Option<usize>) -> u64 {
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

    /// A hash of everything a step can change.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for s in &self.scopes {
            (
                s.cancelled,
                s.finished,
                s.started,
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
                s.deadline_armed,
                s.grace_started,
                s.grace_end,
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
            )
                .hash(&mut h);
            (t.state.clone() as u8).hash(&mut h);
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
            if s.body_alive && s.act_result.is_none() {
                if let Some(at) = act_time(self.case.scopes[i].body) {
                    add(at);
                }
            }
            if s.cancelled.is_none() {
                if let Some(d) = s.deadline_armed {
                    add(d);
                }
            }
            if let Some(g) = s.grace_end {
                add(g);
            }
        }
        next
    }

    // ----- group operations (SPEC sec. 5) -----

    fn cancel(&mut self, s: usize, reason: Reason) {
        let mut stack = vec![(s, reason)];
        while let Some((g, r)) = stack.pop() {
            let sc = &mut self.scopes[g];
            if sc.finished || sc.cancelled.is_some() {
                continue;
            }
            sc.cancelled = Some(r);
            if self.case.scopes[g].grace.is_none() {
                self.abort_tasks(g, false);
            }
            if r.travels_up() {
                if let Some(p) = self.case.scopes[g].link {
                    stack.push((p, Reason::Child));
                }
            }
            for &c in &self.link_children[g] {
                stack.push((c, Reason::Parent));
            }
        }
    }

    fn abort_tasks(&mut self, s: usize, shielded_too: bool) {
        let ids: Vec<usize> = self.scopes[s].tasks.iter().copied().collect();
        for id in ids {
            let t = self.tasks.get_mut(&id).unwrap();
            if shielded_too || !t.shielded {
                t.aborted = true;
            }
        }
    }

    fn record_error(&mut self, s: usize, id: u32) {
        self.scopes[s].errors.push(id);
        self.cancel(s, Reason::Failed);
    }

    fn record_panic(&mut self, s: usize, id: u32) {
        if self.scopes[s].panic.is_none() {
            self.scopes[s].panic = Some(id);
        }
        self.cancel(s, Reason::Failed);
    }

    fn spawn(&mut self, s: usize, spec: &TaskSpec) {
        let sc = &mut self.scopes[s];
        if sc.finished || sc.cancelled.is_some() {
            return; // dropped unstarted
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
                shielded: spec.shielded,
                kind: spec.kind.clone(),
                state: TState::Queued,
                admitted,
                aborted: false,
                start: 0,
                yields_left: match spec.kind {
                    Kind::Yields(k) => k,
                    _ => 0,
                },
                cleanup_end: None,
            },
        );
    }

    /// The task's future was dropped (completed, aborted or ended unstarted).
    fn end_task(&mut self, id: usize) {
        let t = self.tasks.get_mut(&id).unwrap();
        t.state = TState::Done;
        let s = t.scope;
        let admitted = t.admitted;
        let sc = &mut self.scopes[s];
        sc.tasks.remove(&id);
        if self.case.scopes[s].limit.is_some() {
            if admitted {
                sc.running -= 1;
            } else {
                sc.queue.retain(|&q| q != id);
            }
            let max = self.case.scopes[s].limit.unwrap();
            while sc.running < max {
                let Some(next) = sc.queue.pop_front() else {
                    break;
                };
                sc.running += 1;
                self.tasks.get_mut(&next).unwrap().admitted = true;
            }
        }
    }

    /// Drops a scope's `run` future before it finished (SPEC sec. 2).
    fn drop_scope(&mut self, n: usize) {
        if self.scopes[n].finished {
            return;
        }
        // The body (and the scopes nested in it) and the guard drop in an unspecified order:
        // the reason of a nested scope linked to `n` is then `Dropped` or `Parent`.
        let body_first = self.rand() % 2 == 0;
        if body_first {
            self.drop_body(n);
        }
        self.cancel(n, Reason::Dropped);
        let sc = &mut self.scopes[n];
        sc.dropped = true;
        sc.finished = true;
        // A panic it recorded before the drop is nobody's to resume here: it goes where its
        // tasks go, to the nearest enclosing scope still running (SPEC rule 4: never swallowed).
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
        if !body_first {
            self.drop_body(n);
        }
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

    /// Live tasks of `s` and of the dropped scopes it adopted.
    fn live(&self, s: usize) -> usize {
        let mut n = self.scopes[s].tasks.len();
        for c in &self.case.scopes {
            if c.nest == Some(s) && self.scopes[c.id].dropped {
                n += self.live(c.id);
            }
        }
        n
    }

    // ----- processes -----

    fn step_root(&mut self) {
        if self.root_out.is_some() {
            return;
        }
        if let Some(out) = self.poll_run(0) {
            self.root_out = Some(out);
        }
    }

    /// One poll of scope `s`'s `run` future; `Some` once it returned.
    fn poll_run(&mut self, s: usize) -> Option<Out> {
        if self.scopes[s].finished {
            return None;
        }
        if !self.scopes[s].started {
            self.scopes[s].started = true;
            self.scopes[s].body_alive = true;
            self.scopes[s].deadline_armed = self.case.scopes[s].deadline;
        }
        let grace = self.case.scopes[s].grace;
        loop {
            if self.scopes[s].body_alive {
                if self.scopes[s].cancelled.is_some() {
                    self.drop_body(s);
                } else {
                    self.poll_body(s);
                }
            }
            let sc = &mut self.scopes[s];
            if sc.cancelled.is_some() {
                sc.deadline_armed = None;
                if let (Some(g), false) = (grace, sc.grace_started) {
                    sc.grace_started = true;
                    sc.grace_end = Some(self.now + g);
                }
            } else if let Some(at) = sc.deadline_armed {
                if self.now >= at {
                    sc.deadline_armed = None;
                    self.cancel(s, Reason::Deadline);
                    continue;
                }
            }
            if let Some(end) = self.scopes[s].grace_end {
                if self.now >= end {
                    self.scopes[s].grace_end = None;
                    self.abort_tasks(s, false);
                }
            }
            let sc = &self.scopes[s];
            let grace_pending = grace.is_some() && !sc.grace_started;
            if sc.cancelled.is_some() && (sc.body_alive || grace_pending) {
                continue;
            }
            if !sc.body_alive && self.live(s) == 0 {
                let sc = &mut self.scopes[s];
                sc.finished = true;
                let out = if let Some(p) = sc.panic {
                    Out::Panicked(p)
                } else if !sc.errors.is_empty() {
                    Out::Failed(sc.errors.clone())
                } else if let Some(r) = sc.cancelled {
                    Out::Cancelled(r)
                } else if sc.value {
                    Out::Completed
                } else {
                    Out::Cancelled(Reason::Failed)
                };
                self.returned[s] = Some(out.clone());
                return Some(out);
            }
            return None;
        }
    }

    /// One poll of the body: `join(action, join_all(nested scopes))`.
    fn poll_body(&mut self, s: usize) {
        let spec = &self.case.scopes[s];
        if !self.scopes[s].body_spawned {
            self.scopes[s].body_spawned = true;
            for t in &spec.tasks {
                self.spawn(s, t);
            }
        }
        if self.scopes[s].act_result.is_none() {
            let body_id = body_error_id(s);
            match spec.body {
                Act::Complete(at) if self.now >= at => self.scopes[s].act_result = Some(Ok(())),
                Act::Fail(at, id) if self.now >= at => self.scopes[s].act_result = Some(Err(id)),
                Act::Panic(at, id) if self.now >= at => {
                    debug_assert_eq!(id, body_id);
                    // `run` drops a panicked body before it records the panic: scopes nested in
                    // the body are dropped before the group is cancelled.
                    self.drop_body(s);
                    self.record_panic(s, id);
                    return;
                }
                Act::CancelOwn(at) if self.now >= at => {
                    self.cancel(s, Reason::Requested);
                    self.scopes[s].act_result = Some(Ok(()));
                }
                _ => {}
            }
        }
        for n in spec.body_nested.clone() {
            if self.scopes[s].nested_done.contains(&n) {
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
            if sc.nested_done.len() == spec.body_nested.len() {
                self.scopes[s].body_alive = false;
                match result {
                    Ok(()) => self.scopes[s].value = true,
                    Err(id) => self.record_error(s, id),
                }
            }
        }
    }

    fn step_task(&mut self, id: usize) {
        let t = &self.tasks[&id];
        if t.state == TState::Done {
            return;
        }
        let s = t.scope;
        if t.aborted {
            if let (Kind::RunScope(n), TState::Running) = (&t.kind, &t.state) {
                let n = *n;
                self.drop_scope(n);
            }
            self.end_task(id);
            return;
        }
        if t.state == TState::Queued {
            if self.scopes[s].cancelled.is_some() && !t.shielded {
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
        enum Step {
            Pending,
            Ok,
            Err(u32),
            Panic(u32),
        }
        let step = match kind {
            Kind::Yields(_) => {
                let t = self.tasks.get_mut(&id).unwrap();
                if t.yields_left > 0 {
                    t.yields_left -= 1;
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
            Kind::Spawn(d, children) if due(d) => {
                for c in &children {
                    self.spawn(s, c);
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
            Step::Pending => {}
            Step::Ok => self.end_task(id),
            Step::Err(e) => {
                if self.case.scopes[s].supervise {
                    // A supervised group keeps a task's error without a cancel.
                    self.scopes[s].errors.push(e);
                } else {
                    self.record_error(s, e);
                }
                self.end_task(id);
            }
            Step::Panic(p) => {
                self.record_panic(s, p);
                self.end_task(id);
            }
        }
    }
}

fn act_time(act: Act) -> Option<u64> {
    match act {
        Act::Complete(t) | Act::Fail(t, _) | Act::Panic(t, _) | Act::CancelOwn(t) => Some(t),
        Act::Forever => None,
    }
}
