//! The size sweep: spawn and join (and cancel) 100k tasks whose futures are 16 to 256 bytes,
//! completing at once or yielding once, for every contender.
//!
//! One future size on one machine makes no claim: the cost of a task depends on where its
//! future lands among tokio's task-cell size classes, so the headline figure is the **worst**
//! ratio over the whole sweep, not the best point. The futures are plain structs (an array of
//! `u64` and a one-byte state), so their size is exact and asserted, and no async-block layout
//! decides it.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cancel_scope::{CancelScope, Outcome};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{PARKED, wait_parked};

/// The future sizes of the sweep, in bytes.
pub const SIZES: [usize; 9] = [16, 32, 48, 64, 80, 96, 128, 192, 256];

/// How a task of the sweep behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Completes at its first poll.
    Ready,
    /// Wakes itself and returns `Pending` once, then completes.
    YieldOnce,
}

impl Shape {
    /// Its name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Ready => "ready",
            Shape::YieldOnce => "yield",
        }
    }
}

/// A task future of exactly `8 * (W + 1)` bytes: `W` words of payload and its state.
#[derive(Debug)]
pub struct SizedTask<const W: usize> {
    payload: [u64; W],
    /// Polls left before it completes; `u8::MAX`: parked for ever (counted in [`PARKED`]).
    left: u8,
}

const PARK: u8 = u8::MAX;

impl<const W: usize> SizedTask<W> {
    fn new(shape: Shape) -> Self {
        SizedTask {
            payload: [7; W],
            left: match shape {
                Shape::Ready => 0,
                Shape::YieldOnce => 1,
            },
        }
    }

    fn parked() -> Self {
        SizedTask {
            payload: [7; W],
            left: PARK,
        }
    }
}

impl<const W: usize> Future for SizedTask<W> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        black_box(&self.payload);
        match self.left {
            0 => Poll::Ready(()),
            PARK => {
                PARKED.fetch_add(1, Ordering::Relaxed);
                // Counted once; stays parked (no waker kept: only an abort ends it).
                self.left = PARK - 1;
                Poll::Pending
            }
            n if n == PARK - 1 => Poll::Pending,
            n => {
                self.left = n - 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

/// The contenders of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// A cancel scope (`CancelScope` + `TaskGroup`, handles dropped, `run` joins).
    Ours,
    /// `JoinSet`: spawn, then `join_next` until empty (cancel: `abort_all` + drain).
    JoinSet,
    /// `tokio::spawn` and the handles awaited (cancel: abort each, await each).
    Handles,
    /// `TaskTracker` (+ `CancellationToken` for cancel).
    Tracker,
}

impl Contender {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Ours => "ours",
            Contender::JoinSet => "joinset",
            Contender::Handles => "handles",
            Contender::Tracker => "tracker",
        }
    }
}

/// Calls `$f::<W>(args)` with the `W` that gives a `$size`-byte [`SizedTask`].
macro_rules! with_size {
    ($size:expr, $f:ident ( $($arg:expr),* )) => {
        match $size {
            16 => $f::<1>($($arg),*),
            32 => $f::<3>($($arg),*),
            48 => $f::<5>($($arg),*),
            64 => $f::<7>($($arg),*),
            80 => $f::<9>($($arg),*),
            96 => $f::<11>($($arg),*),
            128 => $f::<15>($($arg),*),
            192 => $f::<23>($($arg),*),
            256 => $f::<31>($($arg),*),
            other => panic!("no sweep future of {other} bytes"),
        }
    };
}

