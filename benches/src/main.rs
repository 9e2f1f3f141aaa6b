//! Side-by-side benchmarks of `cancel_scope` against tokio's `JoinSet`, `tokio::spawn` +
//! handles, tokio-util's `TaskTracker` (+ `CancellationToken`) and `moro`.
//!
//! ```text
//! cargo run -p cancel-scope-benches --release -- --quick     # < 90 s on 2 cores, gated
//! cargo run -p cancel-scope-benches --release                # more rounds and sizes
//! cargo run -p cancel-scope-benches --release -- --unit NAME [N] [REPS]   # one unit, for callgrind
//! ```
//!
//! Every figure that is gated is a ratio against a peer measured in the same process, in the
//! same round: contenders run one after the other, the order reversed every other round, and
//! the gate is the median over at least 21 rounds of the per-round ratio (spread reported as
//! p25-p75 and min-max). Only the current-thread runtime is gated; multi-thread figures are
//! reported as they come.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cancel_scope::CancelScope;
use cancel_scope_benches::sweep as sw;
use cancel_scope_benches::{self as b, ChainEnd};

mod members_run;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

// ----------------------------------------------------------------------------------------
// Counting allocator (only counts while `COUNTING` is on, so timed runs pay one load)
// ----------------------------------------------------------------------------------------

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static LOG_SIZES: AtomicBool = AtomicBool::new(false);
static SIZES: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];
static SIZES_LEN: AtomicUsize = AtomicUsize::new(0);

fn account(delta: isize, size: usize) {
    let now = CURRENT.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
    if delta > 0 && LOG_SIZES.load(Ordering::Relaxed) {
        let i = SIZES_LEN.fetch_add(1, Ordering::Relaxed);
        if i < SIZES.len() {
            SIZES[i].store(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            account(layout.size() as isize, layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            account(layout.size() as isize, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            account(-(layout.size() as isize), 0);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            account(new_size as isize - layout.size() as isize, new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated now (relative to when counting started) and the peak since `reset_peak`.
fn mem_now() -> isize {
    CURRENT.load(Ordering::Relaxed)
}

fn reset_peak() -> isize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn mem_peak() -> isize {
    PEAK.load(Ordering::Relaxed)
}

// ----------------------------------------------------------------------------------------
// Statistics
// ----------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Spread {
    median: f64,
    p25: f64,
    p75: f64,
    min: f64,
    max: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn spread(values: &[f64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Spread {
        median: quantile(&v, 0.5),
        p25: quantile(&v, 0.25),
        p75: quantile(&v, 0.75),
        min: v[0],
        max: v[v.len() - 1],
    }
}

// ----------------------------------------------------------------------------------------
// Paired, alternating runs
// ----------------------------------------------------------------------------------------

type Unit<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// Runs every contender once per round (order reversed every other round) after one warm-up
/// run each; returns the seconds of each contender, per round.
fn paired(rounds: usize, units: &mut [(&'static str, Unit<'_>)]) -> Vec<Vec<f64>> {
    for (_, unit) in units.iter_mut() {
        unit();
    }
    let mut out = vec![Vec::with_capacity(rounds); units.len()];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..units.len()).collect()
        } else {
            (0..units.len()).rev().collect()
        };
        for i in order {
            out[i].push((units[i].1)().as_secs_f64());
        }
    }
    out
}

/// Times `fut` on `rt` (from the first poll of the outer block to the end).
fn timed<F: Future<Output = ()>>(rt: &Runtime, fut: F) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        fut.await;
        t.elapsed()
    })
}

// ----------------------------------------------------------------------------------------
// Report
// ----------------------------------------------------------------------------------------

struct Row {
    bench: String,
    rt: &'static str,
    n: String,
    contender: &'static str,
    /// Median seconds per run.
    median: f64,
    /// What one run does, to print a per-item time.
    items: usize,
    ratio: Option<Spread>,
    rounds: usize,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    gates: Vec<(String, String, bool)>,
}

fn fmt_time(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.3} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.3} us", secs * 1e6)
    } else {
        format!("{:.1} ns", secs * 1e9)
    }
}

impl Report {
    /// Adds one row per contender; ratios are against the contender named `peer`.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        bench: &str,
        rt: &'static str,
        n: &str,
        items: usize,
        names: &[&'static str],
        samples: &[Vec<f64>],
        peer: &str,
    ) -> Option<Spread> {
        let peer_i = names.iter().position(|x| *x == peer);
        let mut ours_ratio = None;
        for (i, name) in names.iter().enumerate() {
            let ratio = peer_i.filter(|p| *p != i).map(|p| {
                let r: Vec<f64> = samples[i]
                    .iter()
                    .zip(&samples[p])
                    .map(|(a, b)| a / b)
                    .collect();
                spread(&r)
            });
            if *name == "ours" {
                ours_ratio = ratio;
            }
            self.rows.push(Row {
                bench: bench.to_string(),
                rt,
                n: n.to_string(),
                contender: name,
                median: spread(&samples[i]).median,
                items,
                ratio,
                rounds: samples[i].len(),
            });
        }
        ours_ratio
    }

    fn gate(&mut self, what: String, value: String, pass: bool) {
        self.gates.push((what, value, pass));
    }

    /// Gates a ratio's median at `limit`, showing the median and the p25-p75 spread.
    fn gate_ratio(&mut self, what: String, ratio: Spread, limit: f64) {
        self.gate(
            what,
            format!("{:.3} [{:.3}-{:.3}]", ratio.median, ratio.p25, ratio.p75),
            ratio.median <= limit,
        );
    }

