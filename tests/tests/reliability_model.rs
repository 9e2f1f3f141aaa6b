//! Model-based property test (issue "Reliability"): random trees of scopes, links and events
//! run on a current-thread runtime with tokio's paused clock, checked against a reference model
//! that predicts every scope's outcome; and the same trees on the multi-thread runtime in real
//! time, checked against the invariants that hold whatever the scheduling.
//!
//! The trees mix plain, supervised, racing and joining scopes, tasks, shielded, blocking and
//! local members, deadlines, grace, limits, signals (`cancel_on`) and links forming DAGs and
//! cycles. Checked for every case:
//! - each scope's outcome (completed, won by which contender, joined, cancelled and why, every
//!   error id in order, the panic payload) and its final `cancel_reason()` are one of the
//!   outcomes the model admits;
//! - every error id appears exactly once across all `GroupError`s (none lost, none duplicated;
//!   a won race drops its losers' errors);
//! - panics resurface with their payload;
//! - every task future was dropped before its awaited scope returned (drop guards);
//! - which tasks started (spawns after a cancel never start) matches the model;
//! - nothing hangs: the root returns, or the model predicted a hang and the guard fired.
//!
//! Sizes: 100 paused and 100 multi-thread cases in a debug build (the workspace's tests),
//! 10,000 and 2,000 in a release build (CI: `cargo test --release -p cancel-scope-tests --test
//! reliability_model`). `RELIABILITY_SEED`, `RELIABILITY_CASES` (paused) and
//! `RELIABILITY_MT_CASES` (multi-thread) override them.

mod reliability;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use reliability::case::{Case, Member};
use reliability::generate::{Flavor, case};
use reliability::model::{Admissible, Out, Prediction, Reason, predict};
use reliability::world::{PanicId, World, check_invariants, quiet_injected_panics};

/// Simulated orders per case.
const ORDERS: u64 = 24;
/// Far beyond the last event of any case (paused time: free).
const HANG_GUARD: Duration = Duration::from_secs(10_000);
const DEFAULT_SEED: u64 = 0x5eed_cafe;

#[derive(Default)]
struct Stats {
    cases: AtomicUsize,
    several: AtomicUsize,
    scopes: AtomicUsize,
    tasks: AtomicUsize,
    blocking: AtomicUsize,
    local: AtomicUsize,
    faults: AtomicUsize,
    errors: AtomicUsize,
    panics: AtomicUsize,
    hangs: AtomicUsize,
    /// The number of cases run when the first one failed (before shrinking).
    first_failure: AtomicUsize,
}

impl Stats {
    /// Notes the first failure, so that the report can say how many cases reproduce it.
    fn note<T>(&self, r: Result<T, TestCaseError>) -> Result<T, TestCaseError> {
        if matches!(r, Err(TestCaseError::Fail(_))) {
            let n = self.cases.load(Ordering::Relaxed).max(1);
            let _ = self
                .first_failure
                .compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
        }
        r
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// A fixed seed, so CI runs the same cases every time; `RELIABILITY_SEED` explores others.
fn runner(name: &str, cases_var: &str, debug: u32, release: u32) -> (TestRunner, u64) {
    let seed = env("RELIABILITY_SEED").unwrap_or(DEFAULT_SEED);
    let default = if cfg!(debug_assertions) {
        debug
    } else {
        release
    };
    let cases = env(cases_var).map_or(default, |c| c as u32);
    eprintln!("reliability_model {name}: seed {seed}, {cases} cases");
    let runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        max_global_rejects: 100_000,
        failure_persistence: None,
        ..Config::default()
    });
    (runner, seed)
}

