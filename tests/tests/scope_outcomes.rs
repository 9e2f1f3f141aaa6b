//! SPEC section 4: the outcome rules.

#[macro_use]
mod common;

use std::time::Duration;

use cancel_scope::{BoxError, CancelReason, CancelScope, GroupError, Outcome, ScopeResult};
use common::*;
use tokio::sync::oneshot;

both!(
    rule1_completed_waits_for_running_tasks,
    rule1_task_values_reach_handles,
    rule2_cancelled_is_not_an_error,
    rule2_reason_is_first_cause,
    rule2_cancel_while_body_awaits_is_ok,
    rule3_task_error_cancels_group_with_failed,
    rule3_body_error_is_kept,
    rule3_every_error_in_order_including_after_cancel,
    rule3_body_error_first_then_task_errors,
    rule3_custom_error_type,
    rule3_group_error_api,
    rule4_task_panic_resumed_after_all_tasks_stopped,
    rule4_body_panic_resumed_with_payload,
    rule4_first_panic_wins,
    rule4_panic_beats_errors,
    rule4_panic_while_dropping_cancelled_task,
    rule4_panic_while_dropping_body,
    rule4_panic_waits_for_shielded_task,
    rule5_body_value_discarded_when_cancel_follows,
);

/// Rule 1: `Completed(v)`; the scope waits for tasks still running after the body returned, and
/// every task's future is dropped before it returns.
async fn rule1_completed_waits_for_running_tasks() {
    let drops = Counter::new();
    let finished = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for i in 0..8u64 {
                let g = drops.guard();
                let finished = finished.clone();
                tg.spawn(async move {
                    let _g = g;
                    tokio::time::sleep(Duration::from_millis(5 * i)).await;
                    finished.hit();
                    Ok::<_, BoxError>(())
                });
            }
            Ok(42)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed(42));
    assert_eq!(finished.get(), 8, "every task ran to completion");
    assert_eq!(drops.get(), 8, "every task's future was dropped");
    assert!(!tg.is_cancelled());
    assert_eq!(tg.cancel_reason(), None);
    assert_eq!(tg.len(), 0);
}

/// Rule 1 (handles): `Some(v)` for `Ok(v)` and for `()`.
async fn rule1_task_values_reach_handles() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            let a = tg.spawn(async { Ok::<_, BoxError>(7u8) });
            let b = tg.spawn(async {});
            Ok((a.await, b.await))
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Completed((Some(7), Some(()))));
}

/// Rule 2: a cancel (no failure) gives `Ok(Cancelled(reason))`, tasks are stopped.
async fn rule2_cancelled_is_not_an_error() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            for _ in 0..4 {
                tg.spawn(hold_forever(drops.guard()));
            }
            tg.cancel();
            std::future::pending().await
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(drops.get(), 4);
}

/// Rule 2: the reason is the first cause: a deadline after a requested cancel keeps `Requested`.
async fn rule2_reason_is_first_cause() {
    let scope = CancelScope::new().timeout(short());
    let tg = scope.group();
    let started = tokio::time::Instant::now();
    let out: ScopeResult<()> = scope
        .run(async {
            let tg2 = tg.clone();
            // Keeps the scope alive past the deadline.
            tg.spawn_shielded(async move {
                tg2.cancelled().await;
                tokio::time::sleep(short() * 3).await;
            });
            tg.cancel();
            std::future::pending().await
        })
        .await;
    assert!(started.elapsed() >= short() * 3);
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

/// Rule 2: a task cancels the group while the body is suspended at an await: no error leaks.
async fn rule2_cancel_while_body_awaits_is_ok() {
    let body_dropped = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<u32> = scope
        .run(async {
            let _g = body_dropped.guard();
            let (tx, rx) = oneshot::channel::<()>();
            let tg2 = tg.clone();
            tg.spawn(async move {
                tg2.cancel();
                drop(tx);
            });
            let _ = rx.await;
            std::future::pending::<()>().await;
            Ok(1)
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert_eq!(body_dropped.get(), 1);
}

/// Rule 3: a task error cancels the group (`Failed`), stops siblings, and is reported.
async fn rule3_task_error_cancels_group_with_failed() {
    let drops = Counter::new();
    let body_dropped = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let _g = body_dropped.guard();
            for _ in 0..3 {
                tg.spawn(hold_forever(drops.guard()));
            }
            let h = tg.spawn(async { Err::<(), _>(err("boom")) });
            assert_eq!(h.await, None, "a failed task's handle resolves to None");
            std::future::pending().await
        })
        .await;
    let e = out.unwrap_err();
    assert_eq!(msgs(&e), ["boom"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert_eq!(drops.get(), 3, "siblings were stopped and dropped");
    assert_eq!(body_dropped.get(), 1);
}

/// Rule 3: the body's own error is reported.
async fn rule3_body_error_is_kept() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            tg.spawn(hold_forever(drops.guard()));
            Err(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body"]);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert_eq!(drops.get(), 1);
}

/// Rule 3: every error is kept in the order it happened, those after the cancel included.
async fn rule3_every_error_in_order_including_after_cancel() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let (t1, t2, t3) = (tg.clone(), tg.clone(), tg.clone());
            let second = tg.spawn_shielded(async move {
                t1.cancelled().await;
                Err::<(), _>(err("second"))
            });
            tg.spawn_shielded(async move {
                t2.cancelled().await;
                second.await;
                Err::<(), _>(err("third"))
            });
            let (tx, rx) = oneshot::channel::<()>();
            tg.spawn(async move {
                let _ = rx.await;
                assert!(!t3.is_cancelled());
                Err::<(), _>(err("first"))
            });
            drop(tx);
            std::future::pending().await
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["first", "second", "third"]);
}

/// Rule 3: a body error followed by task errors (after the cancel) keeps all, body first.
async fn rule3_body_error_first_then_task_errors() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                Err::<(), _>(err("task after cancel"))
            });
            Err(err("body"))
        })
        .await;
    assert_eq!(msgs(&out.unwrap_err()), ["body", "task after cancel"]);
}

