//! A tour of cancel-scope: the Python library's two README examples in Rust, an error group
//! and a deadline, printing what happens and how long it took.
//!
//! Run with `cargo run -p cancel-scope --example tour`.

use std::time::{Duration, Instant};

use cancel_scope::{BoxError, CancelScope, Outcome, cancel_group};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    cancel_sleeping_tasks().await?;
    linked_inner_cancels_parent().await?;
    error_group().await;
    deadline().await?;
    Ok(())
}

/// Python: `async with cancel_scope(asyncio.TaskGroup()) as tg: ...; cancel_group(tg)`.
async fn cancel_sleeping_tasks() -> Result<(), BoxError> {
    println!("1. cancel a group of sleeping tasks");
    let started = Instant::now();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for secs in 1..=4 {
                tg.spawn(tokio::time::sleep(Duration::from_secs(secs)));
            }
            println!("   spawned {} tasks sleeping 1-4 s", tg.len());
            cancel_group(&tg); // cancels every task; the scope exits without an error
            Ok(())
        })
        .await?;
    println!("   outcome: {out:?} after {:.1?}", started.elapsed());
    Ok(())
}

/// Python: an inner scope linked to `outer_tg` cancels its parent when it is cancelled.
async fn linked_inner_cancels_parent() -> Result<(), BoxError> {
    println!("2. a linked inner scope cancels its parent");
    let started = Instant::now();
    let outer = CancelScope::new();
    let outer_tg = outer.group();
    let out = outer
        .run(async {
            outer_tg.spawn(std::future::pending::<()>()); // `forever.wait()`
            let parent = outer_tg.clone();
            outer_tg.spawn(async move {
                let inner = CancelScope::new().parent(&parent);
                let inner_tg = inner.group();
                let inner_out = inner
                    .run(async move {
                        cancel_group(&inner_tg);
                        Ok(())
                    })
                    .await;
                println!(
                    "   inner outcome: {:?}",
                    inner_out.map_err(|e| e.to_string())
                );
            });
            Ok(())
        })
        .await?;
    println!("   outer outcome: {out:?} after {:.1?}", started.elapsed());
    Ok(())
}

/// Every failure is kept: the group is cancelled at the first and the scope returns them all.
async fn error_group() {
    println!("3. an error group");
    let started = Instant::now();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            tg.spawn(async { Err::<(), BoxError>("the database is down".into()) });
            // A shielded task is not aborted by the cancel: its late error is kept too.
            let watcher = tg.clone();
            tg.spawn_shielded(async move {
                watcher.cancelled().await;
                let port: u16 = "http".parse()?; // `?` converts into the group's error type
                Ok(port)
            });
            tg.spawn(tokio::time::sleep(Duration::from_secs(60))); // cancelled by the failures
            Ok(())
        })
        .await;
    match out {
        Ok(outcome) => println!("   unexpected: {outcome:?}"),
        Err(errors) => println!("   {errors}\n   after {:.1?}", started.elapsed()),
    }
}

/// `timeout` is trio's `move_on_after`: the scope is cancelled, not failed.
async fn deadline() -> Result<(), BoxError> {
    println!("4. a deadline");
    let started = Instant::now();
    let out = CancelScope::new()
        .timeout(Duration::from_millis(200))
        .run(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok("finished")
        })
        .await?;
    match out {
        Outcome::Completed(v) => println!("   completed: {v}"),
        Outcome::Cancelled(reason) => {
            println!("   cancelled ({reason}) after {:.1?}", started.elapsed())
        }
    }
    Ok(())
}