fn report(
    name: &str,
    cases_var: &str,
    seed: u64,
    result: Result<(), TestError<Case>>,
    stats: &Stats,
) {
    let l = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let cases = l(&stats.cases);
    let (detail, hangs) = if name.starts_with("paused") {
        (
            format!(
                "{} with several admissible outcomes, 0 rejected",
                l(&stats.several)
            ),
            "predicted hangs",
        )
    } else {
        (
            "no prediction: invariants only".to_string(),
            "ended by the short guard",
        )
    };
    eprintln!(
        "reliability_model {name}: {cases} cases run ({detail}), {} scopes, {} members spawned \
         ({} blocking, {} local), {} faults injected ({} errors, {} panics reported), {} {hangs}, \
         mismatches and leaks found: {}",
        l(&stats.scopes),
        l(&stats.tasks),
        l(&stats.blocking),
        l(&stats.local),
        l(&stats.faults),
        l(&stats.errors),
        l(&stats.panics),
        l(&stats.hangs),
        usize::from(result.is_err()),
    );
    if let Err(e) = result {
        let first = l(&stats.first_failure);
        panic!(
            "{e}\nreproduce with RELIABILITY_SEED={seed} {cases_var}={first} (the failing case is \
             the last of those; its minimal form is above)"
        );
    }
}

/// Runs `case` on a paused current-thread runtime; returns the log's world and whether the root
/// returned (`Some(panic payload id)` inside when it panicked).
fn run_paused(case: &Case) -> (std::sync::Arc<World>, Option<Result<(), u32>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let w = World::new(case, 1000, true);
        let root = AssertUnwindSafe(w.run_root()).catch_unwind();
        let out = match tokio::time::timeout(HANG_GUARD, root).await {
            Ok(Ok(())) => Some(Ok(())),
            Ok(Err(payload)) => Some(Err(payload
                .downcast_ref::<PanicId>()
                .expect("injected panic")
                .0)),
            Err(_) => None,
        };
        // Aborted tasks of a root dropped by the guard are dropped when next scheduled.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        (w, out)
    })
}

/// Whether the real run matches the admissible outcome `a`; the difference if not.
fn matches(a: &Admissible, w: &World, root: Option<Result<(), u32>>) -> Result<(), String> {
    let p: &Prediction = &a.prediction;
    let log = w.log.lock().unwrap();
    match (&p.root, root) {
        (None, None) => {}
        (Some(Out::Panicked(m)), Some(Err(actual))) if *m == actual => {}
        (Some(out), Some(Ok(()))) if !matches!(out, Out::Panicked(_)) => {}
        (expected, actual) => return Err(format!("root: model {expected:?}, actual {actual:?}")),
    }
    for s in 0..w.case.scopes.len() {
        let actual = log.returned.get(&s).cloned();
        if actual != p.returned[s] {
            return Err(format!(
                "scope {s}: model {:?}, actual {actual:?}",
                p.returned[s]
            ));
        }
        let reason = w.groups[s].cancel_reason().map(Into::into);
        let ok = if actual.is_some() {
            reason == p.reasons[s]
        } else if p.root.is_none() && a.dropped_reasons[s].contains(&None) {
            // Still running when the hang guard dropped the root: dropped now, or cancelled by
            // a linked parent dropped with it.
            matches!(reason, None | Some(Reason::Dropped | Reason::Parent))
        } else {
            a.dropped_reasons[s].contains(&reason)
        };
        if !ok {
            return Err(format!(
                "scope {s}: cancel_reason {reason:?}, model {:?} / {:?}",
                p.reasons[s], a.dropped_reasons[s]
            ));
        }
    }
    if log.started != p.started {
        return Err(format!(
            "started tasks: model {:?}, actual {:?}",
            p.started, log.started
        ));
    }
    Ok(())
}

fn count(stats: &Stats, case: &Case, w: &World) {
    let log = w.log.lock().unwrap();
    let add = |a: &AtomicUsize, n: usize| a.fetch_add(n, Ordering::Relaxed);
    add(&stats.cases, 1);
    add(&stats.scopes, case.scopes.len());
    add(&stats.tasks, log.started.len());
    let of = |m: Member| {
        case.all_tasks()
            .iter()
            .filter(|(_, t)| t.member == m && log.started.contains(&t.id))
            .count()
    };
    add(&stats.blocking, of(Member::Blocking));
    add(&stats.local, of(Member::Local));
    add(&stats.faults, case.faults());
    add(&stats.errors, log.failed.len());
    add(&stats.panics, log.panicked.len());
}

