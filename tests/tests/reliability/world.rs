//! Runs a [`Case`] for real: every scope, body and task of the case on the current tokio runtime,
//! with drop guards and a log of what happened.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use cancel_scope::{CancelScope, Outcome, ScopeResult, TaskGroup};
use futures::FutureExt;
use tokio::time::Instant;

use super::case::{Act, Case, Kind, TaskSpec, body_error_id};
use super::model::Out;

/// The payload of every injected panic.
#[derive(Debug)]
pub(crate) struct PanicId(pub(crate) u32);

/// Silences the default panic message for injected panics (once per process).
pub(crate) fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<PanicId>().is_none() {
                default(info);
            }
        }));
    });
}

pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What happened during one run.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// How each scope's `run` returned.
    pub(crate) returned: BTreeMap<usize, Out>,
    /// Tasks whose future was polled at least once.
    pub(crate) started: BTreeSet<usize>,
    /// Task futures not dropped yet: id -> scope.
    pub(crate) alive: BTreeMap<usize, usize>,
    /// Futures created (spawned or refused).
    pub(crate) created: usize,
    /// Errors returned by tasks and bodies: (scope, id).
    pub(crate) failed: Vec<(usize, u32)>,
    /// Panics raised in tasks and bodies, and panics resumed by nested scopes there: (scope, id).
    pub(crate) panicked: Vec<(usize, u32)>,
    /// Broken promises seen while running.
    pub(crate) violations: Vec<String>,
}

pub(crate) struct World {
    pub(crate) case: Arc<Case>,
    pub(crate) base: Instant,
    /// Microseconds of real tokio time per millisecond of case time.
    pub(crate) micros_per_ms: u64,
    pub(crate) groups: Vec<TaskGroup<u32>>,
    scopes: Mutex<Vec<Option<CancelScope<u32>>>>,
    pub(crate) subtrees: Vec<BTreeSet<usize>>,
    pub(crate) log: Mutex<Log>,
}

impl World {
    /// Builds every scope of the case (with its options and links) on the current runtime.
    pub(crate) fn new(case: &Case, micros_per_ms: u64) -> Arc<World> {
        let base = Instant::now();
        let mut scopes: Vec<CancelScope<u32>> = Vec::new();
        let mut groups: Vec<TaskGroup<u32>> = Vec::new();
        let at = |ms: u64| base + Duration::from_micros(ms * micros_per_ms);
        for spec in &case.scopes {
            let mut scope = CancelScope::<u32>::with_error();
            if let Some(l) = spec.link {
                scope = scope.parent(&groups[l]);
            }
            if let Some(d) = spec.deadline {
                scope = scope.deadline(at(d));
            }
            if let Some(g) = spec.grace {
                scope = scope.grace(Duration::from_micros(g * micros_per_ms));
            }
            if let Some(l) = spec.limit {
                scope = scope.limit(l);
            }
            if spec.supervise {
                scope = scope.supervise();
            }
            groups.push(scope.group());
            scopes.push(scope);
        }
        let subtrees = (0..case.scopes.len())
            .map(|s| case.subtree(s).into_iter().collect())
            .collect();
        Arc::new(World {
            case: Arc::new(case.clone()),
            base,
            micros_per_ms,
            groups,
            scopes: Mutex::new(scopes.into_iter().map(Some).collect()),
            subtrees,
            log: Mutex::new(Log::default()),
        })
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + self.dur(ms)
    }

