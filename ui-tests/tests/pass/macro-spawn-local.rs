//! `spawn_local` runs a local task inside the scope's own `run` future: it may borrow what was
//! declared before the scope and mutate it through a `RefCell`; `cancel_on` stops the scope on
//! a signal.
use std::cell::RefCell;

use cancel_scope::{BoxError, CancelReason, Outcome, ScopeResult, cancel_scope, cancel_scoped};

#[cancel_scoped(cancel_on = [std::future::pending::<()>(), async {}])]
async fn until_signal() -> ScopeResult<()> {
    spawn(std::future::pending::<()>());
    std::future::pending::<()>().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let seen = RefCell::new(Vec::new());
    let words = vec!["a", "bb", "ccc"];
    let out: ScopeResult<usize> = cancel_scope! {
        for w in &words {
            spawn_local async {
                tokio::task::yield_now().await;
                seen.borrow_mut().push(w.len());
                Ok::<(), BoxError>(())
            };
        }
        let h = spawn_local async { Ok::<usize, BoxError>(words.len()) };
        h.await.unwrap_or(0)
    };
    assert_eq!(out.unwrap(), Outcome::Completed(3));
    let mut seen = seen.into_inner();
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2, 3]);

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let out: ScopeResult<()> = cancel_scope! {
        cancel_on = rx;
        spawn std::future::pending::<()>();
        drop(tx);
        std::future::pending::<()>().await;
    };
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Signal));
    assert_eq!(
        until_signal().await.unwrap(),
        Outcome::Cancelled(CancelReason::Signal)
    );
}
