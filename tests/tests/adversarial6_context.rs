//! Adversarial 6: the scope's context and the task wrapper's layout.
//!
//! Two internal changes are attacked from the SPEC (sections 2, 4, 5, 6 and 10):
//!
//! 1. A scope's `run` future lends its group to the thread-local "current scope" while its body,
//!    a discarded value's destructor or a local task runs, instead of keeping a clone. That slot
//!    is how a nested scope finds the scope to hand its tasks to when it is dropped unfinished
//!    (SPEC 2, "Nothing outlives its scope") and how `TaskGroup::deadline()` finds the scopes a
//!    group runs in (SPEC 10). Attacked: bodies that panic around unfinished nested scopes, run
//!    futures dropped right after the poll in which their body panicked or returned, discarded
//!    values whose destructors create and drop scopes with live tasks (rules 3, 4 and 5), task
//!    values whose handle was dropped, local tasks (`run_with_locals`, `spawn_local`) that run
//!    nested scopes, nested panics caught and not caught, the slot not leaking into sibling
//!    futures, and 20,000 scopes nested body-in-body dropped from the outside.
//! 2. The task wrapper tokio runs is `repr(C)` with its bookkeeping before the user's future.
//!    Attacked: user futures of 0, 1, 16, 255, 256, 4096 and 16384 bytes and over-aligned ones
//!    (64, 256, 4096), completed, cancelled, aborted while parked, queued under `limit`, whose
//!    destructors panic, spawn into their own group or log their order; handles awaited,
//!    dropped and aborted. Every check is that the user's future (and a value nobody takes) is
//!    dropped before its handle resolves and before the scope returns.
//!
//! Every test runs on both runtimes, on a fresh runtime in a thread of its own under a watchdog
//! that turns a hang into a failure.
//!
//! Found by this suite (not caused by either change: they failed the same way on 147817e), and
//! fixed: a destructor that runs when a cancel drops the body, a task or a local task was not
//! run in the scope's context (only a discarded value's destructor was), so a scope it creates
//! and drops unfinished found no enclosing scope (`deadline()` was `None`) and its tasks were
//! aborted with nobody waiting: the cancelled scope returned before their destructors ran
//! (`body_dropped_on_cancel_destructor_makes_scope`,
//! `task_dropped_on_cancel_destructor_makes_scope`,
//! `local_task_dropped_on_cancel_destructor_makes_scope`). Now the body, a task's future and a
//! local task are dropped in their scope's context, wherever they are dropped from.

#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::task::{Context, Poll};
use std::time::Duration;

use cancel_scope::{
    BoxError, CancelReason, CancelScope, Locals, Outcome, ScopeResult, TaskEnd, TaskGroup,
    cancel_scope,
};
use futures::FutureExt;
use tokio::sync::Notify;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// harness

const MIB: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Current,
    Multi,
}

type TestFut = Pin<Box<dyn Future<Output = ()>>>;

fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    match flavor {
        Flavor::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        Flavor::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    }
}

/// Runs `f` in a thread with a `stack`-byte stack, failing if it does not end within `secs`.
fn watchdog<T: Send + 'static>(
    what: &str,
    secs: u64,
    stack: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(what.into())
        .stack_size(stack)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(Ok(v)) => v,
            Ok(Err(p)) | Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what} did not end within {secs} s"),
    }
}

fn wd(flavor: Flavor, name: &'static str, secs: u64, stack: usize, f: fn(Flavor) -> TestFut) {
    watchdog(name, secs, stack, move || {
        quiet_payload_panics();
        let rt = runtime(flavor);
        rt.block_on(f(flavor));
        rt.shutdown_timeout(Duration::from_millis(500));
    })
}

/// Instantiates each `async fn NAME(Flavor)` as `NAME::current_thread` and `NAME::multi_thread`.
macro_rules! both {
    ($secs:expr; $($name:ident),* $(,)?) => { both!(@ $secs, 2 * crate::MIB; $($name),*); };
    (@ $secs:expr, $stack:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn current_thread() {
                crate::wd(crate::Flavor::Current, stringify!($name), $secs, $stack, |f| {
                    Box::pin(super::$name(f))
                })
            }
            #[test]
            fn multi_thread() {
                crate::wd(crate::Flavor::Multi, stringify!($name), $secs, $stack, |f| {
                    Box::pin(super::$name(f))
                })
            }
        }
    )*};
}

/// How long a [`SlowGuard`] takes to drop: long enough that a scope that does not wait for a
/// task is caught returning before the task's destructor finished, on either runtime.
const SLOW: Duration = Duration::from_millis(15);

/// Counts events (drops of its guards, starts); can be waited on.
#[derive(Clone, Default)]
struct Count(Arc<(AtomicUsize, Notify)>);

impl Count {
    fn get(&self) -> usize {
        self.0.0.load(SeqCst)
    }
    fn bump(&self) {
        self.0.0.fetch_add(1, SeqCst);
        self.0.1.notify_waiters();
    }
    fn guard(&self) -> Guard {
        Guard(self.clone())
    }
    fn slow_guard(&self) -> SlowGuard {
        SlowGuard(self.clone())
    }
    async fn wait_for(&self, n: usize) {
        loop {
            let notified = self.0.1.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.get() >= n {
                return;
            }
            notified.await;
        }
    }
}

/// Counts one when dropped.
struct Guard(Count);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.bump();
    }
}

/// Counts one when dropped, after blocking its thread for [`SLOW`].
struct SlowGuard(Count);

impl Drop for SlowGuard {
    fn drop(&mut self) {
        std::thread::sleep(SLOW);
        self.0.bump();
    }
}

/// A task that counts its start in `started`, then holds `guard` forever.
fn parked<G: Send + 'static>(
    started: &Count,
    guard: G,
) -> impl Future<Output = ()> + Send + 'static {
    let started = started.clone();
    async move {
        let _guard = guard;
        started.bump();
        std::future::pending::<()>().await
    }
}

/// Like [`parked`], counting its start without waking anyone.
fn parked_quiet<G: Send + 'static>(
    started: &Count,
    guard: G,
) -> impl Future<Output = ()> + Send + 'static {
    let started = started.clone();
    async move {
        let _guard = guard;
        started.0.0.fetch_add(1, SeqCst);
        std::future::pending::<()>().await
    }
}

/// A level-triggered flag.
#[derive(Clone, Default)]
struct Gate(Arc<(AtomicBool, Notify)>);

impl Gate {
    fn open(&self) {
        self.0.0.store(true, SeqCst);
        self.0.1.notify_waiters();
    }
    fn is_open(&self) -> bool {
        self.0.0.load(SeqCst)
    }
    async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_open() {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Payload(u32);

/// Panics with `Payload(n)`; typed `()` so that the code after it still type-checks.
fn boom(n: u32) {
    std::panic::panic_any(Payload(n));
}

/// Keeps the default panic hook quiet for `Payload` panics (they are expected).
fn quiet_payload_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Payload>().is_none() {
                prev(info);
            }
        }));
    });
}

async fn catch<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    std::panic::AssertUnwindSafe(fut).catch_unwind().await
}

fn payload(p: &(dyn Any + Send)) -> Result<u32, String> {
    if let Some(Payload(n)) = p.downcast_ref::<Payload>() {
        Ok(*n)
    } else if let Some(s) = p.downcast_ref::<&str>() {
        Err(format!("&str payload: {s}"))
    } else if let Some(s) = p.downcast_ref::<String>() {
        Err(format!("String payload: {s}"))
    } else {
        Err("payload of another type".into())
    }
}

/// The payload of a caught panic, or what the future returned instead.
fn panicked<T: std::fmt::Debug>(r: Result<T, Box<dyn Any + Send>>) -> Result<u32, String> {
    match r {
        Ok(v) => Err(format!("no panic: returned {v:?}")),
        Err(p) => payload(&*p),
    }
}

fn pending_body() -> impl Future<Output = Result<(), BoxError>> + Send {
    std::future::pending()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn within<F: Future>(what: &str, secs: u64, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("hung: {what}"),
    }
}

