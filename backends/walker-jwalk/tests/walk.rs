//! What only the `jwalk` walker does, beyond the walker conformance suite
//! every walker passes (`disktracker/testkit/tests/walkers.rs`): it opens
//! entries by full path, so it refuses trees deeper than `PATH_MAX` rather
//! than return part of them.

use disktracker::ErrorKind;
use disktracker_testkit::fixtures::tempdir;
use disktracker_testkit::walker_conformance::{check_deep_tree, scan};
use disktracker_walker_jwalk::JwalkWalker;

#[test]
fn a_tree_deeper_than_path_max_is_refused_naming_the_walker_to_use() {
    let err = check_deep_tree(&JwalkWalker).expect_err("jwalk cannot open such paths");
    assert_eq!(err.kind(), ErrorKind::Plugin);
    let text = err.to_string();
    assert!(text.contains("jwalk walker cannot scan"), "{text}");
    assert!(text.contains("bytes long"), "{text}");
    assert!(
        err.hint().is_some_and(|h| h.contains("--walker steal")),
        "{text}"
    );
}

#[test]
fn registered_as_jwalk() {
    let walkers = disktracker::registry::walkers().unwrap();
    assert_eq!(walkers.names(), ["jwalk"]);
    let w = (walkers.get("jwalk").unwrap().create)(&disktracker::PluginSettings::empty("jwalk"))
        .unwrap();
    let (_t, root) = tempdir();
    assert_eq!(scan(&*w, &root, 1, |_| {}).len(), 1);
}
