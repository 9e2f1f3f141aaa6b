//! Server-shaped examples of `cancel-scope`; see `examples/`. This library is empty.
