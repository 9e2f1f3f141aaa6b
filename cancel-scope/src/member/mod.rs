//! Members of a group that are not plain tokio tasks, and task names (issue 12):
//!
//! | file | what lives there |
//! |---|---|
//! | [`blocking`] | `TaskGroup::spawn_blocking`: closures on tokio's blocking pool |
//! | [`local`] | `Locals`: local tasks, `!Send` or borrowing, polled in the scope's own task |
//! | [`local_kind`] | what a `Locals` may store: `SendOnly` / `Unsend`, boxing, outputs |
//! | [`local_task`] | one local task as polled (`LocalTask`) and its `LocalHandle` |
//! | [`local_driver`] | how the scope's `run` polls, cancels and drops local tasks |
//! | [`names`] | `TaskGroup::named`: task names in spans, handles and `GroupError`s |
//! | [`group_info`] | `TaskGroup::deadline` and `TaskGroup::token` |

pub(crate) mod blocking;
pub(crate) mod group_info;
pub(crate) mod local;
pub(crate) mod local_driver;
pub(crate) mod local_kind;
pub(crate) mod local_task;
pub(crate) mod names;
