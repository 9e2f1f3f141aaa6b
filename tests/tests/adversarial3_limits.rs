//! Adversarial 3: the limits 1 and `usize::MAX`, and changes between them. FIFO order across
//! every kind of member under limit(1) (task, blocking closure, local task, shielded, named),
//! `len()` exact at every step, a panic or a deadline or a signal with a queue, a queued task
//! whose handle was dropped, the abort of the running task, a nest of limit(1) scopes, a
//! lowered limit with tasks running, a limit raised to `usize::MAX` (overflow), 1,000 tasks
//! from four threads all running at once under `usize::MAX`.
//!
//! SPEC rules attacked: sec. 6 "Limit (`limit(n)`): at most n tasks run at once; further
//! spawns queue in spawn order and start as slots free; queued tasks are dropped unstarted on
//! cancel, except shielded ones"; sec. 3 "`len()` counts every task not yet finished, queued
//! ones (under `limit`) included", "`TaskHandle::abort()` stops that one task: it is neither a
//! failure nor a cancel", "dropping it detaches nothing"; rule 4; sec. 5 deadline; sec. 10
//! (members "held to `limit` like any member", signals). Where the SPEC is silent (changing a
//! limit), the rustdoc of `CancelScope::limit` is the recorded choice: "It may be called again
//! to change the limit; a raised limit starts queued tasks at once."
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cancel_scope::{BoxError, CancelReason, CancelScope, Locals, Outcome};
use tokio::sync::oneshot;

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial::ms;
use adversarial3::{Count, Payload, catch, panic_with, payload, quiet_payload_panics};

both!(
    limit_one_starts_every_kind_of_member_in_spawn_order,
    limit_one_len_exact_at_every_step,
    limit_one_running_panic_drops_queue_unstarted_before_resuming,
    limit_one_deadline_drops_queue_and_keeps_shielded,
    limit_one_signal_drops_queued_blocking_closure_unstarted,
    limit_one_queued_task_with_dropped_handle_still_runs,
    limit_one_abort_of_running_task_admits_next_and_is_not_a_cancel,
    limit_one_nest_each_level_one_at_a_time,
    lowered_limit_waits_for_running_tasks_to_drain,
    limit_one_raised_to_usize_max_admits_every_queued_task,
    limit_usize_max_then_one_is_one,
    limit_usize_max_thousand_tasks_from_four_threads_all_run_at_once,
);

/// Records the order in which members start, and how many ran at once.
#[derive(Default)]
struct Starts {
    order: Mutex<Vec<&'static str>>,
    running: AtomicUsize,
    max: AtomicUsize,
}

impl Starts {
    fn start(&self, name: &'static str) {
        self.order.lock().unwrap().push(name);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn end(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
    fn order(&self) -> Vec<&'static str> {
        self.order.lock().unwrap().clone()
    }
}

// sec. 6 + 10: one FIFO queue for every kind of member
async fn limit_one_starts_every_kind_of_member_in_spawn_order() {
    let s = Arc::new(Starts::default());
    let locals = Locals::new();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (go, gate) = oneshot::channel::<()>();
    let s1 = s.clone();
    tg.spawn(async move {
        s1.start("task");
        let _ = gate.await;
        s1.end();
    });
    let s2 = s.clone();
    tg.spawn_blocking(move || {
        s2.start("blocking");
        std::thread::sleep(ms(2));
        s2.end();
    });
    let tg2 = tg.clone();
    let s0 = s.clone();
    let out = scope
        .run_with_locals(&locals, async {
            let s3 = s0.clone();
            locals.spawn(async move {
                s3.start("local");
                tokio::task::yield_now().await;
                s3.end();
            });
            let s4 = s0.clone();
            tg2.spawn_shielded(async move {
                s4.start("shielded");
                tokio::task::yield_now().await;
                s4.end();
            });
            let s5 = s0.clone();
            tg2.named("named").spawn(async move {
                s5.start("named");
                s5.end();
            });
            let s6 = s0.clone();
            tg2.spawn(async move {
                s6.start("last");
                s6.end();
            });
            assert_eq!(tg2.len(), 6);
            go.send(()).unwrap();
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        s.order(),
        ["task", "blocking", "local", "shielded", "named", "last"]
    );
    assert_eq!(s.max.load(Ordering::SeqCst), 1, "two members ran at once");
}

// sec. 3: len() counts queued tasks, and a task whose handle resolved is finished
async fn limit_one_len_exact_at_every_step() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for i in 0..5u32 {
        let (go, gate) = oneshot::channel::<()>();
        gates.push(go);
        handles.push(tg.spawn(async move {
            let _ = gate.await;
            Ok::<_, BoxError>(i)
        }));
    }
    assert_eq!(tg.len(), 5);
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            let mut lens = Vec::new();
            for (i, (go, h)) in gates.into_iter().zip(handles).enumerate() {
                go.send(()).unwrap();
                assert_eq!(h.await, Some(i as u32));
                lens.push(tg2.len());
            }
            Ok::<_, BoxError>(lens)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![4, 3, 2, 1, 0]));
}

