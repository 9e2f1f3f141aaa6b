//! The synchronisation primitives the core is built on, in one place, so that the core can be
//! checked by the loom model (`core/loom_tests/`) without a line of it changing.
//!
//! Normally these are plain re-exports of `std`'s and tokio's types: no wrapper, no cost. When
//! the crate's own lib tests are built with `RUSTFLAGS="--cfg loom"`, the locks and atomics are
//! loom's, which explore every interleaving (and every value a weak load may see) of the
//! threads of a model, and tokio's two types the core holds are replaced by the stand-ins of
//! `model.rs`, built on loom's primitives so that loom sees their interleavings too:
//!
//! - `Notify` (behind `TaskGroup::cancelled()`), with tokio's semantics for the two calls the
//!   core makes (`notified()` then `notify_waiters()`);
//! - `AbortHandle`, whose `abort()` sets a loom flag that a modelled task (a loom thread)
//!   observes; a real tokio handle is only carried, for the runtime code to compile.
//!
//! The switch is `cfg(all(test, loom))`, like tokio's own: a dependent crate built with
//! `--cfg loom` for its own model still gets the real primitives from this crate.
//!
//! `Arc` and `Weak` stay `std`'s under loom too: loom 0.7 has no `Weak`, which links and the
//! enclosing scope need, and the core draws no conclusion from a reference count (it never calls
//! `strong_count`, `get_mut` or `try_unwrap`). `OnceLock` (the captured runtime, the token)
//! stays `std`'s: the model never races it. `tokio::time::Instant` and tokio's runtime `Handle`
//! are used as they are: the grace end is modelled by calling the core directly.

pub(crate) use std::sync::{Arc, PoisonError, Weak};

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(all(test, loom)))]
pub(crate) use tokio::{sync::Notify, task::AbortHandle};

#[cfg(all(test, loom))]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(all(test, loom))]
pub(crate) mod model;
#[cfg(all(test, loom))]
pub(crate) use self::model::{AbortHandle, Notify};

/// The atomics of the core: `std`'s, or loom's under `cfg(all(test, loom))`.
pub(crate) mod atomic {
    #[cfg(not(all(test, loom)))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

    #[cfg(all(test, loom))]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
}
