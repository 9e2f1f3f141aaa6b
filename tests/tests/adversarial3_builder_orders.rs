//! Adversarial 3: every order of the builder calls (`grace`, `limit`, `parent`, `timeout`,
//! `cancel_on`, `group`), of spawns and `cancel` (before `run` or inside the body) and of
//! `run`, generated as all the permutations of each family's operations that the API allows
//! (builder calls before `run`, `group()` before its handle is used, `limit` before the first
//! spawn). Four families, each with the outcome the SPEC makes independent of the order:
//!
//! - **request**: a cancel by request decides: `Cancelled(Requested)`, the linked parent
//!   records `Child` whatever the order of `parent()` and `cancel()`, the task spawned before
//!   the cancel counts with its value exactly when a grace was in force at the cancel, a task
//!   spawned after it never starts;
//! - **signal**: an already-resolved `cancel_on` signal decides: `Cancelled(Signal)`, the parent
//!   untouched, the task spawned before `run` finishes in its grace, the body never starts;
//! - **deadline**: the timeout decides: `Cancelled(Deadline)`, the parent untouched;
//! - **none**: nothing cancels: `Completed` with every value, at most one task at a time.
//!
//! Then `limit()` after a spawn, in every order of the rest: the documented panic.
//!
//! SPEC rules attacked: sec. 3 "Builder methods take self and return Self; group(&self) may be
//! called any number of times", "Tasks spawned before run start at once and are waited for by
//! run"; sec. 5 "The reason recorded is always the first cause", "parent() takes effect when
//! called ... every ancestor of a requesting scope is cancelled whatever the order of the
//! parent() calls", "timeout(d) counts from the start of run", "After a cancel, spawn does not
//! start the future"; sec. 6 "The grace in force at the moment of the cancel decides",
//! limit; sec. 10 `cancel_on` ("does not travel up"); rules 1, 2, 5. Where the SPEC is silent,
//! the rustdoc's recorded choices: a signal resolved before `run` keeps the body from
//! starting; `limit` after an unlimited spawn panics ("set the limit before the first
//! spawn").
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup, TaskHandle};

#[macro_use]
mod adversarial;

both!(
    request_family_every_order,
    signal_family_every_order,
    none_family_every_order,
    limit_after_a_spawn_panics_in_every_order,
);

multi!(deadline_family_every_order_real_time);

#[test]
fn deadline_family_every_order_paused_current_thread() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(check_family(Family::Deadline));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Grace,
    Limit,
    Parent,
    Timeout,
    CancelOn,
    Group,
    Spawn,
    /// A second spawn (family none).
    Spawn2,
    Cancel,
    Run,
}