/// Resolves once `flag` is set (polled again whenever its task is polled).
fn flag_set(flag: &AtomicBool) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_| {
        if flag.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

fn reasons(groups: &Mutex<Vec<TaskGroup>>) -> Vec<Option<CancelReason>> {
    groups
        .lock()
        .unwrap()
        .iter()
        .map(TaskGroup::cancel_reason)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// part 1: the scope's context
//
// SPEC 2: "An awaited scope returns only after the body has finished and every task's future
// has been dropped (destructors have run), including the tasks of scopes nested in them that
// were dropped unfinished: a dropped scope hands its still-live tasks to the scope it ran in
// (the innermost enclosing scope, found when `run` is first polled), which waits for them."

// SPEC 2 + rule 4: a body that panics after it dropped an unfinished nested scope with live
// tasks. The outer scope waits for those tasks, then resumes the body's panic.
async fn body_panics_after_dropping_unfinished_nested_scope(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let groups: Arc<Mutex<Vec<TaskGroup>>> = Default::default();
    let (c, s, gs) = (count.clone(), started.clone(), groups.clone());
    let r = catch(CancelScope::new().run(async move {
        let nested = CancelScope::new();
        let ntg = nested.group();
        gs.lock().unwrap().push(ntg.clone());
        for _ in 0..4 {
            ntg.spawn(parked(&s, c.slow_guard()));
        }
        let mut run = Box::pin(nested.run(pending_body()));
        assert!(futures::poll!(run.as_mut()).is_pending());
        within("nested tasks start", 5, s.wait_for(4)).await;
        drop(run);
        assert_eq!(ntg.cancel_reason(), Some(CancelReason::Dropped));
        boom(1);
        Ok(())
    }))
    .await;
    assert_eq!(
        count.get(),
        4,
        "a task of the dropped nested scope outlived the outer scope"
    );
    assert_eq!(panicked(r), Ok(1), "the body's panic is resumed");
    assert_eq!(reasons(&groups), [Some(CancelReason::Dropped)]);
}

// SPEC 2 + rule 4: nested scopes still alive when the body panics (one never run, one polled
// once, one whose task runs a scope of its own) are dropped by the unwinding: all their tasks
// are waited for and the panic is resumed.
async fn nested_scopes_alive_when_body_panics(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let groups: Arc<Mutex<Vec<TaskGroup>>> = Default::default();
    let (c, s, gs) = (count.clone(), started.clone(), groups.clone());
    let r = catch(CancelScope::new().run(async move {
        // Never run: created in this body.
        let a = CancelScope::new();
        let atg = a.group();
        for _ in 0..2 {
            atg.spawn(parked(&s, c.slow_guard()));
        }
        // Polled once, then held.
        let b = CancelScope::new();
        let btg = b.group();
        btg.spawn(parked(&s, c.slow_guard()));
        let mut brun = Box::pin(b.run(pending_body()));
        assert!(futures::poll!(brun.as_mut()).is_pending());
        // Polled once; its task runs a scope whose task is parked (task-in-task).
        let cs = CancelScope::new();
        let ctg = cs.group();
        let (c2, s2) = (c.clone(), s.clone());
        ctg.spawn(async move {
            let d = CancelScope::new();
            d.group().spawn(parked(&s2, c2.slow_guard()));
            let _ = d.run(pending_body()).await;
        });
        let mut crun = Box::pin(cs.run(pending_body()));
        assert!(futures::poll!(crun.as_mut()).is_pending());
        gs.lock().unwrap().extend([atg, btg, ctg]);
        within("nested tasks start", 5, s.wait_for(4)).await;
        boom(2);
        drop((a, brun, crun));
        Ok(())
    }))
    .await;
    assert_eq!(
        count.get(),
        4,
        "a task of a nested scope dropped by the unwinding outlived the outer scope"
    );
    assert_eq!(panicked(r), Ok(2));
    assert_eq!(reasons(&groups), [Some(CancelReason::Dropped); 3]);
}

// SPEC 2 ("A scope that is dropped before it finishes (inside `select!` ...) cancels its group
// ... and requests the abort of every task, shielded ones included") + rule 4 ("A panic is
// never turned into a value"): a scope's run future dropped by `select!` in the very poll in
// which its body panicked (a shielded task keeps it running). The enclosing scope waits for
// the handed-over tasks and resumes the panic.
async fn run_dropped_in_the_poll_its_body_panicked(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let (c, s) = (count.clone(), started.clone());
    let r = catch(CancelScope::new().run(async move {
        let o = CancelScope::new();
        let otg = o.group();
        otg.spawn_shielded(parked(&s, c.slow_guard()));
        otg.spawn(parked(&s, c.slow_guard()));
        within("tasks start", 5, s.wait_for(2)).await;
        let flag = AtomicBool::new(false);
        tokio::select! {
            biased;
            out = o.run(async {
                tokio::task::yield_now().await;
                flag.store(true, SeqCst);
                boom(3);
                Ok(())
            }) => panic!("the scope returned with a shielded task alive: {out:?}"),
            () = flag_set(&flag) => {}
        }
        assert_eq!(
            otg.cancel_reason(),
            Some(CancelReason::Failed),
            "the body's panic is the first cause"
        );
        Ok(())
    }))
    .await;
    assert_eq!(
        count.get(),
        2,
        "a task of the dropped scope outlived the enclosing scope"
    );
    assert_eq!(
        panicked(r),
        Ok(3),
        "the panic of a scope dropped unfinished was swallowed"
    );
}

struct DropCounter(Count);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.bump();
    }
}

// SPEC 2: a scope's run future dropped by `select!` in the very poll in which its body
// returned `Ok(value)` (a shielded task keeps it running). It is cancelled `Dropped`, its
// shielded task is aborted and waited for by the enclosing scope, and the value is dropped.
async fn run_dropped_in_the_poll_its_body_returned(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let values = Count::default();
    let (c, s, v) = (count.clone(), started.clone(), values.clone());
    let out = CancelScope::new()
        .run(async move {
            let o = CancelScope::new();
            let otg = o.group();
            otg.spawn_shielded(parked(&s, c.slow_guard()));
            within("task starts", 5, s.wait_for(1)).await;
            let flag = AtomicBool::new(false);
            tokio::select! {
                biased;
                out = o.run(async {
                    tokio::task::yield_now().await;
                    flag.store(true, SeqCst);
                    Ok(DropCounter(v.clone()))
                }) => panic!("the scope returned with a shielded task alive: {:?}", out.map(|o| o.is_completed())),
                () = flag_set(&flag) => {}
            }
            assert_eq!(otg.cancel_reason(), Some(CancelReason::Dropped));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        count.get(),
        1,
        "the shielded task of the dropped scope outlived the enclosing scope"
    );
    assert_eq!(values.get(), 1, "the body's value was never dropped");
}

// SPEC 2 + rule 4: `tokio::time::timeout` drops a scope whose body panicked earlier (a shielded
// task keeps it running): the enclosing scope waits for its tasks and resumes the panic.
async fn timeout_drops_run_after_its_body_panicked(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let (c, s) = (count.clone(), started.clone());
    let r = catch(CancelScope::new().run(async move {
        let o = CancelScope::new();
        let otg = o.group();
        otg.spawn_shielded(parked(&s, c.slow_guard()));
        for _ in 0..3 {
            otg.spawn(parked(&s, c.slow_guard()));
        }
        let r = tokio::time::timeout(
            ms(60),
            o.run(async {
                tokio::time::sleep(ms(5)).await;
                boom(4);
                Ok(())
            }),
        )
        .await;
        assert!(r.is_err(), "the scope returned with a shielded task alive");
        Ok(())
    }))
    .await;
    assert_eq!(count.get(), 4, "a task outlived the enclosing scope");
    assert_eq!(panicked(r), Ok(4));
}

// ---------------------------------------------------------------------------------------------
// discarded values whose destructors create scopes
//
// SPEC 2: "A value that a scope discards (the body's value under rules 3, 4 and 5, the output
// of a task whose handle was dropped) is dropped before the scope returns, so a scope owned by
// such a value is handed over and waited for like any other." SPEC 10: `deadline()` is "the
// earliest deadline of this scope, of the scopes it runs in".

/// What a [`Spawner`]'s destructor saw and made.
#[derive(Clone, Default)]
struct Ctx {
    count: Count,
    started: Count,
    /// `deadline()` of each nested group, as its creator saw it.
    seen: Arc<Mutex<Vec<Option<Instant>>>>,
    groups: Arc<Mutex<Vec<TaskGroup>>>,
}

impl Ctx {
    fn spawner(&self, tasks: usize, poll_once: bool, panic: Option<u32>) -> Spawner {
        Spawner {
            ctx: self.clone(),
            tasks,
            poll_once,
            panic,
        }
    }
    fn seen(&self) -> Vec<Option<Instant>> {
        self.seen.lock().unwrap().clone()
    }
    /// Creates a scope, spawns `tasks` parked tasks with slow guards into it, polls its `run`
    /// once if asked, and drops it unfinished.
    fn nested_dropped(&self, tasks: usize, poll_once: bool) {
        let nested = CancelScope::new();
        let ntg = nested.group();
        self.seen.lock().unwrap().push(ntg.deadline());
        for _ in 0..tasks {
            ntg.spawn(parked(&self.started, self.count.slow_guard()));
        }
        if poll_once {
            let mut run = Box::pin(nested.run(pending_body()));
            assert!(run.as_mut().now_or_never().is_none());
        } else {
            drop(nested);
        }
        self.groups.lock().unwrap().push(ntg);
    }
}

/// A value whose destructor creates a scope with live tasks and drops it unfinished.
struct Spawner {
    ctx: Ctx,
    tasks: usize,
    poll_once: bool,
    panic: Option<u32>,
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.ctx.nested_dropped(self.tasks, self.poll_once);
        if let Some(p) = self.panic {
            boom(p);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discard {
    /// Rule 5: the body cancels, then returns its value.
    Requested,
    /// Rule 5: a task cancels after the body returned.
    LaterByTask,
    /// Rule 3: a task fails after the body returned.
    TaskError,
    /// Rule 4: a task panics after the body returned.
    TaskPanic,
    /// Rule 3 under `supervise` (SPEC 9): a task fails, the group is not cancelled.
    Supervised,
    /// Rule 5: the deadline passes after the body returned.
    Deadline,
    /// Rule 5: the body cancels and returns a value whose destructor panics.
    DestructorPanics,
}

async fn discard_case(kind: Discard) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let mut scope = CancelScope::new();
    scope = match kind {
        Discard::Deadline => scope.timeout(ms(20)),
        _ => scope.deadline(at),
    };
    if kind == Discard::Supervised {
        scope = scope.supervise();
    }
    let tg = scope.group();
    let panic = (kind == Discard::DestructorPanics).then_some(60);
    let spawner = ctx.spawner(3, kind != Discard::Requested, panic);
    let own_deadline: Arc<OnceLock<Option<Instant>>> = Default::default();
    let (od, bctx) = (own_deadline.clone(), ctx.clone());
    let r = catch(scope.run(async move {
        let _ = od.set(tg.deadline());
        // A scope made and dropped unfinished by the body itself, in its context.
        bctx.nested_dropped(2, true);
        let t = tg.clone();
        match kind {
            Discard::Requested | Discard::DestructorPanics => tg.cancel(),
            Discard::LaterByTask => {
                tg.spawn(async move {
                    tokio::time::sleep(ms(10)).await;
                    t.cancel();
                });
            }
            Discard::TaskError | Discard::Supervised => {
                tg.spawn(async move {
                    tokio::time::sleep(ms(10)).await;
                    Err::<(), BoxError>("late".into())
                });
            }
            Discard::TaskPanic => {
                tg.spawn(async move {
                    tokio::time::sleep(ms(10)).await;
                    boom(61);
                });
            }
            Discard::Deadline => {
                tg.spawn(tokio::time::sleep(Duration::from_secs(30)));
            }
        }
        Ok(spawner)
    }))
    .await;
    let r = r.map(|res| res.map(|o| o.map(|_| ())));
    // Asserted first: the destructor of the discarded value created a scope whose tasks the
    // discarding scope waits for.
    assert_eq!(
        ctx.count.get(),
        2 + 3,
        "{kind:?}: a task of a scope made by a discarded value's destructor outlived the scope"
    );
    match kind {
        Discard::Requested => {
            assert_eq!(
                r.unwrap().unwrap(),
                Outcome::Cancelled(CancelReason::Requested)
            );
        }
        Discard::LaterByTask => {
            assert_eq!(
                r.unwrap().unwrap(),
                Outcome::Cancelled(CancelReason::Requested)
            );
        }
        Discard::TaskError | Discard::Supervised => {
            let err = r.unwrap().unwrap_err();
            assert_eq!(err.len(), 1, "{kind:?}: {err}");
            assert_eq!(err.first().to_string(), "late");
        }
        Discard::TaskPanic => assert_eq!(panicked(r), Ok(61)),
        Discard::Deadline => {
            assert_eq!(
                r.unwrap().unwrap(),
                Outcome::Cancelled(CancelReason::Deadline)
            );
        }
        Discard::DestructorPanics => assert_eq!(panicked(r), Ok(60)),
    }
    let want = own_deadline.get().copied().flatten();
    assert!(want.is_some(), "{kind:?}: the scope's own deadline");
    assert_eq!(
        ctx.seen(),
        [want, want],
        "{kind:?}: a scope made in the body, or by the discarded value's destructor, did not \
         see the scope it was made in"
    );
    assert_eq!(
        reasons(&ctx.groups),
        [Some(CancelReason::Dropped); 2],
        "{kind:?}"
    );
}

async fn discarded_value_requested(_: Flavor) {
    discard_case(Discard::Requested).await;
}
async fn discarded_value_cancelled_later_by_task(_: Flavor) {
    discard_case(Discard::LaterByTask).await;
}
async fn discarded_value_task_error(_: Flavor) {
    discard_case(Discard::TaskError).await;
}
async fn discarded_value_task_panic(_: Flavor) {
    discard_case(Discard::TaskPanic).await;
}
async fn discarded_value_supervised_error(_: Flavor) {
    discard_case(Discard::Supervised).await;
}
async fn discarded_value_deadline(_: Flavor) {
    discard_case(Discard::Deadline).await;
}
async fn discarded_value_destructor_panics(_: Flavor) {
    discard_case(Discard::DestructorPanics).await;
}

// SPEC 2 ("the output of a task whose handle was dropped" is discarded and dropped before the
// scope returns): the handle is dropped before the task completes, so the value is dropped
// inside the task; its destructor's nested scope is handed over and waited for, and it sees
// the deadline of the scope its task runs in.
async fn task_value_with_dropped_handle_makes_nested_scope(_: Flavor) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let sp = ctx.spawner(3, true, None);
    let out = scope
        .run(async move {
            let h = tg.spawn(async move {
                tokio::time::sleep(ms(5)).await;
                Ok::<_, BoxError>(sp)
            });
            drop(h);
            Ok(())
        })
        .await;
    assert_eq!(
        ctx.count.get(),
        3,
        "a task of a scope made by a dropped task value's destructor outlived the scope"
    );
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(ctx.seen(), [Some(at)]);
}

// As above, with the handle dropped after the value was delivered: the value is dropped by the
// handle's drop in the body, in the body's context.
async fn task_value_delivered_then_handle_dropped(_: Flavor) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let sp = ctx.spawner(3, false, None);
    let out = scope
        .run(async move {
            let h = tg.spawn(async move { Ok::<_, BoxError>(sp) });
            within("task ends", 5, async {
                while !h.is_finished() {
                    tokio::time::sleep(ms(1)).await;
                }
            })
            .await;
            drop(h);
            Ok(())
        })
        .await;
    assert_eq!(ctx.count.get(), 3);
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(ctx.seen(), [Some(at)]);
}

