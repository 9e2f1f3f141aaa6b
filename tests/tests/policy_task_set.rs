//! Results as they finish: `TaskSet` and `TaskHandle::outcome` (`TaskEnd`).

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome, ScopeResult, TaskEnd, TaskSet};
use common::*;

both!(
    handle_outcome_tells_every_end,
    handle_outcome_queued_dropped_is_not_started,
    awaiting_the_handle_still_gives_option,
    set_gives_ends_in_completion_order,
    set_tells_cancelled_and_not_started,
    set_tells_panicked,
    set_dropped_drops_values_inside_the_scope,
    set_len_and_empty,
    set_end_comes_after_the_future_was_dropped,
    set_destructor_panic_is_panicked_and_does_not_hang,
);

/// `join_next` gives a task's end only once the task's future was dropped.
async fn set_end_comes_after_the_future_was_dropped() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let _ = scope
        .run(async {
            let mut set = TaskSet::new();
            let g = drops.guard();
            set.spawn(&tg, async move {
                let _g = g;
                tokio::task::yield_now().await;
                Ok::<_, BoxError>(1)
            });
            let g = drops.guard();
            set.spawn(&tg, async move {
                hold_forever(g).await;
                Ok::<_, BoxError>(2)
            });
            assert_eq!(set.join_next().await, Some(TaskEnd::Completed(1)));
            assert_eq!(
                drops.get(),
                1,
                "the completed task's future was dropped first"
            );
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(drops.get(), 2);
}

/// A future whose destructor panics: its end is `Panicked`, `join_next` does not wait forever,
/// and the scope resumes the panic.
async fn set_destructor_panic_is_panicked_and_does_not_hang() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let t = tg.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(async move {
        let mut set = TaskSet::<()>::new();
        set.spawn(&t, async {
            let _p = PanicOnDrop("destructor");
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        let _ = tx.send(());
        set.join_next().await
    });
    let _ = rx.await;
    tokio::time::sleep(short()).await;
    tg.cancel();
    assert_eq!(
        within("join_next", watcher).await.unwrap(),
        Some(TaskEnd::Panicked)
    );
    let caught = catch(scope.run(async { Ok(()) })).await;
    assert_eq!(panic_msg(&*caught.unwrap_err()), "destructor");
}

async fn handle_outcome_tells_every_end() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let ok = tg.spawn(async { Ok::<_, BoxError>(1u8) });
            let failed = tg.spawn(async { Err::<u8, _>(err("bad")) });
            let aborted = tg.spawn(std::future::pending::<()>());
            aborted.abort();
            assert_eq!(ok.outcome().await, TaskEnd::Completed(1));
            assert_eq!(failed.outcome().await, TaskEnd::Failed);
            assert_eq!(aborted.outcome().await, TaskEnd::Aborted);
            let cancelled = tg.spawn(hold_forever(Counter::new().guard()));
            tokio::task::yield_now().await;
            let t = tg.clone();
            let watcher = tokio::spawn(async move { cancelled.outcome().await });
            t.cancel();
            assert_eq!(watcher.await.unwrap(), TaskEnd::Cancelled);
            assert_eq!(tg.spawn(async {}).outcome().await, TaskEnd::NotStarted);
            Ok(())
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["bad"]);
}

async fn handle_outcome_queued_dropped_is_not_started() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(Counter::new().guard()));
            let queued = tg.spawn(async {});
            tg.cancel();
            // Whichever reaches it first: the queue (it sees the cancel before its start) or
            // the cancel's abort (tokio drops it unpolled). Either way it never ran.
            let end = queued.outcome().await;
            assert!(
                matches!(end, TaskEnd::NotStarted | TaskEnd::Cancelled),
                "{end:?}"
            );
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

/// `TaskHandle`'s own output is unchanged; polling through `&mut` then asking gives the end.
async fn awaiting_the_handle_still_gives_option() {
    let scope = CancelScope::new().supervise();
    let tg = scope.group();
    let _ = scope
        .run(async {
            let mut failed = tg.spawn(async { Err::<u8, _>(err("x")) });
            assert_eq!((&mut failed).await, None);
            assert_eq!(failed.outcome().await, TaskEnd::Failed, "the end is kept");
            assert_eq!(tg.spawn(async { Ok::<_, BoxError>(3) }).await, Some(3));
            Ok(())
        })
        .await;
}

async fn set_gives_ends_in_completion_order() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let mut set = TaskSet::new();
            for i in [3u32, 1, 4, 2] {
                set.spawn(&tg, async move {
                    // Far apart, so that the order holds on a loaded machine too.
                    tokio::time::sleep(short() * 5 * i).await;
                    Ok::<_, BoxError>(i)
                });
            }
            assert_eq!(set.len(), 4);
            let mut got = Vec::new();
            while let Some(end) = set.join_next().await {
                got.push(end.value().unwrap());
            }
            Ok(got)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(vec![1, 2, 3, 4]));
}

async fn set_tells_cancelled_and_not_started() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let t = tg.clone();
    let watcher = tokio::spawn(async move {
        let mut set = TaskSet::<()>::new();
        set.spawn(&t, hold_forever(Counter::new().guard()));
        set.spawn(&t, async {});
        tokio::task::yield_now().await;
        let _ = tx.send(());
        let mut ends = Vec::new();
        while let Some(end) = set.join_next().await {
            ends.push(end);
        }
        ends
    });
    let _ = rx.await;
    tokio::time::sleep(short()).await;
    tg.cancel();
    let mut ends = within("set", watcher).await.unwrap();
    ends.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(ends, [TaskEnd::Cancelled, TaskEnd::NotStarted]);
    let out: ScopeResult<()> = scope.run(async { Ok(()) }).await;
    assert!(out.unwrap().is_cancelled());
}

async fn set_tells_panicked() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let caught = catch(scope.run(async {
        let mut set = TaskSet::<()>::new();
        set.spawn(&tg, async { boom(Payload(1)) });
        assert_eq!(set.join_next().await, Some(TaskEnd::Panicked));
        Ok(())
    }))
    .await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<Payload>(),
        Some(&Payload(1))
    );
}

async fn set_dropped_drops_values_inside_the_scope() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let mut set = TaskSet::new();
            for i in 0..3u64 {
                let d = drops.clone();
                set.spawn(&tg, async move {
                    tokio::time::sleep(short() * u32::try_from(i).unwrap()).await;
                    Ok::<_, BoxError>(d.guard())
                });
            }
            tokio::time::sleep(short() / 2).await;
            drop(set);
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(()));
    assert_eq!(
        drops.get(),
        3,
        "every value was dropped before the scope returned"
    );
}

async fn set_len_and_empty() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let _ = scope
        .run(async {
            let mut set = TaskSet::<()>::new();
            assert!(set.is_empty());
            assert_eq!(set.join_next().await, None);
            set.spawn(&tg, tokio::time::sleep(Duration::from_millis(1)));
            assert_eq!(set.len(), 1);
            assert_eq!(set.join_next().await, Some(TaskEnd::Completed(())));
            assert!(set.is_empty());
            Ok(())
        })
        .await;
}
