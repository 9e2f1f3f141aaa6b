//! Adversarial 3: scopes nested 10,000 deep in every combination of nesting (task-in-task,
//! body-in-body, alternating), linking (none, each level linked to the one it runs in) and
//! event (a cancel of the root, a request of the leaf, a panic or an error of the leaf's task,
//! a destructor panic at the leaf under a cancel of the root, the root's run future dropped
//! inside an enclosing scope, the abort of the task that runs the middle level, the root's
//! deadline, shielded levels under a cancel of the root), then 10,000 scopes linked to one
//! parent (a star) and a chain whose links run against the nesting.
//!
//! Expected results are the SPEC's, computed per combination: every level's final reason, the
//! outcome of every level that returns where the SPEC decides it, the root's result (value,
//! errors in order, or the original panic payload), and every level's drop guard dropped
//! before the awaited root (or its enclosing scope) returns.
//!
//! SPEC rules attacked: sec. 5 "Propagation, hand-over and panic forwarding are iterative ...
//! link chains 20,000 deep, and scopes nested task-in-task 20,000 deep ... must not overflow a
//! stack" (task-in-task nests run on a 2 MiB thread; body-in-body nests, "the caller's stack",
//! on a thread with a large stack), linking (Parent down, Child up, first cause), sec. 2
//! "Nothing outlives its scope" (hand-over at every level), "A task stopped by ... abort" is
//! not a cancel, rules 2-4, sec. 6 shield.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup, TaskHandle};
use tokio::sync::Notify;

mod adversarial3;

use adversarial3::{Count, PanicOnDrop, catch, panic_with, payload, quiet_payload_panics};

const N: usize = 10_000;
const MIB: usize = 1024 * 1024;
const BOMB: u32 = 9_999;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nesting {
    TaskInTask,
    BodyInBody,
    Alternating,
}

impl Nesting {
    /// Whether level `k` runs level `k + 1` in a task (else in its body).
    fn in_task(self, k: usize) -> bool {
        match self {
            Nesting::TaskInTask => true,
            Nesting::BodyInBody => false,
            Nesting::Alternating => k % 2 == 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    RootCancel,
    LeafRequest,
    LeafPanic,
    LeafError,
    /// The leaf's task holds a destructor that panics; the root is cancelled.
    LeafDropPanic,
    /// The root's run future is dropped inside an enclosing scope's body.
    RootDropped,
    /// The task that runs level `MID + 1` (a task of level `MID`) is aborted.
    MidAbort,
    RootDeadline,
    /// Levels run each other in shielded tasks; the root is cancelled.
    ShieldedRootCancel,
}

/// An even level (alternating nests run the next level in a task at even levels).
const MID: usize = N / 2;

#[derive(Clone, Copy, Debug)]
struct Cfg {
    nesting: Nesting,
    linked: bool,
    event: Event,
    multi: bool,
}

/// How a level's `run` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Completed,
    Cancelled(CancelReason),
    Err(Vec<String>),
}

struct Deep {
    cfg: Cfg,
    guards: Count,
    groups: Mutex<Vec<Option<TaskGroup>>>,
    outs: Mutex<Vec<Option<Out>>>,
    mid_runner: Mutex<Option<TaskHandle<()>>>,
    ready: AtomicBool,
    notify: Notify,
}

type Level = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

fn level(k: usize, enclosing: Option<TaskGroup>, d: Arc<Deep>) -> Level {
    Box::pin(async move {
        let cfg = d.cfg;
        let mut scope = CancelScope::new();
        if let (true, Some(p)) = (cfg.linked, &enclosing) {
            scope = scope.parent(p);
        }
        if k == 0 && cfg.event == Event::RootDeadline {
            scope = scope.timeout(if cfg.multi {
                Duration::from_millis(400)
            } else {
                // paused clock: fires once everything waits
                Duration::from_secs(3600)
            });
        }
        let tg = scope.group();
        d.groups.lock().unwrap()[k] = Some(tg.clone());
        let g = d.guards.guard();
        let out = if k == N - 1 {
            match cfg.event {
                Event::LeafPanic => {
                    tg.spawn(async move {
                        let _g = g;
                        tokio::task::yield_now().await;
                        panic_with(adversarial3::Payload(BOMB));
                    });
                }
                Event::LeafError => {
                    tg.spawn(async move {
                        let _g = g;
                        Err::<(), BoxError>("leaf".into())
                    });
                }
                Event::LeafDropPanic => {
                    let bomb = PanicOnDrop(BOMB);
                    tg.spawn(async move {
                        let _g = g;
                        let _bomb = bomb;
                        std::future::pending::<()>().await;
                    });
                }
                _ => {
                    tg.spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await;
                    });
                }
            }
            let (tg2, d2) = (tg.clone(), d.clone());
            scope
                .run(async move {
                    d2.ready.store(true, Ordering::SeqCst);
                    d2.notify.notify_one();
                    if cfg.event == Event::LeafRequest {
                        tg2.cancel();
                    }
                    Ok::<_, BoxError>(())
                })
                .await
        } else if cfg.nesting.in_task(k) {
            let inner = level(k + 1, Some(tg.clone()), d.clone());
            let runner = async move {
                let _g = g;
                inner.await
            };
            let h = if cfg.event == Event::ShieldedRootCancel {
                tg.spawn_shielded(runner)
            } else {
                tg.spawn(runner)
            };
            if k == MID && cfg.event == Event::MidAbort {
                *d.mid_runner.lock().unwrap() = Some(h);
            }
            scope.run(async { Ok::<_, BoxError>(()) }).await
        } else {
            let inner = level(k + 1, Some(tg.clone()), d.clone());
            scope
                .run(async move {
                    let _g = g;
                    inner.await
                })
                .await
        };
        let (rec, ret) = match out {
            Ok(Outcome::Completed(())) => (Out::Completed, Ok(())),
            Ok(Outcome::Cancelled(r)) => (Out::Cancelled(r), Ok(())),
            Err(e) => {
                let msgs = e.errors().iter().map(ToString::to_string).collect();
                (Out::Err(msgs), Err(e.into_errors().remove(0)))
            }
        };
        d.outs.lock().unwrap()[k] = Some(rec);
        ret
    })
}

