//! Walker conformance: every registered Walker passes every check of
//! `disktracker_testkit::walker_conformance`, on real trees, against the
//! independent oracle and GNU `du`.
//!
//! To add a walker: link it below (`use disktracker_walker_x as _;`, plus
//! the dev-dependency) and add its name to the `walkers!` line — one line,
//! which creates its rstest cases and enters it in the list that
//! `every_registered_walker_has_a_case` compares with the registry.

use disktracker::registry;
use disktracker_testkit::walker_conformance::{plugin, run_all, run_root_checks};
use rstest::rstest;

// Linked for their registrations: an unreferenced crate is not linked.
use disktracker_walker_jwalk as _;
use disktracker_walker_steal as _;

/// Declares the tested walker names and one `#[case]` per name.
macro_rules! walkers {
    ($($name:ident),+ $(,)?) => {
        /// Every walker with a conformance case.
        const WALKERS: &[&str] = &[$(stringify!($name)),+];

        /// Runs every conformance check against one walker; a failure lists
        /// all the checks that failed, each also printing its own message.
        #[rstest]
        $(#[case::$name(stringify!($name))])+
        fn conformance(#[case] walker: &str) {
            run_all(plugin(walker));
        }

        /// The checks that mount file systems (`one_file_system`).
        #[rstest]
        $(#[case::$name(stringify!($name))])+
        #[ignore = "needs root"]
        fn conformance_as_root(#[case] walker: &str) {
            run_root_checks(plugin(walker));
        }
    };
}

walkers!(steal, jwalk);

#[test]
fn every_registered_walker_has_a_case() {
    let mut cased = WALKERS.to_vec();
    cased.sort_unstable();
    let registered = registry::walkers()
        .expect("the walker registry is valid")
        .names();
    assert_eq!(
        cased, registered,
        "every registered walker needs a conformance case (and every case a registered walker)"
    );
}
