//! Linked cancels on several threads: do cancels of *unrelated* linked groups wait for each
//! other? They must not: the cost of a cancel is confined to the groups its links reach.
//!
//! Groups here are idle (built with `CancelScope::group`, never run), so the figures measure
//! marking and propagation alone, on plain `std::thread`s, without a runtime.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cancel_scope::{CancelScope, TaskGroup};

/// Whether the two groups of a pair are linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linking {
    /// The child is linked to the parent: its cancel travels up.
    Linked,
    /// Two independent groups, both cancelled.
    Unlinked,
}

/// Creates `n` pairs of groups and cancels each pair (the child; for unlinked pairs, both).
pub fn pairs(n: usize, linking: Linking) {
    for _ in 0..n {
        let parent = CancelScope::new();
        let pg = parent.group();
        let child = match linking {
            Linking::Linked => CancelScope::new().parent(&pg),
            Linking::Unlinked => CancelScope::new(),
        };
        let cg = child.group();
        cg.cancel();
        if linking == Linking::Unlinked {
            pg.cancel();
        }
        debug_assert!(pg.is_cancelled());
        drop(black_box((child, parent)));
    }
}

/// `threads` threads each run [`pairs`]`(n, linking)` at the same time; the wall time of the
/// slowest.
pub fn pairs_on_threads(threads: usize, n: usize, linking: Linking) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    pairs(n, linking);
                    t.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .max()
            .unwrap_or_default()
    })
}

/// A chain of `len` idle groups, each linked to the one before: the scopes (kept alive) and
/// the leaf's group.
pub fn idle_chain(len: usize) -> (Vec<CancelScope>, TaskGroup) {
    let mut scopes = Vec::with_capacity(len);
    let root = CancelScope::new();
    let mut last = root.group();
    scopes.push(root);
    for _ in 1..len {
        let s = CancelScope::new().parent(&last);
        last = s.group();
        scopes.push(s);
    }
    (scopes, last)
}

/// What [`cancel_beside`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Beside {
    /// How long the long chain's cancel (from its leaf) took.
    pub long_cancel: Duration,
    /// The slowest of the short chain's cancels made while the long one ran.
    pub short_max: Duration,
    /// Their median.
    pub short_median: Duration,
    /// How many short cancels ran during the long one.
    pub short_count: usize,
}

/// One thread cancels a chain `long` deep from its leaf while another cancels fresh chains
/// `short` deep, one after the other, until the first is done: the short cancels must not wait
/// for the long one.
pub fn cancel_beside(long: usize, short: usize) -> Beside {
    let (long_scopes, long_leaf) = idle_chain(long);
    let shorts: Vec<_> = (0..20_000).map(|_| idle_chain(short)).collect();
    let barrier = Barrier::new(2);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (long_cancel, mut times) = std::thread::scope(|s| {
        let long_worker = s.spawn(|| {
            barrier.wait();
            let t = Instant::now();
            long_leaf.cancel();
            let took = t.elapsed();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            took
        });
        let short_worker = s.spawn(|| {
            barrier.wait();
            let mut times = Vec::new();
            for (_, leaf) in &shorts {
                if done.load(std::sync::atomic::Ordering::SeqCst) && !times.is_empty() {
                    break;
                }
                let t = Instant::now();
                leaf.cancel();
                times.push(t.elapsed());
            }
            times
        });
        (
            long_worker.join().expect("long"),
            short_worker.join().expect("short"),
        )
    });
    drop(long_scopes);
    drop(shorts);
    times.sort();
    Beside {
        long_cancel,
        short_max: times.last().copied().unwrap_or_default(),
        short_median: times[times.len() / 2],
        short_count: times.len(),
    }
}