// rule 4 + sec. 6: the running task panics; queued tasks are dropped unstarted before the
// panic is resumed
async fn limit_one_running_panic_drops_queue_unstarted_before_resuming() {
    quiet_payload_panics();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let c = Count::default();
    let started = Arc::new(AtomicUsize::new(0));
    tg.spawn(async {
        tokio::task::yield_now().await;
        panic_with(Payload(61));
    });
    let mut queued = Vec::new();
    for _ in 0..4 {
        let (g, st) = (c.guard(), started.clone());
        queued.push(tg.spawn(async move {
            let _g = g;
            st.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let caught = catch(scope.run(async { Ok::<_, BoxError>(()) }))
        .await
        .expect_err("the panic was swallowed");
    assert_eq!(payload(&*caught), Ok(61));
    assert_eq!(c.get(), 4, "a queued task outlived the scope");
    assert_eq!(
        started.load(Ordering::SeqCst),
        0,
        "a queued task started after the panic"
    );
    for h in queued {
        assert_eq!(h.await, None);
    }
}

// sec. 5 + 6: the deadline cancels; plain queued tasks are dropped unstarted, a shielded
// queued one stays queued and runs
async fn limit_one_deadline_drops_queue_and_keeps_shielded() {
    let scope = CancelScope::new().limit(1).timeout(ms(20));
    let tg = scope.group();
    let c = Count::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let g = c.guard();
    tg.spawn(async move {
        let _g = g;
        std::future::pending::<()>().await;
    });
    let (g, r) = (c.guard(), ran.clone());
    let plain = tg.spawn(async move {
        let _g = g;
        r.fetch_add(1, Ordering::SeqCst);
    });
    let (g, r) = (c.guard(), ran.clone());
    let tg2 = tg.clone();
    let shielded = tg.spawn_shielded(async move {
        let _g = g;
        r.fetch_add(10, Ordering::SeqCst);
        Ok::<_, BoxError>(tg2.cancel_reason())
    });
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert_eq!(c.get(), 3);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(plain.await, None);
    assert_eq!(shielded.await, Some(Some(CancelReason::Deadline)));
}

// sec. 10: a blocking closure queued under limit(1) is dropped unstarted by a signal's cancel
async fn limit_one_signal_drops_queued_blocking_closure_unstarted() {
    let (fire, on_fire) = oneshot::channel::<()>();
    let scope = CancelScope::new().limit(1).cancel_on(on_fire);
    let tg = scope.group();
    let (running, is_running) = oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = running.send(());
        std::future::pending::<()>().await;
    });
    let dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let (f, r) = (adversarial::Flag(dropped.clone()), ran.clone());
    let h = tg.spawn_blocking(move || {
        let _f = f;
        r.store(true, Ordering::SeqCst);
    });
    let out = scope
        .run(async move {
            is_running.await.unwrap();
            fire.send(()).unwrap();
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(h.await, None);
}

// sec. 3: "dropping it detaches nothing": a queued task whose handle is gone still runs, and
// the scope waits for it
async fn limit_one_queued_task_with_dropped_handle_still_runs() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (go, gate) = oneshot::channel::<()>();
    tg.spawn(async move {
        let _ = gate.await;
    });
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    drop(tg.spawn(async move {
        tokio::task::yield_now().await;
        r.store(true, Ordering::SeqCst);
    }));
    go.send(()).unwrap();
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        ran.load(Ordering::SeqCst),
        "a queued task outlived the scope or never ran"
    );
}

// sec. 3 + 6: aborting the running task frees the slot; the next starts; no cancel, no failure
async fn limit_one_abort_of_running_task_admits_next_and_is_not_a_cancel() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (running, is_running) = oneshot::channel::<()>();
    let first = tg.spawn(async move {
        let _ = running.send(());
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(1)
    });
    let second = tg.spawn(async { Ok::<_, BoxError>(2) });
    let out = scope
        .run(async move {
            is_running.await.unwrap();
            first.abort();
            Ok::<_, BoxError>((first.await, second.await))
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed((None, Some(2))));
    assert!(!tg.is_cancelled());
}

// sec. 6 at depth: each level a limit(1) scope whose only slot runs the next level while a
// sibling waits; siblings start only after the level below ended
async fn limit_one_nest_each_level_one_at_a_time() {
    const DEPTH: usize = 20;
    fn level(k: usize, log: Arc<Mutex<Vec<usize>>>) -> adversarial3::BoxFut {
        Box::pin(async move {
            let scope = CancelScope::new().limit(1);
            let tg = scope.group();
            if k < DEPTH {
                tg.spawn(level(k + 1, log.clone()));
            }
            let l = log.clone();
            tg.spawn(async move {
                l.lock().unwrap().push(k);
            });
            let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
            assert_eq!(out.unwrap(), Outcome::Completed(()));
        })
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    level(0, log.clone()).await;
    let want: Vec<usize> = (0..=DEPTH).rev().collect();
    assert_eq!(
        *log.lock().unwrap(),
        want,
        "a sibling ran before the level below ended"
    );
}

// sec. 6: "at most n tasks run at once" after the limit is lowered with more running: queued
// tasks start only once the running ones drained below the new limit
async fn lowered_limit_waits_for_running_tasks_to_drain() {
    let s = Arc::new(Starts::default());
    let scope = CancelScope::new().limit(3);
    let tg = scope.group();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    for _ in 0..3 {
        let (go, gate) = oneshot::channel::<()>();
        gates.push(go);
        let (s, b) = (s.clone(), barrier.clone());
        handles.push(tg.spawn(async move {
            s.start("early");
            b.wait().await;
            let _ = gate.await;
            s.end();
        }));
    }
    // all three run
    barrier.wait().await;
    let at_start = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..2 {
        let (s, a) = (s.clone(), at_start.clone());
        tg.spawn(async move {
            a.lock().unwrap().push(s.running.load(Ordering::SeqCst));
            s.start("late");
            tokio::task::yield_now().await;
            s.end();
        });
    }
    let scope = scope.limit(1);
    let out = scope
        .run(async move {
            for (go, h) in gates.into_iter().zip(handles) {
                go.send(()).unwrap();
                h.await;
            }
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        *at_start.lock().unwrap(),
        [0, 0],
        "a queued task started while others ran above the lowered limit"
    );
}

// the rustdoc's "a raised limit starts queued tasks at once", raised to usize::MAX
async fn limit_one_raised_to_usize_max_admits_every_queued_task() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    for _ in 0..5 {
        let b = barrier.clone();
        tg.spawn(async move {
            b.wait().await;
        });
    }
    assert_eq!(tg.len(), 5);
    let scope = scope.limit(usize::MAX);
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// the rustdoc's "It may be called again to change the limit": usize::MAX, then 1
async fn limit_usize_max_then_one_is_one() {
    let s = Arc::new(Starts::default());
    let scope = CancelScope::new().limit(usize::MAX).limit(1);
    let tg = scope.group();
    for name in ["a", "b", "c", "d"] {
        let s = s.clone();
        tg.spawn(async move {
            s.start(name);
            tokio::task::yield_now().await;
            s.end();
        });
    }
    assert_eq!(tg.len(), 4);
    let out = scope.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(s.order(), ["a", "b", "c", "d"]);
    assert_eq!(s.max.load(Ordering::SeqCst), 1);
}

// sec. 6 + 3: nothing is queued under usize::MAX: 1,000 tasks spawned from four plain threads
// all run at once (a barrier of all of them); len() is exact
async fn limit_usize_max_thousand_tasks_from_four_threads_all_run_at_once() {
    const PER: usize = 250;
    let scope = CancelScope::new().limit(usize::MAX);
    let tg = scope.group();
    let barrier = Arc::new(tokio::sync::Barrier::new(4 * PER + 1));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (tg, b) = (tg.clone(), barrier.clone());
            std::thread::spawn(move || {
                for _ in 0..PER {
                    let b = b.clone();
                    tg.spawn(async move {
                        b.wait().await;
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(tg.len(), 4 * PER);
    let tg2 = tg.clone();
    let out = scope
        .run(async move {
            barrier.wait().await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(tg2.len(), 0);
}
