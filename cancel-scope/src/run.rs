//! The `run` future of a scope: the body runs in the caller's task while the group's tasks run
//! on the runtime; it returns once all of them are done, with the outcome the rules give.
//!
//! One loop drives everything, each step in one place: poll the body (in the scope's context,
//! catching its panic); act once on a cancel (drop the body and a value the cancel discards,
//! arm the grace timer decided at the cancel); fire the deadline; end the grace; then ask the
//! group whether every task ended ([`Core::poll_progress`]).
//!
//! A scope whose group was never asked for (no `group()`, no option, no local task) first runs
//! its body without one ([`run_ungrouped`]): nothing can spawn into it or cancel it, so a body
//! that returns `Ok` ends the scope there, at the cost of a plain future. Its group is created
//! the moment something needs it (a nested scope asking for its enclosing scope, the body's
//! error or panic), and the loop above takes over from there.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, Sleep};

use crate::core::cancel::cancel;
use crate::core::grace::GraceState;
use crate::core::handover::Ungrouped;
use crate::core::{Body, CancelSeen, Core, Progress, handover};
use crate::member::local_driver::LocalDriver;
use crate::scope::{ScopeGuard, Start};
use crate::signal::Signals;
use crate::{CancelReason, Outcome, ScopeResult, outcome};

/// The state machine of a running scope.
///
/// `locals` comes first: parameters are dropped in reverse order, so a `run` dropped unfinished
/// drops its guard (the scope is marked dropped and its tasks handed over) before its local
/// tasks, whose destructors' panics then reach the scope that waits.
pub(crate) async fn run<T, E, F, L>(
    mut locals: L,
    start: Start,
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
    // Declared before the body, so dropped after it: a `run` dropped unfinished drops its body
    // (whose nested scopes hand their tasks over to this one) while this scope still accepts
    // hand-overs, then its guard, which hands everything on.
    let mut guard_slot: Option<ScopeGuard> = None;
    let mut body = pin!(Some(body));
    let mut value: Option<T> = None;
    // Everything up to the first `.await` runs at the first poll. A deadline or a signal needs
    // the group from the start.
    let start = match start {
        Start::Ungrouped(..) if timeout.is_some() || deadline.is_some() || !signals.is_empty() => {
            Start::Grouped(start.into_guard())
        }
        start => start,
    };
    let guard = match begin(start, body.as_mut(), &mut value).await {
        Begin::Completed(value) => return Ok(Outcome::Completed(value)),
        Begin::Grouped(guard) => guard_slot.insert(guard),
    };
    let core = &guard.core;
    core.runtime.capture();

    // Boxed: most scopes have neither, and the run future stays small without them.
    let mut grace_sleep: Option<Pin<Box<Sleep>>> = None;
    let mut seen = CancelSeen::No;

    let mut deadline_sleep = arm_deadline(core, timeout, deadline);

    // The scope's own context, entered while the body is polled or a discarded value dropped.
    let mut context = Some(core.clone());
    let finished = poll_fn(|cx: &mut Context<'_>| {
        #[cfg(feature = "tracing")]
        let _entered = core.span.enter();
        loop {
            // The signals first: one that fired keeps the body from starting.
            if !core.is_cancelled() {
                signals.poll(core, cx);
            }
            // The body: polled until it ends or the group is cancelled.
            if !core.is_cancelled() {
                if let Some(fut) = body.as_mut().as_pin_mut() {
                    let polled = handover::enter(&mut context, || {
                        catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
                    });
                    settle_body(polled, body.as_mut(), core, &mut value);
                }
            }

            if core.is_cancelled() {
                if seen == CancelSeen::No {
                    seen = CancelSeen::Yes;
                    act_on_cancel(core, &mut context, body.as_mut(), &mut value);
                    signals.drop_all(core);
                    deadline_sleep = None;
                    // Decided at the cancel; a grace too long to represent never ends.
                    match core.grace_state() {
                        GraceState::Running(Some(end)) => {
                            grace_sleep = Some(Box::pin(tokio::time::sleep_until(end)));
                        }
                        GraceState::Over => {
                            locals.stop(core);
                        }
                        _ => {}
                    }
                }
            } else if let Some(sleep) = &mut deadline_sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    deadline_sleep = None;
                    cancel(core, CancelReason::Deadline);
                    continue;
                }
            }
            if let Some(sleep) = &mut grace_sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    grace_sleep = None;
                    let aborted = core.end_grace() + locals.stop(core);
                    #[cfg(feature = "tracing")]
                    crate::trace::grace_ended(core, aborted);
                    #[cfg(not(feature = "tracing"))]
                    let _ = aborted;
                }
            }

            // The local tasks (none left once a cancel's grace is over).
            locals.poll(core, &mut context, cx);

            let state = if body.is_some() {
                Body::Alive
            } else if value.is_some() {
                Body::Holding
            } else {
                Body::Done
            };
            match core.poll_progress(state, seen, cx.waker()) {
                Progress::Finished(finished) => return Poll::Ready(finished),
                Progress::Waiting => return Poll::Pending,
                // Cancelled since the last look: go round again to act on it.
                Progress::Act => {}
                // A supervised group failed: the value is discarded (rule 3), dropped now.
                Progress::Discard => discard_value(core, &mut context, &mut value),
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
    drop(guard_slot.take());
    drop(context);
    outcome::decide(finished, value)
}