impl Op {
    fn is_builder(self) -> bool {
        matches!(
            self,
            Op::Grace | Op::Limit | Op::Parent | Op::Timeout | Op::CancelOn
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Request,
    Signal,
    Deadline,
    None,
}

impl Family {
    fn ops(self) -> Vec<Op> {
        use Op::*;
        match self {
            Family::Request => vec![
                Grace, Limit, Parent, Timeout, CancelOn, Group, Spawn, Cancel, Run,
            ],
            Family::Signal | Family::Deadline => {
                vec![Grace, Limit, Parent, Timeout, CancelOn, Group, Spawn, Run]
            }
            Family::None => vec![Grace, Limit, Parent, CancelOn, Group, Spawn, Spawn2, Run],
        }
    }
}

/// All orders of `items` that keep `ok` true for every prefix (pruned while generated).
fn orders(items: &[Op], ok: &dyn Fn(&[Op]) -> bool) -> Vec<Vec<Op>> {
    fn go(
        prefix: &mut Vec<Op>,
        rest: &mut Vec<Op>,
        ok: &dyn Fn(&[Op]) -> bool,
        out: &mut Vec<Vec<Op>>,
    ) {
        if rest.is_empty() {
            out.push(prefix.clone());
            return;
        }
        for i in 0..rest.len() {
            let op = rest.remove(i);
            prefix.push(op);
            if ok(prefix) {
                go(prefix, rest, ok, out);
            }
            prefix.pop();
            rest.insert(i, op);
        }
    }
    let mut out = Vec::new();
    go(&mut Vec::new(), &mut items.to_vec(), ok, &mut out);
    out
}

/// What the API allows: no builder call (nor `group()`) after `run`, `group()` before the
/// handle is used,
/// `limit` before the first spawn (else: the documented panic, tested on its own), the two
/// spawns of family none in order.
fn allowed(prefix: &[Op]) -> bool {
    let last = *prefix.last().unwrap();
    let has = |op: Op| prefix[..prefix.len() - 1].contains(&op);
    if (last.is_builder() || last == Op::Group) && has(Op::Run) {
        return false;
    }
    if matches!(last, Op::Spawn | Op::Spawn2 | Op::Cancel) && !has(Op::Group) {
        return false;
    }
    if last == Op::Limit && (has(Op::Spawn) || has(Op::Spawn2)) {
        return false;
    }
    if last == Op::Spawn2 && !has(Op::Spawn) {
        return false;
    }
    true
}

fn pos(order: &[Op], op: Op) -> usize {
    order.iter().position(|&o| o == op).unwrap()
}

/// What one order did.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    outcome: Result<Outcome<Vec<Option<u32>>>, Vec<String>>,
    parent_reason: Option<CancelReason>,
    /// The values of the spawned tasks' handles (`None` for a spawn that never happened).
    values: Vec<Option<u32>>,
    body_started: bool,
    max_running: usize,
}

type BoxTask = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

struct Probe {
    running: AtomicUsize,
    max: AtomicUsize,
}

/// The task of a spawn: waits for its group's cancel (family none: yields) and returns `v`.
/// The receiver hears from its first poll that returns `Pending` (waiting for the cancel), so
/// that the next operation of the order comes after that poll, not during it (a poll running
/// when the cancel comes may complete the task: SPEC sec. 2).
fn task(
    fam: Family,
    tg: &TaskGroup,
    v: u32,
    probe: &Arc<Probe>,
) -> (BoxTask, tokio::sync::oneshot::Receiver<()>) {
    let (tg, probe) = (tg.clone(), probe.clone());
    let (parked_tx, parked) = tokio::sync::oneshot::channel::<()>();
    let fut = Box::pin(async move {
        let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
        probe.max.fetch_max(now, Ordering::SeqCst);
        if fam == Family::None {
            tokio::task::yield_now().await;
        } else {
            let mut parked_tx = Some(parked_tx);
            let mut cancelled = std::pin::pin!(tg.cancelled());
            std::future::poll_fn(|cx| {
                let r = cancelled.as_mut().poll(cx);
                if r.is_pending() {
                    if let Some(tx) = parked_tx.take() {
                        let _ = tx.send(());
                    }
                }
                r
            })
            .await;
        }
        probe.running.fetch_sub(1, Ordering::SeqCst);
        Ok(v)
    });
    (fut, parked)
}

/// Spawns the task of value `v` into `tg`; if it started, waits until it parked (a task that
/// ends without parking drops its sender: the wait ends too).
async fn spawn_and_park(
    fam: Family,
    tg: &TaskGroup,
    v: u32,
    probe: &Arc<Probe>,
    handles: &Mutex<Vec<(u32, TaskHandle<u32>)>>,
) {
    let (fut, parked) = task(fam, tg, v, probe);
    let refused = tg.is_cancelled();
    let h = tg.spawn(fut);
    handles.lock().unwrap().push((v, h));
    if fam != Family::None && !refused {
        let _ = parked.await;
    }
}

async fn run_order(fam: Family, order: &[Op], multi: bool) -> Seen {
    let parent_scope = CancelScope::new();
    let p = parent_scope.group();
    let probe = Arc::new(Probe {
        running: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let mut scope = Some(CancelScope::new());
    let mut tg: Option<TaskGroup> = None;
    let handles: Arc<Mutex<Vec<(u32, TaskHandle<u32>)>>> = Arc::default();
    let timeout = match fam {
        Family::Deadline if multi => Duration::from_millis(10),
        Family::Deadline => Duration::from_secs(10),
        _ => Duration::from_secs(3600),
    };
    let mut i = 0;
    while order[i] != Op::Run {
        let op = order[i];
        let s = scope.take().unwrap();
        scope = Some(match op {
            Op::Grace => s.grace(Duration::from_secs(3600)),
            Op::Limit => s.limit(1),
            Op::Parent => s.parent(&p),
            Op::Timeout => s.timeout(timeout),
            Op::CancelOn => {
                if fam == Family::Signal {
                    s.cancel_on(std::future::ready(()))
                } else {
                    s.cancel_on(std::future::pending::<()>())
                }
            }
            Op::Group => {
                tg = Some(s.group());
                s
            }
            Op::Spawn | Op::Spawn2 => {
                let v = if op == Op::Spawn { 7 } else { 8 };
                spawn_and_park(fam, tg.as_ref().unwrap(), v, &probe, &handles).await;
                s
            }
            Op::Cancel => {
                tg.as_ref().unwrap().cancel();
                s
            }
            Op::Run => unreachable!(),
        });
        i += 1;
    }
    let rest: Vec<Op> = order[i + 1..].to_vec();
    let body_started = Arc::new(AtomicBool::new(false));
    let (bs, hs, tg2, probe2) = (
        body_started.clone(),
        handles.clone(),
        tg.clone().unwrap(),
        probe.clone(),
    );
    let scope = scope.take().unwrap();
    let fut = scope.run(async move {
        bs.store(true, Ordering::SeqCst);
        for op in rest {
            match op {
                Op::Spawn | Op::Spawn2 => {
                    let v = if op == Op::Spawn { 7 } else { 8 };
                    spawn_and_park(fam, &tg2, v, &probe2, &hs).await;
                }
                Op::Cancel => tg2.cancel(),
                _ => unreachable!(),
            }
        }
        match fam {
            Family::None => {
                // awaits every value: Completed carries them
                let hs: Vec<(u32, TaskHandle<u32>)> = hs.lock().unwrap().drain(..).collect();
                let mut values = Vec::new();
                for (_, h) in hs {
                    values.push(h.await);
                }
                Ok::<_, BoxError>(values)
            }
            _ => {
                std::future::pending::<()>().await;
                Ok(Vec::new())
            }
        }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(7200), fut)
        .await
        .expect("the scope never ended");
    let outcome = outcome.map_err(|e| e.errors().iter().map(ToString::to_string).collect());
    let mut values = Vec::new();
    let left: Vec<(u32, TaskHandle<u32>)> = handles.lock().unwrap().drain(..).collect();
    for (v, h) in left {
        let got = h.await;
        values.push(got.map(|g| {
            assert_eq!(g, v);
            g
        }));
    }
    let seen = Seen {
        outcome,
        parent_reason: p.cancel_reason(),
        values,
        body_started: body_started.load(Ordering::SeqCst),
        max_running: probe.max.load(Ordering::SeqCst),
    };
    drop(parent_scope);
    seen
}

/// What the SPEC says for `order`; `None` for what it leaves open.
struct Want {
    outcome: Result<Outcome<Vec<Option<u32>>>, Vec<String>>,
    parent_reason: Option<CancelReason>,
    /// The first spawn's value (family none: both in `outcome`); `None`: it did not happen or
    /// never started.
    first_value: Option<Option<u32>>,
    body_started: Option<bool>,
    max_running: Option<usize>,
}

fn want(fam: Family, order: &[Op]) -> Want {
    match fam {
        Family::Request => {
            let spawn_before_cancel = pos(order, Op::Spawn) < pos(order, Op::Cancel);
            let grace_at_cancel = pos(order, Op::Grace) < pos(order, Op::Cancel);
            Want {
                outcome: Ok(Outcome::Cancelled(CancelReason::Requested)),
                parent_reason: Some(CancelReason::Child),
                // a spawn after the cancel does not start (or never happens: a body that
                // the cancel drops before its spawn)
                first_value: Some((spawn_before_cancel && grace_at_cancel).then_some(7)),
                body_started: None,
                max_running: None,
            }
        }
        Family::Signal => {
            let spawn_before_run = pos(order, Op::Spawn) < pos(order, Op::Run);
            Want {
                outcome: Ok(Outcome::Cancelled(CancelReason::Signal)),
                parent_reason: None,
                first_value: Some(spawn_before_run.then_some(7)),
                body_started: Some(false),
                max_running: None,
            }
        }
        Family::Deadline => Want {
            outcome: Ok(Outcome::Cancelled(CancelReason::Deadline)),
            parent_reason: None,
            // spawned before run or in the body (which starts: the deadline is ahead); the
            // grace (set before run) lets it end with its value
            first_value: Some(Some(7)),
            body_started: Some(true),
            max_running: None,
        },
        Family::None => Want {
            outcome: Ok(Outcome::Completed(vec![Some(7), Some(8)])),
            parent_reason: None,
            first_value: None,
            body_started: Some(true),
            max_running: Some(1),
        },
    }
}

fn compare(fam: Family, order: &[Op], seen: &Seen) -> Result<(), String> {
    let w = want(fam, order);
    let mut bad = Vec::new();
    if seen.outcome != w.outcome {
        bad.push(format!("outcome {:?}, want {:?}", seen.outcome, w.outcome));
    }
    if seen.parent_reason != w.parent_reason {
        bad.push(format!(
            "parent {:?}, want {:?}",
            seen.parent_reason, w.parent_reason
        ));
    }
    if let Some(v) = w.first_value {
        let got = seen.values.first().copied().flatten();
        if got != v {
            bad.push(format!("first task {got:?}, want {v:?}"));
        }
    }
    if let Some(b) = w.body_started {
        if seen.body_started != b {
            bad.push(format!("body started {}, want {b}", seen.body_started));
        }
    }
    if let Some(m) = w.max_running {
        if seen.max_running != m {
            bad.push(format!("{} tasks ran at once, want {m}", seen.max_running));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

async fn check_family(fam: Family) {
    let multi = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    let all = orders(&fam.ops(), &allowed);
    assert!(all.len() > 100, "{fam:?}: only {} orders", all.len());
    if std::env::var_os("ADV3_TRACE").is_some() {
        eprintln!("{fam:?}: {} orders", all.len());
    }
    // on real time each order of the deadline family waits for its deadline: a sample (every
    // order runs on the paused clock of the current-thread variant)
    let step = if multi && fam == Family::Deadline {
        all.len() / 60 + 1
    } else {
        1
    };
    let mut bad = Vec::new();
    for order in all.iter().step_by(step) {
        let seen = run_order(fam, order, multi).await;
        if let Err(e) = compare(fam, order, &seen) {
            bad.push(format!("{order:?}: {e}"));
            if bad.len() > 10 {
                break;
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{fam:?}: wrong in {}+ of {} orders:\n{}",
        bad.len(),
        all.len(),
        bad.join("\n")
    );
}

async fn request_family_every_order() {
    check_family(Family::Request).await;
}

async fn signal_family_every_order() {
    check_family(Family::Signal).await;
}

async fn none_family_every_order() {
    check_family(Family::None).await;
}

async fn deadline_family_every_order_real_time() {
    check_family(Family::Deadline).await;
}

// rustdoc of `limit`: "if tasks were already spawned into the group ... before any limit was
// set: set the limit first" panics, in every order of the other builder calls around it
async fn limit_after_a_spawn_panics_in_every_order() {
    use Op::*;
    quiet_limit_panics();
    let all = orders(&[Grace, Parent, Timeout, CancelOn, Group, Spawn], &allowed);
    assert!(all.len() > 50);
    let parent_scope = CancelScope::new();
    let p = parent_scope.group();
    for order in all {
        let mut scope = CancelScope::new();
        let mut tg = None;
        for op in &order {
            scope = match op {
                Grace => scope.grace(Duration::from_secs(1)),
                Parent => scope.parent(&p),
                Timeout => scope.timeout(Duration::from_secs(1)),
                CancelOn => scope.cancel_on(std::future::pending::<()>()),
                Group => {
                    tg = Some(scope.group());
                    scope
                }
                Spawn => {
                    tg.as_ref().unwrap().spawn(std::future::pending::<()>());
                    scope
                }
                _ => unreachable!(),
            };
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scope.limit(1)));
        let msg = match r {
            Ok(_) => panic!("{order:?}: limit after a spawn was accepted"),
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        };
        assert!(
            msg.contains("set the limit before the first spawn"),
            "{order:?}: {msg}"
        );
        // the scope was dropped by the panic: its group is cancelled (Dropped), its task gone
        let tg = tg.unwrap();
        assert_eq!(tg.cancel_reason(), Some(CancelReason::Dropped), "{order:?}");
    }
    assert_eq!(p.cancel_reason(), None, "a Dropped cancel travelled up");
}

/// Keeps the default panic hook quiet for the documented `limit` panic (hundreds of them).
fn quiet_limit_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.contains("set the limit before the first spawn") {
                prev(info);
            }
        }));
    });
}
