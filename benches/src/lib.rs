//! The contenders of the side-by-side benchmarks, shared by the `--quick` / `--full` binary
//! (`src/main.rs`) and the divan benches (`benches/compare.rs`).
//!
//! Every function here is one *measured unit*: it builds what it needs, does the work, and
//! tears everything down, so the caller can time it and pair it with a peer's unit in the
//! same round. Contenders:
//!
//! - `ours`: `cancel_scope::CancelScope` + `TaskGroup` through the runtime API;
//! - `ours_macro`: the same through `cancel_scope!`;
//! - `joinset`: `tokio::task::JoinSet`;
//! - `handles`: `tokio::spawn` and the `JoinHandle`s awaited one by one;
//! - `tracker`: `tokio_util::task::TaskTracker` (+ `CancellationToken` for cancellation);
//! - `moro`: `moro::async_scope!` (its jobs run inside the scope's own task, not as tokio
//!   tasks).

// The task bodies spell out `impl Future + Send + 'static` so that the bound is checked where
// they are defined, not at each spawn.
#![allow(clippy::manual_async_fn)]

pub mod linked;
pub mod members;
pub mod plot;
pub mod policies;
pub mod sweep;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cancel_scope::{BoxError, CancelScope, Outcome, TaskGroup};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The size every "64-byte" task future must have (asserted by [`check_future_sizes`]).
pub const FUTURE_BYTES: usize = 64;

// ----------------------------------------------------------------------------------------
// Task bodies
// ----------------------------------------------------------------------------------------

/// A trivial task: completes at its first poll.
pub fn trivial() -> impl Future<Output = ()> + Send + 'static {
    async {}
}

/// A task whose future is exactly 64 bytes and that yields once: a 46-byte array held across
/// a `tokio::task::yield_now().await` (tokio's yield future is 16 bytes, 8-aligned).
pub fn yield64() -> impl Future<Output = ()> + Send + 'static {
    async {
        let buf = [7u8; 46];
        tokio::task::yield_now().await;
        black_box(&buf);
    }
}

/// Counts tasks that reached their parking point (first poll of [`parked64`] and friends).
pub static PARKED: AtomicUsize = AtomicUsize::new(0);
/// Counts short tasks that completed ([`short`]).
pub static DONE: AtomicUsize = AtomicUsize::new(0);

/// A task whose future is exactly 64 bytes and that never completes (it must be aborted):
/// counts itself in [`PARKED`] at its first poll, then parks on `std::future::pending`.
pub fn parked64() -> impl Future<Output = ()> + Send + 'static {
    async {
        let buf = [7u8; 63];
        PARKED.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
        black_box(&buf);
    }
}

/// Like [`parked64`], but waits on a `CancellationToken` instead of `pending` (for the
/// `TaskTracker` + `CancellationToken` contender, whose tasks must observe the token).
pub fn parked_on_token(token: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let buf = [7u8; 63];
        PARKED.fetch_add(1, Ordering::Relaxed);
        token.cancelled().await;
        black_box(&buf);
    }
}

/// A short task for the bounded-memory run: counts itself in [`DONE`] and ends.
pub fn short() -> impl Future<Output = ()> + Send + 'static {
    async {
        DONE.fetch_add(1, Ordering::Relaxed);
    }
}

/// Panics unless the "64-byte" futures really are 64 bytes.
pub fn check_future_sizes() {
    assert_eq!(std::mem::size_of_val(&yield64()), FUTURE_BYTES, "yield64");
    assert_eq!(std::mem::size_of_val(&parked64()), FUTURE_BYTES, "parked64");
}

/// Yields until `n` tasks counted themselves in [`PARKED`] (so every task is parked, not merely
/// queued), then resets the counter.
pub async fn wait_parked(n: usize) {
    while PARKED.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
    PARKED.store(0, Ordering::Relaxed);
}

// ----------------------------------------------------------------------------------------
// 1. Spawn and join n tasks
// ----------------------------------------------------------------------------------------

/// Ours: a scope whose body spawns `n` tasks (handles dropped); `run` joins them.
pub async fn ours_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F,
) {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async move {
            for _ in 0..n {
                drop(tg.spawn(make()));
            }
            Ok(())
        })
        .await;
    assert!(matches!(out, Ok(Outcome::Completed(()))));
}

/// Ours through the `cancel_scope!` macro.
pub async fn ours_macro_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F,
) {
    let out: cancel_scope::ScopeResult<()> = cancel_scope::cancel_scope! {
        for _ in 0..n {
            spawn make();
        }
    };
    assert!(matches!(out, Ok(Outcome::Completed(()))));
}

