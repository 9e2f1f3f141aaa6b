//! Drop safety (issue "Reliability"): a scope's `run` future dropped after each possible number
//! of polls (0, 1, 2, ... until it completes), in random trees of scopes (see
//! `reliability/case.rs`), on a current-thread runtime with tokio's paused clock.
//!
//! The dropped root runs inside an outer scope's body, so SPEC sec. 2's hand-over is checked too:
//! when the outer scope returns, every task future of every nested scope must have been dropped
//! (drop guards), and a panic of the dropped tree it resumes must be one that was raised. Afterwards every `TaskGroup` handle left behind must be harmless: `cancel`,
//! `spawn`, `try_spawn`, `spawn_shielded`, `len`, `cancelled`, `cancel_reason` do not panic, and
//! nothing spawned on them starts.

mod reliability;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cancel_scope::{CancelScope, TaskGroup};
use futures::FutureExt;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use reliability::generate::{Flavor, case};
use reliability::world::{PanicId, World, quiet_injected_panics};

/// Polls the inner future at most `budget` times, then drops it (right after a `Pending`).
/// Resolves to the inner future's output if it completed within the budget.
struct DropAfter<F> {
    inner: Option<Pin<Box<F>>>,
    budget: usize,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for DropAfter<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.budget == 0 {
            self.inner = None;
            return Poll::Ready(None);
        }
        self.budget -= 1;
        self.polls.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.as_mut().expect("polled after the end");
        match inner.as_mut().poll(cx) {
            Poll::Ready(out) => {
                self.inner = None;
                Poll::Ready(Some(out))
            }
            Poll::Pending if self.budget == 0 => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs the case's root inside an outer scope, dropped after `budget` polls or `time` of the
/// paused clock, whichever comes first. Returns the number of polls made, whether the root
/// completed, and the paused time it took.
fn run_with_budget(
    c: &reliability::case::Case,
    budget: usize,
    time: Duration,
) -> Result<(usize, bool, Duration), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let w = World::new(c, 1000, true);
        let polls = Arc::new(AtomicUsize::new(0));
        let start = tokio::time::Instant::now();
        let root = DropAfter {
            inner: Some(Box::pin(tokio::time::timeout(
                time,
                AssertUnwindSafe(w.run_root()).catch_unwind(),
            ))),
            budget,
            polls: polls.clone(),
        };
        let outer = CancelScope::new();
        let out = tokio::time::timeout(
            Duration::from_secs(100_000),
            AssertUnwindSafe(outer.run(async move { Ok(matches!(root.await, Some(Ok(_)))) }))
                .catch_unwind(),
        )
        .await
        .map_err(|_| TestCaseError::fail(format!("hung with a budget of {budget} polls")))?;
        // A panic recorded in the dropped tree (before or after the drop) is handed over with
        // it and resumed by the outer scope (SPEC sec. 2 and rule 4): it must be one that an
        // injected task or body really raised.
        let completed = match out {
            Ok(out) => out.unwrap().completed().unwrap_or(false),
            Err(payload) => {
                let Some(PanicId(id)) = payload.downcast_ref::<PanicId>() else {
                    return Err(TestCaseError::fail(format!(
                        "budget {budget}: the outer scope resumed a panic that was not injected"
                    )));
                };
                if !w
                    .log
                    .lock()
                    .unwrap()
                    .panicked
                    .iter()
                    .any(|&(_, p)| p == *id)
                {
                    return Err(TestCaseError::fail(format!(
                        "budget {budget}: the outer scope resumed injected panic {id}, which \
                         was never raised"
                    )));
                }
                false
            }
        };
        let took = start.elapsed();
        // The outer scope waited for every task of the dropped tree.
        {
            let log = w.log.lock().unwrap();
            if !log.alive.is_empty() || !log.violations.is_empty() {
                return Err(TestCaseError::fail(format!(
                    "budget {budget}: the outer scope returned while task futures {:?} of \
                     (task -> scope) were alive; violations {:?}",
                    log.alive, log.violations
                )));
            }
        }
        w.drop_unrun();
        for (s, tg) in w.groups.iter().enumerate() {
            left_behind_is_harmless(tg)
                .await
                .map_err(|e| TestCaseError::fail(format!("budget {budget}, scope {s}: {e}")))?;
        }
        Ok((polls.load(Ordering::Relaxed), completed, took))
    })
}

/// Every operation on a handle of a finished or dropped group is harmless.
async fn left_behind_is_harmless(tg: &TaskGroup<u32>) -> Result<(), String> {
    let started = Arc::new(AtomicBool::new(false));
    let flag = |started: &Arc<AtomicBool>| {
        let started = started.clone();
        async move {
            started.store(true, Ordering::SeqCst);
            Ok::<(), u32>(())
        }
    };
    let reason = tg.cancel_reason();
    tg.cancel();
    cancel_scope::cancel_group(tg);
    if tg.cancel_reason() != reason {
        return Err(format!(
            "cancel on a finished group changed its reason from {reason:?} to {:?}",
            tg.cancel_reason()
        ));
    }
    let h1 = tg.spawn(flag(&started));
    let h2 = tg.spawn_shielded(flag(&started));
    if tg.try_spawn(flag(&started)).is_ok() {
        return Err("try_spawn accepted a task".into());
    }
    let _ = tg.clone().cancelled().now_or_never();
    #[allow(clippy::len_zero)] // both accessors are checked
    if tg.len() != 0 || !tg.is_empty() {
        return Err(format!("len {} after the end", tg.len()));
    }
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    if h1.await.is_some() || h2.await.is_some() || started.load(Ordering::SeqCst) {
        return Err("a task spawned on a finished group started".into());
    }
    let _ = format!("{tg:?}");
    Ok(())
}

/// Longer than any tree's last event (paused time costs nothing).
const HANG: Duration = Duration::from_secs(60);

#[test]
fn dropping_run_after_every_poll_leaves_nothing_behind() {
    quiet_injected_panics();
    let seed = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xd20f);
    let mut runner = TestRunner::new(Config {
        cases: 200,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    let (cases, drops, max_polls) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let result = runner.run(&case(5, Flavor::Paused), |c| {
        // A full run first, to learn how many polls and how much paused time the root takes (a
        // tree that hangs by design is cut off by the time limit).
        let (total, _, took) = run_with_budget(&c, usize::MAX, HANG)?;
        max_polls.fetch_max(total, Ordering::Relaxed);
        for budget in 0..=total {
            let (_, completed, _) = run_with_budget(&c, budget, HANG)?;
            if !completed {
                drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Then by paused time: every quarter second until the end.
        let mut time = Duration::ZERO;
        while time <= took.min(HANG) {
            let (_, completed, _) = run_with_budget(&c, usize::MAX, time)?;
            if !completed {
                drops.fetch_add(1, Ordering::Relaxed);
            }
            time += Duration::from_millis(250);
        }
        cases.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    eprintln!(
        "reliability_drop (seed {seed}): {} trees, {} run futures dropped mid-way (by poll \
         count, up to {} polls per tree, and by paused time, every 250 ms), leaks found: 0",
        cases.load(Ordering::Relaxed),
        drops.load(Ordering::Relaxed),
        max_polls.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