/// The allocations of one spawn of a parked `size`-byte sweep future, ours then `JoinSet`, as
/// `log` reports them (it runs the spawn with allocation logging on). For `--unit cell_sizes`.
pub fn spawn_sizes(
    rt: &Runtime,
    size: usize,
    log: &dyn Fn(&mut dyn FnMut()) -> String,
) -> (String, String) {
    fn go<const W: usize>(
        rt: &Runtime,
        log: &dyn Fn(&mut dyn FnMut()) -> String,
    ) -> (String, String) {
        rt.block_on(async {
            let scope = CancelScope::new();
            let tg = scope.group();
            let mut set = JoinSet::new();
            // Warmed first, so that only the task's own allocations show.
            for _ in 0..8 {
                drop(tg.spawn(async {}));
                set.spawn(async {});
            }
            let ours = log(&mut || drop(tg.spawn(SizedTask::<W>::parked())));
            let theirs = log(&mut || drop(set.spawn(SizedTask::<W>::parked())));
            tg.cancel();
            set.abort_all();
            let _ = scope.run(async { Ok(()) }).await;
            while set.join_next().await.is_some() {}
            (ours, theirs)
        })
    }
    with_size!(size, go(rt, log))
}

/// Panics unless every sweep future has its nominal size.
pub fn check_sizes() {
    fn size<const W: usize>(nominal: usize) {
        assert_eq!(
            std::mem::size_of_val(&SizedTask::<W>::new(Shape::Ready)),
            nominal,
            "sweep future of nominal size {nominal}"
        );
    }
    for s in SIZES {
        with_size!(s, size(s));
    }
}

/// Spawns and joins `n` tasks of `size` bytes and `shape` with `who`; the time from the first
/// poll of the measuring task to the end.
pub fn spawn_join(rt: &Runtime, who: Contender, size: usize, shape: Shape, n: usize) -> Duration {
    fn go<const W: usize>(rt: &Runtime, who: Contender, shape: Shape, n: usize) -> Duration {
        let make = move || SizedTask::<W>::new(shape);
        rt.block_on(async move {
            let t = Instant::now();
            match who {
                Contender::Ours => crate::ours_spawn_join(n, make).await,
                Contender::JoinSet => crate::joinset_spawn_join(n, make).await,
                Contender::Handles => crate::handles_spawn_join(n, make).await,
                Contender::Tracker => crate::tracker_spawn_join(n, make).await,
            }
            t.elapsed()
        })
    }
    with_size!(size, go(rt, who, shape, n))
}

/// `n` parked tasks of `size` bytes; the time from the cancel to the end of the join.
pub fn cancel(rt: &Runtime, who: Contender, size: usize, n: usize) -> Duration {
    fn go<const W: usize>(rt: &Runtime, who: Contender, n: usize) -> Duration {
        rt.block_on(async move {
            match who {
                Contender::Ours => {
                    let scope = CancelScope::new();
                    let tg = scope.group();
                    let mut t0 = None;
                    let out = scope
                        .run(async {
                            for _ in 0..n {
                                drop(tg.spawn(SizedTask::<W>::parked()));
                            }
                            wait_parked(n).await;
                            t0 = Some(Instant::now());
                            tg.cancel();
                            Ok(())
                        })
                        .await;
                    assert!(matches!(out, Ok(Outcome::Cancelled(_))));
                    t0.expect("body ran").elapsed()
                }
                Contender::JoinSet => {
                    let mut set = JoinSet::new();
                    for _ in 0..n {
                        set.spawn(SizedTask::<W>::parked());
                    }
                    wait_parked(n).await;
                    let t0 = Instant::now();
                    set.abort_all();
                    while set.join_next().await.is_some() {}
                    t0.elapsed()
                }
                Contender::Handles => {
                    let handles: Vec<_> = (0..n)
                        .map(|_| tokio::spawn(SizedTask::<W>::parked()))
                        .collect();
                    wait_parked(n).await;
                    let t0 = Instant::now();
                    for h in &handles {
                        h.abort();
                    }
                    for h in handles {
                        let _ = h.await;
                    }
                    t0.elapsed()
                }
                Contender::Tracker => {
                    let tracker = TaskTracker::new();
                    let token = CancellationToken::new();
                    for _ in 0..n {
                        let token = token.clone();
                        drop(tracker.spawn(async move {
                            tokio::select! {
                                () = SizedTask::<W>::parked() => {}
                                () = token.cancelled() => {}
                            }
                        }));
                    }
                    tracker.close();
                    wait_parked(n).await;
                    let t0 = Instant::now();
                    token.cancel();
                    tracker.wait().await;
                    t0.elapsed()
                }
            }
        })
    }
    with_size!(size, go(rt, who, n))
}
