//! Adversarial 3: panics in destructors at every depth. A destructor that panics is placed in
//! each kind of place a scope drops user values (a task, a shielded task, a queued task, a
//! queued blocking closure, a local task, a body local, a `cancel_on` signal, a discarded task
//! output, a discarded body value) at depth 0 to 4 of scopes nested task-in-task, body-in-body
//! or alternating, each level linked to the enclosing one or not, and set off by a cancel of the
//! root, a request of the innermost scope, or by itself. Then: panics in destructors of values
//! the scope drops on its own while it resumes a panic (errors, later payloads) or after a race
//! was won.
//!
//! SPEC rules attacked: rule 4 "A task or the body panicked: ... the scope waits until every
//! task has stopped, then resumes the first panic in the caller with its original payload. A
//! panic is never turned into a value; later panics and the errors collected are dropped with
//! the unwinding"; sec. 2 "A panic while a cancelled task is being dropped counts as a task
//! panic", "a dropped scope hands its still-live tasks to the scope it ran in ... which waits
//! for them", "A value that a scope discards ... is dropped before the scope returns"; sec. 5
//! linking (Parent down, Child up); sec. 9 "Once a task has won, the errors of the losers are
//! not errors of the race and are dropped"; sec. 10 (local tasks, blocking members and signals:
//! every rule of a task applies, "its error and panic count", "A signal that panics").
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{BoxError, CancelScope, Locals, ScopeResult, TaskGroup};
use tokio::sync::Notify;

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial3::{Count, PanicOnDrop, Payload, catch, panic_with, payload, quiet_payload_panics};

both!(
    destructor_panic_at_every_depth_every_place_every_nesting,
    error_destructor_panic_does_not_replace_the_first_panic,
    later_payload_destructor_panic_does_not_replace_the_first_panic,
    race_loser_error_destructor_panic_after_win_is_resumed,
    race_error_before_win_destructor_panic_is_resumed,
    supervised_errors_destructor_panic_with_body_panic_keeps_first,
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Task,
    Shielded,
    Queued,
    QueuedBlocking,
    Local,
    BodyLocal,
    Signal,
    Output,
    BodyValue,
}

impl Place {
    const ALL: [Place; 9] = [
        Place::Task,
        Place::Shielded,
        Place::Queued,
        Place::QueuedBlocking,
        Place::Local,
        Place::BodyLocal,
        Place::Signal,
        Place::Output,
        Place::BodyValue,
    ];

