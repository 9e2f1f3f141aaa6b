//! Validate stage: every rule about what was written, each error on the offending tokens, all
//! reported together. It turns the parse stage's structures into what the expand stage needs:
//!
//! - `config`: the options, each at most once, exclusive ones alone, each where it may be
//!   written, into a [`Config`];
//! - `signature`: the function of `#[cancel_scoped]` (`async`, returns `ScopeResult<T, E>`);
//! - `placement`: every rule about where a body form may stand, into a [`Plan`] (one action
//!   per form), plus the warnings (late options, a body value written `Ok(..)`), worded by
//!   `advice`.
//!
//! Validation never gives up early: on an error it still returns something usable (the
//! offending option ignored, a body marked as rejected), so expansion can go on and rustc does
//! not pile unrelated errors on top of ours.

mod advice;
mod config;
mod placement;
mod signature;

pub(crate) use config::{Config, validate_options};
pub(crate) use placement::{Action, Plan, Scope, validate_body};
pub(crate) use signature::validate_fn;
