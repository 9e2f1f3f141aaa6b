//! The error types: [`GroupError`] (every failure of a scope), [`SpawnError`] (a future that was
//! not started) and the default error type [`BoxError`].

use std::error::Error;
use std::fmt;

/// The default error type of a group: any error, boxed.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Every error that happened in a scope, body included, in the order they happened.
///
/// Never empty. Errors that happened after a cancel are kept too: no error is ever dropped.
///
/// ```
/// use cancel_scope::{BoxError, CancelScope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// let watcher = tg.clone();
/// // Shielded, so the cancel caused by the body's failure does not abort it: its error, which
/// // happens after the cancel, is kept too.
/// tg.spawn_shielded(async move {
///     watcher.cancelled().await;
///     Err::<(), BoxError>("flush failed".into())
/// });
/// let err = scope
///     .run(async { Err::<(), BoxError>("body failed".into()) })
///     .await
///     .unwrap_err();
/// assert_eq!(err.len(), 2);
/// assert_eq!(err.first().to_string(), "body failed");
/// assert_eq!(err.errors()[1].to_string(), "flush failed");
/// assert_eq!(err.to_string(), "2 errors in task group:\n  1: body failed\n  2: flush failed");
/// # }
/// ```
#[must_use = "a `GroupError` holds every error of the scope"]
pub struct GroupError<E> {
    errors: Vec<E>,
}

impl<E> GroupError<E> {
    /// Builds a group error. `errors` must not be empty.
    pub(crate) fn new(errors: Vec<E>) -> Self {
        debug_assert!(!errors.is_empty(), "a GroupError is never empty");
        GroupError { errors }
    }

    /// Every error, in the order they happened.
    #[must_use]
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Every error, in the order they happened, by value.
    #[must_use]
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// The first error that happened.
    #[must_use]
    pub fn first(&self) -> &E {
        &self.errors[0]
    }

    /// How many errors happened (at least one).
    #[allow(clippy::len_without_is_empty)] // never empty
    #[must_use]
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Iterates over the errors in the order they happened.
    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.errors.iter()
    }
}

impl<E> IntoIterator for GroupError<E> {
    type Item = E;
    type IntoIter = std::vec::IntoIter<E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a GroupError<E> {
    type Item = &'a E;
    type IntoIter = std::slice::Iter<'a, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [only] => write!(f, "1 error in task group: {only}"),
            errors => {
                write!(f, "{} errors in task group:", errors.len())?;
                for (i, error) in errors.iter().enumerate() {
                    write!(f, "\n  {}: {error}", i + 1)?;
                }
                Ok(())
            }
        }
    }
}

/// `source()` is the first error wherever it can be seen as `dyn Error`: for
/// [`BoxError`], `Box<dyn Error + Send>`, `Box<dyn Error>` and `std::io::Error`. For other error
/// types (there is no specialization in stable Rust) it is `None`; the errors stay reachable
/// through [`GroupError::errors`].
impl<E: fmt::Debug + fmt::Display + 'static> Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let first: &dyn std::any::Any = self.first();
        if let Some(e) = first.downcast_ref::<BoxError>() {
            return Some(&**e);
        }
        if let Some(e) = first.downcast_ref::<Box<dyn Error + Send + 'static>>() {
            return Some(&**e);
        }
        if let Some(e) = first.downcast_ref::<Box<dyn Error + 'static>>() {
            return Some(&**e);
        }
        if let Some(e) = first.downcast_ref::<std::io::Error>() {
            return Some(e);
        }
        None
    }
}

/// Why [`TaskGroup::try_spawn`](crate::TaskGroup::try_spawn) did not start a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpawnErrorKind {
    Closed,
    NoRuntime,
}

/// A future that [`TaskGroup::try_spawn`](crate::TaskGroup::try_spawn) did not start, given back.
///
/// The group was cancelled or had finished, or no tokio runtime could be found.
///
/// ```
/// use cancel_scope::{BoxError, CancelScope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let scope = CancelScope::new();
/// let tg = scope.group();
/// tg.cancel();
/// let err = tg.try_spawn(async { Ok::<_, BoxError>(5) }).unwrap_err();
/// assert!(err.is_closed());
/// let fut = err.into_inner(); // the future, never polled
/// assert_eq!(fut.await.unwrap(), 5);
/// # drop(scope);
/// # }
/// ```
pub struct SpawnError<F> {
    future: F,
    kind: SpawnErrorKind,
}

impl<F> SpawnError<F> {
    pub(crate) fn closed(future: F) -> Self {
        SpawnError {
            future,
            kind: SpawnErrorKind::Closed,
        }
    }

    pub(crate) fn no_runtime(future: F) -> Self {
        SpawnError {
            future,
            kind: SpawnErrorKind::NoRuntime,
        }
    }

    /// The future that was not started.
    #[must_use]
    pub fn into_inner(self) -> F {
        self.future
    }

    /// `true` if the group was cancelled or had finished.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.kind == SpawnErrorKind::Closed
    }

    /// `true` if no tokio runtime was captured by the group nor current at the spawn.
    #[must_use]
    pub fn is_no_runtime(&self) -> bool {
        self.kind == SpawnErrorKind::NoRuntime
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            SpawnErrorKind::Closed => {
                "the task group is cancelled or finished; the future was not started"
            }
            SpawnErrorKind::NoRuntime => {
                "no tokio runtime: the group captured none and none is current; the future was not started"
            }
        })
    }
}

impl<F> Error for SpawnError<F> {}