// ---------------------------------------------------------------------------------------------
// local tasks (SPEC 10: "every rule of a task applies ... nothing outlives the scope")

// A local task (runtime API) runs a nested scope once and drops it unfinished: the outer scope
// waits for the nested scope's tasks; the nested group sees the outer deadline.
async fn local_task_drops_unfinished_nested_scope(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let count = Count::default();
    let started = Count::default();
    let seen: Mutex<Vec<Option<Instant>>> = Mutex::new(Vec::new());
    let groups: Mutex<Vec<TaskGroup>> = Mutex::new(Vec::new());
    let locals = Locals::new();
    let out = CancelScope::new()
        .deadline(at)
        .run_with_locals(&locals, async {
            for _ in 0..3 {
                locals.spawn(async {
                    let nested = CancelScope::new();
                    let ntg = nested.group();
                    seen.lock().unwrap().push(ntg.deadline());
                    groups.lock().unwrap().push(ntg.clone());
                    ntg.spawn(parked(&started, count.slow_guard()));
                    ntg.spawn(parked(&started, count.slow_guard()));
                    tokio::select! {
                        biased;
                        out = nested.run(pending_body()) => panic!("nested returned: {out:?}"),
                        () = tokio::time::sleep(ms(5)) => {}
                    }
                });
            }
            Ok(())
        })
        .await;
    drop(locals);
    assert_eq!(
        count.get(),
        6,
        "a task of a scope dropped in a local task outlived the scope"
    );
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(seen.into_inner().unwrap(), [Some(at); 3]);
    assert_eq!(reasons(&groups), [Some(CancelReason::Dropped); 3]);
}

// SPEC 10 + rule 4, through the DSL's `spawn_local`: a nested scope's body panics inside a
// local task; the nested scope waits for its tasks and resumes the panic in the local task;
// the outer scope waits for every task (its own parked one included) and resumes it.
async fn dsl_spawn_local_nested_scope_body_panics(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let r = catch(async {
        let out: ScopeResult<()> = cancel_scope! {
            spawn parked(&started, count.slow_guard());
            spawn_local async {
                let nested = CancelScope::new();
                let ntg = nested.group();
                for _ in 0..3 {
                    ntg.spawn(parked(&started, count.slow_guard()));
                }
                let _ = nested
                    .run(async {
                        within("tasks start", 5, started.wait_for(4)).await;
                        boom(7);
                        Ok(())
                    })
                    .await;
            };
        };
        out
    })
    .await;
    assert_eq!(count.get(), 4, "a task outlived the scope");
    assert_eq!(panicked(r), Ok(7));
}

// A local task (`!Send`, runtime API) catches a nested scope's panic, then makes another
// nested scope: it still sees the outer scope (deadline, hand-over); so does the body after
// the local task ran; and nothing of the context leaks past the scope.
async fn local_task_catches_nested_panic_context_intact(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let count = Count::default();
    let started = Count::default();
    let seen: RefCell<Vec<Option<Instant>>> = RefCell::new(Vec::new());
    let locals = Locals::unsend();
    let out = CancelScope::new()
        .deadline(at)
        .run_with_locals(&locals, async {
            let done = locals.spawn(async {
                let rc = Rc::new(8u32);
                let r = catch(CancelScope::new().run(async {
                    boom(*rc);
                    Ok(())
                }))
                .await;
                assert_eq!(panicked(r), Ok(8));
                let n2 = CancelScope::new();
                let n2tg = n2.group();
                seen.borrow_mut().push(n2tg.deadline());
                n2tg.spawn(parked(&started, count.slow_guard()));
                within("task starts", 5, started.wait_for(1)).await;
                drop(n2);
                Ok::<_, BoxError>(*rc)
            });
            assert_eq!(done.await, Some(8));
            let n3 = CancelScope::new();
            seen.borrow_mut().push(n3.group().deadline());
            Ok(())
        })
        .await;
    drop(locals);
    assert_eq!(count.get(), 1, "a task outlived the scope");
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(seen.into_inner(), [Some(at), Some(at)]);
    assert_eq!(
        CancelScope::new().group().deadline(),
        None,
        "a scope made after the scope returned still sees it"
    );
}

// SPEC 2: a local task owns a running nested scope with parked tasks when the outer run future
// is dropped by `select!`: the scope enclosing the outer one waits for them all.
async fn outer_with_locals_dropped_while_local_runs_nested(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let groups: Mutex<Vec<TaskGroup>> = Mutex::new(Vec::new());
    let out = CancelScope::new()
        .run(async {
            let locals = Locals::new();
            let o = CancelScope::new();
            let otg = o.group();
            otg.spawn(parked(&started, count.slow_guard()));
            tokio::select! {
                biased;
                out = o.run_with_locals(&locals, async {
                    locals.spawn(async {
                        let nested = CancelScope::new();
                        groups.lock().unwrap().push(nested.group());
                        nested.group().spawn(parked(&started, count.slow_guard()));
                        let _ = nested.run(pending_body()).await;
                    });
                    pending_body().await
                }) => panic!("returned: {out:?}"),
                () = within("tasks start", 5, started.wait_for(2)) => {}
            }
            assert_eq!(otg.cancel_reason(), Some(CancelReason::Dropped));
            Ok(())
        })
        .await;
    assert_eq!(
        count.get(),
        2,
        "a task outlived the scope that enclosed a dropped scope"
    );
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(reasons(&groups), [Some(CancelReason::Dropped)]);
}

