//! Adversarial: SPEC section 6 "The grace in force at the moment of the cancel decides, whatever
//! `grace()` is called with afterwards", in every order of `group`, `grace`, spawn, `cancel`, `run`.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Group,
    GraceA,
    GraceB,
    Spawn,
    Cancel,
    Run,
}

fn permutations(items: &[Op]) -> Vec<Vec<Op>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

fn pos(order: &[Op], op: Op) -> usize {
    order.iter().position(|&o| o == op).unwrap()
}

/// Valid orders: the handle is taken before spawn and cancel, spawn before cancel (a spawn after
/// a cancel does not start), both graces (A before B) and `group()` before `run`.
fn orders() -> Vec<Vec<Op>> {
    use Op::*;
    permutations(&[Group, GraceA, GraceB, Spawn, Cancel, Run])
        .into_iter()
        .filter(|o| {
            pos(o, Group) < pos(o, Spawn)
                && pos(o, Group) < pos(o, Cancel)
                && pos(o, Spawn) < pos(o, Cancel)
                && pos(o, GraceA) < pos(o, GraceB)
                && pos(o, GraceA) < pos(o, Run)
                && pos(o, GraceB) < pos(o, Run)
                && pos(o, Group) < pos(o, Run)
        })
        .collect()
}

fn expected_grace(order: &[Op], a: Duration, b: Duration) -> Duration {
    let c = pos(order, Op::Cancel);
    let mut g = Duration::ZERO;
    for &o in &order[..c] {
        match o {
            Op::GraceA => g = a,
            Op::GraceB => g = b,
            _ => {}
        }
    }
    g
}

fn do_op(op: Op, tg: &TaskGroup) {
    match op {
        Op::Spawn => {
            // ignores the cancel: pending forever
            tg.spawn(std::future::pending::<()>());
        }
        Op::Cancel => tg.cancel(),
        _ => unreachable!(),
    }
}

/// Runs one order; returns the (virtual) time from the cancel to the end of the scope.
async fn run_order(order: &[Op], a: Duration, b: Duration) -> Result<Duration, String> {
    let mut scope = Some(CancelScope::new());
    let mut tg: Option<TaskGroup> = None;
    let mut cancel_at = None;
    let mut i = 0;
    while i < order.len() {
        match order[i] {
            Op::Group => tg = Some(scope.as_ref().unwrap().group()),
            Op::GraceA => scope = Some(scope.take().unwrap().grace(a)),
            Op::GraceB => scope = Some(scope.take().unwrap().grace(b)),
            op @ (Op::Spawn | Op::Cancel) => {
                if op == Op::Cancel {
                    cancel_at = Some(Instant::now());
                }
                do_op(op, tg.as_ref().unwrap());
            }
            Op::Run => break,
        }
        i += 1;
    }
    let rest: Vec<Op> = order[i + 1..].to_vec();
    let tg2 = tg.clone().unwrap();
    let cancel_at_body = std::rc::Rc::new(std::cell::Cell::new(cancel_at));
    let cab = cancel_at_body.clone();
    let fut = scope.take().unwrap().run(async move {
        for op in rest {
            if op == Op::Cancel {
                cab.set(Some(Instant::now()));
            }
            do_op(op, &tg2);
        }
        Ok::<_, BoxError>(())
    });
    let out = tokio::time::timeout(Duration::from_secs(1000), fut)
        .await
        .map_err(|_| "hung: the scope never ended".to_string())?;
    let end = Instant::now();
    match out {
        Ok(Outcome::Cancelled(CancelReason::Requested)) => {}
        other => return Err(format!("outcome {other:?}")),
    }
    Ok(end - cancel_at_body.get().unwrap())
}

async fn check(a: Duration, b: Duration) {
    let mut bad = Vec::new();
    let all = orders();
    assert!(all.len() >= 10, "{}", all.len());
    for order in &all {
        let want = expected_grace(order, a, b);
        match run_order(order, a, b).await {
            Ok(took) if took == want => {}
            Ok(took) => bad.push(format!(
                "{order:?}: ended {took:?} after the cancel, want {want:?}"
            )),
            Err(e) => bad.push(format!("{order:?}: {e}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} orders wrong: {bad:#?}",
        bad.len(),
        all.len()
    );
}

// SPEC 6: "The grace in force at the moment of the cancel decides, whatever grace() is called with afterwards" (1s then 0)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grace_decided_at_cancel_one_second_then_zero_every_order() {
    check(Duration::from_secs(1), Duration::ZERO).await;
}

// SPEC 6: "The grace in force at the moment of the cancel decides, whatever grace() is called with afterwards" (0 then 1s)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grace_decided_at_cancel_zero_then_one_second_every_order() {
    check(Duration::ZERO, Duration::from_secs(1)).await;
}

// SPEC 6: "The grace in force at the moment of the cancel decides" (1s then 5s)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grace_decided_at_cancel_one_then_five_seconds_every_order() {
    check(Duration::from_secs(1), Duration::from_secs(5)).await;
}

// SPEC 6: "whatever grace() is called with afterwards"; real-time multi-thread variant of the reported hole
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_zero_after_cancel_still_ends_multi_thread() {
    let scope = CancelScope::new().grace(Duration::from_millis(200));
    let tg = scope.group();
    tg.spawn(std::future::pending::<()>());
    tg.cancel();
    let scope = scope.grace(Duration::ZERO);
    let t0 = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(2),
        scope.run(async { Ok::<_, BoxError>(()) }),
    )
    .await
    .expect("hung: the scope never ended");
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(150),
        "ended after {took:?}, grace in force was 200ms"
    );
}

// SPEC 6: "A task that ends in time counts with its result" + grace with shielded task: grace does not abort shielded
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grace_task_ending_in_time_counts_its_error() {
    let scope = CancelScope::new().grace(Duration::from_secs(2));
    let tg = scope.group();
    let tg2 = tg.clone();
    tg.spawn(async move {
        tg2.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err::<(), _>(BoxError::from("cleanup failed"))
    });
    let tg3 = tg.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(100),
        scope.run(async move {
            tg3.cancel();
            Ok::<_, BoxError>(())
        }),
    )
    .await
    .expect("hung");
    let e = out.expect_err("an error during the grace must count (rule 3)");
    assert_eq!(e.len(), 1);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

// SPEC 6: "Shield: the task is not aborted by cancellation nor at the end of a grace period"
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shielded_task_outlives_grace_and_counts() {
    let scope = CancelScope::new().grace(Duration::from_secs(1));
    let tg = scope.group();
    let h = tg.spawn_shielded(async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, BoxError>(7)
    });
    let t0 = Instant::now();
    let tg2 = tg.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(100),
        scope.run(async move {
            tg2.cancel();
            Ok::<_, BoxError>(h.await)
        }),
    )
    .await
    .expect("hung");
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(Instant::now() - t0, Duration::from_secs(5));
}
