//! Reporter conformance: every registered reporter passes every check of
//! `disktracker_testkit::reporter_conformance`.
//!
//! To add a reporter: link it below (`use crate_name as _;`, plus the
//! dev-dependency) and add its name to the `reporters!` line, which creates
//! its rstest case and enters it in the list that
//! `every_registered_reporter_has_a_case` compares with the registry.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::registry;
use disktracker_testkit::reporter_conformance::{plugin, run_all};
use rstest::rstest;

// Linked for their registrations: an unreferenced crate is not linked.
use disktracker_example_reporter as _;
use disktracker_reporter_csv as _;
use disktracker_reporter_html as _;
use disktracker_reporter_json as _;
use disktracker_reporter_prometheus as _;
use disktracker_reporter_table as _;

/// Declares the tested reporter names and one `#[case]` per name.
macro_rules! reporters {
    ($($name:ident),+ $(,)?) => {
        /// Every reporter with a conformance case.
        const REPORTERS: &[&str] = &[$(stringify!($name)),+];

        /// Runs every conformance check against one reporter.
        #[rstest]
        $(#[case::$name(stringify!($name))])+
        fn conformance(#[case] reporter: &str) {
            run_all(plugin(reporter));
        }
    };
}

reporters!(csv, html, json, markdown, prometheus, table);

#[test]
fn every_registered_reporter_has_a_case() {
    let mut cased = REPORTERS.to_vec();
    cased.sort_unstable();
    let registered = registry::reporters()
        .expect("the reporter registry is valid")
        .names();
    assert_eq!(
        cased, registered,
        "every registered reporter needs a conformance case (and every case a registered reporter)"
    );
}