    /// Goes off without any cancel.
    fn by_itself(self) -> bool {
        matches!(self, Place::Output | Place::BodyValue)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nesting {
    TaskInTask,
    BodyInBody,
    Alternating,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// The root scope's group is cancelled from outside.
    RootCancel,
    /// The innermost scope cancels its own group.
    LeafRequest,
    /// Nothing: the bomb goes off by itself.
    Itself,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    target: usize,
    place: Place,
    nesting: Nesting,
    linked: bool,
    trigger: Trigger,
}

impl Case {
    fn code(&self) -> u32 {
        1000 + self.target as u32 * 10
            + Place::ALL.iter().position(|&p| p == self.place).unwrap() as u32
    }
}

struct Ctx {
    case: Case,
    /// One guard per level, held by a pending sibling task.
    guards: Count,
    ready: AtomicBool,
    notify: Notify,
    root: Mutex<Option<TaskGroup>>,
}

type Level = Pin<Box<dyn Future<Output = ScopeResult<()>> + Send>>;

fn pending_body() -> impl Future<Output = Result<(), BoxError>> + Send {
    std::future::pending()
}

fn set_ready(ctx: &Ctx) {
    ctx.ready.store(true, Ordering::SeqCst);
    ctx.notify.notify_one();
}

/// Level `k` of the nest: its scope (linked to `enclosing` if the case links), a pending
/// sibling holding a guard, and either the next level or, at the target, the bomb.
fn level(k: usize, enclosing: Option<TaskGroup>, ctx: Arc<Ctx>) -> Level {
    Box::pin(async move {
        let case = ctx.case;
        let at_target = k == case.target;
        let mut scope = CancelScope::new();
        if let (true, Some(p)) = (case.linked, &enclosing) {
            scope = scope.parent(p);
        }
        if at_target && matches!(case.place, Place::Queued | Place::QueuedBlocking) {
            scope = scope.limit(1);
        }
        if at_target && case.place == Place::Signal {
            let bomb = PanicOnDrop(case.code());
            scope = scope.cancel_on(async move {
                let _bomb = bomb;
                std::future::pending::<()>().await;
            });
        }
        let tg = scope.group();
        if k == 0 {
            *ctx.root.lock().unwrap() = Some(tg.clone());
        }
        let g = ctx.guards.guard();
        tg.spawn(async move {
            let _g = g;
            std::future::pending::<()>().await;
        });
        if !at_target {
            let inner = level(k + 1, Some(tg.clone()), ctx.clone());
            let in_task = match case.nesting {
                Nesting::TaskInTask => true,
                Nesting::BodyInBody => false,
                Nesting::Alternating => k % 2 == 0,
            };
            // The inner scope's panic is this task's (or body's) panic; an inner scope that
            // returns instead swallowed it: said by a panic of another payload type.
            let next = k + 1;
            return if in_task {
                tg.spawn(async move {
                    let r = inner.await;
                    panic_with(format!(
                        "level {next} returned {:?}",
                        r.map_err(|e| e.to_string())
                    ));
                });
                scope.run(pending_body()).await
            } else {
                scope
                    .run(async move {
                        let r = inner.await;
                        panic_with(format!(
                            "level {next} returned {:?}",
                            r.map_err(|e| e.to_string())
                        ));
                        Ok(())
                    })
                    .await
            };
        }
        let code = case.code();
        let leaf_request = case.trigger == Trigger::LeafRequest;
        match case.place {
            // (the bomb is made outside the future: a queued task is dropped unstarted)
            Place::Task | Place::Queued => {
                let bomb = PanicOnDrop(code);
                tg.spawn(async move {
                    let _bomb = bomb;
                    std::future::pending::<()>().await;
                });
            }
            Place::Shielded => {
                let tg2 = tg.clone();
                let bomb = PanicOnDrop(code);
                tg.spawn_shielded(async move {
                    let _bomb = bomb;
                    tg2.cancelled().await;
                });
            }
            Place::QueuedBlocking => {
                let bomb = PanicOnDrop(code);
                tg.spawn_blocking(move || {
                    let _bomb = bomb;
                });
            }
            Place::Output => {
                // completes only once its handle is gone (a handle dropped after the value was
                // delivered drops the value itself, where it is dropped)
                let (go, gate) = tokio::sync::oneshot::channel::<()>();
                drop(tg.spawn(async move {
                    let _ = gate.await;
                    Ok::<_, BoxError>(PanicOnDrop(code))
                }));
                go.send(()).unwrap();
            }
            Place::Local => {
                let locals = Locals::new();
                let tg2 = tg.clone();
                let ctx2 = ctx.clone();
                let bomb = PanicOnDrop(code);
                let out = scope
                    .run_with_locals(&locals, async {
                        locals.spawn(async move {
                            let _bomb = bomb;
                            std::future::pending::<()>().await;
                        });
                        tokio::task::yield_now().await;
                        set_ready(&ctx2);
                        if leaf_request {
                            tg2.cancel();
                        }
                        std::future::pending::<()>().await;
                        Ok(())
                    })
                    .await;
                return out;
            }
            Place::BodyValue => {
                let tg2 = tg.clone();
                let ctx2 = ctx.clone();
                return scope
                    .run(async move {
                        let tg3 = tg2.clone();
                        tg2.spawn(async move {
                            tokio::task::yield_now().await;
                            tg3.cancel();
                        });
                        set_ready(&ctx2);
                        Ok(PanicOnDrop(code))
                    })
                    .await
                    .map(|o| o.map(|_: PanicOnDrop| ()));
            }
            Place::BodyLocal | Place::Signal => {}
        }
        let tg2 = tg.clone();
        let body_bomb = case.place == Place::BodyLocal;
        scope
            .run(async move {
                let _bomb = body_bomb.then(|| PanicOnDrop(code));
                tokio::task::yield_now().await;
                set_ready(&ctx);
                if leaf_request {
                    tg2.cancel();
                }
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
    })
}

async fn run_case(case: Case) -> Result<(), String> {
    let ctx = Arc::new(Ctx {
        case,
        guards: Count::default(),
        ready: AtomicBool::new(false),
        notify: Notify::new(),
        root: Mutex::new(None),
    });
    let root = level(0, None, ctx.clone());
    let ctl = async {
        if case.trigger != Trigger::RootCancel {
            return;
        }
        loop {
            let n = ctx.notify.notified();
            if ctx.ready.load(Ordering::SeqCst) {
                break;
            }
            n.await;
        }
        let root = ctx.root.lock().unwrap().clone().unwrap();
        root.cancel();
    };
    let (out, ()) = futures::join!(catch(root), ctl);
    let levels = case.target + 1;
    match out {
        Ok(r) => Err(format!(
            "the panic was swallowed: {:?}",
            r.map_err(|e| e.to_string())
        )),
        Err(p) => match payload(&*p) {
            Ok(n) if n == case.code() => {
                let dropped = ctx.guards.get();
                if dropped == levels {
                    Ok(())
                } else {
                    Err(format!(
                        "resumed with {dropped} of {levels} sibling guards dropped"
                    ))
                }
            }
            other => Err(format!("resumed {other:?}, want Payload({})", case.code())),
        },
    }
}

// rule 4 + sec. 2: a destructor panic anywhere, at any depth, reaches the awaited root with its
// payload, after every level's tasks were dropped
async fn destructor_panic_at_every_depth_every_place_every_nesting() {
    quiet_payload_panics();
    let mut bad = Vec::new();
    let mut total = 0;
    for target in 0..=4 {
        for place in Place::ALL {
            for nesting in [
                Nesting::TaskInTask,
                Nesting::BodyInBody,
                Nesting::Alternating,
            ] {
                for linked in [false, true] {
                    let triggers: &[Trigger] = if place.by_itself() {
                        &[Trigger::Itself]
                    } else {
                        &[Trigger::RootCancel, Trigger::LeafRequest]
                    };
                    for &trigger in triggers {
                        let case = Case {
                            target,
                            place,
                            nesting,
                            linked,
                            trigger,
                        };
                        total += 1;
                        if std::env::var_os("ADV3_TRACE").is_some() {
                            eprintln!("{case:?}");
                        }
                        if let Err(e) = run_case(case).await {
                            bad.push(format!("{case:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {total} cases wrong:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// An error whose destructor panics with `Payload(.0)`.
struct BombError(u32);

impl Drop for BombError {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(self.0));
        }
    }
}
impl fmt::Debug for BombError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BombError({})", self.0)
    }
}
impl fmt::Display for BombError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bomb {}", self.0)
    }
}
impl std::error::Error for BombError {}

// rule 4: "resumes the first panic ... with its original payload ... the errors collected are
// dropped": an error's destructor that panics must not replace the first panic
async fn error_destructor_panic_does_not_replace_the_first_panic() {
    quiet_payload_panics();
    let scope = CancelScope::new();
    let tg = scope.group();
    let tg2 = tg.clone();
    tg.spawn_shielded(async move {
        tg2.cancelled().await;
        panic_with(Payload(1));
    });
    tg.spawn(async { Err::<(), BoxError>(Box::new(BombError(2))) });
    let caught = catch(scope.run(pending_body()))
        .await
        .expect_err("the panic was swallowed");
    assert_eq!(payload(&*caught), Ok(1), "not the first panic's payload");
}

/// A panic payload whose destructor panics with `Payload(.0)`.
struct BombPayload(u32);

impl Drop for BombPayload {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(Payload(self.0));
        }
    }
}

// rule 4: "later panics ... are dropped with the unwinding": a later panic whose payload's
// destructor panics must not replace the first panic (here the later one is the body's
// destructor, dropped by the scope at the cancel the first panic caused)
async fn later_payload_destructor_panic_does_not_replace_the_first_panic() {
    quiet_payload_panics();
    struct BodyBomb;
    impl Drop for BodyBomb {
        fn drop(&mut self) {
            std::panic::panic_any(BombPayload(3));
        }
    }
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(async {
        tokio::task::yield_now().await;
        panic_with(Payload(1));
    });
    let caught = catch(scope.run(async {
        let _b = BodyBomb;
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(())
    }))
    .await
    .expect_err("the panic was swallowed");
    assert_eq!(payload(&*caught), Ok(1), "not the first panic's payload");
}

type Contender = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

// sec. 9 + rule 4: a loser's error is dropped after the win; its destructor's panic is a panic
// (never swallowed), resumed once every task stopped
async fn race_loser_error_destructor_panic_after_win_is_resumed() {
    quiet_payload_panics();
    let scope = CancelScope::new().grace(Duration::from_secs(30));
    let tg = scope.group();
    let tg2 = tg.clone();
    let loser: Contender = Box::pin(async move {
        tg2.cancelled().await;
        Err(Box::new(BombError(4)) as BoxError)
    });
    let winner: Contender = Box::pin(async { Ok(1) });
    let caught = catch(scope.race(vec![loser, winner]))
        .await
        .expect_err("the panic of a dropped loser error was swallowed");
    assert_eq!(payload(&*caught), Ok(4));
}

// sec. 9 + rule 4: errors recorded before the win are dropped at the win; a destructor panic
// there is resumed too
async fn race_error_before_win_destructor_panic_is_resumed() {
    quiet_payload_panics();
    let scope = CancelScope::new();
    let tg = scope.group();
    let early: Contender = Box::pin(async move { Err(Box::new(BombError(5)) as BoxError) });
    let winner: Contender = Box::pin(async move {
        // wins once the loser's task ended (its error was recorded before it left the group)
        while tg.len() > 1 {
            tokio::task::yield_now().await;
        }
        Ok(1)
    });
    let caught = catch(scope.race(vec![early, winner]))
        .await
        .expect_err("the panic of a dropped loser error was swallowed");
    assert_eq!(payload(&*caught), Ok(5));
}

// sec. 9 supervise + rule 4: errors kept by a supervised group are dropped when the body's
// panic is resumed; their destructors' panics do not replace it
async fn supervised_errors_destructor_panic_with_body_panic_keeps_first() {
    quiet_payload_panics();
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let h = tg.spawn(async { Err::<(), BoxError>(Box::new(BombError(6))) });
    let caught = catch(scope.run(async move {
        h.await;
        panic_with(Payload(7));
        Ok::<_, BoxError>(())
    }))
    .await
    .expect_err("the panic was swallowed");
    assert_eq!(payload(&*caught), Ok(7), "not the first panic's payload");
}
