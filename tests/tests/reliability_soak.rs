//! Soak (issue "Reliability"): one long-lived scope through which short tasks churn, then scopes
//! nested and linked in waves (chains 10 deep, each cancelled from its innermost scope, the
//! cancel travelling up the links, the inner scopes dropped and handed over); task counts return
//! to 0 and the bytes live (a counting global allocator in this test binary) return to the level
//! seen after the first wave.
//!
//! `soak_ci` (100,000 tasks, 10,000 scopes) runs in CI. The full soak (1,000,000 tasks, 100,000
//! scopes) is `#[ignore]`d; run it with
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-rel cargo test --release -p cancel-scope-tests \
//!     --test reliability_soak -- --ignored --nocapture
//! ```
//!
//! (`tests/tests/beyond_memory.rs` checks the flat-memory promise alone, for a million tasks.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};

mod counting_alloc;

use counting_alloc::live;

/// The soaks count bytes process-wide: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const WAVE: usize = 1_000;
const DEPTH: usize = 10;
/// Allowed growth of live bytes between the first wave and the end.
const SLACK: isize = 256 * 1024;

static SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// Phase 1: `total` short tasks through one scope, in waves of `WAVE` (no failures: every task
/// succeeds). Returns the live bytes after the first wave and the peak after it.
async fn churn(total: usize) -> (isize, isize) {
    let scope = CancelScope::new();
    let tg = scope.group();
    let (mut first, mut peak) = (0, 0);
    let out = scope
        .run(async {
            for wave in 0..total / WAVE {
                for i in 0..WAVE {
                    if i % 2 == 0 {
                        tg.spawn(async { tokio::task::yield_now().await });
                    } else {
                        tg.spawn(async move { Ok::<_, BoxError>(i) });
                    }
                }
                SPAWNED.fetch_add(WAVE, Ordering::Relaxed);
                while !tg.is_empty() {
                    tokio::task::yield_now().await;
                }
                if wave == 0 {
                    first = live();
                }
                peak = peak.max(live());
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(tg.len(), 0);
    (first, peak)
}

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One chain of `DEPTH` nested scopes: the top is linked to `root`, every scope below the second
/// to the one it runs in; the innermost cancels itself by request, which travels up the links
/// to the second scope (the top is not linked to it, so `root` is never cancelled).
fn chain(k: usize, up: Option<TaskGroup>, root: TaskGroup) -> BoxFut {
    Box::pin(async move {
        let mut scope = CancelScope::new();
        if k == 0 {
            scope = scope.parent(&root);
        } else if k >= 2 {
            scope = scope.parent(up.as_ref().unwrap());
        }
        let tg = scope.group();
        let inner = tg.clone();
        let out = scope
            .run(async move {
                inner.spawn(async { tokio::task::yield_now().await });
                SPAWNED.fetch_add(1, Ordering::Relaxed);
                if k + 1 < DEPTH {
                    chain(k + 1, Some(inner.clone()), root).await;
                } else {
                    inner.spawn(std::future::pending::<()>());
                    SPAWNED.fetch_add(1, Ordering::Relaxed);
                    inner.cancel();
                }
                Ok(())
            })
            .await;
        // Scopes below the second are usually dropped by the cancel (their enclosing body is
        // dropped); on the multi-thread runtime one may finish first, when its tasks were
        // already dropped by another worker.
        let expected = match k {
            0 => Outcome::Completed(()),
            _ if k + 1 == DEPTH => Outcome::Cancelled(CancelReason::Requested),
            _ => Outcome::Cancelled(CancelReason::Child),
        };
        assert_eq!(out.unwrap(), expected, "scope {k} of a chain");
        assert_eq!(tg.len(), 0);
    })
}

/// Phase 2: `total` scopes as chains of `DEPTH`, `WAVE / DEPTH` chains at a time, inside one
/// long-lived root scope. Returns (after first wave, peak after).
async fn chains(total: usize) -> (isize, isize) {
    let scope = CancelScope::new();
    let root = scope.group();
    let (mut first, mut peak) = (0, 0);
    let out = scope
        .run(async {
            let per_wave = WAVE / DEPTH;
            for wave in 0..total / WAVE {
                let wave_chains: Vec<_> = (0..per_wave)
                    .map(|_| chain(0, None, root.clone()))
                    .collect();
                futures::future::join_all(wave_chains).await;
                assert_eq!(root.len(), 0);
                assert!(!root.is_cancelled());
                if wave == 0 {
                    first = live();
                }
                peak = peak.max(live());
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    (first, peak)
}

fn soak(tasks: usize, scopes: usize, flavor: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = match flavor {
        "current_thread" => tokio::runtime::Builder::new_current_thread().build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build(),
    }
    .unwrap();
    SPAWNED.store(0, Ordering::Relaxed);
    let before = live();
    let (t_first, t_peak) = rt.block_on(churn(tasks));
    let tasks_spawned = SPAWNED.swap(0, Ordering::Relaxed);
    let (s_first, s_peak) = rt.block_on(chains(scopes));
    let chain_tasks = SPAWNED.load(Ordering::Relaxed);
    let after = live();
    drop(rt);
    let (t_growth, s_growth) = (t_peak - t_first, s_peak - s_first);
    eprintln!(
        "reliability_soak {flavor}: {tasks_spawned} tasks through one scope (live bytes after \
         the first wave {t_first}, growth after it {t_growth}); {scopes} scopes in chains of \
         {DEPTH} with {chain_tasks} tasks (after the first wave {s_first}, growth after it \
         {s_growth}); live bytes before {before}, after {after}, after dropping the runtime {}; \
         leaks found: 0",
        live()
    );
    assert!(
        t_growth < SLACK,
        "task churn grew memory by {t_growth} bytes"
    );
    assert!(
        s_growth < SLACK,
        "scope chains grew memory by {s_growth} bytes"
    );
}

/// CI size: 100,000 tasks, 10,000 scopes, on both runtimes.
#[test]
fn soak_ci() {
    soak(100_000, 10_000, "current_thread");
    soak(100_000, 10_000, "multi_thread");
}

/// The full soak: 1,000,000 tasks, 100,000 scopes, on both runtimes (see the module docs).
#[test]
#[ignore = "long: run with --ignored (see the module docs)"]
fn soak_full() {
    soak(1_000_000, 100_000, "current_thread");
    soak(1_000_000, 100_000, "multi_thread");
}