/// `JoinSet`: spawn `n`, then `join_next` until empty.
pub async fn joinset_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F,
) {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(make());
    }
    while let Some(res) = set.join_next().await {
        res.expect("task failed");
    }
}

/// `tokio::spawn` into a `Vec<JoinHandle>`, then await each handle.
pub async fn handles_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F,
) {
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(tokio::spawn(make()));
    }
    for handle in handles {
        handle.await.expect("task failed");
    }
}

/// `TaskTracker`: spawn `n` (handles dropped), `close`, `wait`.
pub async fn tracker_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F,
) {
    let tracker = TaskTracker::new();
    for _ in 0..n {
        drop(tracker.spawn(make()));
    }
    tracker.close();
    tracker.wait().await;
}

/// `moro`: a scope whose body spawns `n` jobs (they run inside the scope's task).
pub async fn moro_spawn_join<F: Future<Output = ()> + Send + 'static>(
    n: usize,
    make: impl Fn() -> F + Sync,
) {
    let make = &make;
    moro::async_scope!(|scope| {
        for _ in 0..n {
            drop(scope.spawn(make()));
        }
    })
    .await;
}

// ----------------------------------------------------------------------------------------
// 2. Cancel latency: n parked tasks; time from the cancel to the end of the join
// ----------------------------------------------------------------------------------------

/// Ours: `n` parked tasks in a scope; time from `tg.cancel()` to `run` returning.
pub async fn ours_cancel(n: usize) -> Duration {
    let scope = CancelScope::new();
    let tg = scope.group();
    let mut t0 = None;
    let out = scope
        .run(async {
            for _ in 0..n {
                drop(tg.spawn(parked64()));
            }
            wait_parked(n).await;
            t0 = Some(Instant::now());
            tg.cancel();
            Ok(())
        })
        .await;
    let elapsed = t0.expect("body ran").elapsed();
    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
    elapsed
}

/// `JoinSet`: `n` parked tasks; time of `abort_all` + draining `join_next`.
pub async fn joinset_cancel(n: usize) -> Duration {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(parked64());
    }
    wait_parked(n).await;
    let t0 = Instant::now();
    set.abort_all();
    while set.join_next().await.is_some() {}
    t0.elapsed()
}

/// `tokio::spawn`: `n` parked tasks; time of aborting every handle and awaiting each.
pub async fn handles_cancel(n: usize) -> Duration {
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(tokio::spawn(parked64()));
    }
    wait_parked(n).await;
    let t0 = Instant::now();
    for handle in &handles {
        handle.abort();
    }
    for handle in handles {
        let _ = handle.await;
    }
    t0.elapsed()
}

/// `TaskTracker` + `CancellationToken`: `n` tasks waiting on the token; time of
/// `token.cancel()` + `tracker.wait()`.
pub async fn tracker_cancel(n: usize) -> Duration {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    for _ in 0..n {
        drop(tracker.spawn(parked_on_token(token.clone())));
    }
    tracker.close();
    wait_parked(n).await;
    let t0 = Instant::now();
    token.cancel();
    tracker.wait().await;
    t0.elapsed()
}

// ----------------------------------------------------------------------------------------
// 3. Empty scope: `iters` times enter and leave a scope with no task
// ----------------------------------------------------------------------------------------

/// Ours: `CancelScope::new().run(async { Ok(()) }).await`, `iters` times.
pub async fn ours_empty(iters: usize) {
    for _ in 0..iters {
        let out = CancelScope::new()
            .run(async { Ok::<(), BoxError>(()) })
            .await;
        assert!(black_box(out).is_ok());
    }
}

/// Ours through the macro: `cancel_scope! {}`, `iters` times.
pub async fn ours_macro_empty(iters: usize) {
    for _ in 0..iters {
        let out: cancel_scope::ScopeResult<()> = cancel_scope::cancel_scope! {};
        assert!(black_box(out).is_ok());
    }
}

/// `JoinSet::new()` + drop, `iters` times.
#[allow(clippy::unused_async)]
pub async fn joinset_empty(iters: usize) {
    for _ in 0..iters {
        let set: JoinSet<()> = JoinSet::new();
        drop(black_box(set));
    }
}

/// `TaskTracker::new()` + `close()` + `wait().await`, `iters` times.
pub async fn tracker_empty(iters: usize) {
    for _ in 0..iters {
        let tracker = black_box(TaskTracker::new());
        tracker.close();
        tracker.wait().await;
    }
}

