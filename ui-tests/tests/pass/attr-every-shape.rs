use std::time::Duration;

use cancel_scope::{cancel_scoped, BoxError, CancelReason, Outcome, ScopeResult, TaskGroup};

#[derive(Debug)]
struct MyError;

#[cancel_scoped]
async fn free(n: u32) -> ScopeResult<u32> {
    let h = spawn(async move { Ok::<_, BoxError>(n) });
    h.await.unwrap_or(0) + 1
}

struct Service;

impl Service {
    #[cancel_scoped(as tg, limit = 2, grace = Duration::ZERO)]
    async fn method(&self) -> cancel_scope::ScopeResult<(), MyError> {
        let _ = tg.len();
        spawn(async { Ok(()) });
        cancel;
    }
}

#[cancel_scoped(parent = [parent], timeout = Duration::from_secs(5), crate = ::cancel_scope)]
async fn generic<T: Send + 'static>(parent: &TaskGroup, value: T) -> ScopeResult<T> {
    value
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(free(1).await.unwrap(), Outcome::Completed(2));
    assert_eq!(Service.method().await.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    let scope = cancel_scope::CancelScope::new();
    let tg = scope.group();
    assert_eq!(generic(&tg, "v").await.unwrap(), Outcome::Completed("v"));
}
