//! The hand-off of a completed task's value to its [`TaskHandle`](crate::TaskHandle): the
//! value goes to the handle if the handle still wants it; else it is dropped inside the task,
//! while the task is still registered, so that an awaited scope waits for the value's
//! destructor like for any task's (see [`Detach`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether the value of a task that completed goes to its handle: `Some(value)` if the handle
/// still wants it, else the value is dropped here, inside the task (still registered, with its
/// group current), so the scope waits for its destructor like for any task's.
pub(crate) fn deliver<T, E>(
    result: Result<T, E>,
    delivery: &impl Delivery,
) -> Result<Option<T>, E> {
    let value = result?;
    if delivery.deliver() {
        Ok(Some(value))
    } else {
        drop(value);
        Ok(None)
    }
}

/// How a task hands its value over: `()` for values without a destructor (always delivered,
/// no state: the wrapper stays as small as it can), an [`Arc<Detach>`] for the others.
pub(crate) trait Delivery: Send + Sync + 'static {
    /// The task completed: `true` if the handle still wants the value.
    fn deliver(&self) -> bool;
}

impl Delivery for () {
    fn deliver(&self) -> bool {
        true
    }
}

impl Delivery for Arc<Detach> {
    fn deliver(&self) -> bool {
        self.wants()
    }
}

/// [`deliver`] for members that hold their agreement as an `Option<&Detach>` (blocking ones).
pub(crate) fn deliver_to<T, E>(
    result: Result<T, E>,
    detach: Option<&Detach>,
) -> Result<Option<T>, E> {
    let value = result?;
    if detach.is_none_or(Detach::wants) {
        Ok(Some(value))
    } else {
        drop(value);
        Ok(None)
    }
}

/// The hand-off of an output with a destructor between a task and its [`TaskHandle`](crate::TaskHandle).
///
/// tokio drops the output of a task whose `JoinHandle` was dropped *after* the task's future
/// (our wrapper) was dropped, so after the task left its group's registry, on whichever worker
/// completed it, and it swallows a panic there. For an output with a destructor that would let
/// an awaited scope return before the output's destructor ran. So the task and its handle agree
/// on one atomic: a task whose handle is gone drops the value itself, inside the task; a handle
/// dropped after the value was delivered takes the value out of tokio and drops it itself.
/// Outputs without a destructor (`()`, numbers) need none of this and pay nothing.
pub(crate) struct Detach(AtomicU8);

const ATTACHED: u8 = 0;
const DETACHED: u8 = 1;
const DELIVERED: u8 = 2;

impl Detach {
    /// A new agreement: the handle wants the value.
    pub(crate) fn new() -> Arc<Detach> {
        Arc::new(Detach(AtomicU8::new(ATTACHED)))
    }

    /// An agreement for an output of type `T`, if it has a destructor.
    pub(crate) fn for_output<T>() -> Option<Arc<Detach>> {
        std::mem::needs_drop::<T>().then(Detach::new)
    }

    /// The task completed: `true` if the handle still wants the value.
    fn wants(&self) -> bool {
        self.0
            .compare_exchange(ATTACHED, DELIVERED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The handle is dropped: `true` if the value was delivered (it is in tokio's task cell,
    /// or is about to be).
    pub(crate) fn detach(&self) -> bool {
        self.0.swap(DETACHED, Ordering::AcqRel) == DELIVERED
    }
}
