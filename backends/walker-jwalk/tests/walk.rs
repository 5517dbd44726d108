//! The jwalk walker against an independent oracle and GNU `du`.
//!
//! The comparison with the default walker, the unprivileged and mount-point
//! cases, and the race tests live in `walker-steal/tests/walk.rs`, which
//! links both walkers; the oracle, fixtures and comparisons come from
//! `disktracker-testkit`.

use std::collections::BTreeSet;
use std::fs;

use disktracker::{ErrorKind, WalkContext, WalkOptions, Walker};
use disktracker_testkit::fixtures::{handmade_walk_tree, tempdir};
use disktracker_testkit::oracle::{self, Options};
use disktracker_testkit::walker_conformance::{
    assert_matches_du, assert_matches_oracle, assert_same, records, scan, totals,
};
use disktracker_walker_jwalk::JwalkWalker;
use rstest::rstest;

#[test]
fn registered_as_jwalk() {
    let walkers = disktracker::registry::walkers().unwrap();
    assert_eq!(walkers.names(), ["jwalk"]);
    let w = (walkers.get("jwalk").unwrap().create)(&disktracker::PluginSettings::empty("jwalk"))
        .unwrap();
    let (_t, root) = tempdir();
    assert_eq!(scan(&*w, &root, 1, |_| {}).len(), 1);
}

#[rstest]
fn handmade_tree_matches_oracle_and_du(#[values(1, 2, 8)] threads: usize) {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
    let tree = scan(&JwalkWalker, &root, threads, |_| {});
    assert_matches_oracle(&tree, &oracle::compute(&root));
    assert_matches_du(&tree, &root, &[], &BTreeSet::new());
    assert_eq!(tree.error_count(), 0);
}

#[rstest]
fn cross_directory_hard_links_and_thread_counts(#[values(1, 8)] threads: usize) {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, true).unwrap();
    let tree = scan(&JwalkWalker, &root, threads, |_| {});
    assert_matches_oracle(&tree, &oracle::compute(&root));
    let single = records(&scan(&JwalkWalker, &root, 1, |_| {}));
    assert_same("same records with 1 thread", &records(&tree), &single);
}

#[test]
fn excluded_entries_are_skipped_entirely() {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
    fs::create_dir_all(root.join("build/tmp/x")).unwrap();
    fs::write(root.join("build/tmp/x/big"), vec![1u8; 9000]).unwrap();
    fs::write(root.join("a/b/z.o"), vec![1u8; 9000]).unwrap();
    let skip = |rel: &[u8]| rel.ends_with(b".o") || rel == b"build/tmp" || rel == b"wide";
    let tree = scan(&JwalkWalker, &root, 2, |o| {
        o.exclude = vec!["*.o".into(), "build/tmp".into(), "wide".into()];
    });
    let want = oracle::compute_with(&root, &Options::skipping(&skip)).dirs;
    assert_same("oracle with excludes", &totals(&tree), &want);
}

#[test]
fn a_cancelled_token_returns_cancelled() {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
    let ctx = WalkContext::default();
    ctx.cancel.cancel();
    let err = JwalkWalker
        .walk(&root, &WalkOptions::default(), &ctx)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn progress_counts_every_directory() {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
    let ctx = WalkContext::default();
    let opts = WalkOptions::with_threads(2);
    let out = JwalkWalker.walk(&root, &opts, &ctx).unwrap();
    let dirs: usize = out.arenas.iter().map(|a| a.len()).sum();
    assert_eq!(
        ctx.progress.dirs.load(std::sync::atomic::Ordering::Relaxed),
        dirs as u64
    );
}
