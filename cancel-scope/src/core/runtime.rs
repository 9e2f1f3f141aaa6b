//! Which tokio runtime a group spawns on: the handle captured at `new()`, `group()` or the
//! first poll of `run`, whichever first finds one.
//!
//! The common case (a scope created inside a runtime) stores the handle in a plain field, so
//! creating a scope costs no `OnceLock` initialisation; the late capture is the fallback.

use std::sync::OnceLock;

use tokio::runtime::Handle;

/// The runtime a group spawns on, once one was found.
pub(crate) struct RuntimeCapture {
    /// Captured when the group was created, if a runtime was current then.
    early: Option<Handle>,
    /// Else captured later, at `group()` or `run()`.
    late: OnceLock<Handle>,
}

impl RuntimeCapture {
    /// Captures the runtime current now, if any.
    pub(crate) fn new() -> Self {
        RuntimeCapture {
            early: Handle::try_current().ok(),
            late: OnceLock::new(),
        }
    }

    /// Captures the current runtime if none was captured yet.
    #[inline]
    pub(crate) fn capture(&self) {
        if self.get().is_none() {
            self.capture_late();
        }
    }

    /// The late capture, kept out of line: a scope created inside a runtime never needs it.
    fn capture_late(&self) {
        if let Ok(handle) = Handle::try_current() {
            let _ = self.late.set(handle);
        }
    }

    /// The captured runtime, if any.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Handle> {
        self.early.as_ref().or_else(|| self.late.get())
    }
}