/// What the SPEC says for a combination.
struct Want {
    /// The root's result: `Ok(out)` or `Err(payload)` for a resumed panic; `None`: the root's
    /// run future is dropped (RootDropped).
    root: Option<Result<Out, u32>>,
    /// The final reason of level `k >= 1`.
    reason: fn(Cfg, usize) -> Option<CancelReason>,
    /// Levels whose run future is dropped with the body of a linked level that is itself
    /// dropped (not cancelled) may record `Dropped` instead: the SPEC does not order the two
    /// drops (the reliability model accepts both too).
    either_dropped: fn(Cfg, usize) -> bool,
    /// The outcome of level `k >= 1` where the SPEC decides whether and how it returns
    /// (`Some(None)`: it never returns), `None` where that depends on timing.
    out: fn(Cfg, usize) -> Option<Option<Out>>,
}

fn want(cfg: Cfg) -> Want {
    use CancelReason::*;
    fn dropped_or_parent(cfg: Cfg, _: usize) -> Option<CancelReason> {
        Some(if cfg.linked { Parent } else { Dropped })
    }
    fn never_if_unlinked(cfg: Cfg, _: usize) -> Option<Option<Out>> {
        // unlinked levels are cancelled only by their drop: they never return
        (!cfg.linked).then_some(None)
    }
    match cfg.event {
        Event::RootCancel => Want {
            root: Some(Ok(Out::Cancelled(Requested))),
            reason: dropped_or_parent,
            either_dropped: |_, _| false,
            out: never_if_unlinked,
        },
        Event::ShieldedRootCancel => Want {
            root: Some(Ok(Out::Cancelled(Requested))),
            reason: |_, _| Some(Parent),
            either_dropped: |_, _| false,
            // nothing aborts a shielded runner: a level run in one sees its cancel and returns;
            // a level run in a body is dropped with it (the body is dropped at once); a level
            // in the runner of a level dropped so is aborted with it (it may return first)
            out: |cfg, k| {
                if cfg.nesting.in_task(k - 1) {
                    if k == 1 || cfg.nesting.in_task(k - 2) {
                        Some(Some(Out::Cancelled(Parent)))
                    } else {
                        None
                    }
                } else {
                    Some(None)
                }
            },
        },
        Event::LeafDropPanic => Want {
            root: Some(Err(BOMB)),
            // unlinked levels polled in bodies are dropped innermost first: the leaf's task,
            // aborted by the leaf's drop, may panic on a worker while the levels above are
            // still open; its panic (handed over) then fails them first (Failed)
            reason: |cfg, _| {
                if !cfg.linked && cfg.multi && cfg.nesting != Nesting::TaskInTask {
                    None
                } else {
                    dropped_or_parent(cfg, 0)
                }
            },
            either_dropped: |_, _| false,
            out: never_if_unlinked,
        },
        Event::RootDeadline => Want {
            root: Some(Ok(Out::Cancelled(Deadline))),
            reason: dropped_or_parent,
            either_dropped: |_, _| false,
            out: never_if_unlinked,
        },
        Event::RootDropped => Want {
            root: None,
            reason: dropped_or_parent,
            // the root's body holds level 1 (body nesting): dropped before the root's group
            either_dropped: |cfg, _| cfg.linked && cfg.nesting == Nesting::BodyInBody,
            out: never_if_unlinked,
        },
        Event::LeafRequest => Want {
            root: Some(Ok(if cfg.linked {
                Out::Cancelled(Child)
            } else {
                Out::Completed
            })),
            reason: |cfg, k| {
                if k == N - 1 {
                    Some(Requested)
                } else if cfg.linked {
                    Some(Child)
                } else {
                    None
                }
            },
            either_dropped: |_, _| false,
            out: |cfg, k| {
                if cfg.linked {
                    // every level is cancelled (Child) and dropped by the level it runs in,
                    // the leaf too: whether one returns first depends on timing
                    None
                } else if k == N - 1 {
                    Some(Some(Out::Cancelled(Requested)))
                } else {
                    Some(Some(Out::Completed))
                }
            },
        },
        Event::LeafPanic => Want {
            root: Some(Err(BOMB)),
            reason: |_, _| Some(Failed),
            // every level resumes the panic instead of returning
            either_dropped: |_, _| false,
            out: |_, _| Some(None),
        },
        Event::LeafError => Want {
            root: Some(Ok(Out::Err(vec!["leaf".into()]))),
            reason: |_, _| Some(Failed),
            either_dropped: |_, _| false,
            out: |_, _| Some(Some(Out::Err(vec!["leaf".into()]))),
        },
        Event::MidAbort => Want {
            root: Some(Ok(Out::Completed)),
            reason: |cfg, k| {
                if k <= MID {
                    None
                } else if k == MID + 1 || !cfg.linked {
                    Some(Dropped)
                } else {
                    Some(Parent)
                }
            },
            // alternating: MID + 2 runs in the body of MID + 1, which is dropped
            either_dropped: |cfg, k| {
                cfg.linked && cfg.nesting == Nesting::Alternating && k == MID + 2
            },
            out: |cfg, k| {
                if k <= MID {
                    Some(Some(Out::Completed))
                } else if k == MID + 1 || !cfg.linked {
                    Some(None)
                } else {
                    None
                }
            },
        },
    }
}

