//! Adversarial 3: scopes run inside blocking closures with `Handle::block_on`, in plain
//! `tokio::task::spawn_blocking` closures and in blocking members of an enclosing group
//! (`TaskGroup::spawn_blocking`): cancelled from outside, linked to the enclosing scope,
//! panicking, dropped unfinished inside the closure, with deadlines and grace driven by another
//! thread, nested two closures deep.
//!
//! SPEC rules attacked: sec. 2 "Which runtime" (a group spawns on its runtime from any thread, a
//! `spawn_blocking` closure included), "Nothing outlives its scope" (a dropped scope hands its
//! tasks to the scope it ran in), rule 4 (panics resumed after everything stopped); sec. 5
//! (request travels up to a linked parent; deadlines on tokio's clock; grace); sec. 10
//! `spawn_blocking`: "a cancel cannot stop it once it runs: the scope waits for it", "its error
//! and panic count", "handed over".
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, TaskGroup};
use tokio::runtime::Handle;

#[macro_use]
mod adversarial;
mod adversarial3;

use adversarial::ms;
use adversarial3::{Count, Payload, SlowFlag, catch, panic_with, payload, quiet_payload_panics};

both!(
    block_on_scope_cancelled_from_outside_drops_its_tasks_before_returning,
    block_on_scope_in_member_requests_and_cancels_linked_enclosing_scope,
    block_on_scope_panic_in_member_resumed_by_enclosing_scope_after_its_cancel,
    block_on_scope_dropped_in_member_hands_its_tasks_to_the_member_group,
    block_on_scope_deadline_and_grace_driven_by_another_thread,
    block_on_scopes_nested_two_members_deep,
    block_on_scope_error_in_member_counts_in_enclosing_group,
);

// sec. 2 + 5: a group spawns on its runtime from a blocking thread; cancelled from the async
// side, the scope returns Cancelled once every task was dropped
async fn block_on_scope_cancelled_from_outside_drops_its_tasks_before_returning() {
    const N: usize = 8;
    let handle = Handle::current();
    let (give, take) = tokio::sync::oneshot::channel::<TaskGroup>();
    let blocking = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let c = Count::default();
            let scope = CancelScope::new();
            let tg = scope.group();
            let ready = Arc::new(tokio::sync::Barrier::new(N + 1));
            for _ in 0..N {
                let (g, r) = (c.guard(), ready.clone());
                tg.spawn(async move {
                    let _g = g;
                    r.wait().await;
                    std::future::pending::<()>().await;
                });
            }
            let tg2 = tg.clone();
            let out = scope
                .run(async move {
                    ready.wait().await;
                    give.send(tg2).unwrap();
                    std::future::pending::<()>().await;
                    Ok::<_, BoxError>(())
                })
                .await;
            (out.map_err(|e| e.to_string()), c.get(), tg.len())
        })
    });
    take.await.unwrap().cancel();
    let (out, dropped, len) = blocking.await.unwrap();
    assert_eq!(out, Ok(Outcome::Cancelled(CancelReason::Requested)));
    assert_eq!(dropped, N, "a task outlived the scope run in block_on");
    assert_eq!(len, 0);
}

// sec. 5 + 10: a scope in a blocking member, linked to the enclosing scope, requests a cancel:
// the enclosing scope is cancelled (Child) at once and still waits for the member
async fn block_on_scope_in_member_requests_and_cancels_linked_enclosing_scope() {
    let outer = CancelScope::new();
    let o = outer.group();
    let c = Count::default();
    let (o2, c2) = (o.clone(), c.clone());
    let inner_out = Arc::new(std::sync::Mutex::new(None));
    let io = inner_out.clone();
    let out = outer
        .run(async move {
            let handle = Handle::current();
            let member = o2.clone();
            o2.spawn_blocking(move || {
                let r = handle.block_on(async {
                    let inner = CancelScope::new().parent(&member);
                    let i = inner.group();
                    let g = c2.guard();
                    i.spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await;
                    });
                    let i2 = i.clone();
                    let out = inner
                        .run(async move {
                            i2.cancel();
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    // the enclosing group was cancelled before the inner scope returned
                    (out.map_err(|e| e.to_string()), member.cancel_reason())
                });
                *io.lock().unwrap() = Some(r);
            });
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Child));
    assert_eq!(
        inner_out.lock().unwrap().take(),
        Some((
            Ok(Outcome::Cancelled(CancelReason::Requested)),
            Some(CancelReason::Child)
        )),
        "the member did not run to its end before the enclosing scope returned"
    );
    assert_eq!(c.get(), 1);
}

// sec. 10 "a cancel cannot stop it once it runs", rule 4: the panic resumed by the scope inside
// the member is a panic of the member, resumed by the enclosing scope although it was cancelled
async fn block_on_scope_panic_in_member_resumed_by_enclosing_scope_after_its_cancel() {
    quiet_payload_panics();
    let outer = CancelScope::new();
    let o = outer.group();
    let (release, gate) = mpsc::channel::<()>();
    let (running, is_running) = tokio::sync::oneshot::channel::<()>();
    let handle = Handle::current();
    o.spawn_blocking(move || {
        running.send(()).unwrap();
        gate.recv().unwrap();
        handle.block_on(async {
            let inner = CancelScope::new();
            let i = inner.group();
            i.spawn(async {
                tokio::task::yield_now().await;
                panic_with(Payload(31));
            });
            let _ = inner
                .run(std::future::pending::<Result<(), BoxError>>())
                .await;
        });
    });
    let o2 = o.clone();
    let caught = catch(outer.run(async move {
        is_running.await.unwrap();
        o2.cancel();
        release.send(()).unwrap();
        Ok::<_, BoxError>(())
    }))
    .await
    .expect_err("the member's panic was swallowed");
    assert_eq!(payload(&*caught), Ok(31));
    assert_eq!(o.cancel_reason(), Some(CancelReason::Requested));
}

