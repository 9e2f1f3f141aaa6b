//! Which scope is running on this thread right now: the innermost scope whose body or task is
//! being polled. A scope's `run` looks it up at its first poll, to know whom to hand its tasks
//! to if it is dropped unfinished.

use std::cell::Cell;
use std::sync::Arc;

use crate::core::Core;

thread_local! {
    static CURRENT: Cell<Option<Arc<Core>>> = const { Cell::new(None) };
}

/// Runs `f` with `slot`'s group as the current scope, moving the `Arc` in and back out so a
/// task's poll costs no reference-count traffic.
pub(crate) fn enter<R>(slot: &mut Option<Arc<Core>>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<Arc<Core>>,
        prev: Option<Arc<Core>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let prev = self.prev.take();
            let _ = CURRENT.try_with(|c| *self.slot = c.replace(prev));
        }
    }
    // During thread teardown the slot may be gone: then poll without a current scope.
    let Ok(prev) = CURRENT.try_with(|c| c.replace(slot.take())) else {
        return f();
    };
    let _restore = Restore { slot, prev };
    f()
}

/// The scope running on this thread, if any.
pub(crate) fn current() -> Option<Arc<Core>> {
    CURRENT
        .try_with(|c| {
            let cur = c.take();
            let found = cur.clone();
            c.set(cur);
            found
        })
        .ok()
        .flatten()
}
