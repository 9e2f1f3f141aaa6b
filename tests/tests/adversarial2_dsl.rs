//! Adversarial 2: the DSL forms in `select!` arms (SPEC sec. 11) and the sec. 9/10 options.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]
#![allow(unreachable_code)]

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cancel_scope::{BoxError, CancelReason, Outcome, ScopeResult, cancel_scope};
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

#[macro_use]
mod adversarial;

use adversarial::{Flag, err, flag, ms, msgs};

both!(
    cancel_in_biased_arm_after_three_ticks,
    cancel_in_else_branch,
    cancel_in_arm_with_precondition,
    cancel_in_nested_select_arm,
    cancel_in_arm_inside_match_inside_arm,
    spawn_in_arm_spawns_and_handle_resolves,
    spawn_local_in_arm_borrows,
    server_loop_oneshot_shutdown_drops_all,
    absolute_path_tokio_select,
    futures_select_cancel_in_arm,
    dsl_cancel_on_two_signals,
    dsl_supervise_keeps_errors,
    dsl_supervise_panic_in_arm_spawned_task_resumed,
    cancel_in_arm_value_not_completed,
);

// sec. 11: "cancel; there stops the body at once" (biased select, loop)
async fn cancel_in_biased_arm_after_three_ticks() {
    let rounds = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicBool::new(false));
    let (r, a) = (rounds.clone(), after.clone());
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::select! {
                biased;
                () = tokio::time::sleep(ms(1)) => {
                    if n == 3 {
                        cancel;
                    }
                }
                () = std::future::pending::<()>() => {}
            }
            if n >= 3 {
                a.store(true, Ordering::SeqCst);
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(rounds.load(Ordering::SeqCst), 3);
    assert!(
        !after.load(Ordering::SeqCst),
        "statements after the select ran after `cancel;`"
    );
}

// sec. 11: "by the rules of a match arm" (the else branch of tokio::select!)
async fn cancel_in_else_branch() {
    let ran_after = Arc::new(AtomicBool::new(false));
    let ra = ran_after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        drop(tx);
        loop {
            tokio::select! {
                Some(_) = rx.recv() => {}
                else => {
                    cancel;
                }
            }
            ra.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!ran_after.load(Ordering::SeqCst));
}

// sec. 11: arm handlers of select! (an arm with an `if` precondition)
async fn cancel_in_arm_with_precondition() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let out: ScopeResult<()> = cancel_scope! {
        let mut i = 0u32;
        loop {
            i += 1;
            tokio::select! {
                () = tokio::time::sleep(ms(1)), if i >= 2 => {
                    h.fetch_add(1, Ordering::SeqCst);
                    cancel;
                }
                () = tokio::task::yield_now(), if i < 2 => {}
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

// sec. 11: forms recognised in arm handlers (a select nested in an arm)
async fn cancel_in_nested_select_arm() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            tokio::select! {
                () = tokio::task::yield_now() => {
                    tokio::select! {
                        () = tokio::time::sleep(ms(1)) => {
                            cancel;
                        }
                    }
                    a.store(true, Ordering::SeqCst);
                }
            }
            a.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!after.load(Ordering::SeqCst));
}

// sec. 7: "the forms work in nested blocks, loops, if, match" + sec. 11 arms
async fn cancel_in_arm_inside_match_inside_arm() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    for v in [1, 2, 3] {
        tx.try_send(v).unwrap();
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            tokio::select! {
                v = rx.recv() => match v {
                    Some(2) => {
                        s.fetch_add(1, Ordering::SeqCst);
                        cancel;
                    }
                    Some(_) => { s.fetch_add(1, Ordering::SeqCst); }
                    None => { a.store(true, Ordering::SeqCst); }
                },
            }
        }
    };
    drop(tx);
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(!after.load(Ordering::SeqCst));
}

// sec. 11: "The body forms are recognised in the arm handlers" (`let h = spawn ...;`)
async fn spawn_in_arm_spawns_and_handle_resolves() {
    let out: ScopeResult<u32> = cancel_scope! {
        as tg;
        let v = tokio::select! {
            () = tokio::task::yield_now() => {
                // Both tasks wait for `go`, so `len()` sees both on either runtime.
                let (go, wait) = tokio::sync::watch::channel(false);
                let mut w1 = wait.clone();
                let mut w2 = wait;
                let h = spawn async move {
                    let _ = w1.wait_for(|go| *go).await;
                    Ok::<_, BoxError>(21u32)
                };
                spawn async move { let _ = w2.wait_for(|go| *go).await; };
                assert_eq!(tg.len(), 2);
                go.send_replace(true);
                h.await.unwrap() * 2
            }
        };
        v
    };
    assert_eq!(out.unwrap(), Outcome::Completed(42));
}

