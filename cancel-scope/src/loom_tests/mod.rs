//! The loom model of the core protocol (`RUSTFLAGS="--cfg loom"`, lib tests only): each test
//! runs a few loom threads against one or more real [`Core`](crate::core::Core)s, built on
//! loom's locks and atomics (see `crate::sync`), and loom runs it under every interleaving
//! (bounded by `LOOM_MAX_PREEMPTIONS`, default 2), asserting the SPEC promise it models.
//!
//! tokio is not run: the scope's `run` is [`harness::finish`] (it asks `poll_progress` and
//! parks until woken), a task is a loom thread ([`task`]) that goes through the wrapper's steps
//! (wait for its slot, first poll unless aborted, its future dropped, then `task_ended`), and
//! `AbortHandle`/`Notify` are the stand-ins of `crate::sync::model`.
//!
//! One concept per file:
//!
//! | file | the race |
//! |---|---|
//! | [`spawn`] | a cancel against a spawn's reserve and registration |
//! | [`completion`] | a cancel against a task's completion (or failure) and the scope's finish |
//! | [`links`] | linked cancels from both ends of a 3-group chain, and of a DAG |
//! | [`handover`] | a scope dropped while a nested scope hands its task over to it |
//! | [`limit`] | `limit(1)` admission against a cancel and the running task's completion |
//! | [`grace`] | the end of a grace period against a task's registration and completion |
//! | [`race`] | a race's win against a failure (and an outside cancel) |
//!
//! Every test prints the iterations loom explored (`-- --nocapture` to see them).

mod harness;
mod task;

mod completion;
mod grace;
mod handover;
mod limit;
mod links;
mod race;
mod spawn;