// ---------------------------------------------------------------------------------------------
// the current scope does not leak

// The context of a scope is its own only while its body, a local task or a task runs: a
// future polled next to the scope's run future (same task, same poll) sees no scope, after a
// body that returned `Pending` and after a body that panicked. Nor does a plain tokio task on
// a worker that ran group tasks (some of which panicked).
async fn context_does_not_leak_to_sibling_futures(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let started = Count::default();
    let count = Count::default();
    let flag = AtomicBool::new(false);

    let panicking = CancelScope::new().deadline(at);
    panicking.group().spawn(tokio::time::sleep(ms(20)));
    let a = catch(panicking.run(async {
        flag.store(true, SeqCst);
        boom(9);
        Ok(())
    }));
    let pending = CancelScope::new().deadline(at);
    let ptg = pending.group();
    let c = pending.run(async {
        tokio::task::yield_now().await;
        pending_body().await
    });
    let b = async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            flag_set(&flag).await;
            let s = CancelScope::new();
            seen.push(s.group().deadline());
            s.group().spawn(parked(&started, count.guard()));
            drop(s);
            tokio::task::yield_now().await;
        }
        ptg.cancel();
        seen
    };
    let (a, seen, c) = futures::join!(a, b, c);
    assert_eq!(panicked(a), Ok(9));
    assert_eq!(c.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        seen, [None; 3],
        "a future polled next to a scope's run future saw that scope as its own"
    );

    // Workers that ran tasks (ended, panicked) of a scope with a deadline.
    let scope = CancelScope::new().deadline(at).supervise();
    let tg = scope.group();
    let r = catch(scope.run(async move {
        for i in 0..8 {
            tg.spawn(async move {
                tokio::task::yield_now().await;
                if i == 3 {
                    boom(10);
                }
            });
        }
        Ok(())
    }))
    .await;
    assert_eq!(panicked(r), Ok(10));
    let mut plain = Vec::new();
    for _ in 0..8 {
        plain.push(tokio::spawn(async {
            tokio::task::yield_now().await;
            CancelScope::new().group().deadline()
        }));
    }
    for h in plain {
        assert_eq!(
            h.await.unwrap(),
            None,
            "a plain tokio task saw a group's scope"
        );
    }
}

// SPEC 10: "TaskGroup::deadline(): the earliest deadline of this scope, of the scopes it runs
// in": a nested group made in a task, in a blocking member, in a task after a nested scope of
// it panicked (caught), and in the body after the same, sees the outer deadline.
async fn nested_scopes_see_outer_deadline_everywhere(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let out = scope
        .run(async move {
            let t1 = tg.spawn(async { Ok::<_, BoxError>(CancelScope::new().group().deadline()) });
            let t2 = tg.spawn_blocking(|| Ok::<_, BoxError>(CancelScope::new().group().deadline()));
            let t3 = tg.spawn(async {
                let r = catch(CancelScope::new().run(async {
                    tokio::task::yield_now().await;
                    boom(11);
                    Ok(())
                }))
                .await;
                assert_eq!(panicked(r), Ok(11));
                Ok::<_, BoxError>(CancelScope::new().group().deadline())
            });
            let r = catch(CancelScope::new().run(async {
                boom(12);
                Ok(())
            }))
            .await;
            assert_eq!(panicked(r), Ok(12));
            let body = CancelScope::new().group().deadline();
            Ok([t1.await, t2.await, t3.await, Some(body)])
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed([Some(Some(at)); 4]));
}

// SPEC 2 + rule 4, in a task: a task drops an unfinished nested scope with live tasks, then
// panics: the scope waits for the nested scope's tasks and resumes the panic.
async fn task_panics_after_dropping_unfinished_nested_scope(_: Flavor) {
    let count = Count::default();
    let started = Count::default();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (c, s) = (count.clone(), started.clone());
    let r = catch(scope.run(async move {
        tg.spawn(async move {
            let n = CancelScope::new();
            for _ in 0..3 {
                n.group().spawn(parked(&s, c.slow_guard()));
            }
            tokio::select! {
                biased;
                out = n.run(pending_body()) => panic!("returned: {out:?}"),
                () = within("tasks start", 5, s.wait_for(3)) => {}
            }
            boom(14);
        });
        Ok(())
    }))
    .await;
    assert_eq!(count.get(), 3, "a task outlived the scope");
    assert_eq!(panicked(r), Ok(14));
}

// SPEC 2: the body's own destructor (the body is dropped when the group is cancelled while it
// waits) makes a scope with live tasks and drops it; the cancelled scope waits for them.
// Fails on 3e20e0a and on 147817e (before both changes): see the header.
async fn body_dropped_on_cancel_destructor_makes_scope(_: Flavor) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let sp = ctx.spawner(3, false, None);
    let out = scope
        .run(async move {
            let _held = sp;
            let t = tg.clone();
            tg.spawn(async move {
                tokio::time::sleep(ms(5)).await;
                t.cancel();
            });
            pending_body().await
        })
        .await;
    assert_eq!(
        ctx.count.get(),
        3,
        "a task of a scope made by the body's destructor outlived the scope"
    );
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(ctx.seen(), [Some(at)]);
}

