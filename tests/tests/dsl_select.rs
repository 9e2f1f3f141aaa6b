//! SPEC section 11: the body forms inside the arms of `tokio::select!`, `futures::select!` and
//! `select_biased!`, on the current-thread and the multi-thread runtime. The server shape: an
//! accept loop whose arms spawn a task per connection and `cancel;` on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{
    BoxError, CancelReason, Outcome, ScopeResult, TaskGroup, cancel_scope, cancel_scoped,
};
use futures::FutureExt as _;
use tokio::sync::{mpsc, oneshot};

/// Runs each listed `async fn` as two tests, `current_thread` and `multi_thread`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
    };
}

both!(
    server_accept_loop_loses_nothing,
    cancel_in_an_arm_stops_the_loop_at_once,
    unbraced_spawn_arm_and_handles_in_arms,
    preconditions_else_and_break_are_untouched,
    return_from_an_arm_is_the_body_value,
    futures_select_and_select_biased,
    attribute_server,
);

/// What a server's per-connection task records.
#[derive(Default)]
struct Served {
    started: AtomicUsize,
    finished: AtomicUsize,
}

/// A connection's task: serves until the group is cancelled, then finishes its clean-up
/// within the grace period.
async fn handle(conn: u32, served: Arc<Served>, tg: TaskGroup) -> Result<(), BoxError> {
    served.started.fetch_add(1, Ordering::SeqCst);
    tokio::select! {
        () = tg.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(3600)) => {}
    }
    // Clean-up after the cancel: counted only if the grace period lets it finish.
    tokio::task::yield_now().await;
    let _ = conn;
    served.finished.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

async fn server_accept_loop_loses_nothing() {
    let (conn_tx, mut listener) = mpsc::channel::<u32>(16);
    let (shutdown_tx, mut shutdown) = oneshot::channel::<()>();
    let served = Arc::new(Served::default());
    let accepted = Arc::new(AtomicUsize::new(0));
    let client = tokio::spawn({
        let accepted = Arc::clone(&accepted);
        async move {
            for conn in 0..10 {
                conn_tx.send(conn).await.unwrap();
            }
            // Every connection was accepted before the shutdown.
            while accepted.load(Ordering::SeqCst) < 10 {
                tokio::task::yield_now().await;
            }
            shutdown_tx.send(()).unwrap();
        }
    });
    let out: ScopeResult<()> = cancel_scope! {
        as tg;
        grace = Duration::from_secs(5);
        loop {
            tokio::select! {
                Some(conn) = listener.recv() => {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    spawn handle(conn, Arc::clone(&served), tg.clone());
                }
                _ = &mut shutdown => {
                    cancel;
                }
            }
        }
    };
    client.await.unwrap();
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
    // Nothing lost: every accepted connection got its task, and every task its clean-up.
    assert_eq!(served.started.load(Ordering::SeqCst), 10);
    assert_eq!(served.finished.load(Ordering::SeqCst), 10);
}

