//! Behaviour tests of `cancel-scope` live in `tests/`; this library is empty.
