//! Random cases: the generated description of a tree of scopes ([`Case`]); the proptest
//! strategy that makes them is in [`generate`](super::generate).
//!
//! A case is a flat list of scopes. Scope 0 is the root (always with a deadline, so that most
//! cases end by themselves); scope `i > 0` runs nested in the body, in a task or in a local task
//! of an earlier scope (depth at most 4) and may be linked (`parent`) to several other scopes,
//! earlier or later, ancestors or not: links form any graph (DAGs, and now and then a cycle).
//! A scope is a plain `run` (optionally `supervise`d), a `race` or a `join_all` of its tasks, and
//! may listen to signals (`cancel_on`: a timer, or a channel another task fires).
//!
//! Every event of a task is timed relative to the task's start, every event of a body relative to
//! the start (all scopes start at time 0), in milliseconds of tokio's clock. Times are
//! `units * 1000 + a per-source offset`, so independent events rarely share an instant; when they
//! do, the model predicts the set of outcomes the orders inside that instant allow.
#![allow(dead_code)]

use std::fmt;

/// The largest number of tasks (initial and spawned) in one case.
pub(crate) const MAX_TASKS: usize = 50;

/// One generated tree of scopes.
#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) scopes: Vec<ScopeSpec>,
    /// Number of task ids (tasks are numbered `0..tasks`).
    pub(crate) tasks: usize,
}

/// What runs the scope's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `run(body)` (`run_with_locals` when it has local tasks).
    Run,
    /// `race(tasks)`: the scope's tasks are the contenders; there is no body of its own.
    Race,
    /// `join_all(tasks)`: the scope's tasks are the members, their values in input order.
    JoinAll,
}

/// Where a nested scope runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Body,
    Task,
    /// A local task of the hosting scope (polled inside its `run`).
    Local,
}

/// How a task is spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Member {
    Task,
    Shielded,
    /// `spawn_blocking`: the kind is `Complete` (returns `Ok`), `Fail` or `Panic`, at once.
    Blocking,
    /// A local task (`run_with_locals`), spawned by the body.
    Local,
}

#[derive(Clone, Debug)]
pub(crate) struct ScopeSpec {
    pub(crate) id: usize,
    /// The scope it runs in: `None` for the root.
    pub(crate) nest: Option<usize>,
    pub(crate) host: Host,
    /// `.parent(&groups[l])` for each, in this order.
    pub(crate) links: Vec<usize>,
    /// Absolute deadline, ms after the start.
    pub(crate) deadline: Option<u64>,
    pub(crate) grace: Option<u64>,
    pub(crate) limit: Option<usize>,
    /// `.supervise()`: a task's error is kept without cancelling the group.
    pub(crate) supervise: bool,
    pub(crate) shape: Shape,
    /// `.cancel_on(sleep_until(at))`.
    pub(crate) signal_at: Option<u64>,
    /// `.cancel_on(receiver)`: fired by a task (`Kind::Signal`).
    pub(crate) signal_chan: bool,
    /// The body's action (`Complete(0)` for races and joins, whose body is the library's).
    pub(crate) body: Act,
    /// Scopes that run inside the body (joined with the body's action).
    pub(crate) body_nested: Vec<usize>,
    /// Spawned by the body at its first poll, in this order (hosts first). For a race or a
    /// join: the contenders or members, in input order.
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
    pub(crate) member: Member,
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
    /// Fires the channel signal of a scope (nothing if it has none), then returns `Ok`.
    Signal(u64, usize),
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

    pub(crate) fn shielded(&self) -> bool {
        self.member == Member::Shielded
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

    /// Every task spec, spawned children included, with its scope.
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

    /// Whether scope `s` needs `run_with_locals`.
    pub(crate) fn has_locals(&self, s: usize) -> bool {
        self.scopes[s]
            .tasks
            .iter()
            .any(|t| t.member == Member::Local)
    }

    /// Whether the case can hang by design: a shielded task that waits for a cancel, or runs a
    /// scope, may wait for ever (nothing aborts it, and the cancel it needs may never come on a
    /// multi-thread runtime, where the order of close events is not the paused clock's).
    pub(crate) fn may_hang(&self) -> bool {
        self.all_tasks()
            .iter()
            .any(|(_, t)| t.shielded() && matches!(t.kind, Kind::Cleanup(..) | Kind::RunScope(_)))
    }

    /// Faults the case can inject: failures, panics, cancels, signals and deadlines.
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
                        | Kind::Signal(..)
                        | Kind::Cleanup(_, true)
                )
            })
            .count();
        let bodies = self
            .scopes
            .iter()
            .filter(|s| !matches!(s.body, Act::Complete(_) | Act::Forever))
            .count();
        let timers = self
            .scopes
            .iter()
            .map(|s| usize::from(s.deadline.is_some()) + usize::from(s.signal_at.is_some()))
            .sum::<usize>();
        tasks + bodies + timers
    }
}

/// A readable one-scope-per-line rendering for counterexamples.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case ({} tasks) {{", self.tasks)?;
        for s in &self.scopes {
            write!(f, "  scope {}: {:?}", s.id, s.shape)?;
            match s.nest {
                None => write!(f, " root")?,
                Some(p) => write!(f, " in {:?} of {p}", s.host)?,
            }
            if !s.links.is_empty() {
                write!(f, ", parent{:?}", s.links)?;
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
            if let Some(at) = s.signal_at {
                write!(f, ", signal at {at}ms")?;
            }
            if s.signal_chan {
                write!(f, ", signal channel")?;
            }
            writeln!(f, ", body {:?}", s.body)?;
            for t in &s.tasks {
                writeln!(f, "    {t:?}")?;
            }
        }
        write!(f, "}}")
    }
}
