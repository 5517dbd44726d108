//! Walker conformance: every registered walker, on handmade and generated
//! trees, with several thread counts, against the independent oracle and GNU du.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use disktracker::registry;
use disktracker_testkit::fixtures::{gen_tree, handmade_tree, make_removable};
use disktracker_testkit::oracle::{self, key};
use disktracker_testkit::walker_conformance::{
    self as conformance, assert_matches_du, assert_matches_oracle, scan, totals,
};
use rstest::rstest;

use disktracker_walker_jwalk as _;
use disktracker_walker_steal as _;

const WALKERS: &[&str] = &["jwalk", "steal"];

#[test]
fn registered_walkers_are_exactly_the_tested_ones() {
    assert_eq!(registry::walkers().unwrap().names(), WALKERS);
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        make_removable(&self.root);
    }
}

fn fixture(kind: &str) -> &'static Fixture {
    static HANDMADE: OnceLock<Fixture> = OnceLock::new();
    static GEN_SMALL: OnceLock<Fixture> = OnceLock::new();
    static GEN_20K: OnceLock<Fixture> = OnceLock::new();
    let (cell, build): (_, fn(&Path)) = match kind {
        "handmade" => (&HANDMADE, |p| handmade_tree(p).unwrap()),
        "gen-2k" => (&GEN_SMALL, |p| gen_tree(p, 2_000, 3).unwrap()),
        "gen-20k" => (&GEN_20K, |p| gen_tree(p, 20_000, 1).unwrap()),
        other => panic!("unknown fixture {other}"),
    };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("tree");
        build(&root);
        Fixture { _dir: dir, root }
    })
}

#[rstest]
fn matches_oracle_and_du(
    #[values("steal", "jwalk")] walker: &str,
    #[values("handmade", "gen-2k", "gen-20k")] tree: &str,
    #[values(1, 2, 8)] threads: usize,
) {
    let fx = fixture(tree);
    let got = scan(&*conformance::walker(walker), &fx.root, threads, |_| {});
    let want = oracle::compute(&fx.root);
    assert_matches_oracle(&got, &want);
    let compared = assert_matches_du(&got, &fx.root, &[], &want.order_dependent);
    // The comparison with du must cover a good part of the tree to mean
    // anything; generated trees scatter hard links, so about a third of their
    // directories (the ancestors of links that cross them) are excluded.
    assert!(
        compared * 2 >= got.len(),
        "du compared only {compared} of {} dirs",
        got.len()
    );
}

#[rstest]
fn walkers_agree_exactly(#[values("handmade", "gen-20k")] tree: &str) {
    let fx = fixture(tree);
    let a = scan(&*conformance::walker("steal"), &fx.root, 2, |_| {});
    let b = scan(&*conformance::walker("jwalk"), &fx.root, 3, |_| {});
    assert_eq!(totals(&a), totals(&b));
    let fp = |t: &disktracker_engine::ScanTree| -> Vec<(Vec<u8>, u128, i64, u64)> {
        let mut v: Vec<_> = (0..t.len() as u32)
            .map(|i| {
                (
                    t.path(i).to_vec(),
                    t.stats(i).fingerprint,
                    t.stats(i).mtime_ns,
                    t.stats(i).ino,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(fp(&a), fp(&b), "fingerprints, mtimes and inodes agree");
}

#[rstest]
fn hard_link_goes_to_the_bytewise_first_path(#[values("steal", "jwalk")] walker: &str) {
    // Computed here from the fixture's known layout, not by the oracle:
    // h1 (70,000 bytes) has links z/h1, a/h1-link, a-b/h1-link2, and
    // "a-b/h1-link2" sorts first because '-' (0x2d) < '/' (0x2f).
    let fx = fixture("handmade");
    let tree = scan(&*conformance::walker(walker), &fx.root, 2, |_| {});
    let got = totals(&tree);
    let dir = |p: &str| got[&key(&fx.root.join(p))];
    let h1 = std::fs::symlink_metadata(fx.root.join("z/h1")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let own = |p: &str| std::fs::symlink_metadata(fx.root.join(p)).unwrap().size();
    assert_eq!(dir("a-b").direct_apparent, own("a-b") + h1.size());
    assert_eq!(dir("a-b").direct_files, 1);
    assert_eq!(dir("z").direct_apparent, own("z"));
    assert_eq!(dir("z").direct_files, 0);
}

#[rstest]
fn excludes_names_and_paths(#[values("steal", "jwalk")] walker: &str) {
    let fx = fixture("handmade");
    let w = conformance::walker(walker);
    let full = totals(&scan(&*w, &fx.root, 2, |_| {}));
    let tree = totals(&scan(&*w, &fx.root, 2, |o| {
        o.exclude = vec!["wide".into(), "a/b/c".into()];
    }));
    let at = |p: &str| key(&fx.root.join(p));
    assert!(!tree.contains_key(&at("wide")));
    assert!(!tree.contains_key(&at("a/b/c")));
    assert!(tree.contains_key(&at("a/b")));
    let root = &key(&fx.root);
    let removed = full[&at("wide")].total_bytes + full[&at("a/b/c")].total_bytes;
    assert_eq!(tree[root].total_bytes, full[root].total_bytes - removed);
}

#[rstest]
fn cancelled_walk_returns_cancelled(#[values("steal", "jwalk")] walker: &str) {
    let fx = fixture("handmade");
    let ctx = disktracker::WalkContext::default();
    ctx.cancel.cancel();
    let err = conformance::walker(walker)
        .walk(&fx.root, &disktracker::WalkOptions::default(), &ctx)
        .unwrap_err();
    assert_eq!(err.kind(), disktracker::ErrorKind::Cancelled);
}
