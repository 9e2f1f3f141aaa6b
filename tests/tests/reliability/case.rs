//! Random trees of scopes: the generated description ([`Case`]) and its proptest strategy.
//!
//! A case is a flat list of scopes. Scope 0 is the root (always with a deadline, so that most
//! cases end by themselves); scope `i > 0` runs nested in the body or in a task of an earlier
//! scope (depth at most 4) and may be linked (`parent`) to any earlier scope, ancestor or not.
//! Links therefore form a forest: every scope has at most one link parent, which keeps the
//! propagation order irrelevant (every group is reached by exactly one path).
//!
//! Every event of a task is timed relative to the task's start, every event of a body relative to
//! the start (all scopes start at time 0), in milliseconds of tokio's clock. Times are
//! `units * 1000 + a per-source offset`, so independent events rarely share an instant; the model
//! rejects the rare cases where the order inside one instant would matter.
#![allow(dead_code)]

use std::fmt;

use proptest::prelude::*;
use proptest::sample::Index;

/// The largest number of tasks (initial and spawned) in one case.
pub(crate) const MAX_TASKS: usize = 50;

/// One generated tree of scopes.
#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) scopes: Vec<ScopeSpec>,
    /// Number of task ids (tasks are numbered `0..tasks`).
    pub(crate) tasks: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct ScopeSpec {
    pub(crate) id: usize,
    /// The scope it runs in: `None` for the root.
    pub(crate) nest: Option<usize>,
    /// Runs inside the body of `nest` (else inside a task of it).
    pub(crate) in_body: bool,
    /// `.parent(&groups[link])`.
    pub(crate) link: Option<usize>,
    /// Absolute deadline, ms after the start.
    pub(crate) deadline: Option<u64>,
    pub(crate) grace: Option<u64>,
    pub(crate) limit: Option<usize>,
    /// `.supervise()`: a task's error is kept without cancelling the group.
    pub(crate) supervise: bool,
    pub(crate) body: Act,
    /// Scopes that run inside the body (joined with the body's action).
    pub(crate) body_nested: Vec<usize>,
    /// Spawned by the body at its first poll, in this order (`RunScope` tasks first).
    pub(crate) tasks: Vec<TaskSpec>,
}

/// What a body does, at an absolute time (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    Complete(u64),
    /// Returns `Err(id)` (once the scopes nested in the body are done).
    Fail(u64, u32),
    Panic(u64, u32),
    /// Cancels its own group, then returns `Ok`.
    CancelOwn(u64),
    Forever,
}

#[derive(Clone, Debug)]
pub(crate) struct TaskSpec {
    pub(crate) id: usize,
    pub(crate) shielded: bool,
    pub(crate) kind: Kind,
}

/// What a task does; times are ms after the task's first poll.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// `yield_now` k times, then `Ok`.
    Yields(u8),
    Complete(u64),
    /// Returns `Err(id)` (the task's id).
    Fail(u64),
    /// Panics with `PanicId(id)`.
    Panic(u64),
    Forever,
    CancelOwn(u64),
    /// Cancels the group of another scope (any scope of the case).
    CancelOther(u64, usize),
    /// Spawns more tasks into its own group, then returns `Ok`.
    Spawn(u64, Vec<TaskSpec>),
    /// Waits for its group's cancel, then works `d` more and returns `Ok` or `Err(id)`.
    Cleanup(u64, bool),
    /// Runs a nested scope, then returns `Ok` (a panic of the scope resurfaces here).
    RunScope(usize),
}

impl TaskSpec {
    pub(crate) fn error_id(&self) -> u32 {
        self.id as u32
    }
}

pub(crate) fn body_error_id(scope: usize) -> u32 {
    10_000 + scope as u32
}

impl Case {
    /// Nesting descendants of `s`, `s` included.
    pub(crate) fn subtree(&self, s: usize) -> Vec<usize> {
        let mut out = vec![s];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i];
            for sc in &self.scopes {
                if sc.nest == Some(cur) {
                    out.push(sc.id);
                }
            }
            i += 1;
        }
        out
    }

    /// Every task spec, spawned children included.
    pub(crate) fn all_tasks(&self) -> Vec<(usize, &TaskSpec)> {
        fn walk<'a>(s: usize, t: &'a TaskSpec, out: &mut Vec<(usize, &'a TaskSpec)>) {
            out.push((s, t));
            if let Kind::Spawn(_, children) = &t.kind {
                for c in children {
                    walk(s, c, out);
                }
            }
        }
        let mut out = Vec::new();
        for sc in &self.scopes {
            for t in &sc.tasks {
                walk(sc.id, t, &mut out);
            }
        }
        out
    }

    /// Faults the case can inject: failures, panics and cancels.
    pub(crate) fn faults(&self) -> usize {
        let tasks = self
            .all_tasks()
            .into_iter()
            .filter(|(_, t)| {
                matches!(
                    t.kind,
                    Kind::Fail(..)
                        | Kind::Panic(..)
                        | Kind::CancelOwn(..)
                        | Kind::CancelOther(..)
                        | Kind::Cleanup(_, true)
                )
            })
            .count();
        let bodies = self
            .scopes
            .iter()
            .filter(|s| !matches!(s.body, Act::Complete(_) | Act::Forever))
            .count();
        let deadlines = self.scopes.iter().filter(|s| s.deadline.is_some()).count();
        tasks + bodies + deadlines
    }
}

