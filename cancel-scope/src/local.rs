//! Local tasks: [`Locals`], their handles and the types that name what a `Locals` may store.
//!
//! See [`Locals`] and [`CancelScope::run_with_locals`](crate::CancelScope::run_with_locals).

pub use crate::member::local::{
    Boxing, LocalHandle, LocalKind, LocalOutput, LocalTask, Locals, SendOnly, Unsend,
};