    fn print(&self) {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| bench | rt | n | contender | median/run | per item | ours or peer / joinset: median [p25-p75] (min-max) | rounds |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let ratio = match r.ratio {
                Some(x) => format!(
                    "{:.3} [{:.3}-{:.3}] ({:.3}-{:.3})",
                    x.median, x.p25, x.p75, x.min, x.max
                ),
                None => "-".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.bench,
                r.rt,
                r.n,
                r.contender,
                fmt_time(r.median),
                fmt_time(r.median / r.items as f64),
                ratio,
                r.rounds
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s);
            for note in &self.notes {
                let _ = writeln!(s, "{note}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "| target (current-thread) | measured | met |");
        let _ = writeln!(s, "|---|---|---|");
        for (what, value, pass) in &self.gates {
            let _ = writeln!(
                s,
                "| {what} | {value} | {} |",
                if *pass { "yes" } else { "NO" }
            );
        }
        print!("{s}");
    }
}

// ----------------------------------------------------------------------------------------
// The benchmarks
// ----------------------------------------------------------------------------------------

struct Plan {
    /// Rounds for gated current-thread figures (at least 21).
    rounds: usize,
    /// Rounds for the 1M-task and multi-thread figures (reported only).
    rounds_big: usize,
    spawn_sizes: Vec<usize>,
    big: usize,
    empty_iters: usize,
    chain_rounds: usize,
    /// Whether every contender runs at `big` tasks (else only ours and `JoinSet`).
    big_all: bool,
    /// Whether the multi-thread runtime also runs `big` tasks.
    mt_big: bool,
    /// Rounds of the size sweep on the multi-thread runtime (at least 11).
    sweep_mt_rounds: usize,
    /// `--isolated`: every round of the size sweep in a process of its own (see [`isolated`]).
    isolated: bool,
}

const N: usize = 100_000;
const CHAIN_DEPTHS: [usize; 3] = [1_000, 10_000, 30_000];

fn spawn_join(rep: &mut Report, plan: &Plan, rt: &Runtime, rt_name: &'static str, gated: bool) {
    let mut sizes = plan.spawn_sizes.clone();
    if gated || plan.mt_big {
        sizes.push(plan.big);
    }
    for (label, is64) in [("spawn_join", false), ("spawn_join_64b", true)] {
        for &n in &sizes {
            let rounds = if gated && n <= N {
                plan.rounds
            } else {
                plan.rounds_big
            };
            macro_rules! unit {
                ($f:path) => {
                    Box::new(move || {
                        if is64 {
                            timed(rt, $f(n, b::yield64))
                        } else {
                            timed(rt, $f(n, b::trivial))
                        }
                    }) as Unit<'_>
                };
            }
            let mut units: Vec<(&'static str, Unit<'_>)> = vec![
                ("ours", unit!(b::ours_spawn_join)),
                ("ours_macro", unit!(b::ours_macro_spawn_join)),
                ("joinset", unit!(b::joinset_spawn_join)),
                ("handles", unit!(b::handles_spawn_join)),
                ("tracker", unit!(b::tracker_spawn_join)),
                ("moro", unit!(b::moro_spawn_join)),
            ];
            if n > N && !plan.big_all {
                units.retain(|u| matches!(u.0, "ours" | "ours_macro" | "joinset"));
            }
            let names: Vec<_> = units.iter().map(|u| u.0).collect();
            let samples = paired(rounds, &mut units);
            let r = rep.add(
                label,
                rt_name,
                &n.to_string(),
                n,
                &names,
                &samples,
                "joinset",
            );
            if gated && n == N {
                let target = if is64 { 1.10 } else { 1.25 };
                rep.gate_ratio(
                    format!("{label} 100k: ours/joinset <= {target:.2}"),
                    r.expect("ratio"),
                    target,
                );
            }
            eprintln!("  {label} {rt_name} n={n} done");
        }
    }
}

fn cancel(rep: &mut Report, plan: &Plan, rt: &Runtime, rt_name: &'static str, gated: bool) {
    let rounds = if gated { plan.rounds } else { plan.rounds_big };
    let mut units: Vec<(&'static str, Unit<'_>)> = vec![
        ("ours", Box::new(|| rt.block_on(b::ours_cancel(N)))),
        ("joinset", Box::new(|| rt.block_on(b::joinset_cancel(N)))),
        ("handles", Box::new(|| rt.block_on(b::handles_cancel(N)))),
        ("tracker", Box::new(|| rt.block_on(b::tracker_cancel(N)))),
    ];
    let names: Vec<_> = units.iter().map(|u| u.0).collect();
    let samples = paired(rounds, &mut units);
    let r = rep.add("cancel", rt_name, "100000", N, &names, &samples, "joinset");
    if gated {
        rep.gate_ratio(
            "cancel 100k: ours/joinset abort+drain <= 1.10".into(),
            r.expect("ratio"),
            1.10,
        );
    }
    eprintln!("  cancel {rt_name} done");
}

fn empty(rep: &mut Report, plan: &Plan, rt: &Runtime, rt_name: &'static str, gated: bool) {
    let rounds = if gated { plan.rounds } else { plan.rounds_big };
    let it = plan.empty_iters;
    let mut units: Vec<(&'static str, Unit<'_>)> = vec![
        ("ours", Box::new(|| timed(rt, b::ours_empty(it)))),
        (
            "ours_macro",
            Box::new(|| timed(rt, b::ours_macro_empty(it))),
        ),
        ("joinset", Box::new(|| timed(rt, b::joinset_empty(it)))),
        ("tracker", Box::new(|| timed(rt, b::tracker_empty(it)))),
        ("moro", Box::new(|| timed(rt, b::moro_empty(it)))),
    ];
    let names: Vec<_> = units.iter().map(|u| u.0).collect();
    let samples = paired(rounds, &mut units);
    let r = rep.add("empty", rt_name, "1 scope", it, &names, &samples, "joinset");
    if gated {
        rep.gate_ratio(
            "empty scope: ours/joinset new+drop <= 2.0".into(),
            r.expect("ratio"),
            2.0,
        );
    }
    eprintln!("  empty {rt_name} done");
}

/// Join policies against hand-written `JoinSet` equivalents: `join_all` of 100k trivial
/// futures, and races of 2 to 1000 contenders. Reported (ratio against `joinset` in the same
/// round), not gated.
fn policies(rep: &mut Report, plan: &Plan, rt: &Runtime, rt_name: &'static str, gated: bool) {
    use cancel_scope_benches::policies as p;
    let rounds = if gated { plan.rounds } else { plan.rounds_big };
    let mut units: Vec<(&'static str, Unit<'_>)> = vec![
        ("ours", Box::new(|| rt.block_on(p::ours_join_all(N)))),
        ("joinset", Box::new(|| rt.block_on(p::joinset_join_all(N)))),
    ];
    let names: Vec<_> = units.iter().map(|u| u.0).collect();
    let samples = paired(rounds, &mut units);
    rep.add(
        "join_all", rt_name, "100000", N, &names, &samples, "joinset",
    );
    for n in [2, 10, 100, 1_000] {
        // About 20k contenders per unit, so each unit takes a few milliseconds.
        let reps = (20_000 / n).max(1);
        let mut units: Vec<(&'static str, Unit<'_>)> = vec![
            ("ours", Box::new(move || rt.block_on(p::ours_race(n, reps)))),
            (
                "joinset",
                Box::new(move || rt.block_on(p::joinset_race(n, reps))),
            ),
        ];
        let names: Vec<_> = units.iter().map(|u| u.0).collect();
        let samples = paired(rounds, &mut units);
        rep.add(
            "race",
            rt_name,
            &format!("{n} x{reps}"),
            reps,
            &names,
            &samples,
            "joinset",
        );
    }
    eprintln!("  policies {rt_name} done");
}

/// Returns the worst median us per level at depths 1k and 10k (for the summary).
fn chains(rep: &mut Report, plan: &Plan, rt: &Runtime, rt_name: &'static str, gated: bool) -> f64 {
    let mut worst: f64 = 0.0;
    let mut per_level = Vec::new();
    for end in [ChainEnd::Leaf, ChainEnd::Root] {
        for depth in CHAIN_DEPTHS {
            // The gated depths run every padding of the levels' futures and keep the worst; the
            // deepest one, not gated, runs the plain chain only.
            let pads: &[usize] = if depth <= 10_000 {
                &b::CHAIN_PADS
            } else {
                &[0]
            };
            let mut us_worst: f64 = 0.0;
            for &pad in pads {
                rt.block_on(b::chain_padded(depth, end, pad)); // warm-up
                let mut cancel = Vec::new();
                let mut build = Vec::new();
                for _ in 0..plan.chain_rounds {
                    let t = rt.block_on(b::chain_padded(depth, end, pad));
                    cancel.push(t.cancel.as_secs_f64());
                    build.push(t.build.as_secs_f64());
                }
                let bench = format!("chain_cancel_{}", format!("{end:?}").to_lowercase());
                let n = if pad == 0 {
                    depth.to_string()
                } else {
                    format!("{depth} (+{pad} B)")
                };
                rep.add(
                    &bench,
                    rt_name,
                    &n,
                    depth,
                    &["ours"],
                    std::slice::from_ref(&cancel),
                    "",
                );
                rep.add(
                    "chain_build",
                    rt_name,
                    &format!("{n} ({end:?})"),
                    depth,
                    &["ours"],
                    std::slice::from_ref(&build),
                    "",
                );
                us_worst = us_worst.max(spread(&cancel).median * 1e6 / depth as f64);
            }
            per_level.push((end, depth, us_worst));
            if depth <= 10_000 {
                worst = worst.max(us_worst);
            }
        }
    }
    if gated {
        for end in [ChainEnd::Leaf, ChainEnd::Root] {
            let us: Vec<f64> = per_level
                .iter()
                .filter(|x| x.0 == end)
                .map(|x| x.2)
                .collect();
            rep.gate(
                format!(
                    "chain, cancel {end:?}: < 1 us per level at depth 1k and 10k (worst of the level paddings {:?} B)",
                    b::CHAIN_PADS
                ),
                format!("{:.3} / {:.3} us per level", us[0], us[1]),
                us[0] < 1.0 && us[1] < 1.0,
            );
            rep.gate(
                format!("chain, cancel {end:?}: linear, per-level time 10k/1k <= 1.5"),
                format!("{:.2}", us[1] / us[0]),
                us[1] / us[0] <= 1.5,
            );
            rep.notes.push(format!(
                "chain, cancel {end:?}, depth 30k (not gated; ~41 MB of chain, beyond the caches): \
                 {:.3} us per level, {:.2}x the 10k figure.",
                us[2],
                us[2] / us[1]
            ));
        }
    }
    eprintln!("  chains {rt_name} done");
    worst
}

/// Call with counting on. Bytes per live task: `n` parked 64-byte tasks in a group vs via `tokio::spawn` vs in a
/// `JoinSet`. Returns ours minus `tokio::spawn`.
fn memory_live(rep: &mut Report, rt: &Runtime, n: usize) -> f64 {
    let ours = rt.block_on(async {
        let before = mem_now();
        let scope = CancelScope::new();
        let tg = scope.group();
        let mut bytes = 0;
        let _ = scope
            .run(async {
                for _ in 0..n {
                    drop(tg.spawn(b::parked64()));
                }
                b::wait_parked(n).await;
                bytes = mem_now() - before;
                tg.cancel();
                Ok(())
            })
            .await;
        bytes
    });
    let plain = rt.block_on(async {
        let mut handles = Vec::with_capacity(n);
        let before = mem_now();
        for _ in 0..n {
            handles.push(tokio::spawn(b::parked64()));
        }
        b::wait_parked(n).await;
        let bytes = mem_now() - before;
        for h in &handles {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
        bytes
    });
    let set = rt.block_on(async {
        let before = mem_now();
        let mut set = JoinSet::new();
        for _ in 0..n {
            set.spawn(b::parked64());
        }
        b::wait_parked(n).await;
        let bytes = mem_now() - before;
        set.abort_all();
        while set.join_next().await.is_some() {}
        bytes
    });
    // The allocations of one spawn, to show the task cell's size class.
    let sizes = |spawn: &dyn Fn()| allocations_of(&mut || spawn());
    let (ours_sizes, plain_sizes) = rt.block_on(async {
        let scope = CancelScope::new();
        let tg = scope.group();
        // Warm the group's registry so only the task's own allocations show.
        drop(tg.spawn(async {}));
        let o = sizes(&|| drop(tg.spawn(b::parked64())));
        let p = {
            let h = std::cell::RefCell::new(None);
            let s = sizes(&|| *h.borrow_mut() = Some(tokio::spawn(b::parked64())));
            h.into_inner().expect("spawned").abort();
            s
        };
        tg.cancel();
        let _ = scope.run(async { Ok(()) }).await;
        (o, p)
    });
    let per = |x: isize| x as f64 / n as f64;
    let added = per(ours) - per(plain);
    rep.notes.push(format!(
        "memory, {n} live parked 64-byte tasks (current-thread): ours {:.1} B/task, tokio::spawn {:.1} B/task, \
         JoinSet {:.1} B/task; ours adds {added:.1} B/task. Allocations of one spawn: ours [{ours_sizes}] \
         vs tokio::spawn [{plain_sizes}] bytes.",
        per(ours),
        per(plain),
        per(set),
    ));
    added
}

/// Call with counting on. Peak bytes while `total` short tasks go through one long-lived scope (handles dropped),
/// a never-joined `JoinSet` and plain `tokio::spawn`, at most `batch` unfinished at a time.
fn memory_flat(rt: &Runtime, total: usize, batch: usize) -> (isize, isize, isize) {
    async fn throttle(spawned: usize, batch: usize) {
        while spawned - b::DONE.load(Ordering::Relaxed) >= batch {
            tokio::task::yield_now().await;
        }
    }
    b::DONE.store(0, Ordering::SeqCst);
    let ours = rt.block_on(async {
        let base = reset_peak();
        let scope = CancelScope::new();
        let tg = scope.group();
        let _ = scope
            .run(async {
                for i in 1..=total {
                    drop(tg.spawn(b::short()));
                    throttle(i, batch).await;
                }
                Ok(())
            })
            .await;
        mem_peak() - base
    });
    b::DONE.store(0, Ordering::SeqCst);
    let set = rt.block_on(async {
        let base = reset_peak();
        let mut set = JoinSet::new();
        for i in 1..=total {
            set.spawn(b::short());
            throttle(i, batch).await;
        }
        let peak = mem_peak() - base;
        drop(set);
        peak
    });
    b::DONE.store(0, Ordering::SeqCst);
    let plain = rt.block_on(async {
        let base = reset_peak();
        for i in 1..=total {
            drop(tokio::spawn(b::short()));
            throttle(i, batch).await;
        }
        while b::DONE.load(Ordering::Relaxed) < total {
            tokio::task::yield_now().await;
        }
        mem_peak() - base
    });
    (ours, set, plain)
}

fn run_all(plan: &Plan) -> String {
    b::check_future_sizes();
    let mut rep = Report::default();
    let ct = b::current_thread();
    let mt = b::multi_thread(2);
    let t = Instant::now();

    eprintln!("current-thread:");
    // The size sweep below covers spawn+join at every size; the quick mode skips these older
    // fixed-size rows (two task bodies at 1k, 100k and 1M) to stay short.
    if plan.big_all {
        spawn_join(&mut rep, plan, &ct, "ct", true);
    }
    cancel(&mut rep, plan, &ct, "ct", true);
    empty(&mut rep, plan, &ct, "ct", true);
    let chain_us = chains(&mut rep, plan, &ct, "ct", true);
    policies(&mut rep, plan, &ct, "ct", true);
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    eprintln!("size sweep (current-thread and multi-thread, 2 workers):");
    let (worst_ct, worst_mt) = sweep(&mut rep, plan, &ct, &mt);
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    eprintln!("members (current-thread, reported):");
    members_run::locals(&mut rep, plan, &ct);
    members_run::blocking(&mut rep, plan, &ct);
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    eprintln!("memory:");
    // A fresh runtime, created while counting, so that no memory allocated before counting
    // started (run queues grown by earlier runs) is freed during the measurement.
    COUNTING.store(true, Ordering::SeqCst);
    let mem_rt = b::current_thread();
    let mem_added = memory_live(&mut rep, &mem_rt, N);
    rep.gate(
        "memory: bytes added per live task (64-byte future, 100k tasks) <= 64".into(),
        format!("{mem_added:.1}"),
        mem_added <= 64.0,
    );
    let batch = 1_000;
    let (o_small, _, _) = memory_flat(&mem_rt, plan.big / 10, batch);
    let (o_big, s_big, p_big) = memory_flat(&mem_rt, plan.big, batch);
    let (burst_peak, burst_retained) = memory_burst(&mem_rt);
    rep.notes.push(format!(
        "memory after a burst: {N} short tasks through a long-lived scope peak at {:.2} MB above \
         the start; once none is alive (the scope still running) it holds {burst_retained} bytes.",
        burst_peak as f64 / 1e6
    ));
    rep.gate(
        "memory back after a burst of 100k tasks (scope still running) <= 64 KiB".into(),
        format!("{burst_retained} bytes"),
        burst_retained <= 65_536,
    );
    let depth = 10_000;
    let chain_bytes = mem_rt.block_on(async {
        let base = reset_peak();
        b::chain(depth, ChainEnd::Leaf).await;
        mem_peak() - base
    });
    rep.notes.push(format!(
        "chain memory: peak {:.0} bytes per level at depth {depth} (the level's task cell, its boxed \
         future holding the scope's `run` future, the group's Core, the link entries); an empty \
         scope's `run` future is {} bytes (tokio `Sleep` alone is {} bytes).",
        chain_bytes as f64 / depth as f64,
        std::mem::size_of_val(&CancelScope::new().run(async { Ok::<(), cancel_scope::BoxError>(()) })),
        std::mem::size_of::<tokio::time::Sleep>(),
    ));
    drop(mem_rt);
    COUNTING.store(false, Ordering::SeqCst);
    let mb = |x: isize| x as f64 / 1e6;
    rep.notes.push(format!(
        "flat memory, {} short tasks, at most {batch} unfinished (current-thread), peak bytes above start: \
         ours {:.2} MB ({} tasks: {:.2} MB), never-joined JoinSet {:.2} MB, tokio::spawn with handles dropped {:.2} MB.",
        plan.big,
        mb(o_big),
        plan.big / 10,
        mb(o_small),
        mb(s_big),
        mb(p_big),
    ));
    let flat = (o_big as f64) <= 1.25 * o_small as f64 + 65_536.0;
    rep.gate(
        format!("memory flat for {} short tasks through one scope", plan.big),
        format!(
            "peak {:.2} MB at {}, {:.2} MB at {} (JoinSet {:.2} MB)",
            mb(o_big),
            plan.big,
            mb(o_small),
            plan.big / 10,
            mb(s_big)
        ),
        flat && o_big < s_big / 10,
    );
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    eprintln!("linked cancels on two threads:");
    linked_cancels(&mut rep, plan);
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    eprintln!("multi-thread (2 workers, not gated):");
    let mt_plan = Plan {
        spawn_sizes: vec![N],
        ..*plan
    };
    if plan.big_all {
        spawn_join(&mut rep, &mt_plan, &mt, "mt", false);
    }
    cancel(&mut rep, plan, &mt, "mt", false);
    empty(&mut rep, plan, &mt, "mt", false);
    chains(&mut rep, plan, &mt, "mt", false);
    policies(&mut rep, plan, &mt, "mt", false);
    eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());

    rep.print();
    let ratio = |bench: &str| {
        rep.rows
            .iter()
            .find(|r| r.bench == bench && r.rt == "ct" && r.contender == "ours" && r.n == "100000")
            .or_else(|| {
                rep.rows
                    .iter()
                    .find(|r| r.bench == bench && r.rt == "ct" && r.contender == "ours")
            })
            .and_then(|r| r.ratio)
            .map_or(f64::NAN, |r| r.median)
    };
    let race = |n: &str| {
        rep.rows
            .iter()
            .find(|r| {
                r.bench == "race" && r.rt == "ct" && r.contender == "ours" && r.n.starts_with(n)
            })
            .and_then(|r| r.ratio)
            .map_or(f64::NAN, |r| r.median)
    };
    format!(
        "policies: join_all={:.3} race2={:.3} race10={:.3} race100={:.3} race1000={:.3}\n\
         members: local_vs_moro={:.3} local_vs_moro_64b={:.3} blocking_vs_joinset={:.3}\n\
         summary: worst_ct={worst_ct:.3} worst_mt={worst_mt:.3} empty={:.3} chain_us_per_level={chain_us:.3} mem_bytes_per_task={mem_added:.0}",
        ratio("join_all"),
        race("2 "),
        race("10 "),
        race("100 "),
        race("1000 "),
        ratio("local_spawn_join"),
        ratio("local_spawn_join_64b"),
        ratio("blocking"),
        ratio("empty"),
    )
}

/// The size sweep (the headline): spawn+join of 100k tasks of every size and shape, and cancel
/// of 100k parked ones, on both runtimes; ratios to `JoinSet` in the same rounds. Returns the
/// worst ratio on each runtime, and gates it (1.00 current-thread, 1.10 multi-thread).
fn sweep(rep: &mut Report, plan: &Plan, ct: &Runtime, mt: &Runtime) -> (f64, f64) {
    use cancel_scope_benches::sweep::{Contender, SIZES, Shape};
    sw::check_sizes();
    let contenders: &[Contender] = if plan.big_all {
        &[
            Contender::Ours,
            Contender::JoinSet,
            Contender::Handles,
            Contender::Tracker,
        ]
    } else {
        &[Contender::Ours, Contender::JoinSet]
    };
    let names: Vec<&'static str> = contenders.iter().map(|c| c.name()).collect();
    let mut worst = [(0.0_f64, String::new()), (0.0_f64, String::new())];
    let mut series = Vec::new();
    for (i, (rt, prefix, rt_name, rounds)) in [
        (ct, "", "ct", plan.rounds),
        (mt, "mt_", "mt", plan.sweep_mt_rounds),
    ]
    .into_iter()
    .enumerate()
    {
        let mut note = |what: String, ratio: f64| {
            if ratio > worst[i].0 {
                worst[i] = (ratio, what);
            }
        };
        for shape in [Shape::Ready, Shape::YieldOnce] {
            let mut points = Vec::new();
            for size in SIZES {
                let mut units: Vec<(&'static str, Unit<'_>)> = contenders
                    .iter()
                    .map(|&c| {
                        let name = format!("{prefix}sweep_{}_{size}_{}", shape.name(), c.name());
                        let unit: Unit<'_> = if plan.isolated {
                            Box::new(move || isolated(&name))
                        } else {
                            Box::new(move || sw::spawn_join(rt, c, size, shape, N))
                        };
                        (c.name(), unit)
                    })
                    .collect();
                let samples = paired(rounds, &mut units);
                let bench = format!("sweep_{}", shape.name());
                let r = rep
                    .add(
                        &bench,
                        rt_name,
                        &format!("{size} B"),
                        N,
                        &names,
                        &samples,
                        "joinset",
                    )
                    .expect("ratio");
                note(format!("{bench} {size} B"), r.median);
                points.push((size, r.median));
            }
            series.push((format!("{rt_name}, spawn+join, {}", shape.name()), points));
            eprintln!("  sweep {rt_name} {} done", shape.name());
        }
        let mut points = Vec::new();
        for size in SIZES {
            let mut units: Vec<(&'static str, Unit<'_>)> = contenders
                .iter()
                .map(|&c| {
                    let name = format!("{prefix}sweep_cancel_{size}_{}", c.name());
                    let unit: Unit<'_> = if plan.isolated {
                        Box::new(move || isolated(&name))
                    } else {
                        Box::new(move || sw::cancel(rt, c, size, N))
                    };
                    (c.name(), unit)
                })
                .collect();
            let samples = paired(rounds, &mut units);
            let r = rep
                .add(
                    "sweep_cancel",
                    rt_name,
                    &format!("{size} B"),
                    N,
                    &names,
                    &samples,
                    "joinset",
                )
                .expect("ratio");
            note(format!("sweep_cancel {size} B"), r.median);
            points.push((size, r.median));
        }
        series.push((format!("{rt_name}, cancel parked"), points));
        eprintln!("  sweep {rt_name} cancel done");
    }
    for (i, (rt, limit)) in [("current-thread", 1.00), ("multi-thread, 2 workers", 1.10)]
        .into_iter()
        .enumerate()
    {
        rep.gate(
            format!("size sweep, worst point, {rt}: ours/joinset <= {limit:.2}"),
            format!("{:.3} ({})", worst[i].0, worst[i].1),
            worst[i].0 <= limit,
        );
    }
    if plan.big_all {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS-sweep.svg");
        match cancel_scope_benches::plot::sweep_svg(
            &path,
            "cancel-scope / JoinSet, 100k tasks, by future size",
            &series,
        ) {
            Ok(()) => rep
                .notes
                .push(format!("sweep plot written to {}", path.display())),
            Err(e) => rep.notes.push(format!("sweep plot not written: {e}")),
        }
    }
    (worst[0].0, worst[1].0)
}

