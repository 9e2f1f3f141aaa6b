//! SPEC sec. 6, bounded memory: one long-lived scope that spawns a million short tasks (handles
//! dropped) holds memory only for the tasks alive now. A counting global allocator
//! (`counting_alloc`) measures the bytes live in this test binary.

mod counting_alloc;

use cancel_scope::CancelScope;
use counting_alloc::live;

/// Spawns `total` short tasks in waves of `wave`, letting each wave finish before the next, and
/// returns the highest live byte count seen after the first wave (the "steady state").
async fn churn(total: usize, wave: usize) -> (isize, isize) {
    let scope = CancelScope::new();
    let tg = scope.group();
    let mut after_first = 0;
    let mut peak = 0;
    let out = scope
        .run(async {
            for i in 0..total / wave {
                for _ in 0..wave {
                    tg.spawn(async { tokio::task::yield_now().await });
                }
                while !tg.is_empty() {
                    tokio::task::yield_now().await;
                }
                if i == 0 {
                    after_first = live();
                }
                peak = peak.max(live());
            }
            Ok(())
        })
        .await;
    assert!(out.unwrap().is_completed());
    (after_first, peak)
}

fn flat_memory_for(total: usize, flavor: &str) {
    let rt = match flavor {
        "current_thread" => tokio::runtime::Builder::new_current_thread().build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build(),
    }
    .unwrap();
    let before = counting_alloc::reset_peak();
    let (after_first, quiet_peak) = rt.block_on(churn(total, 1_000));
    let growth = quiet_peak - after_first;
    let peak = counting_alloc::peak() - before;
    eprintln!(
        "{flavor}: {total} tasks in waves of 1000; live bytes before {before}, between waves \
         {after_first} after the first and at most {quiet_peak} later (growth {growth}); \
         peak above the start {peak}"
    );
    // 1,000 live tasks of a few hundred bytes each, plus the runtime's own buffers.
    assert!(
        peak < 4 * 1024 * 1024,
        "peak memory {peak} bytes for 1,000 live tasks"
    );
    // The first wave sizes the registry and tokio's queues; after it, a million more tasks must
    // not grow memory by more than a small constant (no per-task residue such as kept outputs).
    assert!(
        growth < 256 * 1024,
        "memory grew by {growth} bytes over {total} tasks"
    );
    drop(rt);
}

// One test, so that no other test in this binary allocates while the bytes are counted.
#[test]
fn a_million_short_tasks_hold_memory_flat() {
    flat_memory_for(1_000_000, "current_thread");
    flat_memory_for(1_000_000, "multi_thread");
}
