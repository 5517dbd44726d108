//! Event-source conformance: every registered EventSource passes every check
//! of `disktracker_testkit::event_conformance`, on real file-system changes.
//!
//! To add a source: link it below and add its name to the `sources!` line,
//! which creates its rstest case and enters it in the list that
//! `every_registered_source_has_a_case` compares with the registry.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::registry;
use disktracker_testkit::event_conformance::{plugin, run_all};
use rstest::rstest;

// Linked for its registration: an unreferenced crate is not linked.
use disktracker_events_inotify as _;
use disktracker_events_notify as _;

/// Declares the tested source names and one `#[case]` per name.
macro_rules! sources {
    ($($name:ident),+ $(,)?) => {
        /// Every source with a conformance case.
        const SOURCES: &[&str] = &[$(stringify!($name)),+];

        /// Runs every conformance check against one source.
        #[rstest]
        $(#[case::$name(stringify!($name))])+
        fn conformance(#[case] source: &str) {
            run_all(plugin(source));
        }
    };
}

sources!(inotify, notify);

#[test]
fn every_registered_source_has_a_case() {
    let mut cased = SOURCES.to_vec();
    cased.sort_unstable();
    let registered = registry::event_sources()
        .expect("the event-source registry is valid")
        .names();
    assert_eq!(
        cased, registered,
        "every registered event source needs a conformance case (and every case a registered source)"
    );
}
