//! placeholder
pub use cancel_scope_macros::{cancel_scope, cancel_scoped};
