//! What a [`Locals`](crate::Locals) may store: its kind ([`SendOnly`] or [`Unsend`]),
//! how a local task is boxed for it ([`Boxing`]), and what a local task may return
//! ([`LocalOutput`]). The kind is a type parameter chosen by the constructor, because the
//! `Send`-ness of a set of boxed futures cannot be inferred from the futures put into it.

use std::future::Future;
use std::pin::Pin;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::SendOnly {}
    impl Sealed for super::Unsend {}
    pub trait SealedOutput<E> {}
    impl<E> SealedOutput<E> for () {}
    impl<T, E> SealedOutput<E> for Result<T, E> {}
}

/// The kind of a [`Locals`](crate::Locals) whose tasks are all `Send` ([`Locals::new`](crate::Locals::new)): it is `Sync`, so the
/// scope's `run` future stays `Send` when the body is.
#[derive(Debug, Clone, Copy)]
pub struct SendOnly;

/// The kind of a [`Locals`](crate::Locals) whose tasks may be `!Send` ([`Locals::unsend`](crate::Locals::unsend)): the `Locals`, and
/// the `run` future that borrows it, are then neither `Send` nor `Sync`.
#[derive(Debug, Clone, Copy)]
pub struct Unsend;

/// What a [`Locals`](crate::Locals) of this kind stores its futures as (sealed: [`SendOnly`], [`Unsend`]).
pub trait LocalKind<'a>: sealed::Sealed {
    /// A boxed local task.
    type Boxed: Future<Output = ()> + Unpin + 'a;
}

impl<'a> LocalKind<'a> for SendOnly {
    type Boxed = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

impl<'a> LocalKind<'a> for Unsend {
    type Boxed = Pin<Box<dyn Future<Output = ()> + 'a>>;
}

/// Boxes a local task for a [`Locals`](crate::Locals) of kind `Self`: any future for [`Unsend`], a `Send` one
/// for [`SendOnly`].
#[diagnostic::on_unimplemented(
    message = "this local task cannot be stored in a `Locals` of kind `{Self}`",
    label = "not `Send`, or borrows for less than the `Locals` lives",
    note = "a `Locals::new()` only takes `Send` futures (so the scope's `run` future stays `Send`); create it with `Locals::unsend()` to spawn `!Send` futures (the `run` future is then `!Send`)",
    note = "a local task may borrow only what outlives the `Locals` (declared before it), not locals of the body"
)]
pub trait Boxing<'a, T>: LocalKind<'a> {
    /// Boxes `task`.
    fn boxed(task: T) -> Self::Boxed;
}

impl<'a, T: Future<Output = ()> + Send + 'a> Boxing<'a, T> for SendOnly {
    fn boxed(task: T) -> Self::Boxed {
        Box::pin(task)
    }
}

impl<'a, T: Future<Output = ()> + 'a> Boxing<'a, T> for Unsend {
    fn boxed(task: T) -> Self::Boxed {
        Box::pin(task)
    }
}

/// What a local task of a group with error type `E` may return: `()` or `Result<T, E>`, like a
/// task's [`TaskOutput`](crate::TaskOutput) but with no `Send` or `'static` bound.
#[diagnostic::on_unimplemented(
    message = "a local task of a `TaskGroup<{E}>` must return `()` or `Result<_, {E}>`, but this one returns `{Self}`",
    note = "convert the error inside the task, e.g. `async {{ fut.await.map_err(Into::into) }}`"
)]
pub trait LocalOutput<E>: sealed::SealedOutput<E> {
    /// The value a successful local task gives its [`LocalHandle`](crate::LocalHandle).
    type Value;
    /// Splits the output into the value and the error.
    ///
    /// # Errors
    ///
    /// The task's error, for `Err` outputs.
    fn into_result(self) -> Result<Self::Value, E>;
}

impl<E> LocalOutput<E> for () {
    type Value = ();
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<T, E> LocalOutput<E> for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, E> {
        self
    }
}