async fn run_combo(cfg: Cfg) {
    let d = Arc::new(Deep {
        cfg,
        guards: Count::default(),
        groups: Mutex::new(vec![None; N]),
        outs: Mutex::new(vec![None; N]),
        mid_runner: Mutex::new(None),
        ready: AtomicBool::new(false),
        notify: Notify::new(),
    });
    let wait_ready = {
        let d = d.clone();
        async move {
            loop {
                let n = d.notify.notified();
                if d.ready.load(Ordering::SeqCst) {
                    return;
                }
                n.await;
            }
        }
    };
    let root: Result<Result<(), BoxError>, u32>;
    let mut guards_at_return = 0;
    if cfg.event == Event::RootDropped {
        let outer = CancelScope::new();
        let d2 = d.clone();
        let out = outer
            .run(async move {
                tokio::select! {
                    _ = level(0, None, d2.clone()) => panic!("the root returned"),
                    () = wait_ready => {}
                }
                Ok::<_, BoxError>(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        guards_at_return = d.guards.get();
        root = Ok(Ok(()));
    } else {
        let ctl = {
            let d = d.clone();
            async move {
                match cfg.event {
                    Event::RootCancel | Event::LeafDropPanic | Event::ShieldedRootCancel => {
                        wait_ready.await;
                        let g = d.groups.lock().unwrap()[0].clone().unwrap();
                        g.cancel();
                    }
                    Event::MidAbort => {
                        wait_ready.await;
                        let h = d.mid_runner.lock().unwrap().take().unwrap();
                        h.abort();
                    }
                    _ => {}
                }
            }
        };
        let (r, ()) = futures::join!(
            async {
                let r = catch(level(0, None, d.clone())).await;
                guards_at_return = d.guards.get();
                r
            },
            ctl
        );
        root = r.map_err(|p| payload(&*p).unwrap_or_else(|e| panic!("resumed {e}")));
    }
    let w = want(cfg);
    let built = d
        .groups
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.is_some())
        .count();
    // a deadline on real time may fire before the nest is complete: what was built is checked
    if !(cfg.multi && cfg.event == Event::RootDeadline) {
        assert_eq!(built, N, "{cfg:?}: levels built");
    }
    assert_eq!(
        guards_at_return, built,
        "{cfg:?}: the root returned before every level's tasks were dropped"
    );
    let outs = d.outs.lock().unwrap().clone();
    match w.root {
        None => assert_eq!(outs[0], None, "{cfg:?}: the dropped root returned"),
        Some(Ok(want_out)) => {
            assert!(root.is_ok(), "{cfg:?}: the root panicked with {root:?}");
            assert_eq!(outs[0], Some(want_out), "{cfg:?}: root");
        }
        Some(Err(p)) => assert!(
            matches!(root, Err(q) if q == p),
            "{cfg:?}: root {root:?}, want the panic Payload({p})"
        ),
    }
    let groups = d.groups.lock().unwrap().clone();
    let mut bad = Vec::new();
    for k in 1..N {
        let Some(g) = &groups[k] else { continue };
        let r = (w.reason)(cfg, k);
        // `None` from `reason` for a level that must be cancelled: Dropped or Failed
        let r = if r.is_none() && cfg.event == Event::LeafDropPanic {
            if matches!(
                g.cancel_reason(),
                Some(CancelReason::Dropped | CancelReason::Failed)
            ) {
                g.cancel_reason()
            } else {
                Some(CancelReason::Dropped)
            }
        } else {
            r
        };
        let either = (w.either_dropped)(cfg, k) && g.cancel_reason() == Some(CancelReason::Dropped);
        if g.cancel_reason() != r && !either {
            bad.push(format!(
                "level {k}: reason {:?}, want {r:?}",
                g.cancel_reason()
            ));
        }
        if let Some(o) = (w.out)(cfg, k) {
            if outs[k] != o {
                bad.push(format!("level {k}: returned {:?}, want {o:?}", outs[k]));
            }
        }
        if g.len() != 0 {
            bad.push(format!("level {k}: len {}", g.len()));
        }
        if bad.len() > 5 {
            break;
        }
    }
    assert!(bad.is_empty(), "{cfg:?}:\n{}", bad.join("\n"));
}

/// Runs one combination on a fresh runtime in a thread whose stack the SPEC allows: 2 MiB for
/// task-in-task nests, a large one for nests whose bodies are polled inside each other.
fn combo(nesting: Nesting, linked: bool, event: Event, multi: bool) {
    quiet_payload_panics();
    let cfg = Cfg {
        nesting,
        linked,
        event,
        multi,
    };
    let stack = if nesting == Nesting::TaskInTask {
        2 * MIB
    } else {
        1024 * MIB
    };
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = if multi {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .start_paused(event == Event::RootDeadline)
                        .build()
                        .unwrap()
                };
                rt.block_on(run_combo(cfg));
                rt.shutdown_timeout(Duration::from_secs(1));
            }));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {cfg:?}"),
    }
}