/// A burst of 100k short tasks through a long-lived scope: the peak bytes above the start, and
/// the bytes still held once none is alive (while the scope still runs).
fn memory_burst(rt: &Runtime) -> (isize, isize) {
    rt.block_on(async {
        let scope = CancelScope::new();
        let tg = scope.group();
        let base = reset_peak();
        let mut retained = 0;
        let out = scope
            .run(async {
                for _ in 0..N {
                    drop(tg.spawn(b::trivial()));
                }
                while !tg.is_empty() {
                    tokio::task::yield_now().await;
                }
                retained = mem_now() - base;
                Ok(())
            })
            .await;
        assert!(out.is_ok());
        (mem_peak() - base, retained)
    })
}

/// Linked cancels on two threads: pairs (linked vs unlinked, one vs two threads) and a long
/// chain cancelled beside short ones. Reported, not gated (two threads on a 2-core machine).
fn linked_cancels(rep: &mut Report, plan: &Plan) {
    use cancel_scope_benches::linked::{self, Linking};
    let n = 100_000;
    let mut units: Vec<(&'static str, Unit<'_>)> = vec![
        (
            "linked_2t",
            Box::new(|| linked::pairs_on_threads(2, n, Linking::Linked)),
        ),
        (
            "unlinked_2t",
            Box::new(|| linked::pairs_on_threads(2, n, Linking::Unlinked)),
        ),
        (
            "linked_1t",
            Box::new(|| linked::pairs_on_threads(1, n, Linking::Linked)),
        ),
        (
            "unlinked_1t",
            Box::new(|| linked::pairs_on_threads(1, n, Linking::Unlinked)),
        ),
    ];
    let samples = paired(plan.chain_rounds, &mut units);
    let names: Vec<&'static str> = units.iter().map(|(n, _)| *n).collect();
    let ratio = |a: usize, b: usize| {
        let r: Vec<f64> = samples[a]
            .iter()
            .zip(&samples[b])
            .map(|(x, y)| x / y)
            .collect();
        spread(&r)
    };
    let linked_vs_unlinked = ratio(0, 1);
    let two_vs_one = ratio(0, 2);
    let unlinked_two_vs_one = ratio(1, 3);
    rep.notes.push(format!(
        "linked cancels, {n} pairs per thread ({} rounds): {} {}, {} {}, {} {}, {} {} per thread-run; \
         linked/unlinked on 2 threads {:.3} [{:.3}-{:.3}]; 2 threads/1 thread (same work per \
         thread, 1.0 = perfect scaling): linked {:.3} [{:.3}-{:.3}], unlinked {:.3} [{:.3}-{:.3}].",
        plan.chain_rounds,
        names[0],
        fmt_time(spread(&samples[0]).median),
        names[1],
        fmt_time(spread(&samples[1]).median),
        names[2],
        fmt_time(spread(&samples[2]).median),
        names[3],
        fmt_time(spread(&samples[3]).median),
        linked_vs_unlinked.median,
        linked_vs_unlinked.p25,
        linked_vs_unlinked.p75,
        two_vs_one.median,
        two_vs_one.p25,
        two_vs_one.p75,
        unlinked_two_vs_one.median,
        unlinked_two_vs_one.p25,
        unlinked_two_vs_one.p75,
    ));
    let long = if plan.mt_big { 1_000_000 } else { 200_000 };
    let beside = linked::cancel_beside(long, 3);
    rep.notes.push(format!(
        "a chain {long} deep cancelled from its leaf took {}; meanwhile {} unrelated 3-deep chains \
         were cancelled on another thread: median {}, slowest {} each (they do not wait for it).",
        fmt_time(beside.long_cancel.as_secs_f64()),
        beside.short_count,
        fmt_time(beside.short_median.as_secs_f64()),
        fmt_time(beside.short_max.as_secs_f64()),
    ));
}

