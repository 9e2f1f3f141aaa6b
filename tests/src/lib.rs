//! Behaviour tests of `cancel-scope` live in `tests/`; this library only compiles the README's
//! Rust examples as doctests, so the README cannot drift from the API.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
