//! SPEC section 10, `TaskGroup::token()` (feature `tokio-util`): a `CancellationToken`
//! cancelled when the group is cancelled, not when it finishes uncancelled.
//! Run with `cargo test -p cancel-scope-tests --features tokio-util --test members_token`.

#[macro_use]
mod common;

use cancel_scope::{BoxError, CancelReason, CancelScope, Outcome};
use common::*;
use tokio_util::sync::CancellationToken;

both!(
    token_is_cancelled_with_the_group,
    token_taken_after_the_cancel_is_cancelled,
    token_not_cancelled_when_the_group_finishes,
    token_follows_a_linked_parent_and_a_deadline,
    cancelling_the_token_does_not_cancel_the_group,
);

/// Library code that takes a token stops when the group is cancelled.
async fn token_is_cancelled_with_the_group() {
    async fn library(token: CancellationToken) -> Result<(), BoxError> {
        token.cancelled().await;
        Ok(())
    }
    let scope = CancelScope::new();
    let tg = scope.group();
    let token = tg.token();
    let stopped = tg.spawn_shielded(library(tg.token()));
    assert!(!token.is_cancelled());
    let out = scope
        .run(async {
            tokio::time::sleep(short()).await;
            tg.cancel();
            Ok(())
        })
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
    assert!(token.is_cancelled());
    assert_eq!(stopped.await, Some(()));
}

/// A token taken after the cancel is cancelled at once.
async fn token_taken_after_the_cancel_is_cancelled() {
    let scope = CancelScope::new();
    let tg = scope.group();
    tg.cancel();
    assert!(tg.token().is_cancelled());
    drop(scope);
}

/// A group that finishes uncancelled leaves its token uncancelled (like `cancelled()`).
async fn token_not_cancelled_when_the_group_finishes() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let token = tg.token();
    scope.run(async { Ok(()) }).await.unwrap();
    assert!(!token.is_cancelled());
    assert!(!tg.token().is_cancelled());
    tg.cancel();
    assert!(!token.is_cancelled());
}

/// Cancels that reach the group along links or by its deadline cancel the token too.
async fn token_follows_a_linked_parent_and_a_deadline() {
    let parent = CancelScope::new();
    let parent_tg = parent.group();
    let child = CancelScope::new().parent(&parent_tg);
    let token = child.group().token();
    parent_tg.cancel();
    assert!(token.is_cancelled());
    drop((parent, child));

    let scope = CancelScope::new().timeout(short());
    let token = scope.group().token();
    let out = scope
        .run(std::future::pending::<Result<(), BoxError>>())
        .await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Deadline));
    assert!(token.is_cancelled());
}

/// The token is the group's listener, not its remote control.
async fn cancelling_the_token_does_not_cancel_the_group() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let first = tg.token();
    first.cancel();
    assert!(!tg.is_cancelled());
    assert!(
        !tg.token().is_cancelled(),
        "one holder's cancel reached another's token"
    );
    assert_eq!(
        scope.run(async { Ok(1) }).await.unwrap(),
        Outcome::Completed(1)
    );
}
