//! Runs a [`Case`] for real: every scope, body and member of the case on the current tokio
//! runtime, with drop guards and a log of what happened. The members are in [`members`], the
//! invariants checked after a run in [`invariants`].
#![allow(dead_code)]

mod invariants;
mod members;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use cancel_scope::{CancelScope, Locals, Outcome, ScopeResult, TaskGroup};
use futures::FutureExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

#[allow(unused_imports)] // not every test binary checks them
pub(crate) use self::invariants::check_invariants;
use self::members::{input, spawn_task};
use super::case::{Act, Case, Shape, body_error_id};
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

/// The local tasks of one scope.
pub(crate) type Local = Locals<'static, u32>;

/// What happened during one run.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// How each scope's `run` returned.
    pub(crate) returned: BTreeMap<usize, Out>,
    /// Tasks whose future was polled (or whose closure ran) at least once.
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
    /// The spawner of a blocking member waits until the closure ended (paused clock: so that
    /// the closure's result lands at a known point of the instant).
    pub(crate) sync_blocking: bool,
    pub(crate) groups: Vec<TaskGroup<u32>>,
    scopes: Mutex<Vec<Option<CancelScope<u32>>>>,
    /// The senders of the channel signals (`Kind::Signal`).
    pub(crate) signals: Vec<Mutex<Option<oneshot::Sender<()>>>>,
    pub(crate) subtrees: Vec<BTreeSet<usize>>,
    pub(crate) log: Mutex<Log>,
}

impl World {
    /// Builds every scope of the case (with its options, signals and links) on the current
    /// runtime. All groups exist before the first `parent()` call, so links may go to later
    /// scopes too (cycles).
    pub(crate) fn new(case: &Case, micros_per_ms: u64, sync_blocking: bool) -> Arc<World> {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_micros(ms * micros_per_ms);
        let mut scopes: Vec<CancelScope<u32>> = Vec::new();
        let mut signals = Vec::new();
        for spec in &case.scopes {
            let mut scope = CancelScope::<u32>::with_error();
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
            if let Some(t) = spec.signal_at {
                scope = scope.cancel_on(tokio::time::sleep_until(at(t)));
            }
            let mut sender = None;
            if spec.signal_chan {
                let (tx, rx) = oneshot::channel::<()>();
                scope = scope.cancel_on(rx);
                sender = Some(tx);
            }
            signals.push(Mutex::new(sender));
            scopes.push(scope);
        }
        let groups: Vec<TaskGroup<u32>> = scopes.iter().map(CancelScope::group).collect();
        let scopes = scopes
            .into_iter()
            .zip(&case.scopes)
            .map(|(mut scope, spec)| {
                for &l in &spec.links {
                    scope = scope.parent(&groups[l]);
                }
                Some(scope)
            })
            .collect();
        let subtrees = (0..case.scopes.len())
            .map(|s| case.subtree(s).into_iter().collect())
            .collect();
        Arc::new(World {
            case: Arc::new(case.clone()),
            base,
            micros_per_ms,
            sync_blocking,
            groups,
            scopes: Mutex::new(scopes),
            signals,
            subtrees,
            log: Mutex::new(Log::default()),
        })
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + self.dur(ms)
    }

    pub(crate) fn dur(&self, ms: u64) -> Duration {
        Duration::from_micros(ms * self.micros_per_ms)
    }

    pub(crate) fn log(&self) -> std::sync::MutexGuard<'_, Log> {
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

/// Runs scope `s` of the world by its shape and records how it returned; resumes its panic.
pub(crate) fn run_scope(w: Arc<World>, s: usize) -> BoxFut<()> {
    Box::pin(async move {
        let scope = w.scopes.lock().unwrap()[s]
            .take()
            .expect("each scope runs once");
        let result = match w.case.scopes[s].shape {
            Shape::Run if w.case.has_locals(s) => {
                let locals: Local = Locals::new();
                let run = scope.run_with_locals(&locals, body(w.clone(), s, Some(&locals)));
                AssertUnwindSafe(run).catch_unwind().await.map(to_out)
            }
            Shape::Run => {
                let run = scope.run(body(w.clone(), s, None));
                AssertUnwindSafe(run).catch_unwind().await.map(to_out)
            }
            Shape::Race => {
                let race = scope.race(input(w.clone(), s));
                AssertUnwindSafe(race)
                    .catch_unwind()
                    .await
                    .map(|r| match r {
                        Ok(Outcome::Completed(id)) => Out::Won(id),
                        Ok(Outcome::Cancelled(reason)) => Out::Cancelled(reason.into()),
                        Err(e) => Out::Failed(e.into_errors()),
                    })
            }
            Shape::JoinAll => {
                let join = scope.join_all(input(w.clone(), s));
                AssertUnwindSafe(join)
                    .catch_unwind()
                    .await
                    .map(|r| match r {
                        Ok(Outcome::Completed(ids)) => Out::Joined(ids),
                        Ok(Outcome::Cancelled(reason)) => Out::Cancelled(reason.into()),
                        Err(e) => Out::Failed(e.into_errors()),
                    })
            }
        };
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
            Ok(out) => {
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

/// The body of a `run` scope: spawns its members, then joins its action with its nested scopes.
async fn body(w: Arc<World>, s: usize, locals: Option<&Local>) -> Result<usize, u32> {
    let tg = w.groups[s].clone();
    let spec = &w.case.scopes[s];
    for t in &spec.tasks {
        spawn_task(&w, s, t, locals);
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
}
