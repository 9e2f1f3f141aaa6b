//! The proptest strategy of [`Case`]s: raw random values turned into a case by [`build`].
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::Index;

use super::case::{
    Act, Case, Host, Kind, MAX_TASKS, Member, ScopeSpec, Shape, TaskSpec, body_error_id,
};

/// Which runtime the cases are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Paused clock, predicted by the model: blocking members only in scopes without `limit`
    /// (a queued closure starts on the pool at a moment the paused clock does not order).
    Paused,
    /// Real time, invariants only: blocking members anywhere.
    MultiThread,
}

#[derive(Clone, Debug)]
enum RawKind {
    Yields(u8),
    Complete(u8),
    Fail(u8),
    Panic(u8),
    Forever,
    CancelOwn(u8),
    CancelOther(u8, Index),
    Signal(u8, Index),
    Spawn(u8, Vec<(RawMember, RawKind)>),
    Cleanup(u8, bool),
}

#[derive(Clone, Copy, Debug)]
enum RawMember {
    Task,
    Shielded,
    Blocking,
    Local,
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
    host: u8,
    shielded_host: bool,
    links: Vec<Index>,
    cycle: Option<Index>,
    deadline: Option<u8>,
    grace: Option<u8>,
    limit: Option<u8>,
    supervise: bool,
    shape: u8,
    signal_at: Option<u8>,
    signal_chan: bool,
    body: RawAct,
    tasks: Vec<(RawMember, RawKind)>,
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

fn child_member() -> impl Strategy<Value = RawMember> {
    prop_oneof![
        17 => Just(RawMember::Task),
        3 => Just(RawMember::Shielded),
        2 => Just(RawMember::Blocking),
    ]
}

fn raw_kind() -> impl Strategy<Value = RawKind> {
    prop_oneof![
        9 => simple_kind(),
        1 => (1u8..7).prop_map(RawKind::CancelOwn),
        1 => ((1u8..7), any::<Index>()).prop_map(|(d, i)| RawKind::CancelOther(d, i)),
        1 => ((1u8..7), any::<Index>()).prop_map(|(d, i)| RawKind::Signal(d, i)),
        1 => ((1u8..5), prop::collection::vec((child_member(), simple_kind()), 1..4))
            .prop_map(|(d, c)| RawKind::Spawn(d, c)),
    ]
}

fn member() -> impl Strategy<Value = RawMember> {
    prop_oneof![
        14 => Just(RawMember::Task),
        2 => Just(RawMember::Shielded),
        2 => Just(RawMember::Blocking),
        3 => Just(RawMember::Local),
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
    let place = (
        any::<Index>(),
        0u8..10,
        prop::bool::weighted(0.1),
        prop::collection::vec(any::<Index>(), 0..5),
        prop::option::weighted(0.06, any::<Index>()),
    );
    let options = (
        prop::option::weighted(0.25, 2u8..11),
        prop::option::weighted(0.25, 1u8..4),
        prop::option::weighted(0.2, 1u8..4),
        prop::bool::weighted(0.3),
        0u8..10,
        prop::option::weighted(0.12, 1u8..9),
        prop::bool::weighted(0.15),
    );
    let work = (
        raw_act(),
        prop::collection::vec((member(), raw_kind()), 0..5),
    );
    (place, options, work).prop_map(
        |(
            (nest, host, shielded_host, links, cycle),
            (deadline, grace, limit, supervise, shape, signal_at, signal_chan),
            (body, tasks),
        )| RawScope {
            nest,
            host,
            shielded_host,
            // Half the scopes are linked; a few to several parents.
            links: if links.len() >= 2 {
                links[1..].to_vec()
            } else {
                Vec::new()
            },
            cycle,
            deadline,
            grace,
            limit,
            supervise,
            shape,
            signal_at,
            signal_chan,
            body,
            tasks,
        },
    )
}

/// Random trees of 1 to `max_scopes` scopes.
pub(crate) fn case(max_scopes: usize, flavor: Flavor) -> impl Strategy<Value = Case> {
    (
        (6u8..13),
        prop::collection::vec(raw_scope(), 1..=max_scopes),
    )
        .prop_map(move |raw| build(raw, flavor))
}

fn build((root_deadline, raws): (u8, Vec<RawScope>), flavor: Flavor) -> Case {
    let n = raws.len();
    let mut depth = vec![0usize; n];
    let mut next_task = 0usize;
    let mut scopes: Vec<ScopeSpec> = Vec::with_capacity(n);
    // Host tasks (RunScope) are created first, then the other tasks, so the ids of host tasks are
    // known before the rest; ids only need to be unique.
    let mut hosts: Vec<Vec<TaskSpec>> = vec![Vec::new(); n];
    for (i, raw) in raws.iter().enumerate() {
        let shape = match raw.shape {
            _ if i == 0 => Shape::Run,
            0 | 1 => Shape::Race,
            2 | 3 => Shape::JoinAll,
            _ => Shape::Run,
        };
        let (nest, host) = if i == 0 {
            (None, Host::Task)
        } else {
            let candidates: Vec<usize> = (0..i).filter(|&p| depth[p] < 3).collect();
            let p = candidates[raw.nest.index(candidates.len())];
            depth[i] = depth[p] + 1;
            let host = match (scopes[p].shape, raw.host) {
                (Shape::Run, 0..=2) => Host::Body,
                (Shape::Run, 3 | 4) => Host::Local,
                _ => Host::Task,
            };
            (Some(p), host)
        };
        let mut links: Vec<usize> = Vec::new();
        if i > 0 {
            for l in &raw.links {
                let l = l.index(i);
                if !links.contains(&l) {
                    links.push(l);
                }
            }
            if let Some(c) = raw.cycle.filter(|_| i + 1 < n) {
                // A link to a later scope: a cycle when that one links back (or up) here.
                links.push(i + 1 + c.index(n - i - 1));
            }
        }
        let deadline = if i == 0 {
            Some(u64::from(root_deadline) * 1000 + 900)
        } else {
            raw.deadline.map(|d| u64::from(d) * 1000 + 800 + i as u64)
        };
        let at = |t: u8| u64::from(t) * 1000 + 500 + i as u64;
        let body = match (shape, &raw.body) {
            (Shape::Race | Shape::JoinAll, _) => Act::Complete(0),
            (_, RawAct::Complete(t)) => Act::Complete(at(*t)),
            (_, RawAct::Fail(t)) => Act::Fail(at(*t), body_error_id(i)),
            (_, RawAct::Panic(t)) => Act::Panic(at(*t), body_error_id(i)),
            (_, RawAct::CancelOwn(t)) => Act::CancelOwn(at(*t)),
            (_, RawAct::Forever) => Act::Forever,
        };
        scopes.push(ScopeSpec {
            id: i,
            nest,
            host,
            links,
            deadline,
            grace: raw.grace.map(|g| u64::from(g) * 1000 + 300 + i as u64),
            limit: raw.limit.map(usize::from),
            supervise: raw.supervise && shape != Shape::Race,
            shape,
            signal_at: raw.signal_at.map(|t| u64::from(t) * 1000 + 700 + i as u64),
            signal_chan: raw.signal_chan,
            body,
            body_nested: Vec::new(),
            tasks: Vec::new(),
        });
        if let Some(p) = nest {
            if host == Host::Body {
                scopes[p].body_nested.push(i);
            } else {
                let id = next_task;
                next_task += 1;
                let member = match host {
                    Host::Local => Member::Local,
                    _ if scopes[p].shape == Shape::Run && raw.shielded_host => Member::Shielded,
                    _ => Member::Task,
                };
                hosts[p].push(TaskSpec {
                    id,
                    member,
                    kind: Kind::RunScope(i),
                });
            }
        }
    }
    for (i, raw) in raws.iter().enumerate() {
        let mut tasks = std::mem::take(&mut hosts[i]);
        let hosts_here = tasks.len();
        let shape = scopes[i].shape;
        let blocking_ok = flavor == Flavor::MultiThread || scopes[i].limit.is_none();
        for (m, kind) in &raw.tasks {
            if next_task >= MAX_TASKS {
                break;
            }
            // A race's contenders and a join's members are plain tasks (the library spawns
            // them); local tasks are spawned by a `run` body.
            let member = match (shape, m) {
                (Shape::Race | Shape::JoinAll, _) => Member::Task,
                (_, RawMember::Task) => Member::Task,
                (_, RawMember::Shielded) => Member::Shielded,
                (_, RawMember::Blocking) if blocking_ok => Member::Blocking,
                (_, RawMember::Blocking) => Member::Task,
                (_, RawMember::Local) => Member::Local,
            };
            tasks.push(make_task(member, kind, n, blocking_ok, &mut next_task));
        }
        if shape == Shape::Race && tasks.is_empty() {
            // An empty race panics by design: give it one contender.
            tasks.push(make_task(
                Member::Task,
                &RawKind::Complete(2),
                n,
                blocking_ok,
                &mut next_task,
            ));
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

fn make_task(
    member: Member,
    kind: &RawKind,
    n_scopes: usize,
    blocking_ok: bool,
    next: &mut usize,
) -> TaskSpec {
    let id = *next;
    *next += 1;
    let t = |u: u8| u64::from(u) * 1000 + id as u64;
    if member == Member::Blocking {
        // A closure runs at once: only its result matters.
        let kind = match kind {
            RawKind::Fail(_) => Kind::Fail(0),
            RawKind::Panic(_) => Kind::Panic(0),
            _ => Kind::Complete(0),
        };
        return TaskSpec { id, member, kind };
    }
    let kind = match kind {
        RawKind::Yields(k) => Kind::Yields(*k),
        RawKind::Complete(d) => Kind::Complete(t(*d)),
        RawKind::Fail(d) => Kind::Fail(t(*d)),
        RawKind::Panic(d) => Kind::Panic(t(*d)),
        // A shielded task that never ends would hang every case it is in.
        RawKind::Forever if member == Member::Shielded => Kind::Complete(t(3)),
        RawKind::Forever => Kind::Forever,
        RawKind::CancelOwn(d) => Kind::CancelOwn(t(*d)),
        RawKind::CancelOther(d, j) => Kind::CancelOther(t(*d), j.index(n_scopes)),
        RawKind::Signal(d, j) => Kind::Signal(t(*d), j.index(n_scopes)),
        RawKind::Spawn(d, children) => {
            let mut spawned = Vec::new();
            for (m, c) in children {
                if *next >= MAX_TASKS {
                    break;
                }
                let m = match m {
                    RawMember::Shielded => Member::Shielded,
                    RawMember::Blocking if blocking_ok => Member::Blocking,
                    _ => Member::Task,
                };
                spawned.push(make_task(m, c, n_scopes, blocking_ok, next));
            }
            Kind::Spawn(t(*d), spawned)
        }
        RawKind::Cleanup(d, fail) => Kind::Cleanup(u64::from(*d) * 1000 + 200 + id as u64, *fail),
    };
    TaskSpec { id, member, kind }
}