/// A readable one-scope-per-line rendering for counterexamples.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case ({} tasks) {{", self.tasks)?;
        for s in &self.scopes {
            write!(f, "  scope {}:", s.id)?;
            match s.nest {
                None => write!(f, " root")?,
                Some(p) if s.in_body => write!(f, " in body of {p}")?,
                Some(p) => write!(f, " in a task of {p}")?,
            }
            if let Some(l) = s.link {
                write!(f, ", parent({l})")?;
            }
            if let Some(d) = s.deadline {
                write!(f, ", deadline {d}ms")?;
            }
            if let Some(g) = s.grace {
                write!(f, ", grace {g}ms")?;
            }
            if let Some(l) = s.limit {
                write!(f, ", limit {l}")?;
            }
            if s.supervise {
                write!(f, ", supervise")?;
            }
            writeln!(f, ", body {:?}", s.body)?;
            for t in &s.tasks {
                writeln!(f, "    {t:?}")?;
            }
        }
        write!(f, "}}")
    }
}

// ----- raw generated values, turned into a `Case` by `build` -----

#[derive(Clone, Debug)]
enum RawKind {
    Yields(u8),
    Complete(u8),
    Fail(u8),
    Panic(u8),
    Forever,
    CancelOwn(u8),
    CancelOther(u8, Index),
    Spawn(u8, Vec<(bool, RawKind)>),
    Cleanup(u8, bool),
}

#[derive(Clone, Debug)]
enum RawAct {
    Complete(u8),
    Fail(u8),
    Panic(u8),
    CancelOwn(u8),
    Forever,
}

#[derive(Clone, Debug)]
struct RawScope {
    nest: Index,
    in_body: bool,
    shielded_host: bool,
    link: Option<Index>,
    deadline: Option<u8>,
    grace: Option<u8>,
    limit: Option<u8>,
    supervise: bool,
    body: RawAct,
    tasks: Vec<(bool, RawKind)>,
}

fn simple_kind() -> impl Strategy<Value = RawKind> {
    prop_oneof![
        3 => (0u8..3).prop_map(RawKind::Yields),
        3 => (1u8..7).prop_map(RawKind::Complete),
        2 => (1u8..7).prop_map(RawKind::Fail),
        1 => (1u8..7).prop_map(RawKind::Panic),
        2 => Just(RawKind::Forever),
        1 => ((1u8..4), any::<bool>()).prop_map(|(d, f)| RawKind::Cleanup(d, f)),
    ]
}

fn raw_kind() -> impl Strategy<Value = RawKind> {
    prop_oneof![
        9 => simple_kind(),
        1 => (1u8..7).prop_map(RawKind::CancelOwn),
        1 => ((1u8..7), any::<Index>()).prop_map(|(d, i)| RawKind::CancelOther(d, i)),
        1 => ((1u8..5), prop::collection::vec((prop::bool::weighted(0.15), simple_kind()), 1..4))
            .prop_map(|(d, c)| RawKind::Spawn(d, c)),
    ]
}

fn raw_act() -> impl Strategy<Value = RawAct> {
    prop_oneof![
        4 => (1u8..9).prop_map(RawAct::Complete),
        1 => (1u8..9).prop_map(RawAct::Fail),
        1 => (1u8..9).prop_map(RawAct::Panic),
        1 => (1u8..9).prop_map(RawAct::CancelOwn),
        2 => Just(RawAct::Forever),
    ]
}

fn raw_scope() -> impl Strategy<Value = RawScope> {
    (
        any::<Index>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.5, any::<Index>()),
        prop::option::weighted(0.25, 2u8..11),
        prop::option::weighted(0.25, 1u8..4),
        prop::option::weighted(0.2, 1u8..4),
        prop::bool::weighted(0.3),
        raw_act(),
        prop::collection::vec((prop::bool::weighted(0.12), raw_kind()), 0..5),
    )
        .prop_map(
            |(
                nest,
                in_body,
                shielded_host,
                link,
                deadline,
                grace,
                limit,
                supervise,
                body,
                tasks,
            )| RawScope {
                nest,
                in_body,
                shielded_host,
                link,
                deadline,
                grace,
                limit,
                supervise,
                body,
                tasks,
            },
        )
}