macro_rules! combos {
    ($($name:ident: $nesting:ident, $linked:expr, $event:ident;)*) => {$(
        mod $name {
            use super::*;
            #[test]
            fn current_thread() {
                combo(Nesting::$nesting, $linked, Event::$event, false)
            }
            #[test]
            fn multi_thread() {
                combo(Nesting::$nesting, $linked, Event::$event, true)
            }
        }
    )*};
}

combos! {
    task_unlinked_root_cancel: TaskInTask, false, RootCancel;
    task_linked_root_cancel: TaskInTask, true, RootCancel;
    task_unlinked_leaf_request: TaskInTask, false, LeafRequest;
    task_linked_leaf_request: TaskInTask, true, LeafRequest;
    task_unlinked_leaf_panic: TaskInTask, false, LeafPanic;
    task_linked_leaf_panic: TaskInTask, true, LeafPanic;
    task_unlinked_leaf_error: TaskInTask, false, LeafError;
    task_linked_leaf_error: TaskInTask, true, LeafError;
    task_linked_leaf_drop_panic: TaskInTask, true, LeafDropPanic;
    task_unlinked_root_dropped: TaskInTask, false, RootDropped;
    task_linked_root_dropped: TaskInTask, true, RootDropped;
    task_unlinked_mid_abort: TaskInTask, false, MidAbort;
    task_linked_mid_abort: TaskInTask, true, MidAbort;
    task_unlinked_root_deadline: TaskInTask, false, RootDeadline;
    task_linked_root_deadline: TaskInTask, true, RootDeadline;
    task_linked_shielded_root_cancel: TaskInTask, true, ShieldedRootCancel;
    body_unlinked_root_cancel: BodyInBody, false, RootCancel;
    body_linked_root_cancel: BodyInBody, true, RootCancel;
    body_unlinked_leaf_request: BodyInBody, false, LeafRequest;
    body_linked_leaf_request: BodyInBody, true, LeafRequest;
    body_unlinked_leaf_panic: BodyInBody, false, LeafPanic;
    body_linked_leaf_error: BodyInBody, true, LeafError;
    body_unlinked_leaf_drop_panic: BodyInBody, false, LeafDropPanic;
    body_linked_leaf_drop_panic: BodyInBody, true, LeafDropPanic;
    body_linked_root_dropped: BodyInBody, true, RootDropped;
    alternating_unlinked_root_cancel: Alternating, false, RootCancel;
    alternating_linked_leaf_request: Alternating, true, LeafRequest;
    alternating_linked_leaf_panic: Alternating, true, LeafPanic;
    alternating_unlinked_leaf_drop_panic: Alternating, false, LeafDropPanic;
    alternating_linked_mid_abort: Alternating, true, MidAbort;
    alternating_unlinked_root_dropped: Alternating, false, RootDropped;
    alternating_linked_shielded_root_cancel: Alternating, true, ShieldedRootCancel;
}