/// An empty `moro::async_scope!`, `iters` times.
pub async fn moro_empty(iters: usize) {
    for _ in 0..iters {
        moro::async_scope!(|_scope| ()).await;
        black_box(());
    }
}

// ----------------------------------------------------------------------------------------
// 4. Linked chains
// ----------------------------------------------------------------------------------------

/// Which end of a chain is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// The deepest scope: the cancel travels up (reason `Child`) to the root.
    Leaf,
    /// The root scope: the cancel travels down (reason `Parent`) and by task abort.
    Root,
}

/// What one chain run measured.
#[derive(Clone, Copy, Debug)]
pub struct ChainTimes {
    /// From the root's first poll until the leaf scope is running.
    pub build: Duration,
    /// From the cancel until the root scope returned (so every scope returned or was dropped).
    pub cancel: Duration,
}

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Extra bytes each level's future of a chain carries, in [`chain_padded`]. A chain's cancel
/// time follows where glibc's `malloc` puts each level's allocations, and so the size of each
/// level's future: with the same runtime code, 0 to 64 extra bytes moved the 10k-deep figure
/// between 0.9 and 2.8 us per level (see BENCHMARKS.md). The quick mode runs every one and
/// gates on the worst.
pub const CHAIN_PADS: [usize; 5] = [0, 16, 32, 48, 64];

/// One level of a chain: a task running a scope linked (`.parent`) to the level above, whose
/// body spawns the next level (or, at the leaf, hands its group to the root) and then waits;
/// its future carries `pad` bytes more than the plain level (one of [`CHAIN_PADS`]).
fn chain_level(
    parent: TaskGroup,
    left: usize,
    leaf: oneshot::Sender<TaskGroup>,
    pad: usize,
) -> BoxFut {
    match pad {
        0 => padded_level::<0>(parent, left, leaf),
        16 => padded_level::<2>(parent, left, leaf),
        32 => padded_level::<4>(parent, left, leaf),
        48 => padded_level::<6>(parent, left, leaf),
        64 => padded_level::<8>(parent, left, leaf),
        other => panic!("no chain level padded by {other} bytes; pads: {CHAIN_PADS:?}"),
    }
}

/// [`chain_level`] with `W` words of padding held across the level's `.await`.
fn padded_level<const W: usize>(
    parent: TaskGroup,
    left: usize,
    leaf: oneshot::Sender<TaskGroup>,
) -> BoxFut {
    Box::pin(async move {
        let pad = [7_u64; W];
        let scope = CancelScope::new().parent(&parent);
        drop(parent);
        let tg = scope.group();
        let _ = scope
            .run(async move {
                if left > 1 {
                    drop(tg.spawn(chain_level(tg.clone(), left - 1, leaf, W * 8)));
                } else {
                    let _ = leaf.send(tg.clone());
                }
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
        black_box(&pad);
    })
}

/// [`chain_padded`] with no padding.
pub async fn chain(depth: usize, end: ChainEnd) -> ChainTimes {
    chain_padded(depth, end, 0).await
}

/// A chain of `depth` tasks below a root scope, each running a scope linked to the one above
/// and each level's future `pad` bytes larger (one of [`CHAIN_PADS`]); once the leaf runs,
/// cancel `end` and time until the root scope returns.
pub async fn chain_padded(depth: usize, end: ChainEnd, pad: usize) -> ChainTimes {
    let (tx, rx) = oneshot::channel();
    let scope = CancelScope::new();
    let tg = scope.group();
    let start = Instant::now();
    let mut marks = None;
    let out = scope
        .run(async {
            drop(tg.spawn(chain_level(tg.clone(), depth, tx, pad)));
            let leaf = rx.await.expect("the leaf runs");
            let t0 = Instant::now();
            marks = Some((t0 - start, t0));
            match end {
                ChainEnd::Leaf => leaf.cancel(),
                ChainEnd::Root => tg.cancel(),
            }
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    let (build, t0) = marks.expect("the body ran");
    let cancel = t0.elapsed();
    assert!(matches!(out, Ok(Outcome::Cancelled(_))), "{out:?}");
    ChainTimes { build, cancel }
}

// ----------------------------------------------------------------------------------------
// Runtimes
// ----------------------------------------------------------------------------------------

/// A current-thread runtime with the time driver (the gated flavour).
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// A multi-thread runtime with `workers` workers and the time driver.
pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("runtime")
}
