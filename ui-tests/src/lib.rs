//! trybuild cases live in `tests/fail` and `tests/pass`; this library is empty.