// sec. 5 linking, 10,000 wide: 10,000 running scopes linked to one parent, in one body; one of
// them requests: the parent records Child, every other child Parent, the requester Requested
#[test]
fn star_of_10000_running_children_one_requests() {
    for multi in [false, true] {
        std::thread::Builder::new()
            .stack_size(2 * MIB)
            .spawn(move || {
                let rt = if multi {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                };
                rt.block_on(async {
                    let parent = CancelScope::new();
                    let p = parent.group();
                    let children: Vec<CancelScope> =
                        (0..N).map(|_| CancelScope::new().parent(&p)).collect();
                    let groups: Vec<TaskGroup> = children.iter().map(|c| c.group()).collect();
                    let requester = groups[N / 3].clone();
                    let p2 = p.clone();
                    let runs = futures::future::join_all(
                        children
                            .into_iter()
                            .map(|c| c.run(std::future::pending::<Result<(), BoxError>>())),
                    );
                    let (outs, ()) = futures::join!(runs, async move {
                        tokio::task::yield_now().await;
                        requester.cancel();
                    });
                    let po = parent
                        .run(async move {
                            assert_eq!(p2.cancel_reason(), Some(CancelReason::Child));
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    assert_eq!(po.unwrap(), Outcome::Cancelled(CancelReason::Child));
                    for (i, o) in outs.into_iter().enumerate() {
                        let want = if i == N / 3 {
                            CancelReason::Requested
                        } else {
                            CancelReason::Parent
                        };
                        assert_eq!(o.unwrap(), Outcome::Cancelled(want), "child {i}");
                        assert_eq!(groups[i].cancel_reason(), Some(want), "child {i}");
                    }
                });
            })
            .unwrap()
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
    }
}

// sec. 5 + 2: a nest 10,000 deep (task-in-task) whose links run against it: each level is the
// *parent* of the level it runs in (built leaf first with group() before parent()). The leaf's
// request goes down to every enclosing level (Parent); the root's request goes up the links to
// every nested level (Child). Both unwind without a stack overflow on a 2 MiB thread.
#[test]
fn nest_10000_linked_against_the_nesting() {
    for (multi, from_root) in [(false, false), (false, true), (true, false), (true, true)] {
        std::thread::Builder::new()
            .stack_size(2 * MIB)
            .spawn(move || {
                let rt = if multi {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap()
                } else {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                };
                rt.block_on(reverse_nest(from_root));
            })
            .unwrap()
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
    }
}

async fn reverse_nest(from_root: bool) {
    // scopes[k] runs in a task of scopes[k - 1]; scopes[k - 1].parent(&groups[k])
    let mut scopes: Vec<Option<CancelScope>> = Vec::with_capacity(N);
    let mut groups: Vec<TaskGroup> = Vec::with_capacity(N);
    let leaf = CancelScope::new();
    groups.push(leaf.group());
    scopes.push(Some(leaf));
    for k in 1..N {
        let s = CancelScope::new().parent(&groups[k - 1]);
        groups.push(s.group());
        scopes.push(Some(s));
    }
    // built leaf first: reverse to index by level (0 = root)
    scopes.reverse();
    groups.reverse();
    let c = Count::default();
    let ready = Arc::new(Notify::new());
    let is_ready = Arc::new(AtomicBool::new(false));
    // level N-1 (leaf) first, then wrap upwards
    let mut next: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
    for k in (0..N).rev() {
        let s = scopes[k].take().unwrap();
        let tg = groups[k].clone();
        let g = c.guard();
        let inner = next.take();
        let (ready, is_ready) = (ready.clone(), is_ready.clone());
        next = Some(Box::pin(async move {
            match inner {
                Some(inner) => {
                    tg.spawn(async move {
                        let _g = g;
                        inner.await;
                    });
                }
                None => {
                    tg.spawn(async move {
                        let _g = g;
                        is_ready.store(true, Ordering::SeqCst);
                        ready.notify_one();
                        std::future::pending::<()>().await;
                    });
                }
            }
            let _ = s.run(async { Ok::<_, BoxError>(()) }).await;
        }));
    }
    let root = next.unwrap();
    let origin = if from_root {
        groups[0].clone()
    } else {
        groups[N - 1].clone()
    };
    let ctl = async move {
        loop {
            let n = ready.notified();
            if is_ready.load(Ordering::SeqCst) {
                break;
            }
            n.await;
        }
        origin.cancel();
    };
    futures::join!(root, ctl);
    assert_eq!(c.get(), N, "a level's task outlived the root");
    for (k, g) in groups.iter().enumerate() {
        let want = if from_root {
            if k == 0 {
                CancelReason::Requested
            } else {
                CancelReason::Child
            }
        } else if k == N - 1 {
            CancelReason::Requested
        } else {
            CancelReason::Parent
        };
        assert_eq!(
            g.cancel_reason(),
            Some(want),
            "level {k} (from root: {from_root})"
        );
    }
}
