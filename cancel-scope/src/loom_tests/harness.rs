//! Running a model under loom and counting its iterations, and the scope's side of the
//! protocol: `run` waiting for the group to finish, and what it finished with.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Instant;

use crate::CancelReason;
use crate::core::{Body, CancelSeen, Core, Finished, Progress};

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is not set: every test explores every
/// interleaving with at most this many preemptions (CI sets it explicitly).
const DEFAULT_PREEMPTIONS: usize = 2;

/// Runs `model` under every interleaving loom explores within the preemption bound, and
/// prints how many iterations that took.
pub(super) fn check(name: &str, model: impl Fn() + Sync + Send + 'static) {
    // A plain (non-loom) counter: it counts executions, outside what loom models.
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let mut builder = loom::model::Builder::new();
    let bound = *builder.preemption_bound.get_or_insert(DEFAULT_PREEMPTIONS);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    println!(
        "loom model `{name}`: {} iterations (preemption bound {bound}) in {:.2?}",
        iterations.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// The scope's `run` once its body is done: asks the group whether it finished, parks until
/// woken when it has not, and acts on a cancel (`Progress::Act`) by looking again, as `run`
/// does. Returns the finished state.
pub(super) fn finish(core: &Core) -> Finished {
    let mut seen = CancelSeen::No;
    loom::future::block_on(poll_fn(|cx| {
        loop {
            match core.poll_progress(Body::Done, seen, cx.waker()) {
                Progress::Finished(finished) => return Poll::Ready(finished),
                Progress::Waiting => return Poll::Pending,
                Progress::Act => seen = CancelSeen::Yes,
                Progress::Discard => unreachable!("the modelled body holds no value"),
            }
        }
    }))
}

/// The errors a finished group collected (the models' tasks fail with `u32`s), in order.
pub(super) fn errors(finished: &mut Finished) -> Vec<u32> {
    match finished.errors.take() {
        None => Vec::new(),
        Some(errors) => *errors
            .downcast::<Vec<u32>>()
            .expect("the models' groups fail with u32 errors"),
    }
}

/// A group's reason as seen by a thread that takes its lock first (as `len()` or `Debug`
/// does). An observer's lock-free load would not do: loom's DPOR records only the last access
/// to an atomic, so a load racing a store that follows a load of the storing thread (`mark`
/// reads the reason before it writes it) is never reordered; a lock acquisition is.
pub(super) fn observe(core: &Core) -> Option<CancelReason> {
    drop(core.lock());
    core.reason()
}
