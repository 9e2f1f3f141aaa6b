//! The canonical server shape: an accept loop in `select!`, a task per connection, a grace
//! period for their clean-up, `cancel;` from the shutdown arm. No warnings.
#![deny(warnings)]

use std::time::Duration;

use cancel_scope::{cancel_scope, CancelReason, Outcome, ScopeResult};
use tokio::sync::{mpsc, oneshot};

async fn handle(conn: u32) {
    let _ = conn;
}

async fn serve(mut listener: mpsc::Receiver<u32>, mut shutdown: oneshot::Receiver<()>) -> ScopeResult<()> {
    cancel_scope! {
        grace = Duration::from_secs(5);
        loop {
            tokio::select! {
                Some(conn) = listener.recv() => spawn handle(conn),
                _ = &mut shutdown => {
                    cancel;
                }
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (conn_tx, listener) = mpsc::channel(4);
    let (shutdown_tx, shutdown) = oneshot::channel();
    conn_tx.send(1).await.unwrap();
    shutdown_tx.send(()).unwrap();
    let out = serve(listener, shutdown).await;
    assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
}