/// Bursts a `--burst` process runs before the one it times: the first burst of a process grows
/// its heap from nothing (page faults), which a long-running program pays once, not per burst.
const WARM_UP_BURSTS: usize = 1;

/// One round of a sweep point in a process of its own: runs this binary with `--burst NAME`
/// and reads the time it prints.
///
/// `--isolated` only, a view and not the gate: run in one process, each contender starts from
/// the heap the other one left (`JoinSet`'s 56-byte list entries in glibc's free lists, our
/// registry chunks); here each round starts from a fresh process, warmed by
/// [`WARM_UP_BURSTS`] bursts of its own contender, and the rounds stay paired and alternating
/// (`paired`). The ratio then depends on how many bursts warmed the process (BENCHMARKS.md,
/// "One sweep point, three harnesses"), which is why the gate stays on the in-process sweep.
fn isolated(name: &str) -> Duration {
    let exe = std::env::current_exe().expect("the benchmark binary's path");
    let out = std::process::Command::new(exe)
        .args(["--burst", name, &N.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `--burst {name}`: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), stdout.trim().parse::<u64>()) {
        (true, Ok(nanos)) => Duration::from_nanos(nanos),
        _ => panic!(
            "`--burst {name}` failed ({}): stdout {stdout:?}, stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `--burst NAME [N] [WARM]`: `WARM` ([`WARM_UP_BURSTS`]) bursts of sweep point `NAME` (`[mt_]sweep_SHAPE_SIZE_
/// CONTENDER`), then one more, timed; prints its time in nanoseconds (for [`isolated`]).
fn burst(name: &str, n: usize, warm: usize) -> Duration {
    let (rt, point) = match name.strip_prefix("mt_") {
        Some(rest) => (b::multi_thread(2), rest),
        None => (b::current_thread(), name),
    };
    let Some((who, size, shape)) = sweep_unit(point) else {
        panic!(
            "--burst takes a sweep point, such as sweep_yield_16_ours or mt_sweep_cancel_64_joinset, not {name}"
        )
    };
    let run = || match shape {
        Some(shape) => sw::spawn_join(&rt, who, size, shape, n),
        None => sw::cancel(&rt, who, size, n),
    };
    for _ in 0..warm {
        run();
    }
    run()
}

/// Runs one measured unit `reps` times (for `valgrind --tool=callgrind`).
///
/// A name starting with `mt_` runs on the multi-thread runtime (2 workers).
fn run_unit(name: &str, n: usize, reps: usize) {
    let (rt, name) = match name.strip_prefix("mt_") {
        Some(rest) => (b::multi_thread(2), rest),
        None => (b::current_thread(), name),
    };
    for _ in 0..reps {
        match name {
            "ours_spawn" => rt.block_on(b::ours_spawn_join(n, b::trivial)),
            "joinset_spawn" => rt.block_on(b::joinset_spawn_join(n, b::trivial)),
            "ours_spawn64" => rt.block_on(b::ours_spawn_join(n, b::yield64)),
            "joinset_spawn64" => rt.block_on(b::joinset_spawn_join(n, b::yield64)),
            "ours_cancel" => drop(rt.block_on(b::ours_cancel(n))),
            "joinset_cancel" => drop(rt.block_on(b::joinset_cancel(n))),
            "ours_empty" => rt.block_on(b::ours_empty(n)),
            "joinset_empty" => rt.block_on(b::joinset_empty(n)),
            "ours_macro_empty" => rt.block_on(b::ours_macro_empty(n)),
            other if other.starts_with("chain_leaf") || other.starts_with("chain_root") => {
                // `chain_leaf` or `chain_root`, optionally `_PAD` (a level padding, in bytes).
                let end = if other.starts_with("chain_leaf") {
                    ChainEnd::Leaf
                } else {
                    ChainEnd::Root
                };
                let pad = match other["chain_leaf".len()..].strip_prefix('_') {
                    Some(pad) => pad.parse().expect("chain_leaf_PAD: PAD in bytes"),
                    None => 0,
                };
                let t = rt.block_on(b::chain_padded(n, end, pad));
                eprintln!(
                    "{name} {n}: build {:.3} us/level, cancel {:.3} us/level",
                    t.build.as_secs_f64() * 1e6 / n as f64,
                    t.cancel.as_secs_f64() * 1e6 / n as f64
                );
            }
            "ours_join_all" => drop(rt.block_on(b::policies::ours_join_all(n))),
            "joinset_join_all" => drop(rt.block_on(b::policies::joinset_join_all(n))),
            "ours_race" => drop(rt.block_on(b::policies::ours_race(n, 1))),
            "joinset_race" => drop(rt.block_on(b::policies::joinset_race(n, 1))),
            other if other.starts_with("order_") => order_probe(&rt, other, n),
            other if other.starts_with("arena_") => arena_probe(other, n),
            "cell_sizes" => cell_sizes(&rt),
            other => match sweep_unit(other) {
                Some((who, size, Some(shape))) => drop(sw::spawn_join(&rt, who, size, shape, n)),
                Some((who, size, None)) => drop(sw::cancel(&rt, who, size, n)),
                None => panic!("unknown unit {other}"),
            },
        }
    }
}

/// The sizes of the allocations `f` makes, as `a+b+...` bytes (the first 16; counting must be
/// on).
fn allocations_of(f: &mut dyn FnMut()) -> String {
    SIZES_LEN.store(0, Ordering::SeqCst);
    LOG_SIZES.store(true, Ordering::SeqCst);
    f();
    LOG_SIZES.store(false, Ordering::SeqCst);
    let k = SIZES_LEN.load(Ordering::SeqCst).min(SIZES.len());
    (0..k)
        .map(|i| SIZES[i].load(Ordering::SeqCst).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// `cell_sizes`: the allocations of one spawn of each sweep future, ours against `JoinSet`
/// (tokio's task cell, and whatever else a spawn allocates), to show where a future lands among
/// the cell's size classes.
fn cell_sizes(rt: &Runtime) {
    COUNTING.store(true, Ordering::SeqCst);
    for size in sw::SIZES {
        let (ours, theirs) = sw::spawn_sizes(rt, size, &allocations_of);
        println!("{size} B future: ours [{ours}] JoinSet [{theirs}] bytes");
    }
}

/// `order_SHAPE_SIZE` (`mt_order_SHAPE_SIZE` on two workers): 21 rounds of one sweep point three ways in this one process (ours then
/// `JoinSet` alternating, ours alone, `JoinSet` alone) and the median time of each, to show how
/// much running the two contenders in one process moves each one's time (the heap one leaves
/// is the heap the other starts from).
fn order_probe(rt: &Runtime, name: &str, n: usize) {
    use sw::Contender::{JoinSet, Ours};
    let (shape, size) = match sweep_unit(&format!("sweep_{}_ours", &name["order_".len()..])) {
        Some((_, size, shape)) => (shape, size),
        _ => {
            panic!("order_SHAPE_SIZE with SHAPE ready, yield or cancel, for example order_yield_16")
        }
    };
    let run = |who| match shape {
        Some(shape) => sw::spawn_join(rt, who, size, shape, n),
        None => sw::cancel(rt, who, size, n),
    };
    let (ao, aj) = alternating(|| run(Ours), || run(JoinSet));
    let so = median_of((0..21).map(|_| run(Ours)).collect());
    let sj = median_of((0..21).map(|_| run(JoinSet)).collect());
    println!(
        "{name} {n}: alternating ours {ao:?} joinset {aj:?} (ratio {:.3}); alone ours {so:?} \
         joinset {sj:?} (ratio {:.3})",
        ao.as_secs_f64() / aj.as_secs_f64(),
        so.as_secs_f64() / sj.as_secs_f64()
    );
}

/// 21 rounds of `ours` and `joinset`, which goes first alternating: the median of each.
fn alternating(
    mut ours: impl FnMut() -> Duration,
    mut joinset: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let (mut o, mut j) = (Vec::new(), Vec::new());
    for round in 0..21 {
        if round % 2 == 0 {
            o.push(ours());
            j.push(joinset());
        } else {
            j.push(joinset());
            o.push(ours());
        }
    }
    (median_of(o), median_of(j))
}

/// The median of `v`.
fn median_of(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A sweep point as a unit name: `sweep_SHAPE_SIZE_CONTENDER`, for example `sweep_yield_16_ours`
/// or `sweep_cancel_256_joinset` (shape `ready`, `yield` or `cancel`).
fn sweep_unit(name: &str) -> Option<(sw::Contender, usize, Option<sw::Shape>)> {
    let mut parts = name.strip_prefix("sweep_")?.split('_');
    let shape = match parts.next()? {
        "ready" => Some(sw::Shape::Ready),
        "yield" => Some(sw::Shape::YieldOnce),
        "cancel" => None,
        _ => return None,
    };
    let size = parts.next()?.parse().ok()?;
    let who = match parts.next()? {
        "ours" => sw::Contender::Ours,
        "joinset" => sw::Contender::JoinSet,
        "handles" => sw::Contender::Handles,
        "tracker" => sw::Contender::Tracker,
        _ => return None,
    };
    Some((who, size, shape))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--burst") {
        let name = args.get(i + 1).expect("--burst NAME [N]");
        let n = args.get(i + 2).map_or(N, |x| x.parse().expect("N"));
        let warm = args
            .get(i + 3)
            .map_or(WARM_UP_BURSTS, |x| x.parse().expect("WARM"));
        println!("{}", burst(name, n, warm).as_nanos());
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--unit") {
        let name = args.get(i + 1).expect("--unit NAME [N] [REPS]");
        let n = args.get(i + 2).map_or(N, |x| x.parse().expect("N"));
        let reps = args.get(i + 3).map_or(1, |x| x.parse().expect("REPS"));
        run_unit(name, n, reps);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let isolated = args.iter().any(|a| a == "--isolated");
    let plan = if quick {
        Plan {
            rounds: 21,
            rounds_big: 5,
            spawn_sizes: vec![1_000, N],
            big: 1_000_000,
            empty_iters: 10_000,
            chain_rounds: 11,
            big_all: false,
            mt_big: false,
            sweep_mt_rounds: 11,
            isolated,
        }
    } else {
        Plan {
            rounds: 51,
            rounds_big: 11,
            spawn_sizes: vec![1_000, N],
            big: 1_000_000,
            empty_iters: 20_000,
            chain_rounds: 21,
            big_all: true,
            mt_big: true,
            sweep_mt_rounds: 21,
            isolated,
        }
    };
    let t = Instant::now();
    if args.iter().any(|a| a == "--sweep") {
        // Only the size sweep (with `--quick`: its quick plan), for working on one figure.
        let mut rep = Report::default();
        let (worst_ct, worst_mt) =
            sweep(&mut rep, &plan, &b::current_thread(), &b::multi_thread(2));
        rep.print();
        eprintln!("total {:.1} s", t.elapsed().as_secs_f64());
        println!("sweep: worst_ct={worst_ct:.3} worst_mt={worst_mt:.3}");
        return;
    }
    if args.iter().any(|a| a == "--chains") {
        // The current-thread part of the quick mode up to the chains (the fixed cancel, the empty
        // scope, then the chains), for working on the chain figure in the heap it is measured in:
        // a fresh process's chain runs on a clean heap and shows less than the quick mode does.
        let mut rep = Report::default();
        let ct = b::current_thread();
        cancel(&mut rep, &plan, &ct, "ct", true);
        empty(&mut rep, &plan, &ct, "ct", true);
        let chain_us = chains(&mut rep, &plan, &ct, "ct", true);
        rep.print();
        eprintln!("total {:.1} s", t.elapsed().as_secs_f64());
        println!("chains: chain_us_per_level={chain_us:.3}");
        return;
    }
    let summary = run_all(&plan);
    eprintln!("total {:.1} s", t.elapsed().as_secs_f64());
    println!("{summary}");
}

/// `--unit arena_SHAPE_SIZE`: the alternating half of [`order_probe`], with each contender
/// on a thread of its own, so that glibc's `malloc` serves each from an arena of its own
/// (one per thread, up to eight per core): neither starts from the heap the other left. It
/// shows how much of an in-process ratio is the allocator's state (see BENCHMARKS.md).
fn arena_probe(name: &str, n: usize) {
    use std::sync::mpsc;
    use sw::Contender::{JoinSet, Ours};
    let Some((_, size, shape)) = sweep_unit(&format!("sweep_{}_ours", &name["arena_".len()..]))
    else {
        panic!("arena_SHAPE_SIZE with SHAPE ready, yield or cancel, for example arena_yield_16")
    };
    // A contender's thread, with its own current-thread runtime: one burst per request.
    let lane = |who: sw::Contender| {
        let (go, request) = mpsc::channel::<()>();
        let (done, reply) = mpsc::channel::<Duration>();
        std::thread::spawn(move || {
            let rt = b::current_thread();
            while request.recv().is_ok() {
                let took = match shape {
                    Some(shape) => sw::spawn_join(&rt, who, size, shape, n),
                    None => sw::cancel(&rt, who, size, n),
                };
                if done.send(took).is_err() {
                    break;
                }
            }
        });
        move || {
            go.send(()).expect("lane thread alive");
            reply.recv().expect("lane thread alive")
        }
    };
    let (ours, joinset) = (lane(Ours), lane(JoinSet));
    let (o, j) = alternating(ours, joinset);
    println!(
        "{name} {n}: alternating, an arena each: ours {o:?} joinset {j:?} (ratio {:.3})",
        o.as_secs_f64() / j.as_secs_f64()
    );
}