// sec. 10 + 11: `spawn_local` in an arm, borrowing a RefCell
async fn spawn_local_in_arm_borrows() {
    let log = RefCell::new(Vec::<u32>::new());
    let out: ScopeResult<()> = cancel_scope! {
        for i in 0..3u32 {
            tokio::select! {
                () = tokio::task::yield_now() => {
                    let log = &log;
                    spawn_local async move {
                        tokio::time::sleep(ms(u64::from(3 - i) * 5)).await;
                        log.borrow_mut().push(i);
                    };
                }
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(log.into_inner(), [2, 1, 0]);
}

// sec. 11 server shape + sec. 2: "Nothing outlives its scope"
async fn server_loop_oneshot_shutdown_drops_all() {
    let (conn_tx, mut conns) = mpsc::channel::<Flag>(16);
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    let mut flags = vec![];
    for _ in 0..8 {
        let (d, f) = flag();
        flags.push(d);
        conn_tx.try_send(f).unwrap();
    }
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(30)).await;
        let _ = stop_tx.send(());
        drop(conn_tx);
    });
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            tokio::select! {
                _ = &mut stop => {
                    cancel;
                }
                Some(conn) = conns.recv() => {
                    acc.fetch_add(1, Ordering::SeqCst);
                    spawn async move {
                        let _c = conn;
                        std::future::pending::<()>().await;
                    };
                }
            }
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(accepted.load(Ordering::SeqCst), 8);
    for d in flags {
        assert!(
            d.load(Ordering::SeqCst),
            "a connection task outlived the scope"
        );
    }
}

// sec. 11: "any path ending in those names"
async fn absolute_path_tokio_select() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        loop {
            ::tokio::select! {
                () = ::tokio::time::sleep(ms(1)) => {
                    cancel;
                }
            }
            a.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!after.load(Ordering::SeqCst));
}

// sec. 11: futures::select! arm
async fn futures_select_cancel_in_arm() {
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let out: ScopeResult<()> = cancel_scope! {
        let mut t = Box::pin(tokio::time::sleep(ms(2)).fuse());
        let mut p = futures::future::pending::<()>();
        loop {
            futures::select! {
                () = t => {
                    spawn async { tokio::time::sleep(ms(5000)).await; };
                    cancel;
                }
                () = p => {}
            }
            a.store(true, Ordering::SeqCst);
        }
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(!after.load(Ordering::SeqCst));
}

// sec. 10: "DSL option cancel_on = a, b;"
async fn dsl_cancel_on_two_signals() {
    let (tx, rx) = oneshot::channel::<()>();
    let (d, f) = flag();
    tokio::spawn(async move {
        tokio::time::sleep(ms(10)).await;
        let _ = tx.send(());
    });
    let out: ScopeResult<()> = cancel_scope! {
        cancel_on = std::future::pending::<()>(), rx;
        spawn async move { let _f = f; std::future::pending::<()>().await; };
        std::future::pending::<()>().await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert!(d.load(Ordering::SeqCst));
}

// sec. 9: "DSL option supervise;"
async fn dsl_supervise_keeps_errors() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let out: ScopeResult<u32> = cancel_scope! {
        as tg;
        supervise;
        spawn async { Err::<(), BoxError>(err("e1")) };
        spawn async { tokio::time::sleep(ms(5)).await; Err::<(), BoxError>(err("e2")) };
        spawn async move { tokio::time::sleep(ms(30)).await; d.store(true, Ordering::SeqCst); };
        tokio::time::sleep(ms(15)).await;
        assert!(!tg.is_cancelled());
        7
    };
    assert_eq!(msgs(&out.unwrap_err()), ["e1", "e2"]);
    assert!(done.load(Ordering::SeqCst));
}

// sec. 9: supervise "a panic anywhere does (rule 4)"
async fn dsl_supervise_panic_in_arm_spawned_task_resumed() {
    let (d, f) = flag();
    let r = AssertUnwindSafe(async move {
        let out: ScopeResult<()> = cancel_scope! {
            supervise;
            spawn async move { let _f = f; std::future::pending::<()>().await; };
            loop {
                tokio::select! {
                    () = tokio::task::yield_now() => {
                        spawn async { if true { panic!("dsl-boom") } };
                    }
                }
                tokio::time::sleep(ms(1000)).await;
            }
        };
        out
    })
    .catch_unwind()
    .await;
    let p = r.expect_err("panic swallowed");
    assert_eq!(p.downcast_ref::<&str>().copied(), Some("dsl-boom"));
    assert!(d.load(Ordering::SeqCst));
}

// rule 5 / sec. 11: after `cancel;` the body has no value: Cancelled, never Completed
async fn cancel_in_arm_value_not_completed() {
    let out: ScopeResult<u32> = cancel_scope! {
        let x = tokio::select! {
            () = tokio::task::yield_now() => {
                if true {
                    cancel;
                }
                1u32
            }
        };
        x + 1
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}
