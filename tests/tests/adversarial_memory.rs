//! Adversarial: SPEC section 6 "Bounded memory: a long-lived scope ... holds memory only for the
//! tasks alive now", measured with a counting global allocator (its own test binary; one test at
//! a time measures, under a lock).
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

mod counting_alloc;

use std::sync::Mutex;
use std::time::Duration;

use cancel_scope::{BoxError, CancelScope, TaskGroup};
use counting_alloc::live;

static SERIAL: Mutex<()> = Mutex::new(());

const BURST: usize = 100_000;
const LIMIT: isize = 3_000_000;

async fn drain(tg: &TaskGroup) {
    let t0 = std::time::Instant::now();
    while !tg.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "tasks never finished"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // let the runtime settle
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Spawns a burst of `BURST` tasks alive at once, waits until none is alive, then returns the
/// bytes the still-running scope holds (freed when it finishes).
async fn retained_after_burst(limit: Option<usize>) -> isize {
    let mut scope = CancelScope::new();
    if let Some(n) = limit {
        scope = scope.limit(n);
    }
    let tg = scope.group();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let g2 = gate.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<isize>();
    let fut = scope.run(async move {
        for _ in 0..BURST {
            let g = g2.clone();
            tg.spawn(async move {
                let _ = g.acquire().await;
            });
        }
        assert_eq!(
            tg.len(),
            BURST,
            "len() counts every task alive, queued ones included"
        );
        g2.add_permits(BURST);
        drain(&tg).await;
        let held = live();
        tx.send(held).unwrap();
        Ok::<_, BoxError>(())
    });
    let out = tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("hung");
    assert!(out.is_ok());
    let held = rx.await.unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    drop(gate);
    held - live()
}

// SPEC 6: "a long-lived scope that spawns millions of short tasks holds memory only for the tasks alive now" (after a burst)
#[tokio::test(flavor = "current_thread")]
async fn memory_back_after_burst_current_thread() {
    let _l = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let retained = retained_after_burst(None).await;
    assert!(
        retained < LIMIT,
        "scope with no task alive still holds {retained} bytes after a burst of {BURST}"
    );
}

// SPEC 6: "holds memory only for the tasks alive now" (after a burst queued under limit)
#[tokio::test(flavor = "current_thread")]
async fn memory_back_after_queued_burst_under_limit() {
    let _l = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let retained = retained_after_burst(Some(4)).await;
    assert!(
        retained < LIMIT,
        "scope with no task alive still holds {retained} bytes after a queued burst of {BURST}"
    );
}

// SPEC 6: "holds memory only for the tasks alive now" (multi-thread)
#[test]
fn memory_back_after_burst_multi_thread() {
    let _l = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let retained = rt.block_on(retained_after_burst(None));
    assert!(
        retained < LIMIT,
        "scope with no task alive still holds {retained} bytes after a burst of {BURST}"
    );
}

// SPEC 5: "A finished scope unlinks itself from its parents, so 100,000 short linked scopes leave nothing behind" (bytes)
#[tokio::test(flavor = "current_thread")]
async fn hundred_thousand_short_linked_scopes_leave_no_bytes() {
    let _l = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ps = CancelScope::new();
    let p = ps.group();
    let p2 = p.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        ps.run(async move {
            // warm up
            for _ in 0..1000 {
                let _ = CancelScope::new()
                    .parent(&p2)
                    .run(async { Ok::<_, BoxError>(()) })
                    .await;
            }
            let before = live();
            for i in 0..100_000u32 {
                let cs = CancelScope::new().parent(&p2);
                let g = cs.group();
                if i % 3 == 0 {
                    g.spawn(async {});
                }
                let _ = cs.run(async { Ok::<_, BoxError>(()) }).await;
                if i % 5 == 0 {
                    // a builder dropped without run, linked too
                    drop(CancelScope::new().parent(&p2));
                }
            }
            let grown = live() - before;
            Ok::<_, BoxError>(grown)
        }),
    )
    .await
    .expect("hung");
    let grown = out.unwrap().completed().unwrap();
    assert!(
        grown < 200_000,
        "100,000 short linked scopes left {grown} bytes behind in the parent"
    );
}
