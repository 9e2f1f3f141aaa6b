//! The join policies against their hand-written `JoinSet` equivalents (measured units, like
//! the rest of this crate):
//!
//! - `join_all`: `CancelScope::join_all` of `n` trivial futures (values in input order) vs
//!   `JoinSet::spawn` of each (with its index) + `join_next` into an ordered `Vec`;
//! - `race`: `CancelScope::race` of `n` contenders, of which the middle one succeeds at its
//!   first poll and the others park (slow connects), vs a `JoinSet` race: spawn all,
//!   `join_next` until the first `Ok`, `abort_all`, drain. Repeated `reps` times per unit.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use cancel_scope::{BoxError, CancelScope, Outcome};
use tokio::task::JoinSet;

type Contender = Pin<Box<dyn Future<Output = Result<usize, BoxError>> + Send>>;

/// Contender `i` of `n`: the middle one wins at once, the others never finish.
fn contender(i: usize, n: usize) -> Contender {
    if i == n / 2 {
        Box::pin(async move { Ok(i) })
    } else {
        Box::pin(std::future::pending())
    }
}

/// `join_all` of `n` trivial futures through `CancelScope::join_all`.
pub async fn ours_join_all(n: usize) -> Duration {
    let t = Instant::now();
    let out = CancelScope::new()
        .join_all((0..n).map(|i| async move { Ok::<_, BoxError>(i) }))
        .await;
    let Ok(Outcome::Completed(values)) = out else {
        panic!("join_all failed")
    };
    assert_eq!(values.len(), n);
    black_box(values);
    t.elapsed()
}

/// The same with a `JoinSet`: spawn each with its index, collect into an ordered `Vec`.
pub async fn joinset_join_all(n: usize) -> Duration {
    let t = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(async move { (i, Ok::<_, BoxError>(i)) });
    }
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(n);
    slots.resize_with(n, || None);
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined.expect("no panic") {
            (i, Ok(v)) => slots[i] = Some(v),
            (_, Err(e)) => {
                errors.push(e);
                set.abort_all();
            }
        }
    }
    assert!(errors.is_empty());
    let values: Vec<usize> = slots.into_iter().map(|v| v.expect("every value")).collect();
    assert_eq!(values.len(), n);
    black_box(values);
    t.elapsed()
}

/// `reps` races of `n` contenders through `CancelScope::race`.
pub async fn ours_race(n: usize, reps: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        let out = CancelScope::new()
            .race((0..n).map(|i| contender(i, n)))
            .await;
        assert_eq!(out.ok(), Some(Outcome::Completed(n / 2)));
    }
    t.elapsed()
}

/// `reps` hand-written races with a `JoinSet`: the first `Ok` wins, errors are kept until a
/// win, the rest is aborted and drained (so that nothing outlives the race).
pub async fn joinset_race(n: usize, reps: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        let mut set = JoinSet::new();
        for i in 0..n {
            set.spawn(contender(i, n));
        }
        let mut winner = None;
        let mut errors = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(v)) if winner.is_none() => {
                    winner = Some(v);
                    set.abort_all();
                }
                Ok(Err(e)) if winner.is_none() => errors.push(e),
                _ => {}
            }
        }
        assert_eq!(winner, Some(n / 2));
        black_box(errors);
    }
    t.elapsed()
}
