//! SPEC section 5: "A finished scope unlinks itself from its parents, so 100,000 short linked
//! scopes leave nothing behind." Measured with a counting global allocator, so this binary holds
//! this one test only (each runtime flavour in turn) and nothing else allocates meanwhile.

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult};

mod counting_alloc;

use counting_alloc::live;

async fn short_scopes(ptg: &cancel_scope::TaskGroup, n: usize) {
    for i in 0..n {
        let s = CancelScope::new().parent(ptg);
        match i % 3 {
            0 => {
                let o = s.run(async { Ok::<_, BoxError>(i) }).await;
                assert_eq!(o.unwrap(), Outcome::Completed(i));
            }
            1 => {
                // With a task, and cancelled (by request: it reaches the parent, so not here).
                let g = s.group();
                let o: ScopeResult<()> = s
                    .run(async {
                        g.spawn(async {});
                        Ok(())
                    })
                    .await;
                assert!(o.unwrap().is_completed());
            }
            _ => drop(s),
        }
    }
}

async fn case() {
    let parent = CancelScope::new();
    let ptg = parent.group();
    let out = parent
        .run(async {
            // Warm up: the parent's link table reaches its working size.
            short_scopes(&ptg, 1_000).await;
            let before = live();
            short_scopes(&ptg, 100_000).await;
            let grown = live() - before;
            // A leaked link (even a bare `Weak<Core>` keeps a core's allocation alive) would be
            // well over 100 bytes per scope: 10 MB here.
            assert!(
                grown < 64 * 1024,
                "100,000 short linked scopes left {grown} bytes behind"
            );
            assert_eq!(ptg.len(), 0);
            // The parent still works.
            let child = CancelScope::new().parent(&ptg);
            let cg = child.group();
            ptg.cancel();
            assert_eq!(cg.cancel_reason(), Some(CancelReason::Parent));
            drop(child);
            Ok::<_, BoxError>(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

#[test]
fn many_short_linked_scopes_hold_no_memory() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(case());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(case());
}
