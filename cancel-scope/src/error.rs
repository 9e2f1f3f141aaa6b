//! The error types: [`GroupError`] (every failure of a scope), [`SpawnError`] (a future that was
//! not started) and the default error type [`BoxError`].

use std::error::Error;
use std::fmt;

use crate::member::names::TaskName;

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
    /// The names of the named members among `errors`: (index, name), by index.
    names: Vec<(usize, TaskName)>,
}

impl<E> GroupError<E> {
    /// Builds a group error. `errors` must not be empty.
    pub(crate) fn new(errors: Vec<E>) -> Self {
        debug_assert!(!errors.is_empty(), "a GroupError is never empty");
        GroupError {
            errors,
            names: Vec::new(),
        }
    }

    /// Attaches the names of the members that failed (index into `errors`, name).
    pub(crate) fn with_names(mut self, names: Vec<(usize, TaskName)>) -> Self {
        self.names = names;
        self
    }

    /// The name of the member that failed with `self.errors()[index]`, if it was named
    /// ([`TaskGroup::named`](crate::TaskGroup::named)); `None` for unnamed members, the body,
    /// and an index out of range.
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let err = scope
    ///     .run(async move {
    ///         tg.named("load config").spawn(async { Err::<(), BoxError>("no such file".into()) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.name(0), Some("load config"));
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|at| &*self.names[at].1)
    }

    /// Every error with the name of the member that failed with it (see [`name`](Self::name)),
    /// in the order they happened.
    ///
    /// ```
    /// use cancel_scope::{BoxError, CancelScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let watcher = tg.clone();
    /// let err = scope
    ///     .run(async move {
    ///         tg.spawn_shielded(async move {
    ///             watcher.cancelled().await;
    ///             Err::<(), BoxError>("clean-up failed".into())
    ///         });
    ///         tg.named("fetch").spawn(async { Err::<(), BoxError>("timed out".into()) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// let named: Vec<_> = err.named().map(|(name, e)| (name, e.to_string())).collect();
    /// assert_eq!(
    ///     named,
    ///     [(Some("fetch"), "timed out".to_string()), (None, "clean-up failed".to_string())]
    /// );
    /// # }
    /// ```
    pub fn named(&self) -> impl Iterator<Item = (Option<&str>, &E)> + '_ {
        self.errors
            .iter()
            .enumerate()
            .map(|(i, e)| (self.name(i), e))
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
        let mut d = f.debug_struct("GroupError");
        d.field("errors", &self.errors);
        if !self.names.is_empty() {
            let names: Vec<(usize, &str)> = self.names.iter().map(|(i, n)| (*i, &**n)).collect();
            d.field("names", &names);
        }
        d.finish()
    }
}

/// `N error(s) in task group:` then each error, prefixed by the names of the members it came
/// through (`[outer > inner] message`). A `GroupError<BoxError>` inside a [`BoxError`] (a scope
/// nested in a task, whose error went up with `?`) is flattened into its errors, so nested
/// scopes do not repeat the header at every level.
impl<E: fmt::Display + 'static> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut leaves = Vec::new();
        flatten(self, &mut Vec::new(), &mut leaves);
        match leaves.as_slice() {
            [(path, only)] => {
                f.write_str("1 error in task group: ")?;
                write_leaf(f, path, *only)
            }
            leaves => {
                write!(f, "{} errors in task group:", leaves.len())?;
                for (i, (path, leaf)) in leaves.iter().enumerate() {
                    write!(f, "\n  {}: ", i + 1)?;
                    write_leaf(f, path, *leaf)?;
                }
                Ok(())
            }
        }
    }
}

/// One error to display: the names it came through, and the error itself.
type Leaf<'a> = (Vec<&'a str>, &'a dyn fmt::Display);

/// Collects the errors of `group`, descending into nested `GroupError<BoxError>`s.
fn flatten<'a, E: fmt::Display + 'static>(
    group: &'a GroupError<E>,
    path: &mut Vec<&'a str>,
    out: &mut Vec<Leaf<'a>>,
) {
    for (name, error) in group.named() {
        let depth = path.len();
        path.extend(name);
        let any: &dyn std::any::Any = error;
        let nested = any
            .downcast_ref::<BoxError>()
            .and_then(|e| e.downcast_ref::<GroupError<BoxError>>());
        match nested {
            Some(inner) => flatten(inner, path, out),
            None => out.push((path.clone(), error)),
        }
        path.truncate(depth);
    }
}

fn write_leaf(f: &mut fmt::Formatter<'_>, path: &[&str], leaf: &dyn fmt::Display) -> fmt::Result {
    if !path.is_empty() {
        write!(f, "[{}] ", path.join(" > "))?;
    }
    write!(f, "{leaf}")
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

    /// The same error around another value (a future taken out of its wrapper).
    pub(crate) fn map<G>(self, f: impl FnOnce(F) -> G) -> SpawnError<G> {
        SpawnError {
            future: f(self.future),
            kind: self.kind,
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