async fn cancel_in_an_arm_stops_the_loop_at_once() {
    // With `tg.cancel()` in the arm, the loop would go round again and re-poll the finished
    // oneshot (a panic: "called after complete"); `cancel;` ends the body there.
    let (tx, mut rx) = oneshot::channel::<()>();
    tx.send(()).unwrap();
    let rounds = AtomicUsize::new(0);
    let after_cancel = AtomicBool::new(false);
    let out = cancel_scope! {
        spawn tokio::time::sleep(Duration::from_secs(3600));
        loop {
            assert!(!after_cancel.load(Ordering::SeqCst), "the loop went round after `cancel;`");
            rounds.fetch_add(1, Ordering::SeqCst);
            tokio::select! {
                _ = &mut rx => {
                    after_cancel.store(true, Ordering::SeqCst);
                    cancel;
                }
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(rounds.load(Ordering::SeqCst), 1);
    assert!(after_cancel.load(Ordering::SeqCst));
}

async fn unbraced_spawn_arm_and_handles_in_arms() {
    let (kept_tx, mut kept) = mpsc::channel::<u32>(4);
    let (fire_tx, mut fire) = mpsc::channel::<u32>(4);
    kept_tx.send(4).await.unwrap();
    for n in [1, 2] {
        fire_tx.send(n).await.unwrap();
    }
    drop((kept_tx, fire_tx));
    let total = Arc::new(AtomicUsize::new(0));
    let add = |n: u32| {
        let total = Arc::clone(&total);
        async move {
            total.fetch_add(n as usize, Ordering::SeqCst);
        }
    };
    let out: ScopeResult<u32> = cancel_scope! {
        let mut handles = Vec::new();
        loop {
            // An unbraced `=> spawn EXPR` is run for its effect: type `()`, like the blocks.
            tokio::select! {
                Some(n) = kept.recv() => {
                    let h = spawn async move { Ok::<_, BoxError>(n * 10) };
                    handles.push(h);
                }
                Some(n) = fire.recv() => spawn add(n),
                else => break,
            }
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap_or(0);
        }
        sum
    };
    assert_eq!(out.unwrap(), Outcome::Completed(40));
    assert_eq!(total.load(Ordering::SeqCst), 3);
}

async fn preconditions_else_and_break_are_untouched() {
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    tx.send(7).await.unwrap();
    drop(tx);
    let armed = false;
    let out = cancel_scope! {
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                biased;
                // Never polled: its precondition is false.
                () = tokio::time::sleep(Duration::ZERO), if armed => {
                    cancel;
                }
                Some(v) = rx.recv() => seen.push(v),
                else => break,
            }
        }
        seen
    };
    assert_eq!(out.unwrap(), Outcome::Completed(vec![7]));
}

async fn return_from_an_arm_is_the_body_value() {
    let (tx, mut rx) = oneshot::channel::<u32>();
    tx.send(41).unwrap();
    let out: ScopeResult<u32> = cancel_scope! {
        loop {
            tokio::select! {
                v = &mut rx => return v.unwrap_or(0) + 1,
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(42));
}

async fn futures_select_and_select_biased() {
    let ran = Arc::new(AtomicUsize::new(0));
    let bump = || {
        let ran = Arc::clone(&ran);
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
        }
    };
    let out = cancel_scope! {
        let mut ready = futures::future::ready(1u32).fuse();
        let mut never = futures::future::pending::<u32>().fuse();
        futures::select! {
            n = ready => {
                let h = spawn bump();
                h.await;
                assert_eq!(n, 1);
            }
            _ = never => {}
        }
        let mut stop = futures::future::ready(()).fuse();
        let mut later = Box::pin(tokio::time::sleep(Duration::from_secs(3600)).fuse());
        futures::select_biased! {
            () = stop => {
                let h = spawn bump();
                h.await;
                cancel;
            }
            () = later => spawn bump(),
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

#[cancel_scoped(as tg, grace = Duration::from_secs(5))]
async fn serve(
    mut listener: mpsc::Receiver<u32>,
    mut shutdown: oneshot::Receiver<()>,
    served: Arc<Served>,
) -> ScopeResult<()> {
    loop {
        tokio::select! {
            Some(conn) = listener.recv() => spawn(handle(conn, Arc::clone(&served), tg.clone())),
            _ = &mut shutdown => {
                cancel;
            }
        }
    }
}

async fn attribute_server() {
    let (conn_tx, listener) = mpsc::channel::<u32>(16);
    let (shutdown_tx, shutdown) = oneshot::channel::<()>();
    let served = Arc::new(Served::default());
    for conn in 0..3 {
        conn_tx.send(conn).await.unwrap();
    }
    let server = serve(listener, shutdown, Arc::clone(&served));
    let stopper = {
        let served = Arc::clone(&served);
        async move {
            while served.started.load(Ordering::SeqCst) < 3 {
                tokio::task::yield_now().await;
            }
            shutdown_tx.send(()).unwrap();
        }
    };
    let (out, ()) = tokio::join!(server, stopper);
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(served.finished.load(Ordering::SeqCst), 3);
}