// SPEC 2: a task's destructor (the task is aborted by a cancel) makes a scope with live tasks
// and drops it; the cancelled scope waits for them.
// Fails on 3e20e0a and on 147817e (before both changes): see the header.
async fn task_dropped_on_cancel_destructor_makes_scope(_: Flavor) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let sp = ctx.spawner(3, false, None);
    let started = Count::default();
    let out = scope
        .run(async move {
            tg.spawn(parked(&started, sp));
            within("task starts", 5, started.wait_for(1)).await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(
        ctx.count.get(),
        3,
        "a task of a scope made by a task's destructor outlived the scope"
    );
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(ctx.seen(), [Some(at)]);
}

// SPEC 10 ("every rule of a task applies" to local tasks) + SPEC 2: a local task's destructor
// (it is dropped by a cancel) makes a scope with live tasks and drops it; the cancelled scope
// waits for them.
// Fails on 3e20e0a and on 147817e (before both changes): see the header.
async fn local_task_dropped_on_cancel_destructor_makes_scope(_: Flavor) {
    let ctx = Ctx::default();
    let at = Instant::now() + Duration::from_secs(60);
    let started = Count::default();
    let locals = Locals::new();
    let scope = CancelScope::new().deadline(at);
    let tg = scope.group();
    let sp = ctx.spawner(3, false, None);
    let out = scope
        .run_with_locals(&locals, async {
            locals.spawn(parked(&started, sp));
            within("local starts", 5, started.wait_for(1)).await;
            tg.cancel();
            Ok(())
        })
        .await;
    drop(locals);
    assert_eq!(
        ctx.count.get(),
        3,
        "a task of a scope made by a local task's destructor outlived the scope"
    );
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(ctx.seen(), [Some(at)]);
}

// A scope whose run future is a tokio task (it may move between workers between polls on the
// multi-thread runtime): at every poll, a nested scope made in its body sees it, and the
// nested scopes dropped unfinished are waited for; plain tasks never see it.
async fn scope_in_a_migrating_task_keeps_its_context(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let count = Count::default();
    let started = Count::default();
    let (c, s) = (count.clone(), started.clone());
    let h = tokio::spawn(async move {
        let c2 = c.clone();
        let out = CancelScope::new()
            .deadline(at)
            .run(async move {
                let c = c2;
                let mut seen = Vec::new();
                for i in 0..40 {
                    let n = CancelScope::new();
                    seen.push(n.group().deadline());
                    n.group().spawn(parked(&s, c.slow_guard()));
                    if i % 2 == 0 {
                        let mut run = Box::pin(n.run(pending_body()));
                        assert!(futures::poll!(run.as_mut()).is_pending());
                    }
                    tokio::task::yield_now().await;
                    let probe = tokio::spawn(async { CancelScope::new().group().deadline() });
                    assert_eq!(probe.await.unwrap(), None, "a plain task saw the scope");
                }
                Ok(seen)
            })
            .await;
        (out, c.get())
    });
    let (out, at_return) = within("migrating scope", 10, h).await.unwrap();
    assert_eq!(at_return, 40, "a nested scope's task outlived the scope");
    assert_eq!(out.unwrap(), Outcome::Completed(vec![Some(at); 40]));
}

// A scope driven by another executor (`futures::executor::block_on` on a plain thread that
// entered the runtime): its context is that thread's while its body runs; nested scopes
// dropped unfinished are waited for; nothing is left on that thread afterwards.
async fn scope_driven_by_another_executor_on_a_plain_thread(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(60);
    let count = Count::default();
    let started = Count::default();
    let handle = tokio::runtime::Handle::current();
    let (c, s) = (count.clone(), started.clone());
    let th = std::thread::spawn(move || {
        let _rt = handle.enter();
        let out = futures::executor::block_on(CancelScope::new().deadline(at).run(async {
            let n = CancelScope::new();
            let seen = n.group().deadline();
            for _ in 0..3 {
                n.group().spawn(parked(&s, c.slow_guard()));
            }
            let mut run = Box::pin(n.run(pending_body()));
            assert!(futures::poll!(run.as_mut()).is_pending());
            s.wait_for(3).await;
            drop(run);
            Ok(seen)
        }));
        let after = CancelScope::new().group().deadline();
        (out, c.get(), after)
    });
    let (out, at_return, after) = within("plain thread", 10, async {
        loop {
            if th.is_finished() {
                break th.join().unwrap();
            }
            tokio::time::sleep(ms(2)).await;
        }
    })
    .await;
    assert_eq!(at_return, 3, "a nested scope's task outlived the scope");
    assert_eq!(out.unwrap(), Outcome::Completed(Some(at)));
    assert_eq!(after, None, "the scope's context stayed on the thread");
}

// SPEC 2: "the scope it ran in (the innermost enclosing scope, found when `run` is first
// polled)": a scope made in one scope's body but first polled in another scope's body hands
// its tasks to the latter, which waits for them; its `deadline()` follows it there.
async fn run_first_polled_in_another_scope_hands_over_there(_: Flavor) {
    let near = Instant::now() + Duration::from_secs(30);
    let far = Instant::now() + Duration::from_secs(90);
    let count = Count::default();
    let started = Count::default();
    let out = CancelScope::new()
        .deadline(far)
        .run(async {
            let n = CancelScope::new();
            let ntg = n.group();
            assert_eq!(ntg.deadline(), Some(far), "made in the outer body");
            for _ in 0..3 {
                ntg.spawn(parked(&started, count.slow_guard()));
            }
            let inner = CancelScope::new().deadline(near);
            let inner_out = inner
                .run(async {
                    let mut run = Box::pin(n.run(pending_body()));
                    assert!(futures::poll!(run.as_mut()).is_pending());
                    assert_eq!(ntg.deadline(), Some(near), "first polled in the inner body");
                    within("tasks start", 5, started.wait_for(3)).await;
                    drop(run);
                    Ok(())
                })
                .await;
            assert_eq!(inner_out.unwrap(), Outcome::Completed(()));
            assert_eq!(
                count.get(),
                3,
                "the scope it was first polled in returned before its tasks ended"
            );
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
}

// ---------------------------------------------------------------------------------------------
// deep body-in-body nesting (SPEC 5: "Scopes nested body-in-body are polled inside each other's
// poll by construction; that depth is the caller's stack": run here on a large stack)

const DEEP: usize = 20_000;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[derive(Clone)]
struct Deep {
    groups: Arc<Mutex<Vec<TaskGroup>>>,
    count: Count,
    started: Count,
    built: Gate,
    at: Instant,
    innermost_saw: Arc<OnceLock<Option<Instant>>>,
}

fn deep_level(k: usize, d: Deep) -> BoxFut<ScopeResult<()>> {
    Box::pin(async move {
        let scope = CancelScope::new();
        let tg = scope.group();
        d.groups.lock().unwrap().push(tg.clone());
        tg.spawn(parked_quiet(&d.started, d.count.guard()));
        scope
            .run(async move {
                if k + 1 < DEEP {
                    let out = deep_level(k + 1, d).await;
                    panic!("level {} returned: {out:?}", k + 1);
                }
                let _ = d.innermost_saw.set(CancelScope::new().group().deadline());
                d.built.open();
                pending_body().await
            })
            .await
    })
}

// 20,000 scopes nested body-in-body (boxed), each with a parked task, dropped from the outside
// by `select!`: every level is cancelled `Dropped`, and the enclosing scope returns only after
// all 20,000 tasks were dropped.
async fn deep_body_in_body_dropped_from_outside(_: Flavor) {
    let at = Instant::now() + Duration::from_secs(600);
    let d = Deep {
        groups: Default::default(),
        count: Count::default(),
        started: Count::default(),
        built: Gate::default(),
        at,
        innermost_saw: Default::default(),
    };
    let d2 = d.clone();
    let out = CancelScope::new()
        .deadline(at)
        .run(async move {
            let built = d2.built.clone();
            let started = d2.started.clone();
            tokio::select! {
                biased;
                out = deep_level(0, d2) => panic!("the nest returned: {out:?}"),
                () = async {
                    within("nest built", 30, built.wait()).await;
                    // Polled on a timer: a wake-up per task start would poll the whole nest
                    // 20,000 times.
                    within("tasks start", 30, async {
                        while started.get() < DEEP {
                            tokio::time::sleep(ms(20)).await;
                        }
                    })
                    .await;
                } => {}
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        d.count.get(),
        DEEP,
        "tasks of the dropped nest outlived the enclosing scope"
    );
    assert_eq!(d.innermost_saw.get().copied(), Some(Some(d.at)));
    let rs = reasons(&d.groups);
    assert_eq!(rs.len(), DEEP);
    let wrong: Vec<(usize, Option<CancelReason>)> = rs
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, r)| *r != Some(CancelReason::Dropped))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "levels not `Dropped`: {wrong:?}");
}

const DEEP_PANIC: usize = 2_000;

fn panic_level(k: usize, groups: Arc<Mutex<Vec<TaskGroup>>>) -> BoxFut<ScopeResult<()>> {
    Box::pin(async move {
        let scope = CancelScope::new();
        groups.lock().unwrap().push(scope.group());
        scope
            .run(async move {
                if k + 1 < DEEP_PANIC {
                    let out = panic_level(k + 1, groups).await;
                    panic!("level {} returned: {out:?}", k + 1);
                }
                tokio::task::yield_now().await;
                boom(15);
                Ok(())
            })
            .await
    })
}

// Rule 4 through 2,000 scopes nested body-in-body: the innermost body's panic reaches the
// top with its payload, and every level is cancelled `Failed`.
async fn deep_body_in_body_innermost_panics(_: Flavor) {
    let groups: Arc<Mutex<Vec<TaskGroup>>> = Default::default();
    let r = catch(panic_level(0, groups.clone())).await;
    assert_eq!(panicked(r), Ok(15));
    let rs = reasons(&groups);
    assert_eq!(rs.len(), DEEP_PANIC);
    assert!(
        rs.iter().all(|r| *r == Some(CancelReason::Failed)),
        "{:?}",
        &rs[..5]
    );
    assert_eq!(CancelScope::new().group().deadline(), None);
}

both!(10;
    body_panics_after_dropping_unfinished_nested_scope,
    nested_scopes_alive_when_body_panics,
    run_dropped_in_the_poll_its_body_panicked,
    run_dropped_in_the_poll_its_body_returned,
    timeout_drops_run_after_its_body_panicked,
    discarded_value_requested,
    discarded_value_cancelled_later_by_task,
    discarded_value_task_error,
    discarded_value_task_panic,
    discarded_value_supervised_error,
    discarded_value_deadline,
    discarded_value_destructor_panics,
    task_value_with_dropped_handle_makes_nested_scope,
    task_value_delivered_then_handle_dropped,
    local_task_drops_unfinished_nested_scope,
    dsl_spawn_local_nested_scope_body_panics,
    local_task_catches_nested_panic_context_intact,
    outer_with_locals_dropped_while_local_runs_nested,
    context_does_not_leak_to_sibling_futures,
    nested_scopes_see_outer_deadline_everywhere,
    task_panics_after_dropping_unfinished_nested_scope,
    body_dropped_on_cancel_destructor_makes_scope,
    task_dropped_on_cancel_destructor_makes_scope,
    local_task_dropped_on_cancel_destructor_makes_scope,
    scope_in_a_migrating_task_keeps_its_context,
    scope_driven_by_another_executor_on_a_plain_thread,
    run_first_polled_in_another_scope_hands_over_there,
);

// The 20,000-deep nest needs between 64 and 128 MiB of stack in a debug build (measured):
// 512 MiB leaves a margin.
both!(@ 120, 512 * crate::MIB;
    deep_body_in_body_dropped_from_outside,
    deep_body_in_body_innermost_panics,
);

// ---------------------------------------------------------------------------------------------
// part 2: the task wrapper's layout
//
// The probes are user futures of exact sizes and alignments. Their counters are statics, so
// the tests that use them run one at a time (`serial`).

const NPROBE: usize = 12;
const PARK: u8 = 255;

static DROPS: [AtomicUsize; NPROBE] = [const { AtomicUsize::new(0) }; NPROBE];
static MADE: [AtomicUsize; NPROBE] = [const { AtomicUsize::new(0) }; NPROBE];
static POLLS: [AtomicUsize; NPROBE] = [const { AtomicUsize::new(0) }; NPROBE];
/// Polls or drops that found the future misaligned or its bytes changed.
static BAD: [AtomicUsize; NPROBE] = [const { AtomicUsize::new(0) }; NPROBE];
static PANIC_ON_DROP: [AtomicBool; NPROBE] = [const { AtomicBool::new(false) }; NPROBE];
/// The state of a zero-sized probe (it has no room for one).
static MODE: [AtomicU8; NPROBE] = [const { AtomicU8::new(0) }; NPROBE];

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pattern(id: usize, i: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (id as u8).wrapping_mul(97) ^ 0x5a ^ ((i >> 8) as u8)
}

/// A user future of an exact size and alignment. State (its first byte, or `MODE` for the
/// zero-sized one): `0` ready, `PARK` pending forever, `k` yields `k` times first.
trait Probe: Future<Output = Result<usize, BoxError>> + Send + Unpin + 'static {
    const ID: usize;
    const SIZE: usize;
    const ALIGN: usize;
    fn make(state: u8) -> Self;
    fn value() -> usize {
        Self::ID * 100_000 + Self::SIZE
    }
}

macro_rules! probe {
    ($name:ident, id = $id:expr, len = $n:expr, align = $a:literal, size = $size:expr) => {
        #[repr(C, align($a))]
        struct $name {
            bytes: [u8; $n],
        }

        impl $name {
            fn check(&self) {
                let addr = self as *const Self as usize;
                let mut ok = addr % $a == 0;
                for i in 1..$n {
                    ok &= self.bytes[i] == pattern($id, i);
                }
                if !ok {
                    BAD[$id].fetch_add(1, SeqCst);
                }
            }
        }

        impl Probe for $name {
            const ID: usize = $id;
            const SIZE: usize = $size;
            const ALIGN: usize = $a;
            fn make(state: u8) -> Self {
                let mut bytes = [0u8; $n];
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = if i == 0 { state } else { pattern($id, i) };
                }
                if bytes.is_empty() {
                    MODE[$id].store(state, SeqCst);
                }
                MADE[$id].fetch_add(1, SeqCst);
                $name { bytes }
            }
        }

        impl Future for $name {
            type Output = Result<usize, BoxError>;
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                this.check();
                POLLS[$id].fetch_add(1, SeqCst);
                let state = match this.bytes.first() {
                    Some(b) => *b,
                    None => match MODE[$id].load(SeqCst) {
                        PARK => PARK,
                        _ => 0,
                    },
                };
                match state {
                    0 => Poll::Ready(Ok(<Self as Probe>::value())),
                    PARK => Poll::Pending,
                    k => {
                        if let Some(b) = this.bytes.first_mut() {
                            *b = k - 1;
                        }
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.check();
                DROPS[$id].fetch_add(1, SeqCst);
                if PANIC_ON_DROP[$id].load(SeqCst) && !std::thread::panicking() {
                    std::panic::panic_any(Payload(1000 + $id as u32));
                }
            }
        }
    };
}

probe!(P0, id = 0, len = 0, align = 1, size = 0);
probe!(P1, id = 1, len = 1, align = 1, size = 1);
probe!(P16, id = 2, len = 16, align = 1, size = 16);
probe!(P255, id = 3, len = 255, align = 1, size = 255);
probe!(P256, id = 4, len = 256, align = 1, size = 256);
probe!(P4096, id = 5, len = 4096, align = 1, size = 4096);
probe!(P16K, id = 6, len = 16384, align = 1, size = 16384);
probe!(A64, id = 7, len = 40, align = 64, size = 64);
probe!(A256, id = 8, len = 300, align = 256, size = 512);
probe!(A4096, id = 9, len = 100, align = 4096, size = 4096);
probe!(A256x1, id = 10, len = 1, align = 256, size = 256);

fn reset<P: Probe>() {
    DROPS[P::ID].store(0, SeqCst);
    MADE[P::ID].store(0, SeqCst);
    POLLS[P::ID].store(0, SeqCst);
    BAD[P::ID].store(0, SeqCst);
    PANIC_ON_DROP[P::ID].store(false, SeqCst);
    MODE[P::ID].store(0, SeqCst);
    assert_eq!(std::mem::size_of::<P>(), P::SIZE, "probe {} size", P::ID);
    assert_eq!(std::mem::align_of::<P>(), P::ALIGN, "probe {} align", P::ID);
}

fn drops<P: Probe>() -> usize {
    DROPS[P::ID].load(SeqCst)
}
fn made<P: Probe>() -> usize {
    MADE[P::ID].load(SeqCst)
}
fn polls<P: Probe>() -> usize {
    POLLS[P::ID].load(SeqCst)
}
fn bad<P: Probe>() -> usize {
    BAD[P::ID].load(SeqCst)
}

async fn polled_at_least<P: Probe>(n: usize) {
    within("probes polled", 5, async {
        while polls::<P>() < n {
            tokio::time::sleep(ms(1)).await;
        }
    })
    .await;
}

/// Runs `$f::<P>()` for every probe type, under the serial lock.
macro_rules! every_probe {
    ($f:ident) => {{
        let _serial = serial();
        $f::<P0>().await;
        $f::<P1>().await;
        $f::<P16>().await;
        $f::<P255>().await;
        $f::<P256>().await;
        $f::<P4096>().await;
        $f::<P16K>().await;
        $f::<A64>().await;
        $f::<A256>().await;
        $f::<A4096>().await;
        $f::<A256x1>().await;
    }};
}

// Completed tasks: each handle resolves to the value, only after that task's future was
// dropped and the task left the group (`len()`); the scope returns after every drop.
async fn probes_completed<P: Probe>() {
    reset::<P>();
    const N: usize = 24;
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let hs: Vec<_> = (0..N).map(|i| tg.spawn(P::make((i % 4) as u8))).collect();
            for (k, h) in hs.into_iter().enumerate() {
                assert_eq!(h.await, Some(P::value()), "probe {}", P::ID);
                assert!(
                    drops::<P>() >= k + 1,
                    "probe {}: handle {k} resolved before its future was dropped ({} drops)",
                    P::ID,
                    drops::<P>()
                );
                assert!(
                    tg.len() <= N - k - 1,
                    "probe {}: handle {k} resolved, len {}",
                    P::ID,
                    tg.len()
                );
            }
            assert_eq!(tg.len(), 0);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()), "probe {}", P::ID);
    assert_eq!(drops::<P>(), N, "probe {}", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}: misaligned or corrupted", P::ID);
}