    fn dur(&self, ms: u64) -> Duration {
        Duration::from_micros(ms * self.micros_per_ms)
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the scopes that were never run (their `run` was never reached).
    pub(crate) fn drop_unrun(&self) {
        let unrun: Vec<_> = self
            .scopes
            .lock()
            .unwrap()
            .iter_mut()
            .map(Option::take)
            .collect();
        drop(unrun);
    }

    /// Takes the root scope out and runs it (the test awaits this).
    pub(crate) fn run_root(self: &Arc<Self>) -> BoxFut<()> {
        run_scope(self.clone(), 0)
    }
}

/// Runs scope `s` of the world and records how it returned; resumes its panic.
pub(crate) fn run_scope(w: Arc<World>, s: usize) -> BoxFut<()> {
    Box::pin(async move {
        let scope = w.scopes.lock().unwrap()[s]
            .take()
            .expect("each scope runs once");
        let body = body(w.clone(), s);
        let result = AssertUnwindSafe(scope.run(body)).catch_unwind().await;
        let mut log = w.log();
        // Nothing outlives its scope: every task of this scope and of the scopes nested in it
        // must have been dropped.
        let left: Vec<_> = log
            .alive
            .iter()
            .filter(|(_, sc)| w.subtrees[s].contains(sc))
            .map(|(t, sc)| (*t, *sc))
            .collect();
        if !left.is_empty() {
            log.violations.push(format!(
                "scope {s} returned while task futures (task, scope) {left:?} were alive"
            ));
        }
        match result {
            Ok(r) => {
                let out = to_out(r);
                log.returned.insert(s, out);
            }
            Err(payload) => {
                let id = payload
                    .downcast_ref::<PanicId>()
                    .map(|p| p.0)
                    .unwrap_or_else(|| {
                        panic!("scope {s} resumed a foreign panic: {:?}", payload.type_id())
                    });
                log.returned.insert(s, Out::Panicked(id));
                if let Some(host) = w.case.scopes[s].nest {
                    log.panicked.push((host, id));
                }
                drop(log);
                resume_unwind(payload);
            }
        }
    })
}

fn to_out(r: ScopeResult<usize, u32>) -> Out {
    match r {
        Ok(Outcome::Completed(_)) => Out::Completed,
        Ok(Outcome::Cancelled(reason)) => Out::Cancelled(reason.into()),
        Err(e) => Out::Failed(e.into_errors()),
    }
}

fn body(w: Arc<World>, s: usize) -> BoxFut<Result<usize, u32>> {
    Box::pin(async move {
        let tg = w.groups[s].clone();
        let spec = &w.case.scopes[s];
        for t in &spec.tasks {
            spawn_task(&w, s, t);
        }
        let nested: Vec<_> = spec
            .body_nested
            .iter()
            .map(|&n| run_scope(w.clone(), n))
            .collect();
        let act = async {
            let at = |t: u64| tokio::time::sleep_until(w.at(t));
            match spec.body {
                Act::Complete(t) => {
                    at(t).await;
                    Ok(())
                }
                Act::Fail(t, id) => {
                    at(t).await;
                    Err(id)
                }
                Act::Panic(t, id) => {
                    at(t).await;
                    w.log().panicked.push((s, id));
                    std::panic::panic_any(PanicId(id))
                }
                Act::CancelOwn(t) => {
                    at(t).await;
                    tg.cancel();
                    Ok(())
                }
                Act::Forever => std::future::pending().await,
            }
        };
        let (r, _) = futures::join!(act, futures::future::join_all(nested));
        if let Err(id) = r {
            debug_assert_eq!(id, body_error_id(s));
            w.log().failed.push((s, id));
        }
        r.map(|()| s)
    })
}

/// Removes the task from the live set when its future is dropped.
struct DropGuard {
    w: Arc<World>,
    id: usize,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.w.log().alive.remove(&self.id);
    }
}

pub(crate) fn spawn_task(w: &Arc<World>, s: usize, t: &TaskSpec) {
    let guard = {
        let mut log = w.log();
        log.alive.insert(t.id, s);
        log.created += 1;
        DropGuard {
            w: w.clone(),
            id: t.id,
        }
    };
    let fut = task(w.clone(), s, t.clone(), guard);
    let tg = &w.groups[s];
    if t.shielded {
        tg.spawn_shielded(fut);
    } else {
        tg.spawn(fut);
    }
}

