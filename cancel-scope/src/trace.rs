//! `tracing` integration (cargo feature `tracing`): each scope and each task in a span. Without
//! the feature these helpers are the identity and cost nothing.

use std::future::Future;

use crate::core::Core;

/// Wraps a task's future in a span that is a child of its group's span.
#[cfg(feature = "tracing")]
pub(crate) fn task<F: Future>(core: &Core, future: F) -> tracing::instrument::Instrumented<F> {
    use tracing::Instrument;
    future.instrument(tracing::info_span!(parent: &core.span, "task"))
}

/// Without the `tracing` feature: the future itself.
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn task<F: Future>(_core: &Core, future: F) -> F {
    future
}
