//! Issue 12, names: a named task's name is in its handle's `Debug` and recoverable from the
//! `GroupError` (`name(i)`, `named()`, `Display`); nested `GroupError`s display flat.

#[macro_use]
mod common;

use cancel_scope::{BoxError, CancelScope, GroupError, Locals};
use common::*;

both!(
    named_task_error_says_which_task_failed,
    names_of_every_member_kind,
    nested_group_errors_display_flat,
    names_in_debug,
    name_survives_a_limit_queue,
);

async fn named_task_error_says_which_task_failed() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let e = scope
        .run(async {
            tg.named("parse port").spawn(async {
                let port: u16 = "80x".parse()?;
                Ok::<_, BoxError>(port)
            });
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "1 error in task group: [parse port] invalid digit found in string"
    );
    assert_eq!(e.name(0), Some("parse port"));
    assert_eq!(e.name(1), None);
    // `errors()` is unchanged.
    assert_eq!(msgs(&e), ["invalid digit found in string"]);
}

/// Tasks, shielded tasks, blocking closures and local tasks carry their names; unnamed
/// members and the body have none; names line up with `errors()` in order.
async fn names_of_every_member_kind() {
    let locals = Locals::new();
    let scope = CancelScope::new();
    let tg = scope.group();
    let watcher = tg.clone();
    let e = scope
        .run_with_locals(&locals, async {
            tg.named("first")
                .spawn(async { Err::<(), BoxError>(err("a")) });
            watcher.cancelled().await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(e.name(0), Some("first"));

    let scope = CancelScope::new();
    let tg = scope.group();
    let w = tg.clone();
    let locals = Locals::new();
    let e = scope
        .run_with_locals(&locals, async {
            tg.spawn(async { Err::<(), BoxError>(err("unnamed")) });
            w.cancelled().await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(e.named().map(|(n, _)| n).collect::<Vec<_>>(), [None]);
    assert_eq!(msgs(&e), ["unnamed"]);

    // Blocking and local members, in the order they failed (the local one during the grace
    // period of the cancel the blocking one caused).
    let scope = CancelScope::new().grace(std::time::Duration::from_secs(3600));
    let tg = scope.group();
    let w = tg.clone();
    let locals = Locals::new();
    let e = scope
        .run_with_locals(&locals, async {
            locals.spawn_as("render", async move {
                w.cancelled().await;
                Err::<(), BoxError>(err("local"))
            });
            tg.named("hash")
                .spawn_blocking(|| Err::<(), BoxError>(err("blocking")))
                .await;
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
        .unwrap_err();
    let named: Vec<_> = e.named().map(|(n, e)| (n, e.to_string())).collect();
    assert_eq!(
        named,
        [
            (Some("hash"), "blocking".to_string()),
            (Some("render"), "local".to_string())
        ]
    );
}

/// A scope nested in a named task whose error goes up with `?`: the outer error displays the
/// path of names and the leaf message, without repeating the header.
async fn nested_group_errors_display_flat() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let e = scope
        .run(async {
            tg.named("outer").spawn(async {
                let inner = CancelScope::new();
                let itg = inner.group();
                inner
                    .run(async move {
                        itg.named("inner")
                            .spawn(async { Err::<(), BoxError>(err("invalid digit")) });
                        Ok(())
                    })
                    .await?;
                Ok::<_, BoxError>(())
            });
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "1 error in task group: [outer > inner] invalid digit"
    );
    // The nested error is still there, as a value.
    let nested = e.first().downcast_ref::<GroupError<BoxError>>().unwrap();
    assert_eq!(nested.name(0), Some("inner"));

    // Two errors, one nested unnamed.
    let scope = CancelScope::new();
    let tg = scope.group();
    let w = tg.clone();
    let e = scope
        .run(async {
            tg.spawn(async {
                CancelScope::new()
                    .run(async { Err::<(), BoxError>(err("deep")) })
                    .await?;
                Ok::<_, BoxError>(())
            });
            w.cancelled().await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "1 error in task group: deep");
}

async fn names_in_debug() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let h = tg.named("heartbeat").spawn(async {});
    assert!(format!("{h:?}").contains("heartbeat"), "{h:?}");
    assert_eq!(h.name(), Some("heartbeat"));
    assert!(format!("{:?}", tg.named("x")).contains("\"x\""));
    scope.run(async { Ok(()) }).await.unwrap();
    let e = CancelScope::new()
        .run(async {
            let s = CancelScope::new();
            let t = s.group();
            t.named("n").spawn(async { Err::<(), BoxError>(err("e")) });
            s.run(async { Ok(()) }).await?;
            Ok(())
        })
        .await
        .unwrap_err();
    let nested = e.first().downcast_ref::<GroupError<BoxError>>().unwrap();
    assert!(format!("{nested:?}").contains("\"n\""), "{nested:?}");
}

/// A named task queued under `limit` keeps its name.
async fn name_survives_a_limit_queue() {
    let scope = CancelScope::new().limit(1);
    let tg = scope.group();
    tg.spawn(tokio::task::yield_now());
    tg.named("queued")
        .spawn(async { Err::<(), BoxError>(err("late")) });
    let e = scope.run(async { Ok(()) }).await.unwrap_err();
    assert_eq!(e.name(0), Some("queued"));
}
