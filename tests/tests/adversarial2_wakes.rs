//! Adversarial 2, part 11: local tasks woken from other workers (lost wake-ups hang).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cancel_scope::{CancelScope, Locals, Outcome};
use tokio::sync::oneshot;

#[macro_use]
mod adversarial;

multi!(
    locals_woken_concurrently_from_workers,
    locals_ping_pong_with_tasks
);
both!(limit_slot_handoff_local_to_local_loop);

// sec. 10: local tasks are polled "concurrently with the body": a wake from another worker is never lost
async fn locals_woken_concurrently_from_workers() {
    for _ in 0..200 {
        let got = AtomicUsize::new(0);
        let locals = Locals::new();
        let scope = CancelScope::new();
        let tg = scope.group();
        let out = scope
            .run_with_locals(&locals, async {
                for _ in 0..20 {
                    let (tx, rx) = oneshot::channel::<u32>();
                    let got = &got;
                    locals.spawn(async move {
                        if rx.await.is_ok() {
                            got.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    tg.spawn(async move {
                        tokio::task::yield_now().await;
                        let _ = tx.send(1);
                    });
                }
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
        assert_eq!(got.load(Ordering::SeqCst), 20);
    }
}

// sec. 10: a local task and a task wait on each other repeatedly
async fn locals_ping_pong_with_tasks() {
    let rounds = Arc::new(AtomicUsize::new(0));
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let (to_task, mut task_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let (to_local, mut local_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let r = rounds.clone();
    let out = scope
        .run_with_locals(&locals, async {
            tg.spawn(async move {
                while let Some(v) = task_rx.recv().await {
                    if to_local.send(v + 1).await.is_err() {
                        break;
                    }
                }
            });
            locals.spawn(async move {
                let mut v = 0;
                for _ in 0..2000 {
                    to_task.send(v).await.unwrap();
                    v = local_rx.recv().await.unwrap();
                    r.fetch_add(1, Ordering::SeqCst);
                }
                drop(to_task);
            });
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(rounds.load(Ordering::SeqCst), 2000);
}

// sec. 6: "further spawns queue in spawn order and start as slots free" (locals handing the slot to locals)
async fn limit_slot_handoff_local_to_local_loop() {
    let order = std::sync::Mutex::new(Vec::new());
    let locals = Locals::new();
    let out = CancelScope::new()
        .limit(1)
        .run_with_locals(&locals, async {
            for i in 0..50u32 {
                let order = &order;
                locals.spawn(async move {
                    tokio::task::yield_now().await;
                    order.lock().unwrap().push(i);
                });
            }
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    drop(locals);
    assert_eq!(order.into_inner().unwrap(), (0..50).collect::<Vec<_>>());
}