// sec. 2 + 10: a scope dropped unfinished inside a member (its run future dropped by a
// `select!` in `block_on`) hands its live tasks to the member's group, which waits for them
async fn block_on_scope_dropped_in_member_hands_its_tasks_to_the_member_group() {
    let outer = CancelScope::new();
    let o = outer.group();
    let dropped = Arc::new(AtomicBool::new(false));
    let d2 = dropped.clone();
    let handle = Handle::current();
    o.spawn_blocking(move || {
        handle.block_on(async {
            let inner = CancelScope::new();
            let i = inner.group();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let slow = SlowFlag(d2);
            i.spawn(async move {
                let _slow = slow;
                let _ = tx.send(());
                std::future::pending::<()>().await;
            });
            tokio::select! {
                _ = inner.run(std::future::pending::<Result<(), BoxError>>()) => unreachable!(),
                _ = rx => {}
            }
        });
    });
    let out = outer.run(async { Ok::<_, BoxError>(()) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert!(
        dropped.load(Ordering::SeqCst),
        "a task of the scope dropped in the member outlived the enclosing scope"
    );
}

// sec. 5: deadlines and grace use tokio's clock, driven here by the runtime's own thread while
// the scope runs in a blocking thread
async fn block_on_scope_deadline_and_grace_driven_by_another_thread() {
    let handle = Handle::current();
    let (out, cleaned, stubborn_dropped) = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let scope = CancelScope::new().timeout(ms(30)).grace(ms(500));
            let tg = scope.group();
            let cleaned = Arc::new(AtomicUsize::new(0));
            let (tg2, c2) = (tg.clone(), cleaned.clone());
            // ends in time: counts
            let polite = tg.spawn(async move {
                tg2.cancelled().await;
                tokio::time::sleep(ms(10)).await;
                c2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, BoxError>(5)
            });
            // ignores the cancel: aborted at the end of the grace
            let c = Count::default();
            let g = c.guard();
            let stubborn = tg.spawn(async move {
                let _g = g;
                std::future::pending::<()>().await;
            });
            let out = scope
                .run(async {
                    std::future::pending::<()>().await;
                    Ok::<_, BoxError>(())
                })
                .await;
            assert_eq!(polite.await, Some(5));
            assert_eq!(stubborn.await, None);
            (
                out.map_err(|e| e.to_string()),
                cleaned.load(Ordering::SeqCst),
                c.get(),
            )
        })
    })
    .await
    .unwrap();
    assert_eq!(out, Ok(Outcome::Cancelled(CancelReason::Deadline)));
    assert_eq!(cleaned, 1);
    assert_eq!(stubborn_dropped, 1);
}

// sec. 10 at depth: a member runs a scope whose member runs a scope; values travel back up
async fn block_on_scopes_nested_two_members_deep() {
    let outer = CancelScope::new();
    let o = outer.group();
    let handle = Handle::current();
    let h1 = handle.clone();
    let v = o.spawn_blocking(move || {
        h1.block_on(async {
            let mid = CancelScope::new();
            let m = mid.group();
            let h2 = handle.clone();
            let v = m.spawn_blocking(move || {
                h2.block_on(async {
                    let inner = CancelScope::new();
                    let i = inner.group();
                    let a = i.spawn(async { Ok::<_, BoxError>(20) });
                    inner
                        .run(async move { Ok::<_, BoxError>(a.await.unwrap() + 1) })
                        .await
                        .map_err(|e| -> BoxError { e.to_string().into() })
                        .and_then(|o| o.completed().ok_or_else(|| "cancelled".into()))
                })
            });
            mid.run(async move { Ok::<_, BoxError>(v.await.unwrap() * 2) })
                .await
                .map_err(|e| -> BoxError { e.to_string().into() })
                .and_then(|o| o.completed().ok_or_else(|| "cancelled".into()))
        })
    });
    let out = outer.run(async move { Ok::<_, BoxError>(v.await) }).await;
    assert_eq!(out.unwrap(), Outcome::Completed(Some(42)));
}

// rule 3 + sec. 10: the error of a scope run in a member, returned by the member, is an error
// of the enclosing group, in order with the others
async fn block_on_scope_error_in_member_counts_in_enclosing_group() {
    let outer = CancelScope::new();
    let o = outer.group();
    let handle = Handle::current();
    let (running, is_running) = tokio::sync::oneshot::channel::<()>();
    o.spawn(async move {
        let _ = is_running.await;
        Err::<(), BoxError>("first".into())
    });
    let o3 = o.clone();
    o.spawn_blocking(move || {
        // a cancel cannot stop it once it runs: it waits for the first error's cancel, then
        // runs a scope that fails
        running.send(()).unwrap();
        while !o3.is_cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        handle.block_on(async {
            let inner = CancelScope::new();
            let i = inner.group();
            i.spawn(async { Err::<(), BoxError>("inner".into()) });
            match inner.run(async { Ok::<_, BoxError>(()) }).await {
                Err(e) => Err::<(), BoxError>(format!("member: {}", e.first()).into()),
                Ok(o) => Err(format!("member: inner ended {o:?}").into()),
            }
        })
    });
    let out = outer.run(async { Ok::<_, BoxError>(()) }).await;
    let e = out.unwrap_err();
    assert_eq!(adversarial::msgs(&e).len(), 2, "{e}");
    assert_eq!(adversarial::msgs(&e)[1], "member: inner");
    assert_eq!(adversarial::msgs(&e)[0], "first");
}
