//! The `run` future of a scope: the body runs in the caller's task while the group's tasks run
//! on the runtime; it returns once all of them are done, with the outcome the rules give.
//!
//! One loop drives everything, each step in one place: poll the body (in the scope's context,
//! catching its panic, and drop it there once it ended); act once on a cancel (drop the body
//! and a value the cancel discards, both in the scope's context, and arm the grace timer
//! decided at the cancel); fire the deadline; end the grace; then ask the group whether every
//! task ended ([`Core::poll_progress`]).

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::core::cancel::cancel;
use crate::core::grace::GraceState;
use crate::core::{Body, CancelSeen, Core, Progress, handover};
use crate::member::local_driver::LocalDriver;
use crate::scope::ScopeGuard;
use crate::signal::Signals;
use crate::{CancelReason, ScopeResult, outcome};

/// The state machine of a running scope.
///
/// `locals` comes first: parameters are dropped in reverse order, so a `run` dropped unfinished
/// drops its guard (the scope is marked dropped and its tasks handed over) before its local
/// tasks, whose destructors' panics then reach the scope that waits.
pub(crate) async fn run<T, E, F, L>(
    mut locals: L,
    mut guard: ScopeGuard,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    mut signals: Signals,
    body: F,
) -> ScopeResult<T, E>
where
    E: Send + 'static,
    F: Future<Output = Result<T, E>>,
    L: LocalDriver,
{
    // Everything up to the first `.await` runs at the first poll.
    guard.enclosing = handover::current();
    let core = guard.core();
    core.members.set_enclosing(guard.enclosing.as_ref());
    core.runtime.capture();

    let mut body = pin!(Some(body));
    // Boxed: most scopes have neither, and the run future stays small without them.
    let mut grace_sleep: Option<Pin<Box<Sleep>>> = None;
    let mut seen = CancelSeen::No;
    let mut value: Option<T> = None;

    let mut deadline_sleep = arm_deadline(core, timeout, deadline);

    #[cfg(feature = "tracing")]
    let span = core.span.clone();
    // The scope's own context is entered (`guard.enter`) while the body, a local task or a
    // discarded value is polled or dropped: `core` is borrowed again after each such step.
    let finished = poll_fn(|cx: &mut Context<'_>| {
        #[cfg(feature = "tracing")]
        let _entered = span.enter();
        loop {
            // The signals first: one that fired keeps the body from starting.
            if !guard.core().is_cancelled() {
                signals.poll(guard.core(), cx);
            }
            // The body: polled until it ends or the group is cancelled.
            if !guard.core().is_cancelled() && body.is_some() {
                match guard.enter(|| poll_body(body.as_mut(), cx)) {
                    BodyPoll::Pending => {}
                    BodyPoll::Ended(result, dropped) => {
                        record_body(guard.core(), result, dropped, &mut value);
                    }
                    BodyPoll::Panicked(payload) => {
                        // Recorded before the body is dropped: should dropping it panic too,
                        // this one stays the first panic, and scopes linked to the group see
                        // it cancelled (`Failed`) before they are dropped.
                        guard.core().record_panic(payload);
                        drop_body(body.as_mut(), &mut guard);
                    }
                }
            }

            if guard.core().is_cancelled() {
                if seen == CancelSeen::No {
                    seen = CancelSeen::Yes;
                    act_on_cancel(&mut guard, body.as_mut(), &mut value);
                    let core = guard.core();
                    signals.drop_all(core);
                    deadline_sleep = None;
                    // Decided at the cancel; a grace too long to represent never ends.
                    match core.grace_state() {
                        GraceState::Running(Some(end)) => {
                            grace_sleep = Some(Box::pin(tokio::time::sleep_until(end)));
                        }
                        GraceState::Over => {
                            locals.stop(&mut guard);
                        }
                        _ => {}
                    }
                }
            } else if let Some(sleep) = &mut deadline_sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    deadline_sleep = None;
                    cancel(guard.core(), CancelReason::Deadline);
                    continue;
                }
            }
            if let Some(sleep) = &mut grace_sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    grace_sleep = None;
                    let aborted = guard.core().end_grace() + locals.stop(&mut guard);
                    #[cfg(feature = "tracing")]
                    crate::trace::grace_ended(guard.core(), aborted);
                    #[cfg(not(feature = "tracing"))]
                    let _ = aborted;
                }
            }

            // The local tasks (none left once a cancel's grace is over).
            locals.poll(&mut guard, cx);

            let state = if body.is_some() {
                Body::Alive
            } else if value.is_some() {
                Body::Holding
            } else {
                Body::Done
            };
            match guard.core().poll_progress(state, seen, cx.waker()) {
                Progress::Finished(finished) => return Poll::Ready(finished),
                Progress::Waiting => return Poll::Pending,
                // Cancelled since the last look: go round again to act on it.
                Progress::Act => {}
                // A supervised group failed: the value is discarded (rule 3), dropped now.
                Progress::Discard => discard_value(&mut guard, &mut value),
            }
        }
    })
    .await;
    locals.close();
    let mut finished = finished;
    if let Some(payload) = signals.drop_finished() {
        // A signal that panics in its destructor: a panic of the scope, resumed now that
        // everything stopped.
        finished.panic.get_or_insert(payload);
    }
    // Finished: nothing for the guard to do. The group's `Core` is released right here.
    guard.armed = false;
    drop(guard);
    outcome::decide(finished, value)
}