#[derive(Debug, PartialEq, Eq)]
struct MyError(u32);

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error {}", self.0)
    }
}

impl std::error::Error for MyError {}

/// Rule 3 with a custom error type: `?` inside tasks infers it.
async fn rule3_custom_error_type() {
    let scope = CancelScope::<MyError>::with_error();
    let tg = scope.group();
    let out = scope
        .run(async {
            let t = tg.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                let v: Result<u32, MyError> = Err(MyError(2));
                v?;
                Ok(())
            });
            Err::<(), _>(MyError(1))
        })
        .await;
    let e = out.unwrap_err();
    assert_eq!(e.len(), 2);
    assert_eq!(e.first(), &MyError(1));
    assert_eq!(e.into_errors(), vec![MyError(1), MyError(2)]);
}

/// Rule 3: `GroupError`'s accessors, `Display` and `Error::source`.
async fn rule3_group_error_api() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let out: ScopeResult<()> = scope
        .run(async {
            let t = tg.clone();
            tg.spawn_shielded(async move {
                t.cancelled().await;
                Err::<(), _>(err("beta"))
            });
            Err(err("alpha"))
        })
        .await;
    let e: GroupError<BoxError> = out.unwrap_err();
    assert_eq!(e.len(), 2);
    assert_eq!(e.first().to_string(), "alpha");
    assert_eq!(e.errors()[1].to_string(), "beta");
    let shown = e.to_string();
    assert!(shown.contains('2'), "Display shows the count: {shown}");
    assert!(shown.contains("alpha") && shown.contains("beta"), "{shown}");
    let source = std::error::Error::source(&e).expect("source is the first error");
    assert_eq!(source.to_string(), "alpha");
    // `?` into a BoxError works.
    let boxed: BoxError = Box::new(e);
    assert!(boxed.to_string().contains("alpha"));
}

/// Rule 4: a task panic cancels the group (`Failed`); the scope resumes the original payload
/// only after every other task was dropped.
async fn rule4_task_panic_resumed_after_all_tasks_stopped() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        for _ in 0..5 {
            tg.spawn(hold_forever(drops.guard()));
        }
        tg.spawn(async { boom(Payload(17)) });
        std::future::pending::<Result<(), BoxError>>().await
    }))
    .await;
    let payload = res.expect_err("the task's panic is resumed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(17)));
    assert_eq!(
        drops.get(),
        5,
        "all tasks were dropped before the panic resumed"
    );
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
    assert_eq!(tg.len(), 0);
}

/// Rule 4: a body panic is resumed with its payload after the tasks stopped.
async fn rule4_body_panic_resumed_with_payload() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        tg.spawn(hold_forever(drops.guard()));
        tokio::task::yield_now().await;
        if drops.get() == 0 {
            panic!("body panicked: {}", 5);
        }
        Ok::<(), BoxError>(())
    }))
    .await;
    let payload = res.expect_err("the body's panic is resumed");
    assert_eq!(panic_msg(&*payload), "body panicked: 5");
    assert_eq!(drops.get(), 1);
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Failed));
}