/// A poll of the body: its result, or the payload of its panic.
type Polled<T, E> = Result<Poll<Result<T, E>>, Box<dyn Any + Send>>;

/// Acts on a poll of the body: a value is kept for the outcome, an error recorded (it cancels
/// the group), a panic recorded; an ended body is dropped at once.
fn settle_body<T, E, F>(
    polled: Polled<T, E>,
    body: Pin<&mut Option<F>>,
    core: &Arc<Core>,
    value: &mut Option<T>,
) where
    E: Send + 'static,
{
    match polled {
        Ok(Poll::Pending) => {}
        Ok(Poll::Ready(result)) => {
            drop_body(body, core);
            match result {
                Ok(v) => *value = Some(v),
                Err(error) => core.record_error(error),
            }
        }
        Err(payload) => {
            // Recorded first: should dropping the body panic too, this one stays the first
            // panic.
            core.record_panic(payload);
            drop_body(body, core);
        }
    }
}

/// How `run` begins.
enum Begin<T> {
    /// The body of a scope without a group returned `Ok`, and no group was ever needed.
    Completed(T),
    /// With the group (which a scope without one created when it needed it).
    Grouped(ScopeGuard),
}

/// Begins `run` at its first poll: a scope with a group finds the scope it runs in; one without
/// runs its body without a group as long as it can ([`run_ungrouped`]), and the poll that
/// needed the group is settled.
async fn begin<T, E, F>(
    start: Start,
    mut body: Pin<&mut Option<F>>,
    value: &mut Option<T>,
) -> Begin<T>
where
    E: Send + 'static,
    F: Future<Output = Result<T, E>>,
{
    match start {
        Start::Grouped(mut guard) => {
            guard.enclosing = handover::current();
            guard.core.members.set_enclosing(guard.enclosing.as_ref());
            Begin::Grouped(guard)
        }
        // The scope running at `new()` is replaced by the one running now, at the first poll.
        Start::Ungrouped(runtime, _) => {
            let ungrouped = Ungrouped {
                core: None,
                enclosing: handover::current(),
            };
            match run_ungrouped(ungrouped, runtime, body.as_mut()).await {
                UngroupedEnd::Completed(value) => Begin::Completed(value),
                UngroupedEnd::Grouped(guard, polled) => {
                    if let Some(polled) = polled {
                        settle_body(polled, body, &guard.core, value);
                    }
                    Begin::Grouped(guard)
                }
            }
        }
    }
}

/// How the body of a scope without a group ended, or why it needed one.
enum UngroupedEnd<T, E> {
    /// The body returned `Ok` and was dropped, and no group was ever needed.
    Completed(T),
    /// The group was needed: created, with the poll that needed it (a nested scope asked for
    /// the enclosing scope during it, or it ended the body otherwise than with a value), for
    /// `run` to settle.
    Grouped(ScopeGuard, Option<Polled<T, E>>),
}

/// Polls the body of a scope that has no group until it ends with a value (no group was ever
/// needed) or something needs the group; see the module docs.
async fn run_ungrouped<T, E, F>(
    mut ungrouped: Ungrouped,
    runtime: Option<Handle>,
    mut body: Pin<&mut Option<F>>,
) -> UngroupedEnd<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let polled = poll_fn(|cx: &mut Context<'_>| {
        let Some(fut) = body.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let polled = handover::enter_ungrouped(&mut ungrouped, || {
            catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        });
        match polled {
            Ok(Poll::Pending) if ungrouped.core.is_none() => Poll::Pending,
            polled => Poll::Ready(Some(polled)),
        }
    })
    .await;
    if ungrouped.core.is_none() {
        if let Some(Ok(Poll::Ready(Ok(value)))) = polled {
            // Dropped here: a panic in the body's destructor is a body panic, which needs the
            // group after all.
            match catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                Ok(()) => return UngroupedEnd::Completed(value),
                Err(payload) => {
                    let guard = ScopeGuard::from_ungrouped(ungrouped, runtime);
                    guard.core.record_panic(payload);
                    return UngroupedEnd::Grouped(guard, Some(Ok(Poll::Ready(Ok(value)))));
                }
            }
        }
    }
    UngroupedEnd::Grouped(ScopeGuard::from_ungrouped(ungrouped, runtime), polled)
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
fn act_on_cancel<T, F>(
    core: &Arc<Core>,
    context: &mut Option<Arc<Core>>,
    body: Pin<&mut Option<F>>,
    value: &mut Option<T>,
) {
    drop_body(body, core);
    discard_value(core, context, value);
}

/// Drops a value the outcome discards, in the scope's context, catching a panic in its
/// destructor (a body panic).
fn discard_value<T>(core: &Arc<Core>, context: &mut Option<Arc<Core>>, value: &mut Option<T>) {
    if let Some(value) = value.take() {
        let dropped = handover::enter(context, || catch_unwind(AssertUnwindSafe(|| drop(value))));
        if let Err(payload) = dropped {
            core.record_panic(payload);
        }
    }
}

/// Drops the body, catching a panic in its destructor: that counts as a body panic.
fn drop_body<F>(mut body: Pin<&mut Option<F>>, core: &Arc<Core>) {
    if body.is_none() {
        return;
    }
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.set(None))) {
        core.record_panic(payload);
    }
}
