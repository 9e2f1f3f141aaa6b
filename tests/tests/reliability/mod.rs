//! Shared by the `reliability_*` tests: random trees of scopes ([`case`], made by
//! [`generate`]), a reference model that predicts their outcome ([`model`]) and a harness that
//! runs them for real ([`world`]).
#![allow(dead_code, unreachable_pub)]

pub(crate) mod case;
pub(crate) mod generate;
pub(crate) mod model;
pub(crate) mod world;
