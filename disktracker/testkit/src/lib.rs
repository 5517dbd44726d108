//! Test kit: fixture trees, independent oracles, and the conformance suites
//! every backend of a kind must pass.
#![forbid(unsafe_code)]

pub mod event_conformance;
pub mod fixtures;
pub mod oracle;
pub mod rng;
pub mod store_conformance;
pub mod walker_conformance;