async fn layout_completed(_: Flavor) {
    every_probe!(probes_completed);
}

// Cancel: parked tasks of each layout are dropped before the scope returns; spawns after the
// cancel are refused and their futures dropped unstarted.
async fn probes_cancelled<P: Probe>() {
    reset::<P>();
    const N: usize = 24;
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let hs: Vec<_> = (0..N).map(|_| tg.spawn(P::make(PARK))).collect();
            polled_at_least::<P>(N).await;
            tg.cancel();
            let refused: Vec<_> = (0..8).map(|_| tg.spawn(P::make(PARK))).collect();
            for h in refused {
                assert_eq!(h.outcome().await, TaskEnd::NotStarted, "probe {}", P::ID);
            }
            for h in hs {
                assert_eq!(h.await, None);
            }
            assert!(drops::<P>() >= N + 8, "probe {}", P::ID);
            Ok(())
        })
        .await;
    assert_eq!(
        out.unwrap(),
        Outcome::Cancelled(CancelReason::Requested),
        "probe {}",
        P::ID
    );
    assert_eq!(drops::<P>(), N + 8, "probe {}", P::ID);
    assert_eq!(
        polls::<P>(),
        N,
        "probe {}: a refused spawn was polled",
        P::ID
    );
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_cancelled(_: Flavor) {
    every_probe!(probes_cancelled);
}

