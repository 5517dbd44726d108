//! Test kit: fixture trees, independent oracles, and the conformance suites
//! every backend of a kind must pass.
#![forbid(unsafe_code)]

pub mod store_conformance;
