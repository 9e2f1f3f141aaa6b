//! Adversarial: SPEC section 5 "Propagation, hand-over and panic forwarding are iterative":
//! scopes nested task-in-task 20,000 deep must not overflow a stack.
#![allow(clippy::all, clippy::pedantic, clippy::nursery)] // adversarial tests: clarity over lint style

mod deep_nesting;

use deep_nesting::{Flavor, MIB, nested_cancel, watchdog};

// SPEC 5: "scopes nested task-in-task 20,000 deep ... must not overflow a stack" (current_thread)
#[test]
fn nested_20000_task_in_task_cancel_resumes_innermost_panic_current_thread() {
    watchdog("nested current", 8 * MIB, 30, || {
        nested_cancel(Flavor::CurrentThread)
    });
}
