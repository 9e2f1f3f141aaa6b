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
        aborted_after_grace = tracing::field::Empty,
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

/// Wraps a task's future in a span that is a child of its group's span (with the task's name,
/// if it has one).
#[cfg(feature = "tracing")]
pub(crate) fn task<F: Future>(
    core: &Core,
    name: Option<&str>,
    future: F,
) -> tracing::instrument::Instrumented<F> {
    use tracing::Instrument;
    future.instrument(task_span(core, name, "task"))
}

/// The span of one member of `core`'s group; `kind` is `task`, `blocking` or `local`.
#[cfg(feature = "tracing")]
pub(crate) fn task_span(core: &Core, name: Option<&str>, kind: &'static str) -> tracing::Span {
    if let Some(name) = name {
        tracing::info_span!(parent: &core.span, "task", name = %name, kind = kind)
    } else {
        tracing::info_span!(parent: &core.span, "task", kind = kind)
    }
}

/// Without the `tracing` feature: the future itself.
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn task<F: Future>(_core: &Core, _name: Option<&str>, future: F) -> F {
    future
}

/// The end of a grace period aborted `aborted` members still running: a warn event in the
/// group's span, and the count on the span.
#[cfg(feature = "tracing")]
pub(crate) fn grace_ended(core: &Core, aborted: usize) {
    if aborted > 0 {
        core.span.record("aborted_after_grace", aborted);
        tracing::warn!(parent: &core.span, aborted, "grace period ended: aborting {aborted} task(s) still running");
    }
}