// `TaskHandle::abort` of parked tasks (started or not): each resolves `Aborted` only after its
// future was dropped and the task left the group; the group is not cancelled; handles aborted
// and dropped unawaited are still waited for by the scope.
async fn probes_aborted<P: Probe>() {
    reset::<P>();
    const N: usize = 8;
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let hs: Vec<_> = (0..N).map(|_| tg.spawn(P::make(PARK))).collect();
            polled_at_least::<P>(N).await;
            for (k, h) in hs.into_iter().enumerate() {
                h.abort();
                assert_eq!(h.outcome().await, TaskEnd::Aborted, "probe {}", P::ID);
                assert_eq!(
                    drops::<P>(),
                    k + 1,
                    "probe {}: aborted handle resolved before its future was dropped",
                    P::ID
                );
                assert_eq!(tg.len(), N - k - 1, "probe {}", P::ID);
            }
            // Aborted before their first poll, handles dropped at once.
            for _ in 0..4 {
                let h = tg.spawn(P::make(PARK));
                h.abort();
                drop(h);
            }
            assert!(!tg.is_cancelled());
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()), "probe {}", P::ID);
    assert_eq!(drops::<P>(), N + 4, "probe {}", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_aborted(_: Flavor) {
    every_probe!(probes_aborted);
}

// SPEC 2 "A panic while a cancelled task is being dropped counts as a task panic": parked
// tasks whose destructors panic; the scope resumes the payload after every drop.
async fn probes_drop_panic_on_cancel<P: Probe>() {
    reset::<P>();
    PANIC_ON_DROP[P::ID].store(true, SeqCst);
    const N: usize = 6;
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = catch(scope.run(async {
        for _ in 0..N {
            tg.spawn(P::make(PARK));
        }
        polled_at_least::<P>(N).await;
        tg.cancel();
        Ok(())
    }))
    .await;
    PANIC_ON_DROP[P::ID].store(false, SeqCst);
    assert_eq!(drops::<P>(), N, "probe {}", P::ID);
    assert_eq!(panicked(r), Ok(1000 + P::ID as u32), "probe {}", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_drop_panic_on_cancel(_: Flavor) {
    every_probe!(probes_drop_panic_on_cancel);
}

// Rule 4: tasks that complete, then panic in their destructor: the panic is resumed by the
// scope, after every drop. (On the multi-thread runtime the first panic may cancel the group
// while the body still spawns: a refused spawn drops its future in the body, whose panic then
// ends the body; so the check is that every future made was dropped.)
async fn probes_drop_panic_after_completion<P: Probe>() {
    reset::<P>();
    PANIC_ON_DROP[P::ID].store(true, SeqCst);
    const N: usize = 6;
    let scope = CancelScope::new();
    let tg = scope.group();
    let r = catch(scope.run(async {
        for i in 0..N {
            tg.spawn(P::make((i % 2) as u8));
        }
        Ok(())
    }))
    .await;
    PANIC_ON_DROP[P::ID].store(false, SeqCst);
    assert!(made::<P>() >= 1);
    assert_eq!(
        drops::<P>(),
        made::<P>(),
        "probe {}: a future outlived the scope",
        P::ID
    );
    assert_eq!(panicked(r), Ok(1000 + P::ID as u32), "probe {}", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_drop_panic_after_completion(_: Flavor) {
    every_probe!(probes_drop_panic_after_completion);
}

// SPEC 6 "Limit": under `limit(n)` (tasks carry their admission), queued tasks of each layout
// run, and on cancel the queued ones are dropped unstarted (never polled).
async fn probes_limited<P: Probe>() {
    reset::<P>();
    let scope = CancelScope::new().limit(2);
    let tg = scope.group();
    let out = scope
        .run(async {
            let hs: Vec<_> = (0..10).map(|i| tg.spawn(P::make((i % 3) as u8))).collect();
            for h in hs {
                assert_eq!(h.await, Some(P::value()), "probe {}", P::ID);
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()), "probe {}", P::ID);
    assert_eq!(drops::<P>(), 10, "probe {}", P::ID);

    reset::<P>();
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let out = scope
        .run(async {
            for _ in 0..6 {
                tg.spawn(P::make(PARK));
            }
            assert_eq!(tg.len(), 6, "probe {}: queued tasks count", P::ID);
            polled_at_least::<P>(1).await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(
        out.unwrap(),
        Outcome::Cancelled(CancelReason::Requested),
        "probe {}",
        P::ID
    );
    assert_eq!(drops::<P>(), 6, "probe {}", P::ID);
    assert_eq!(polls::<P>(), 1, "probe {}: a queued task was polled", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_limited(_: Flavor) {
    every_probe!(probes_limited);
}

// SPEC 6 "Shield": shielded parked tasks of each layout survive a cancel (not dropped); only
// the scope's drop aborts them, and the scope it ran in waits for their destructors.
async fn probes_shielded<P: Probe>() {
    reset::<P>();
    const N: usize = 4;
    let out = CancelScope::new()
        .run(async {
            let s = CancelScope::new();
            let stg = s.group();
            for _ in 0..N {
                stg.spawn_shielded(P::make(PARK));
            }
            let flag = AtomicBool::new(false);
            tokio::select! {
                biased;
                out = s.run(async {
                    polled_at_least::<P>(N).await;
                    stg.cancel();
                    // The body runs on until its next `Pending`, where it is dropped.
                    flag.store(true, SeqCst);
                    pending_body().await
                }) => panic!("probe {}: returned {out:?}", P::ID),
                () = async {
                    flag_set(&flag).await;
                    tokio::time::sleep(ms(5)).await;
                    // Checked while the scope still runs (its drop, next, aborts them).
                    assert_eq!(
                        drops::<P>(),
                        0,
                        "probe {}: a shielded task was aborted by the cancel",
                        P::ID
                    );
                    assert_eq!(stg.len(), N);
                } => {}
            }
            assert_eq!(stg.cancel_reason(), Some(CancelReason::Requested));
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()), "probe {}", P::ID);
    assert_eq!(
        drops::<P>(),
        N,
        "probe {}: a shielded task of a dropped scope outlived the enclosing scope",
        P::ID
    );
    assert_eq!(polls::<P>(), N, "probe {}", P::ID);
    assert_eq!(bad::<P>(), 0, "probe {}", P::ID);
}

async fn layout_shielded(_: Flavor) {
    every_probe!(probes_shielded);
}

both!(60;
    layout_completed,
    layout_cancelled,
    layout_aborted,
    layout_drop_panic_on_cancel,
    layout_drop_panic_after_completion,
    layout_limited,
    layout_shielded,
);

// ---------------------------------------------------------------------------------------------
// logged order, values with destructors, over-aligned wrappers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Started(usize),
    FutDropped(usize),
    Resolved(usize),
    ValueDropped(usize),
    ScopeReturned,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Ev>>>);

impl Log {
    fn push(&self, ev: Ev) {
        self.0.lock().unwrap().push(ev);
    }
    fn events(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }
    fn has(&self, ev: Ev) -> bool {
        self.0.lock().unwrap().contains(&ev)
    }
}

fn index_of(events: &[Ev], ev: Ev) -> Option<usize> {
    events.iter().position(|e| *e == ev)
}

/// A value with a destructor (so its task hands it over through the detach agreement),
/// over-aligned and large.
#[repr(C, align(256))]
struct Val {
    k: usize,
    bytes: [u8; 1000],
    log: Log,
}

impl Val {
    fn new(k: usize, log: &Log) -> Self {
        let mut bytes = [0u8; 1000];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = pattern(k, i);
        }
        Val {
            k,
            bytes,
            log: log.clone(),
        }
    }
    fn intact(&self) -> bool {
        (self as *const Self as usize) % 256 == 0
            && self
                .bytes
                .iter()
                .enumerate()
                .all(|(i, b)| *b == pattern(self.k, i))
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Val({})", self.k)
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.log.push(Ev::ValueDropped(self.k));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ready,
    Yield(u8),
    Park,
}

/// A user future padded to `PAD` bytes that logs its start and drop and returns a [`Val`].
struct Logged<const PAD: usize> {
    k: usize,
    mode: Mode,
    log: Log,
    started: bool,
    pad: [u8; PAD],
}

impl<const PAD: usize> Logged<PAD> {
    fn new(k: usize, mode: Mode, log: &Log) -> Self {
        Logged {
            k,
            mode,
            log: log.clone(),
            started: false,
            pad: [k as u8; PAD],
        }
    }
}

impl<const PAD: usize> Future for Logged<PAD> {
    type Output = Result<Val, BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(this.pad.iter().all(|b| *b == this.k as u8), "pad corrupted");
        if !this.started {
            this.started = true;
            this.log.push(Ev::Started(this.k));
        }
        match this.mode {
            Mode::Ready => Poll::Ready(Ok(Val::new(this.k, &this.log))),
            Mode::Park => Poll::Pending,
            Mode::Yield(0) => Poll::Ready(Ok(Val::new(this.k, &this.log))),
            Mode::Yield(n) => {
                this.mode = Mode::Yield(n - 1);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

impl<const PAD: usize> Drop for Logged<PAD> {
    fn drop(&mut self) {
        self.log.push(Ev::FutDropped(self.k));
    }
}

/// Over-aligns any `Unpin` future, and checks its own alignment at each poll and at its drop.
macro_rules! over {
    ($name:ident, $a:literal) => {
        #[repr(C, align($a))]
        struct $name<F>(F, Arc<AtomicUsize>);

        impl<F: Future + Unpin> Future for $name<F> {
            type Output = F::Output;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
                if (&*self as *const Self as usize) % $a != 0 {
                    self.1.fetch_add(1, SeqCst);
                }
                Pin::new(&mut self.0).poll(cx)
            }
        }

        impl<F> Drop for $name<F> {
            fn drop(&mut self) {
                if (self as *const Self as usize) % $a != 0 {
                    self.1.fetch_add(1, SeqCst);
                }
            }
        }
    };
}

over!(Over64, 64);
over!(Over256, 256);
over!(Over4096, 4096);

// The order of events: each task's future is dropped before its handle resolves; a value
// taken from a handle is intact (aligned, unchanged); a value whose handle was dropped (before
// or after delivery) is dropped before the scope returns; every future is dropped before the
// scope returns. Futures of several paddings and alignments, completed, aborted, parked and
// cancelled at the end.
async fn logged_drop_order(_: Flavor) {
    let log = Log::default();
    let misaligned = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    let (l, mis) = (log.clone(), misaligned.clone());
    let out = scope
        .run(async move {
            let m = || mis.clone();
            let mut hs = Vec::new();
            hs.push((0, tg.spawn(Logged::<0>::new(0, Mode::Ready, &l))));
            hs.push((1, tg.spawn(Logged::<1>::new(1, Mode::Yield(2), &l))));
            hs.push((2, tg.spawn(Logged::<255>::new(2, Mode::Yield(1), &l))));
            hs.push((3, tg.spawn(Logged::<256>::new(3, Mode::Ready, &l))));
            hs.push((4, tg.spawn(Logged::<4096>::new(4, Mode::Yield(3), &l))));
            hs.push((
                5,
                tg.spawn(Over64(Logged::<16>::new(5, Mode::Yield(1), &l), m())),
            ));
            hs.push((
                6,
                tg.spawn(Over256(Logged::<0>::new(6, Mode::Ready, &l), m())),
            ));
            hs.push((
                7,
                tg.spawn(Over4096(Logged::<300>::new(7, Mode::Yield(2), &l), m())),
            ));
            // Aborted while parked.
            let ab1 = tg.spawn(Logged::<256>::new(8, Mode::Park, &l));
            let ab2 = tg.spawn(Over256(Logged::<1>::new(9, Mode::Park, &l), m()));
            // Handles dropped before completion and after delivery.
            drop(tg.spawn(Logged::<255>::new(10, Mode::Yield(3), &l)));
            let late = tg.spawn(Over4096(Logged::<0>::new(11, Mode::Ready, &l), m()));
            // Parked until the cancel at the end.
            let parked1 = tg.spawn(Logged::<4096>::new(12, Mode::Park, &l));
            let parked2 = tg.spawn(Over64(Logged::<0>::new(13, Mode::Park, &l), m()));
            for (k, h) in hs {
                let v = h.await.expect("completed");
                l.push(Ev::Resolved(k));
                assert_eq!(v.k, k);
                assert!(v.intact(), "value {k} misaligned or corrupted");
                assert!(
                    l.has(Ev::FutDropped(k)),
                    "handle {k} resolved before its future was dropped"
                );
            }
            within("parked tasks start", 5, async {
                while !(l.has(Ev::Started(8)) && l.has(Ev::Started(9))) {
                    tokio::time::sleep(ms(1)).await;
                }
            })
            .await;
            for (k, h) in [(8, ab1), (9, ab2)] {
                h.abort();
                let end = h.outcome().await;
                assert!(matches!(end, TaskEnd::Aborted), "{k}: {end:?}");
                l.push(Ev::Resolved(k));
                assert!(
                    l.has(Ev::FutDropped(k)),
                    "aborted handle {k} resolved early"
                );
            }
            within("delivered", 5, async {
                while !late.is_finished() {
                    tokio::time::sleep(ms(1)).await;
                }
            })
            .await;
            drop(late);
            assert!(
                l.has(Ev::ValueDropped(11)),
                "a delivered value dropped with its handle"
            );
            within("parked tasks start", 5, async {
                while !(l.has(Ev::Started(12)) && l.has(Ev::Started(13))) {
                    tokio::time::sleep(ms(1)).await;
                }
            })
            .await;
            tg.cancel();
            drop((parked1, parked2));
            Ok(())
        })
        .await;
    log.push(Ev::ScopeReturned);
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let ev = log.events();
    assert_eq!(ev.last(), Some(&Ev::ScopeReturned));
    for k in 0..14 {
        let d = index_of(&ev, Ev::FutDropped(k));
        assert!(d.is_some(), "future {k} never dropped: {ev:?}");
        if let Some(r) = index_of(&ev, Ev::Resolved(k)) {
            assert!(
                d < Some(r),
                "future {k} dropped after its handle resolved: {ev:?}"
            );
        }
    }
    for k in [0, 1, 2, 3, 4, 5, 6, 7, 10, 11] {
        assert!(
            index_of(&ev, Ev::ValueDropped(k)).is_some(),
            "value {k} never dropped: {ev:?}"
        );
    }
    let drops = ev.iter().filter(|e| matches!(e, Ev::FutDropped(_))).count();
    assert_eq!(drops, 14, "each future dropped exactly once: {ev:?}");
    assert_eq!(
        misaligned.load(SeqCst),
        0,
        "an over-aligned future was misaligned"
    );
}

/// A future whose destructor spawns its successor into its own group (`left` more).
struct Respawn<const PAD: usize> {
    tg: TaskGroup,
    left: usize,
    park: bool,
    count: Count,
    refused: Count,
    pad: [u8; PAD],
}

impl<const PAD: usize> Respawn<PAD> {
    fn new(tg: &TaskGroup, left: usize, park: bool, count: &Count, refused: &Count) -> Self {
        Respawn {
            tg: tg.clone(),
            left,
            park,
            count: count.clone(),
            refused: refused.clone(),
            pad: [7; PAD],
        }
    }
}

impl<const PAD: usize> Future for Respawn<PAD> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        assert!(self.pad.iter().all(|b| *b == 7));
        if self.park {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl<const PAD: usize> Drop for Respawn<PAD> {
    fn drop(&mut self) {
        self.count.bump();
        if self.left > 0 {
            let next =
                Respawn::<PAD>::new(&self.tg, self.left - 1, false, &self.count, &self.refused);
            match self.tg.try_spawn(next) {
                Ok(h) => drop(h),
                Err(e) => {
                    assert!(e.is_closed());
                    self.refused.bump();
                    drop(e.into_inner());
                }
            }
        }
    }
}

// Destructors that spawn into their own group: on completion (chains of 50, several paddings
// and an over-aligned one), the scope waits for the whole chain; on `abort` of a parked task
// (the group is not cancelled), the successor runs and is waited for.
async fn destructor_spawns_into_own_group(_: Flavor) {
    const CHAIN: usize = 50;
    let count = Count::default();
    let refused = Count::default();
    let mis = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    let (c, rf, m) = (count.clone(), refused.clone(), mis.clone());
    let out = scope
        .run(async move {
            tg.spawn(Respawn::<0>::new(&tg, CHAIN - 1, false, &c, &rf));
            tg.spawn(Respawn::<255>::new(&tg, CHAIN - 1, false, &c, &rf));
            tg.spawn(Respawn::<4096>::new(&tg, CHAIN - 1, false, &c, &rf));
            tg.spawn(Over256(
                Respawn::<8>::new(&tg, CHAIN - 1, false, &c, &rf),
                m.clone(),
            ));
            let a = tg.spawn(Respawn::<256>::new(&tg, 1, true, &c, &rf));
            let b = tg.spawn(Over4096(
                Respawn::<1>::new(&tg, 1, true, &c, &rf),
                m.clone(),
            ));
            tokio::task::yield_now().await;
            a.abort();
            b.abort();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        count.get(),
        4 * CHAIN + 2 * 2,
        "the scope returned before a successor spawned by a destructor ended"
    );
    assert_eq!(refused.get(), 0);
    assert_eq!(mis.load(SeqCst), 0);
}

// SPEC 5: "After a cancel, `spawn` does not start the future": destructors of cancelled tasks
// that spawn into their own group are refused, the future is given back, and dropped.
async fn destructor_spawn_after_cancel_refused(_: Flavor) {
    let count = Count::default();
    let refused = Count::default();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (c, rf) = (count.clone(), refused.clone());
    let out = scope
        .run(async move {
            for _ in 0..3 {
                tg.spawn(Respawn::<0>::new(&tg, 1, true, &c, &rf));
                tg.spawn(Respawn::<4096>::new(&tg, 1, true, &c, &rf));
            }
            tokio::task::yield_now().await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(
        refused.get(),
        6,
        "a spawn from a cancelled task's destructor was accepted"
    );
    assert_eq!(count.get(), 12, "6 tasks and 6 refused successors dropped");
}

// Racy: a task aborted right after its spawn, which may complete first. However it ends, its
// handle resolves only after its future was dropped and it left the group. 200 rounds, several
// layouts.
async fn abort_races_completion(_: Flavor) {
    for round in 0..200usize {
        let log = Log::default();
        let mis = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let tg = scope.group();
        let (l, m) = (log.clone(), mis.clone());
        let out = scope
            .run(async move {
                let mode = if round % 2 == 0 {
                    Mode::Ready
                } else {
                    Mode::Yield(1)
                };
                let h = match round % 4 {
                    0 => tg.spawn(Logged::<0>::new(round, mode, &l)),
                    1 => tg.spawn(Logged::<4096>::new(round, mode, &l)),
                    2 => tg.spawn(Over256(Logged::<1>::new(round, mode, &l), m)),
                    _ => tg.spawn(Over4096(Logged::<255>::new(round, mode, &l), m)),
                };
                if round % 3 != 0 {
                    tokio::task::yield_now().await;
                }
                h.abort();
                let end = h.outcome().await;
                assert!(
                    l.has(Ev::FutDropped(round)),
                    "round {round}: handle resolved ({end:?}) before the future was dropped"
                );
                assert_eq!(tg.len(), 0, "round {round}: {end:?}");
                match end {
                    TaskEnd::Completed(v) => assert!(v.intact()),
                    TaskEnd::Aborted => {}
                    other => panic!("round {round}: {other:?}"),
                }
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()), "round {round}");
        assert_eq!(mis.load(SeqCst), 0);
    }
}

// Handles awaited by other tasks of the group and by plain tokio tasks: they resolve after
// the task's future was dropped; over-aligned values arrive intact.
async fn handles_awaited_elsewhere(_: Flavor) {
    let log = Log::default();
    let mis = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let tg = scope.group();
    let (l, m) = (log.clone(), mis.clone());
    let out = scope
        .run(async move {
            let mut checks = Vec::new();
            for k in 0..16usize {
                let h = match k % 4 {
                    0 => tg.spawn(Logged::<0>::new(k, Mode::Yield(2), &l)),
                    1 => tg.spawn(Logged::<4096>::new(k, Mode::Yield(1), &l)),
                    2 => tg.spawn(Over256(Logged::<1>::new(k, Mode::Ready, &l), m.clone())),
                    _ => tg.spawn(Over4096(
                        Logged::<255>::new(k, Mode::Yield(3), &l),
                        m.clone(),
                    )),
                };
                let l2 = l.clone();
                let check = async move {
                    let v = h.await.expect("completed");
                    assert!(v.intact(), "value {k}");
                    assert!(l2.has(Ev::FutDropped(k)), "handle {k} resolved early");
                };
                if k % 2 == 0 {
                    checks.push(tg.spawn(check));
                } else {
                    let plain = tokio::spawn(check);
                    checks.push(tg.spawn(async move { plain.await.unwrap() }));
                }
            }
            for c in checks {
                assert_eq!(c.await, Some(()));
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let ev = log.events();
    assert_eq!(
        ev.iter().filter(|e| matches!(e, Ev::FutDropped(_))).count(),
        16
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Ev::ValueDropped(_)))
            .count(),
        16
    );
    assert_eq!(mis.load(SeqCst), 0);
}

// SPEC 6 "Limit": under `limit(1)`, tasks (over-aligned, padded, returning values with
// destructors: every optional part of the wrapper in use) start in spawn order, one at a time:
// each starts only after the previous one's future was dropped.
async fn limited_logged_start_order(_: Flavor) {
    const N: usize = 12;
    let log = Log::default();
    let mis = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (l, m) = (log.clone(), mis.clone());
    let out = scope
        .run(async move {
            let mut hs = Vec::new();
            for k in 0..N {
                let mode = Mode::Yield((k % 3) as u8);
                hs.push(match k % 4 {
                    0 => tg.spawn(Logged::<0>::new(k, mode, &l)),
                    1 => tg.spawn(Over4096(Logged::<255>::new(k, mode, &l), m.clone())),
                    2 => tg.spawn(Logged::<4096>::new(k, mode, &l)),
                    _ => tg.spawn(Over64(Logged::<1>::new(k, mode, &l), m.clone())),
                });
            }
            for (k, h) in hs.into_iter().enumerate() {
                let v = h.await.expect("completed");
                assert!(v.intact(), "value {k}");
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    let ev: Vec<Ev> = log
        .events()
        .into_iter()
        .filter(|e| matches!(e, Ev::Started(_) | Ev::FutDropped(_)))
        .collect();
    let want: Vec<Ev> = (0..N)
        .flat_map(|k| [Ev::Started(k), Ev::FutDropped(k)])
        .collect();
    assert_eq!(ev, want, "not one at a time in spawn order");
    assert_eq!(mis.load(SeqCst), 0);
}

both!(20;
    logged_drop_order,
    destructor_spawns_into_own_group,
    destructor_spawn_after_cancel_refused,
    abort_races_completion,
    handles_awaited_elsewhere,
    limited_logged_start_order,
);