/// Random trees of 1 to `max_scopes` scopes.
pub(crate) fn case(max_scopes: usize) -> impl Strategy<Value = Case> {
    (
        (6u8..13),
        prop::collection::vec(raw_scope(), 1..=max_scopes),
    )
        .prop_map(build)
}

fn build((root_deadline, raws): (u8, Vec<RawScope>)) -> Case {
    let n = raws.len();
    let mut depth = vec![0usize; n];
    let mut next_task = 0usize;
    let mut scopes: Vec<ScopeSpec> = Vec::with_capacity(n);
    // Host tasks (RunScope) are created first, then the other tasks, so the ids of host tasks are
    // known before the rest; ids only need to be unique.
    let mut hosts: Vec<Vec<TaskSpec>> = vec![Vec::new(); n];
    for (i, raw) in raws.iter().enumerate() {
        let (nest, in_body) = if i == 0 {
            (None, false)
        } else {
            let candidates: Vec<usize> = (0..i).filter(|&p| depth[p] < 3).collect();
            let p = candidates[raw.nest.index(candidates.len())];
            depth[i] = depth[p] + 1;
            (Some(p), raw.in_body)
        };
        let link = if i == 0 {
            None
        } else {
            raw.link.map(|l| l.index(i))
        };
        let deadline = if i == 0 {
            Some(u64::from(root_deadline) * 1000 + 900)
        } else {
            raw.deadline.map(|d| u64::from(d) * 1000 + 800 + i as u64)
        };
        let body = match raw.body {
            RawAct::Complete(t) => Act::Complete(u64::from(t) * 1000 + 500 + i as u64),
            RawAct::Fail(t) => Act::Fail(u64::from(t) * 1000 + 500 + i as u64, body_error_id(i)),
            RawAct::Panic(t) => Act::Panic(u64::from(t) * 1000 + 500 + i as u64, body_error_id(i)),
            RawAct::CancelOwn(t) => Act::CancelOwn(u64::from(t) * 1000 + 500 + i as u64),
            RawAct::Forever => Act::Forever,
        };
        scopes.push(ScopeSpec {
            id: i,
            nest,
            in_body,
            link,
            deadline,
            grace: raw.grace.map(|g| u64::from(g) * 1000 + 300 + i as u64),
            limit: raw.limit.map(usize::from),
            supervise: raw.supervise,
            body,
            body_nested: Vec::new(),
            tasks: Vec::new(),
        });
        if let Some(p) = nest {
            if in_body {
                scopes[p].body_nested.push(i);
            } else {
                let id = next_task;
                next_task += 1;
                hosts[p].push(TaskSpec {
                    id,
                    shielded: raw.shielded_host,
                    kind: Kind::RunScope(i),
                });
            }
        }
    }
    for (i, raw) in raws.iter().enumerate() {
        let mut tasks = std::mem::take(&mut hosts[i]);
        let hosts_here = tasks.len();
        for (shielded, kind) in &raw.tasks {
            if next_task >= MAX_TASKS {
                break;
            }
            let t = make_task(*shielded, kind, n, &mut next_task);
            tasks.push(t);
        }
        // Host tasks must never queue: they are spawned first and the limit admits them all.
        if let Some(l) = &mut scopes[i].limit {
            *l = (*l).max(hosts_here).max(1);
        }
        scopes[i].tasks = tasks;
    }
    Case {
        scopes,
        tasks: next_task,
    }
}

fn make_task(shielded: bool, kind: &RawKind, n_scopes: usize, next: &mut usize) -> TaskSpec {
    let id = *next;
    *next += 1;
    let t = |u: u8| u64::from(u) * 1000 + id as u64;
    let kind = match kind {
        RawKind::Yields(k) => Kind::Yields(*k),
        RawKind::Complete(d) => Kind::Complete(t(*d)),
        RawKind::Fail(d) => Kind::Fail(t(*d)),
        RawKind::Panic(d) => Kind::Panic(t(*d)),
        // A shielded task that never ends would hang every case it is in.
        RawKind::Forever if shielded => Kind::Complete(t(3)),
        RawKind::Forever => Kind::Forever,
        RawKind::CancelOwn(d) => Kind::CancelOwn(t(*d)),
        RawKind::CancelOther(d, j) => Kind::CancelOther(t(*d), j.index(n_scopes)),
        RawKind::Spawn(d, children) => {
            let mut spawned = Vec::new();
            for (sh, c) in children {
                if *next >= MAX_TASKS {
                    break;
                }
                spawned.push(make_task(*sh, c, n_scopes, next));
            }
            Kind::Spawn(t(*d), spawned)
        }
        RawKind::Cleanup(d, fail) => Kind::Cleanup(u64::from(*d) * 1000 + 200 + id as u64, *fail),
    };
    TaskSpec { id, shielded, kind }
}
