//! Store conformance: every registered SnapshotStore passes every check of
//! `disktracker_testkit::store_conformance`.
//!
//! To add a store: link it below (`use disktracker_store_x as _;`, plus the
//! dev-dependency) and add its name to the `stores!` line — one line, which
//! both creates its rstest case and enters it in the list that
//! `every_registered_store_has_a_case` compares with the registry.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::registry;
use disktracker_testkit::store_conformance::{plugin, run_all};
use rstest::rstest;

// Linked for their registrations: an unreferenced crate is not linked.
use disktracker_store_postgres as _;
use disktracker_store_redb as _;
use disktracker_store_sqlite as _;

/// Declares the tested store names and one `#[case]` per name; attributes
/// before a name (`#[ignore = "needs …"]`) apply to its case only.
macro_rules! stores {
    ($($(#[$attr:meta])* $name:ident),+ $(,)?) => {
        /// Every store with a conformance case.
        const STORES: &[&str] = &[$(stringify!($name)),+];

        /// Runs every conformance check against one store; a failure lists
        /// all the checks that failed, each also printing its own message.
        #[rstest]
        $($(#[$attr])* #[case::$name(stringify!($name))])+
        fn conformance(#[case] store: &str) {
            run_all(plugin(store));
        }
    };
}

// The PostgreSQL case runs against the testkit's own throwaway server
// (`disktracker_testkit::postgres`), which needs the server binaries:
// `cargo test -- --include-ignored` where they are installed.
stores!(
    sqlite,
    redb,
    #[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
    postgres,
);

#[test]
fn every_registered_store_has_a_case() {
    let mut cased = STORES.to_vec();
    cased.sort_unstable();
    let registered = registry::stores()
        .expect("the store registry is valid")
        .names();
    assert_eq!(
        cased, registered,
        "every registered store needs a conformance case (and every case a registered store)"
    );
}
