//! Structured, cancellable task groups for tokio.
//!
//! A **scope** owns a **task group**. The scope's body runs in the caller's own task (it may
//! borrow locals); tasks spawned into the group run in parallel on the runtime. Cancel the group
//! with [`cancel_group`] (or [`TaskGroup::cancel`]) and every task stops and the scope ends
//! *without an error*. Nothing outlives its scope, no error is lost, cancellation never leaks out
//! as an error, and panics are never swallowed.
//!
//! ```
//! use std::time::Duration;
//! use cancel_scope::{cancel_group, CancelReason, CancelScope, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let scope = CancelScope::new();
//! let tg = scope.group();
//! let out = scope
//!     .run(async move {
//!         for secs in 1..=4 {
//!             tg.spawn(tokio::time::sleep(Duration::from_secs(secs)));
//!         }
//!         cancel_group(&tg); // cancels every task; the scope exits without an error
//!         Ok(())
//!     })
//!     .await;
//! assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
//! # }
//! ```
//!
//! # The macro DSL
//!
//! [`cancel_scope!`] writes the same thing as a block: options first, then the body, where
//! `spawn EXPR;`, `let h = spawn EXPR;` and `cancel;` are forms of the DSL. It awaits itself and
//! expands to plain calls of this crate's API. [`cancel_scoped`] does the same for an `async fn`'s
//! body.
//!
//! ```
//! use std::time::Duration;
//! use cancel_scope::{cancel_scope, BoxError, CancelReason, Outcome, ScopeResult};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let out: ScopeResult<u32> = cancel_scope! {
//!     timeout = Duration::from_secs(5);
//!     let a = spawn async { Ok::<_, BoxError>(20) };
//!     let b = spawn async { Ok::<_, BoxError>(22) };
//!     a.await.unwrap_or(0) + b.await.unwrap_or(0)
//! };
//! assert_eq!(out.unwrap(), Outcome::Completed(42));
//!
//! // `cancel;` stops every task; the scope ends without an error.
//! let out = cancel_scope! {
//!     for secs in 1..=4 {
//!         spawn tokio::time::sleep(Duration::from_secs(secs));
//!     }
//!     cancel;
//! };
//! assert_eq!(out.unwrap(), Outcome::Cancelled(CancelReason::Requested));
//! # }
//! ```
//!
//! # Outcome rules
//!
//! An awaited scope returns a [`ScopeResult<T, E>`](ScopeResult):
//!
//! 1. Never cancelled, the body returned `Ok(v)` and every task succeeded:
//!    `Ok(Outcome::Completed(v))`. The scope waits for running tasks after the body returns.
//! 2. Cancelled (for any reason but a failure) and nothing failed:
//!    `Ok(Outcome::Cancelled(reason))`, with the first cause.
//! 3. A task or the body returned `Err`: the group is cancelled (reason
//!    [`Failed`](CancelReason::Failed)) and the scope returns `Err(GroupError)` with **every**
//!    error, in the order they happened, including those after a cancel.
//!    (A [`supervise`](CancelScope::supervise)d scope keeps a task's `Err` without cancelling;
//!    a [`race`](CancelScope::race) that was won drops its losers' errors: see "Join policies".)
//! 4. A task or the body panicked: the group is cancelled (`Failed`), the scope waits until every
//!    task stopped, then resumes the **first** panic with its original payload.
//! 5. `Completed(v)` means the group was never cancelled: a cancel after the body's value
//!    discards it.
//!
//! # Cancellation
//!
//! [`TaskGroup::cancel`] marks the group cancelled and requests the abort of every task before it
//! returns. A scope running inside a task or body of another group is cancelled with it (its
//! future is dropped). A scope **linked** to parents with [`CancelScope::parent`] is cancelled
//! (reason [`Parent`](CancelReason::Parent)) when any parent is, and cancels its parents (reason
//! [`Child`](CancelReason::Child)) when it is cancelled by request or by a linked child: chains
//! unwind all the way up. [`CancelScope::timeout`] / [`CancelScope::deadline`] cancel with reason
//! [`Deadline`](CancelReason::Deadline) (trio's `move_on_after`).
//!
//! # What abort can and cannot do
//!
//! These are tokio's rules, inherited. An abort is a request: a task stops the next time it
//! returns `Pending`; a poll already running on another worker finishes, and if it completes the
//! task, its result counts. A task that never yields never stops. A panic while a cancelled task
//! is being dropped counts as a task panic. A task stopped by the runtime's own shutdown counts
//! like [`TaskHandle::abort`].
//!
//! # Nothing outlives its scope
//!
//! An awaited scope returns only after the body finished and every task's future was dropped,
//! including the tasks of nested scopes that were dropped unfinished: a dropped scope cancels its
//! group (reason [`Dropped`](CancelReason::Dropped)), requests the abort of every task (shielded
//! ones too) without blocking, and hands the tasks still alive to the scope it ran in (found when
//! its `run` was first polled; for a scope dropped before that, the scope it was created in),
//! which waits for them. A scope "runs in" another while that scope's body, one of its tasks or
//! local tasks, or a value it discards is polled *or dropped*: a scope created by a destructor
//! that a cancel runs is handed to the cancelled scope, which waits for its tasks too. A panic
//! in such a task (say, while it is dropped) is resumed by that
//! enclosing scope; errors of a scope dropped unfinished are dropped with it. A scope with no
//! enclosing scope (created and run outside any scope) aborts its tasks when dropped, and nobody
//! waits for them.
//!
//! # Which runtime
//!
//! A group captures the current tokio [`Handle`](tokio::runtime::Handle) at
//! [`CancelScope::new`], [`CancelScope::group`] or the first poll of [`CancelScope::run`],
//! whichever first finds one, and spawns there from any thread. Before one is captured, the
//! runtime current at the spawn is used; with neither, [`TaskGroup::spawn`] panics and
//! [`TaskGroup::try_spawn`] returns a [`SpawnError`]. Only `timeout`, `deadline` and `grace` need
//! tokio's time driver.
//!
//! # Beyond cancellation
//!
//! - [`CancelScope::grace`]: on cancel, tasks see [`TaskGroup::cancelled`] resolve and get a
//!   grace period for async clean-up before they are aborted.
//! - [`TaskGroup::spawn_shielded`]: a task that cancellation does not abort.
//! - [`CancelScope::limit`]: at most n tasks run at once; the rest queue in spawn order.
//! - Bounded memory: a finished task releases its memory at once, so a long-lived scope holds
//!   memory only for the tasks alive now.
//! - Cargo feature `tracing`: each scope and each task in a span.
//! - Join policies beyond fail-fast: [`CancelScope::supervise`], [`CancelScope::race`],
//!   [`CancelScope::join_all`], [`TaskSet`]; see "Join policies" and "Recipes" below.
//!
//! # Every kind of work, and the signals a service already has
//!
//! - [`TaskGroup::spawn_blocking`]: a closure on tokio's blocking pool as a member of the group
//!   (counted, limited, handed over, its error and panic count); a cancel cannot stop it once it
//!   runs, so the scope waits for it.
//! - [`Locals`] and [`CancelScope::run_with_locals`]: local tasks, polled inside the scope's own
//!   `run` future, that may borrow what outlives the scope and be `!Send`
//!   ([`Locals::unsend`]); every rule of a task applies to them.
//! - [`CancelScope::cancel_on`]: cancel the group (reason [`Signal`](CancelReason::Signal))
//!   when a future resolves: `tokio::signal::ctrl_c()`, `token.cancelled_owned()`, a oneshot.
//! - [`TaskGroup::deadline`]: the effective deadline (own, enclosing and linked scopes), to pass
//!   on as an RPC timeout; `TaskGroup::token()` (cargo feature `tokio-util`): a
//!   `CancellationToken` cancelled with the group, for library code that takes one.
//! - [`TaskGroup::named`]: task names, in spans, handles and [`GroupError`]s
//!   (`1 error in task group: [parse port] invalid digit found in string`).
//!
//! # Recipe: graceful shutdown
//!
//! A server whose connections are tasks of one scope, stopped by Ctrl-C (or a token from
//! `main`, or a oneshot), giving open connections a grace period to finish the exchange in
//! progress, and aborting whatever still runs after it. No connection outlives the scope; the
//! shutdown is `Ok(Outcome::Cancelled(CancelReason::Signal))`, not an error.
//!
//! ```no_run
//! use std::time::Duration;
//! use cancel_scope::{CancelReason, CancelScope, Outcome, ScopeResult, TaskGroup};
//! use tokio::io::AsyncWriteExt;
//! use tokio::net::{TcpListener, TcpStream};
//!
//! async fn serve(mut socket: TcpStream, tg: TaskGroup<std::io::Error>) -> std::io::Result<()> {
//!     tokio::select! {
//!         // ... the connection's work; cancel-safe steps ...
//!         () = std::future::pending::<()>() => {}
//!         // The shutdown started: finish up politely, within the grace period.
//!         () = tg.cancelled() => socket.write_all(b"BYE\n").await?,
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8080").await?;
//! let scope = CancelScope::<std::io::Error>::with_error()
//!     .cancel_on(tokio::signal::ctrl_c()) // any future: a token's `cancelled_owned()`, a oneshot
//!     .grace(Duration::from_secs(10)); // open connections get 10 s after the signal
//! let tg = scope.group();
//! let out: ScopeResult<(), std::io::Error> = scope
//!     .run(async {
//!         loop {
//!             // The accept loop (the body) is dropped at once on the signal.
//!             let (socket, _) = listener.accept().await?;
//!             tg.spawn(serve(socket, tg.clone()));
//!         }
//!     })
//!     .await;
//! match out {
//!     Ok(Outcome::Cancelled(CancelReason::Signal)) => println!("shut down cleanly"),
//!     Ok(other) => println!("ended: {other:?}"),
//!     Err(errors) => eprintln!("{errors}"), // every connection error, named if named
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A complete version with load clients and counts is `examples/examples/echo_server.rs`
//! (`cargo run -p cancel-scope-examples --example echo_server -- --for 2 --load 8`).
//!
//! # How it is built
//!
//! A thin public facade over one shared state per group, the `Core`, found in `src/core/`,
//! one concept per file:
//!
//! - `core/mod.rs`: the state behind the group's one lock, and the hot path: a spawn reserves a
//!   registry entry and hands the wrapped future to tokio; the task removes its entry once its
//!   future was dropped; the scope's `run` asks whether every task ended. Spawn and completion
//!   are O(1); `is_cancelled` is one atomic load; there is no per-task channel.
//! - `core/cancel.rs`: marking a group cancelled and the walk that propagates a cancel along
//!   links, with its numbered invariants: one lock at a time, no user code under a lock, no
//!   process-wide lock, ancestors marked before descendants, `cancel()` returning only once every
//!   reachable group is marked.
//! - `core/registry.rs`: the live tasks by key, in fixed chunks that never move (sized so that a
//!   burst of tasks does not make the allocator trim and fault back the heap; see BENCHMARKS.md).
//! - `core/links.rs` (`parent()` links), `core/handover.rs` (the running scope of a thread,
//!   and dropped scopes handing their live tasks to the scope they ran in), `core/limit.rs` (the
//!   FIFO queue of `limit(n)`), `core/grace.rs` (grace decided at the cancel, shielding),
//!   `core/failures.rs` (errors and the first panic), `core/policy.rs` (what a task's `Err`
//!   does: fail-fast, supervise, race; a race's win), `core/runtime.rs` (which runtime).
//! - `core/members.rs`: the group side of blocking and local members (removal without an abort
//!   handle), the scope's own deadline and enclosing scope, the group's token.
//! - `policy/`: `supervise`, `race` and `join_all`, built on the public scope and the group's
//!   error policy; `task_set.rs` and `task_end.rs`: results as they finish.
//! - `member/`: `blocking.rs` (`spawn_blocking`: the registry entry moves into the closure, so
//!   no abort of a wrapper can detach it), `local.rs` / `local_driver.rs` (`Locals`, and how
//!   `run` polls, cancels and drops local tasks), `names.rs` (task names), `group_info.rs`
//!   (`deadline()`, `token()`); `signal.rs`: `cancel_on`.
//! - `task.rs`: the wrapper future tokio runs for each task; `handle.rs`: the [`TaskHandle`];
//!   `delivery.rs`: the hand-off of a task's value to its handle;
//!   `run.rs`: the scope's `run` state machine; `outcome.rs`: the outcome rules;
//!   `scope.rs` / `group.rs`: the builder and the handle; `trace.rs`: the `tracing` spans.
//!
//! - `sync/`: the locks, atomics, `Notify` and `AbortHandle` the core is built on: `std`'s and
//!   tokio's, re-exported as they are; loom's and stand-ins built on them when the crate's lib
//!   tests are built with `RUSTFLAGS="--cfg loom"`, for the loom model of the core protocol in
//!   `loom_tests/` (each race of spawn, completion, links, hand-over, limit, grace and race
//!   under every interleaving within a preemption bound; see `RELIABILITY.md`).
//!
//! Every walk (along links, hand-overs, panic forwarding) is iterative: chains 20,000 deep
//! use no stack. Registries (tasks, linked children, the limit's queue) are released once
//! empty, so a burst leaves nothing behind.
#![doc = include_str!("policy/RECIPES.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod core;
mod delivery;
mod error;
mod group;
mod handle;
pub mod local;
#[cfg(all(test, loom))]
mod loom_tests;
mod member;
mod outcome;
mod policy;
mod run;
mod scope;
mod signal;
mod sync;
mod task;
mod task_end;
mod task_set;
mod trace;

#[path = "private.rs"]
pub mod __private;

pub use crate::error::{BoxError, GroupError, SpawnError};
pub use crate::group::{TaskGroup, cancel_group};
pub use crate::handle::TaskHandle;
pub use crate::local::{LocalHandle, Locals};
pub use crate::member::names::TaskBuilder;
pub use crate::outcome::{CancelReason, Outcome, ScopeResult};
pub use crate::policy::{join_all, race};
pub use crate::scope::CancelScope;
pub use crate::task::TaskOutput;
pub use crate::task_end::TaskEnd;
pub use crate::task_set::TaskSet;
pub use cancel_scope_macros::{cancel_scope, cancel_scoped};