/// Records the scope's deadline (the earlier of `timeout` from now and `deadline`) and arms its
/// timer; a deadline already past cancels at once (`Deadline`).
#[inline]
fn arm_deadline(
    core: &Arc<Core>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
) -> Option<Pin<Box<Sleep>>> {
    // Most scopes have neither: nothing to record or arm, and no out-of-line call.
    if timeout.is_none() && deadline.is_none() {
        return None;
    }
    arm_deadline_at(core, timeout, deadline)
}

/// [`arm_deadline`] with a timeout or a deadline set.
fn arm_deadline_at(
    core: &Arc<Core>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
) -> Option<Pin<Box<Sleep>>> {
    let at = match (
        timeout.and_then(|t| Instant::now().checked_add(t)),
        deadline,
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    core.members.set_deadline(at);
    let at = at?;
    if at <= Instant::now() {
        cancel(core, CancelReason::Deadline);
        None
    } else if core.is_cancelled() {
        None
    } else {
        Some(Box::pin(tokio::time::sleep_until(at)))
    }
}

/// The group was cancelled: the body is dropped at once (grace applies to tasks only), and a
/// value the body returned is discarded now, while the scope can still take over what that
/// value's destructors hand over (a nested scope it owns).
fn act_on_cancel<T, F>(guard: &mut ScopeGuard, body: Pin<&mut Option<F>>, value: &mut Option<T>) {
    drop_body(body, guard);
    discard_value(guard, value);
}

/// Drops a value the outcome discards, in the scope's context, catching a panic in its
/// destructor (a body panic).
fn discard_value<T>(guard: &mut ScopeGuard, value: &mut Option<T>) {
    if let Some(value) = value.take() {
        let dropped = guard.enter(|| catch_unwind(AssertUnwindSafe(|| drop(value))));
        if let Err(payload) = dropped {
            guard.core().record_panic(payload);
        }
    }
}

/// What one poll of the body gave; a body that ended was dropped in the same poll, with the
/// result of its destructor (`Err`: it panicked, a panic of the body).
enum BodyPoll<O> {
    Pending,
    Ended(O, std::thread::Result<()>),
    /// Not dropped yet: the panic is recorded first.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Polls the body (called in the scope's context, see [`ScopeGuard::enter`]); a body that
/// ended is dropped right away, still in that context, so that a scope its destructor creates
/// and drops unfinished is handed over to this one.
fn poll_body<F: Future>(
    mut body: Pin<&mut Option<F>>,
    cx: &mut Context<'_>,
) -> BodyPoll<F::Output> {
    let polled = catch_unwind(AssertUnwindSafe(|| {
        body.as_mut().as_pin_mut().map(|fut| fut.poll(cx))
    }));
    match polled {
        Ok(None | Some(Poll::Pending)) => BodyPoll::Pending,
        Ok(Some(Poll::Ready(output))) => {
            let dropped = catch_unwind(AssertUnwindSafe(|| body.set(None)));
            BodyPoll::Ended(output, dropped)
        }
        Err(payload) => BodyPoll::Panicked(payload),
    }
}

/// Records what an ended body gave, its value or its error, after a panic of its destructor.
fn record_body<T, E: Send + 'static>(
    core: &Arc<Core>,
    result: Result<T, E>,
    dropped: std::thread::Result<()>,
    value: &mut Option<T>,
) {
    if let Err(payload) = dropped {
        core.record_panic(payload);
    }
    match result {
        Ok(v) => *value = Some(v),
        Err(error) => core.record_error(error),
    }
}

/// Drops the body in the scope's context (like [`poll_body`]), catching a panic in its
/// destructor: that counts as a body panic.
fn drop_body<F>(mut body: Pin<&mut Option<F>>, guard: &mut ScopeGuard) {
    if body.is_none() {
        return;
    }
    let dropped = guard.enter(|| catch_unwind(AssertUnwindSafe(|| body.set(None))));
    if let Err(payload) = dropped {
        guard.core().record_panic(payload);
    }
}