fn task(w: Arc<World>, s: usize, t: TaskSpec, guard: DropGuard) -> BoxFut<Result<(), u32>> {
    Box::pin(async move {
        let _guard = guard;
        w.log().started.insert(t.id);
        let start = Instant::now();
        let until = |d: u64| tokio::time::sleep_until(start + w.dur(d));
        let id = t.error_id();
        match t.kind {
            Kind::Yields(k) => {
                for _ in 0..k {
                    tokio::task::yield_now().await;
                }
                Ok(())
            }
            Kind::Complete(d) => {
                until(d).await;
                Ok(())
            }
            Kind::Fail(d) => {
                until(d).await;
                w.log().failed.push((s, id));
                Err(id)
            }
            Kind::Panic(d) => {
                until(d).await;
                w.log().panicked.push((s, id));
                std::panic::panic_any(PanicId(id))
            }
            Kind::Forever => std::future::pending().await,
            Kind::CancelOwn(d) => {
                until(d).await;
                w.groups[s].cancel();
                Ok(())
            }
            Kind::CancelOther(d, j) => {
                until(d).await;
                w.groups[j].cancel();
                Ok(())
            }
            Kind::Spawn(d, children) => {
                until(d).await;
                for c in &children {
                    spawn_task(&w, s, c);
                }
                Ok(())
            }
            Kind::Cleanup(d, fail) => {
                w.groups[s].cancelled().await;
                tokio::time::sleep(w.dur(d)).await;
                if fail {
                    w.log().failed.push((s, id));
                    Err(id)
                } else {
                    Ok(())
                }
            }
            Kind::RunScope(n) => {
                run_scope(w.clone(), n).await;
                Ok(())
            }
        }
    })
}

/// The invariants that hold whatever the scheduling (used by the multi-thread variants too).
///
/// `root_returned`: the root scope returned (no hang guard fired).
pub(crate) fn check_invariants(w: &World, root_returned: bool) -> Result<(), String> {
    let log = w.log();
    if !log.violations.is_empty() {
        return Err(log.violations.join("\n"));
    }
    if root_returned && !log.alive.is_empty() {
        return Err(format!(
            "task futures alive after the root returned: {:?}",
            log.alive
        ));
    }
    // No error lost, none duplicated.
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for out in log.returned.values() {
        if let Out::Failed(ids) = out {
            for id in ids {
                *seen.entry(*id).or_default() += 1;
            }
        }
    }
    if let Some((id, n)) = seen.iter().find(|(_, n)| **n > 1) {
        return Err(format!("error {id} reported {n} times"));
    }
    for (s, out) in &log.returned {
        let failed: Vec<u32> = log
            .failed
            .iter()
            .filter(|(sc, _)| sc == s)
            .map(|(_, id)| *id)
            .collect();
        let panicked: Vec<u32> = log
            .panicked
            .iter()
            .filter(|(sc, _)| sc == s)
            .map(|(_, id)| *id)
            .collect();
        // A scope also resumes panics of tasks that a nested scope, dropped unfinished, handed
        // over to it (say, a shielded task that panicked while the abort was on its way).
        let in_subtree: Vec<u32> = log
            .panicked
            .iter()
            .filter(|(sc, _)| w.subtrees[*s].contains(sc))
            .map(|(_, id)| *id)
            .collect();
        match out {
            Out::Panicked(p) if !in_subtree.contains(p) => {
                return Err(format!(
                    "scope {s} resumed panic {p}, not one of its own or its nested scopes' \
                     {in_subtree:?}"
                ));
            }
            Out::Panicked(_) => {}
            _ if !panicked.is_empty() => {
                return Err(format!(
                    "scope {s} returned {out:?} although {panicked:?} panicked in it"
                ));
            }
            Out::Failed(ids) => {
                let (mut a, mut b) = (ids.clone(), failed.clone());
                a.sort_unstable();
                b.sort_unstable();
                if a != b {
                    return Err(format!(
                        "scope {s} reported errors {ids:?}, but {failed:?} happened in it"
                    ));
                }
            }
            _ if !failed.is_empty() => {
                return Err(format!(
                    "scope {s} returned {out:?} although {failed:?} failed in it"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
