//! `supervise;` keeps a failed task's error without cancelling its siblings, in the macro and
//! the attribute.
use cancel_scope::{BoxError, ScopeResult, cancel_scope, cancel_scoped};

#[cancel_scoped(supervise, limit = 2)]
async fn keep_going() -> ScopeResult<u32> {
    spawn(async { Err::<(), BoxError>("one failed".into()) });
    spawn(async { Ok::<(), BoxError>(()) });
    7
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out: ScopeResult<u32> = cancel_scope! {
        supervise;
        timeout = std::time::Duration::from_secs(5);
        spawn async { Err::<(), BoxError>("first".into()) };
        spawn async { Err::<(), BoxError>("second".into()) };
        1
    };
    assert_eq!(out.unwrap_err().len(), 2);
    assert_eq!(keep_going().await.unwrap_err().len(), 1);
}
