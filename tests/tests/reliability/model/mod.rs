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
//! Within one instant the processes are stepped in some order until nothing changes ([`order`]:
//! order 0 emulates tokio's current-thread run queue, the others are random). Several
//! orders are simulated per case; each distinct result is an **admissible outcome** (the SPEC
//! leaves the order of events within one instant open), and the real run must match one of them.
//! The reason of a scope that did not return is also a set (it may be dropped in the same
//! instant as a linked parent is cancelled: `Dropped` or `Parent`).
#![allow(dead_code)]

mod links;
mod order;
mod scope;
mod tasks;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cancel_scope::CancelReason;

use self::order::{Fifo, Wake};
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

/// Per scope, a set of reasons.
type ReasonSets = Vec<BTreeSet<Option<Reason>>>;

/// Simulates `case` under `orders` orders; the distinct outcomes, most frequent first.
pub(crate) fn predict(case: &Case, orders: u64) -> Vec<Admissible> {
    let mut found: BTreeMap<Prediction, (usize, ReasonSets)> = BTreeMap::new();
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
    /// Local tasks woken since `run` last looked, in the order they were woken.
    ready: Vec<usize>,
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
