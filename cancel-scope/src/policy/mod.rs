//! Join policies: what a scope does with its tasks' results beyond fail-fast.
//!
//! - [`supervise`](crate::CancelScope::supervise) (this file): a task's `Err` is kept but does
//!   not cancel the group.
//! - [`race`](crate::CancelScope::race) (`race.rs`): the first success wins and cancels the
//!   rest.
//! - [`join_all`](crate::CancelScope::join_all) (`join_all.rs`): every value, in input order.
//!
//! They are built on the public scope (`group()` + `run()`) and on the group's error policy
//! (`core/policy.rs`); a scope that uses none of them pays nothing for them.

mod join_all;
mod race;

pub use self::join_all::join_all;
pub use self::race::race;

use crate::CancelScope;
use crate::core::policy::ErrorPolicy;

impl<E: Send + 'static> CancelScope<E> {
    /// Makes the scope a **supervisor**: a task's `Err` is kept (in the order errors happen, as
    /// always) but does not cancel the group, so its siblings and the body keep running.
    ///
    /// - The body's own `Err` still cancels the group (reason
    ///   [`Failed`](crate::CancelReason::Failed)): the body is the supervisor.
    /// - A panic, of a task or of the body, still cancels the group and is resumed once every
    ///   task stopped: panics are bugs, not outcomes.
    /// - The scope returns `Err(GroupError)` with every error if any happened (the body's value
    ///   is then discarded, and dropped before the scope returns), else the usual outcome:
    ///   `Completed(v)` if the group was never cancelled, `Cancelled(reason)` if it was.
    /// - `timeout`, `deadline`, `parent`, `grace`, `limit`, `cancel` and shielding work as in
    ///   any scope; a task that fails after a cancel is kept too.
    ///
    /// A task's handle resolves to `None` when the task failed; [`TaskHandle::outcome`] says
    /// why.
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new().supervise();
    /// let tg = scope.group();
    /// let out = scope
    ///     .run(async move {
    ///         let fails = tg.spawn(async { Err::<(), BoxError>("page 2: 404".into()) });
    ///         let works = tg.spawn(async { Ok::<_, BoxError>("page 1") });
    ///         assert_eq!(fails.await, None);
    ///         assert_eq!(works.await, Some("page 1")); // not cancelled by its sibling
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().first().to_string(), "page 2: 404");
    /// # }
    /// ```
    ///
    /// # A scope that lives as long as a server
    ///
    /// A supervised scope keeps its tasks' errors **until it ends**: every error is reported in
    /// its `GroupError`, none is dropped. For a scope that runs as long as a server, that is
    /// memory that grows with every failed connection, and errors nobody sees until shutdown.
    /// So a connection handler should deal with its own error (log it, answer the client) and
    /// return `Ok`, keeping `Err` for what should reach the end of the scope:
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::{BoxError, CancelScope, TaskGroup};
    ///
    /// async fn handle(conn: u32) -> Result<(), BoxError> {
    ///     if conn % 2 == 0 { Err(format!("connection {conn}: bad request").into()) } else { Ok(()) }
    /// }
    ///
    /// async fn accept_loop(tg: TaskGroup) -> Result<(), BoxError> {
    ///     for conn in 0..4 {
    ///         // Not `tg.spawn(handle(conn))`: its errors would pile up until shutdown.
    ///         tg.spawn(async move {
    ///             if let Err(e) = handle(conn).await {
    ///                 eprintln!("{e}"); // logged here, where it happened
    ///             }
    ///         });
    ///     }
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let scope = CancelScope::new().supervise().timeout(Duration::from_secs(3600));
    /// let tg = scope.group();
    /// let out = scope.run(accept_loop(tg)).await;
    /// assert!(out.unwrap().is_completed()); // the failed connections were logged, not kept
    /// # }
    /// ```
    ///
    /// [`TaskHandle::outcome`]: crate::TaskHandle::outcome
    pub fn supervise(self) -> Self {
        self.group().core.set_policy(ErrorPolicy::Supervise);
        self
    }
}