fn check_case(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let admissible = predict(case, ORDERS);
    let (w, root) = run_paused(case);
    count(stats, case, &w);
    if admissible.len() > 1 {
        stats.several.fetch_add(1, Ordering::Relaxed);
    }
    if admissible[0].prediction.root.is_none() {
        stats.hangs.fetch_add(1, Ordering::Relaxed);
    }
    let diffs: Vec<String> = admissible
        .iter()
        .map(|a| matches(a, &w, root))
        .take_while(Result::is_err)
        .map(|r| r.unwrap_err())
        .collect();
    if diffs.len() == admissible.len() {
        let log = w.log.lock().unwrap();
        let tokio = admissible
            .iter()
            .find(|a| a.tokio_order)
            .map(|a| &a.prediction);
        return Err(TestCaseError::fail(format!(
            "no admissible outcome matches ({} admissible):\n{}\ntokio's order (emulated): \
             {tokio:?}\nmodel: {:#?}\nlog: {log:#?}",
            admissible.len(),
            diffs.join("\n"),
            admissible.iter().map(|a| &a.prediction).collect::<Vec<_>>(),
        )));
    }
    check_invariants(&w, root.is_some()).map_err(TestCaseError::fail)?;
    Ok(())
}

#[test]
fn random_trees_match_the_model() {
    quiet_injected_panics();
    let stats = Stats::default();
    let (mut runner, seed) = runner("paused", "RELIABILITY_CASES", 100, 10_000);
    let result = runner.run(&case(6, Flavor::Paused), |c| {
        stats.note(check_case(&c, &stats))
    });
    report(
        "paused current_thread",
        "RELIABILITY_CASES",
        seed,
        result,
        &stats,
    );
}

/// The same trees on a multi-thread runtime in real time (1 ms of case time = 1 us): no
/// prediction, only the invariants (no error lost or duplicated, panics resurface, nothing
/// outlives its scope, nothing hangs, nothing survives the runtime). A case that may hang by
/// design (a shielded task waiting for a cancel that real time may order away) gets a short
/// guard, and its root is dropped when the guard fires.
#[test]
fn random_trees_keep_the_invariants_on_multi_thread() {
    quiet_injected_panics();
    let stats = Stats::default();
    let (mut runner, seed) = runner("multi_thread", "RELIABILITY_MT_CASES", 100, 2_000);
    let result = runner.run(&case(6, Flavor::MultiThread), |c| {
        stats.note(run_multi_thread(&c, &stats))
    });
    report("multi_thread", "RELIABILITY_MT_CASES", seed, result, &stats);
}

/// One case of the multi-thread variant.
fn run_multi_thread(c: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    {
        let may_hang = c.may_hang();
        let guard = Duration::from_secs(if may_hang { 1 } else { 10 });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (w, root) = rt.block_on(async {
            let w = World::new(c, 1, false);
            let root = AssertUnwindSafe(w.run_root()).catch_unwind();
            let out = tokio::time::timeout(guard, root).await;
            (w, out)
        });
        drop(rt);
        let returned = match root {
            Ok(_) => true,
            Err(_) if may_hang => {
                stats.hangs.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(_) => return Err(TestCaseError::fail(format!("hung: {c:?}"))),
        };
        count(stats, c, &w);
        check_invariants(&w, returned).map_err(TestCaseError::fail)?;
        w.drop_unrun();
        let alive = w.log.lock().unwrap().alive.clone();
        if !alive.is_empty() {
            return Err(TestCaseError::fail(format!(
                "task futures alive after the runtime was dropped: {alive:?}"
            )));
        }
        Ok(())
    }
}
