use std::time::Duration;

use cancel_scope::{cancel_scope, BoxError, CancelReason, Outcome, ScopeResult};

mod reexport {
    pub use cancel_scope as rt;
}

#[derive(Debug)]
struct MyError;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out: ScopeResult<u32> = cancel_scope! {
        as outer;
        let other = cancel_scope::CancelScope::new();
        let other_tg = other.group();
        let inner: ScopeResult<u32, MyError> = cancel_scope! {
            as tg;
            parent = outer, other_tg;
            timeout = Duration::from_secs(5);
            grace = Duration::from_millis(10);
            limit = 2;
            error = MyError;
            crate = ::cancel_scope;
            let _ = tg.len();
            7
        };
        assert_eq!(inner.unwrap().completed(), Some(7));
        drop(other);
        let at = tokio::time::Instant::now() + Duration::from_secs(5);
        let late: ScopeResult<()> = cancel_scope! {
            parent = [outer];
            deadline = at;
            crate = crate::reexport::rt;
        };
        assert!(late.is_ok());
        1
    };
    assert_eq!(out.unwrap(), Outcome::Completed(1));
    let cancelled = cancel_scope! {
        spawn async { Ok::<_, BoxError>(()) };
        cancel;
    };
    assert_eq!(cancelled.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}
