//! `tracing` integration (cargo feature `tracing`): each scope and each task in a span. Without
//! the feature these helpers are the identity and cost nothing.

use std::future::Future;

use crate::core::Core;

/// The span of a new scope; its fields are recorded as the scope runs and finishes.
#[cfg(feature = "tracing")]
pub(crate) fn scope_span() -> tracing::Span {
    tracing::info_span!(
        "cancel_scope",
        reason = tracing::field::Empty,
        tasks_spawned = tracing::field::Empty,
        errors = tracing::field::Empty,
        panics = tracing::field::Empty,
    )
}

/// Records the counts of a finished scope on its span.
#[cfg(feature = "tracing")]
pub(crate) fn record_finish(
    span: &tracing::Span,
    spawned: u64,
    failures: &crate::core::failures::Failures,
) {
    span.record("tasks_spawned", spawned);
    span.record("errors", failures.error_count);
    span.record(
        "panics",
        usize::from(failures.has_panic()) + failures.later_panics,
    );
}

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
