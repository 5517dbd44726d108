//! Test kit: fixture trees, independent oracles, and the conformance suites
//! every backend of a kind must pass.
#![forbid(unsafe_code)]
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod event_conformance;
pub mod fixtures;
pub mod oracle;
pub mod postgres;
pub mod reporter_conformance;
pub mod reports;
pub mod rng;
pub mod store_conformance;
pub mod treegen;
pub mod walker_conformance;

use std::panic::{AssertUnwindSafe, catch_unwind};

use disktracker::Result;
use disktracker::registry::{Plugin, Registry};

/// A named conformance check of one plugin kind.
pub type Check<P> = (&'static str, fn(&'static P));

/// Runs every check against `plugin`, each isolated (a panic fails that
/// check only), and panics listing every failed one; their own messages are
/// printed as they fail.
pub fn run_checks<P: Plugin>(plugin: &'static P, checks: &[Check<P>]) {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(name, check)| {
            eprintln!("{} {:?}: {name}", P::KIND, plugin.name());
            catch_unwind(AssertUnwindSafe(|| check(plugin))).is_err()
        })
        .map(|(name, _)| *name)
        .collect();
    assert!(
        failed.is_empty(),
        "{} {:?} failed {} of {} conformance checks: {}",
        P::KIND,
        plugin.name(),
        failed.len(),
        checks.len(),
        failed.join(", ")
    );
}

/// The plugin called `name` in `registry`; panics (naming the registered
/// ones) when the test binary did not link it.
pub fn registered<P: Plugin>(registry: Result<&'static Registry<P>>, name: &str) -> &'static P {
    match registry.and_then(|r| r.get(name)) {
        Ok(p) => p,
        Err(e) => panic!(
            "{} {name:?} is not registered in this test binary: {e}",
            P::KIND
        ),
    }
}