/// Rule 4: the first panic is resumed, later ones are dropped.
async fn rule4_first_panic_wins() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        let t = tg.clone();
        tg.spawn_shielded(async move {
            t.cancelled().await;
            boom(Payload(2));
        });
        tg.spawn(async { boom(Payload(1)) });
        std::future::pending::<Result<(), BoxError>>().await
    }))
    .await;
    let payload = res.expect_err("a panic is resumed");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(1)));
}

/// Rule 4: a panic is never turned into a value, errors collected or not.
async fn rule4_panic_beats_errors() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        let t = tg.clone();
        tg.spawn_shielded(async move {
            t.cancelled().await;
            boom("late panic")
        });
        Err::<(), _>(err("body error first"))
    }))
    .await;
    let payload = res.expect_err("the panic is resumed, not the errors returned");
    assert_eq!(panic_msg(&*payload), "late panic");
}

/// Rule 4 / sec. 2: a panic while a cancelled task is being dropped counts as a task panic.
async fn rule4_panic_while_dropping_cancelled_task() {
    let drops = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        let (started_tx, started) = oneshot::channel::<()>();
        tg.spawn(async move {
            let _p = PanicOnDrop("panic in drop");
            let _ = started_tx.send(());
            std::future::pending::<()>().await
        });
        tg.spawn(hold_forever(drops.guard()));
        started.await.unwrap();
        tg.cancel();
        Ok::<(), BoxError>(())
    }))
    .await;
    let payload = res.expect_err("the drop panic is resumed");
    assert_eq!(panic_msg(&*payload), "panic in drop");
    assert_eq!(drops.get(), 1);
    // The first cause stays.
    assert_eq!(tg.cancel_reason(), Some(CancelReason::Requested));
}

/// Rule 4: a panic while the cancelled body is dropped counts as a body panic.
async fn rule4_panic_while_dropping_body() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let res = catch(scope.run(async {
        let _p = PanicOnDrop("body drop panic");
        let t = tg.clone();
        tg.spawn(async move { t.cancel() });
        std::future::pending::<Result<(), BoxError>>().await
    }))
    .await;
    let payload = res.expect_err("the drop panic is resumed");
    assert_eq!(panic_msg(&*payload), "body drop panic");
}

/// Rule 4: the panic is resumed only once a shielded task that is still running has ended.
async fn rule4_panic_waits_for_shielded_task() {
    let done = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let d = done.clone();
    let res = catch(scope.run(async {
        let t = tg.clone();
        tg.spawn_shielded(async move {
            t.cancelled().await;
            tokio::time::sleep(short()).await;
            d.hit();
        });
        tg.spawn(async { boom("task panic") });
        std::future::pending::<Result<(), BoxError>>().await
    }))
    .await;
    assert_eq!(panic_msg(&*res.unwrap_err()), "task panic");
    assert_eq!(
        done.get(),
        1,
        "the shielded task finished before the panic resumed"
    );
}

/// Rule 5: the body's value is discarded when a cancel follows it.
async fn rule5_body_value_discarded_when_cancel_follows() {
    let body_done = Counter::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            // Signals when the body's future is dropped, i.e. after it returned its value.
            struct Signal(Option<oneshot::Sender<()>>);
            impl Drop for Signal {
                fn drop(&mut self) {
                    let _ = self.0.take().unwrap().send(());
                }
            }
            let (tx, rx) = oneshot::channel();
            let signal = Signal(Some(tx));
            let t = tg.clone();
            tg.spawn(async move {
                let _ = rx.await;
                t.cancel();
            });
            let _signal = signal;
            body_done.hit();
            Ok::<_, BoxError>(5)
        })
        .await;
    assert_eq!(body_done.get(), 1, "the body returned its value");
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}

both!(poll_panic_stays_first_when_the_drop_panics_too);

/// A future whose poll panics and whose destructor then panics too: the poll's panic is the
/// first and is the one resumed.
async fn poll_panic_stays_first_when_the_drop_panics_too() {
    /// Panics in its second poll; its field panics when the future is dropped afterwards (by
    /// then nothing is unwinding, so that second panic does happen).
    struct PanicsTwice {
        polled: bool,
        _bomb: PanicOnDrop,
    }
    impl std::future::Future for PanicsTwice {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.polled {
                boom("first: poll");
            }
            self.polled = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.spawn(PanicsTwice {
        polled: false,
        _bomb: PanicOnDrop("second: destructor"),
    });
    let out = catch(scope.run(async { Ok::<_, BoxError>(()) })).await;
    let payload = out.expect_err("the panic was swallowed");
    assert_eq!(panic_msg(&*payload), "first: poll");
}
