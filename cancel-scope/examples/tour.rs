//! A tour of cancel-scope: the Python library's two README examples in Rust (with the
//! `cancel_scope!` macro first, then the plain API), an error group and a deadline, printing what
//! happens and how long it took.
//!
//! Run with `cargo run -p cancel-scope --example tour`.

use std::time::{Duration, Instant};

use cancel_scope::{
    BoxError, CancelScope, Outcome, ScopeResult, cancel_group, cancel_scope, cancel_scoped,
};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    cancel_sleeping_tasks().await?;
    linked_inner_cancels_parent().await?;
    the_same_without_the_macro().await?;
    error_group().await;
    deadline().await?;
    let sum = sum_of_squares(vec![1, 2, 3, 4]).await?;
    println!("6. #[cancel_scoped] on an async fn: sum of squares = {sum:?}");
    Ok(())
}

/// Python: `async with cancel_scope(asyncio.TaskGroup()) as tg: ...; cancel_group(tg)`.
async fn cancel_sleeping_tasks() -> Result<(), BoxError> {
    println!("1. cancel a group of sleeping tasks");
    let started = Instant::now();
    let out = cancel_scope! {
        as tg;
        for secs in 1..=4 {
            spawn tokio::time::sleep(Duration::from_secs(secs));
        }
        println!("   spawned {} tasks sleeping 1-4 s", tg.len());
        cancel; // cancels every task; the scope exits without an error
    }?;
    println!("   outcome: {out:?} after {:.1?}", started.elapsed());
    Ok(())
}

/// Python: an inner scope linked to `outer_tg` cancels its parent when it is cancelled.
async fn linked_inner_cancels_parent() -> Result<(), BoxError> {
    println!("2. a linked inner scope cancels its parent");
    let started = Instant::now();
    let out = cancel_scope! {
        as outer_tg;
        spawn std::future::pending::<()>(); // `forever.wait()`
        let parent = outer_tg.clone();
        spawn async move {
            let inner = cancel_scope! {
                parent = parent;
                cancel;
            };
            println!("   inner outcome: {:?}", inner.map_err(|e| e.to_string()));
        };
    }?;
    println!("   outer outcome: {out:?} after {:.1?}", started.elapsed());
    Ok(())
}

/// The first example again, written against the runtime API that the macro expands to.
async fn the_same_without_the_macro() -> Result<(), BoxError> {
    println!("3. the same without the macro");
    let started = Instant::now();
    let scope = CancelScope::new();
    let tg = scope.group();
    let out = scope
        .run(async {
            for secs in 1..=4 {
                tg.spawn(tokio::time::sleep(Duration::from_secs(secs)));
            }
            cancel_group(&tg);
            Ok(())
        })
        .await?;
    println!("   outcome: {out:?} after {:.1?}", started.elapsed());
    Ok(())
}

/// Every failure is kept: the group is cancelled at the first and the scope returns them all.
async fn error_group() {
    println!("4. an error group");
    let started = Instant::now();
    let out = cancel_scope! {
        as tg;
        spawn async { Err::<(), BoxError>("the database is down".into()) };
        // A shielded task is not aborted by the cancel: its late error is kept too.
        let watcher = tg.clone();
        tg.spawn_shielded(async move {
            watcher.cancelled().await;
            let port: u16 = "http".parse()?; // `?` converts into the group's error type
            Ok(port)
        });
        spawn tokio::time::sleep(Duration::from_secs(60)); // cancelled by the failure
    };
    match out {
        Ok(outcome) => println!("   unexpected: {outcome:?}"),
        Err(errors) => println!("   {errors}\n   after {:.1?}", started.elapsed()),
    }
}

/// `timeout` is trio's `move_on_after`: the scope is cancelled, not failed.
async fn deadline() -> Result<(), BoxError> {
    println!("5. a deadline");
    let started = Instant::now();
    let out = cancel_scope! {
        timeout = Duration::from_millis(200);
        tokio::time::sleep(Duration::from_secs(10)).await;
        "finished"
    }?;
    match out {
        Outcome::Completed(v) => println!("   completed: {v}"),
        Outcome::Cancelled(reason) => {
            println!("   cancelled ({reason}) after {:.1?}", started.elapsed());
        }
    }
    Ok(())
}

/// `#[cancel_scoped]` makes a function's body a scope body; the signature stays as written.
/// `limit = 2`: at most two squares are computed at once.
#[cancel_scoped(limit = 2)]
async fn sum_of_squares(numbers: Vec<u64>) -> ScopeResult<u64> {
    let mut handles = Vec::new();
    for n in numbers {
        let h = spawn(async move { Ok::<_, BoxError>(n * n) });
        handles.push(h);
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap_or(0);
    }
    sum
}
