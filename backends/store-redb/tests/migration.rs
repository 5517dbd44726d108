//! Store format 1 → 2 on a file written by the code of commit 720466f
//! (`tests/fixtures/format1.redb`, see the README there): a read-only open
//! reads it as it is and changes nothing; the first writable open migrates
//! it, after which every snapshot, directory and cached diff reads exactly as
//! the read-only open read it before; a failed migration leaves format 1.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use disktracker::model::DiffEntry;
use disktracker::{
    DerivedSnapshot, DirRecord, ErrorKind, LiveBatch, SnapshotInfo, SnapshotQuery, SnapshotStore,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/format1.redb");

const FORMAT_1_TABLES: [&str; 5] = [
    "disktracker.diff_sets",
    "disktracker.diffs",
    "disktracker.dirs",
    "disktracker.meta",
    "disktracker.snapshots",
];

/// A private copy of the fixture (never open the committed file itself).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = temp_store();
    std::fs::copy(FIXTURE, &path).unwrap();
    (dir, path)
}

/// Everything a store answers about its snapshots, directories and diffs.
#[derive(Debug, PartialEq)]
struct Seen {
    snapshots: Vec<SnapshotInfo>,
    trees: Vec<Vec<DirRecord>>,
    /// For every directory of every snapshot: its subtree, children and point lookup.
    per_dir: Vec<(Vec<DirRecord>, Vec<DirRecord>, Option<DirRecord>)>,
    /// Every ordered pair of snapshots (and one unknown id).
    diffs: Vec<Option<Vec<DiffEntry>>>,
}

fn everything(store: &dyn SnapshotStore) -> Seen {
    let snapshots = store.snapshots().unwrap();
    let mut trees = Vec::new();
    let mut per_dir = Vec::new();
    for s in &snapshots {
        let tree = store.read_tree(s.id, None).unwrap();
        for d in &tree {
            per_dir.push((
                store.read_tree(s.id, Some(&d.path)).unwrap(),
                store.children(s.id, &d.path).unwrap(),
                store.dir(s.id, &d.path).unwrap(),
            ));
        }
        trees.push(tree);
    }
    let mut ids: Vec<i64> = snapshots.iter().map(|s| s.id).collect();
    ids.push(99);
    let mut diffs = Vec::new();
    for &a in &ids {
        for &b in &ids {
            diffs.push(store.cached_diff(a, b).unwrap());
        }
    }
    Seen {
        snapshots,
        trees,
        per_dir,
        diffs,
    }
}

/// The snapshots of `root` newest first, and the newest of each root,
/// computed here from the plain snapshot list.
fn selections(snapshots: &[SnapshotInfo], root: &[u8]) -> (Vec<SnapshotInfo>, Vec<SnapshotInfo>) {
    let of_root: Vec<SnapshotInfo> = snapshots
        .iter()
        .rev()
        .filter(|s| s.meta.root == root)
        .cloned()
        .collect();
    let mut newest: Vec<SnapshotInfo> = Vec::new();
    for s in snapshots {
        match newest.iter_mut().find(|n| n.meta.root == s.meta.root) {
            Some(n) if n.id < s.id => *n = s.clone(),
            Some(_) => {}
            None => newest.push(s.clone()),
        }
    }
    newest.sort_by(|a, b| a.meta.root.cmp(&b.meta.root));
    (of_root, newest)
}

fn assert_selections(store: &dyn SnapshotStore, seen: &Seen) {
    let root = seen.snapshots[0].meta.root.clone();
    let (of_root, newest) = selections(&seen.snapshots, &root);
    assert_eq!(
        store
            .find_snapshots(&SnapshotQuery::of_root(&root))
            .unwrap(),
        of_root
    );
    let mut below = root.clone();
    below.extend_from_slice(b"/a/b");
    assert_eq!(
        store
            .find_snapshots(&SnapshotQuery::covering(&below))
            .unwrap(),
        of_root
    );
    assert_eq!(
        store
            .find_snapshots(&SnapshotQuery::covering(b"/elsewhere"))
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .find_snapshots(&SnapshotQuery::any().before(of_root[0].id).limit(1))
            .unwrap(),
        of_root[1..2]
    );
    assert_eq!(store.latest_per_root(None).unwrap(), newest);
}

/// What the README says the fixture holds, checked on what a store reads.
fn assert_is_the_documented_fixture(seen: &Seen) {
    assert_eq!(seen.snapshots.len(), 2);
    assert_eq!(seen.snapshots[0].meta.root, seen.snapshots[1].meta.root);
    assert!(seen.snapshots[0].meta.root.ends_with(b"/tree"));
    for tree in &seen.trees {
        assert_eq!(tree.len(), 5, "{tree:?}");
        assert!(tree.iter().any(|d| d.path.ends_with(b"/caf\xe9")));
    }
    // The diff 1 → 2 was cached by `disktracker diff`, and nothing else.
    let cached: Vec<&Vec<DiffEntry>> = seen.diffs.iter().flatten().collect();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].len(), 6);
    assert_eq!(seen.diffs[1].as_ref(), Some(cached[0]), "the pair (1, 2)");
}

#[test]
fn a_read_only_open_reads_format_1_and_changes_nothing() {
    let (_dir, path) = fixture_copy();
    assert_eq!(raw_format_version(&path), Some(1));
    assert_eq!(raw_table_names(&path), FORMAT_1_TABLES);
    let before = std::fs::read(&path).unwrap();

    let ro = open_ro(&path).unwrap();
    let seen = everything(&ro);
    assert_is_the_documented_fixture(&seen);
    // Snapshot selection works without the root index, and the live tables
    // read as empty.
    assert_selections(&ro, &seen);
    assert_eq!(ro.watch_states().unwrap(), []);
    assert_eq!(ro.mutations_after(0, None, 10).unwrap(), []);
    assert_eq!(ro.dir_deltas(1).unwrap(), []);
    assert_eq!(ro.index_provenance().unwrap(), None);
    drop(ro);

    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a read-only open changed the file"
    );
}

#[test]
fn a_writable_open_migrates_and_everything_reads_as_before() {
    let (_dir, path) = fixture_copy();
    let seen_before = everything(&open_ro(&path).unwrap());

    let store = open(&path);
    let seen_after = everything(&store);
    assert_eq!(seen_after, seen_before);
    assert_selections(&store, &seen_after);
    drop(store);

    assert_eq!(raw_format_version(&path), Some(2));
    let tables = raw_table_names(&path);
    for t in FORMAT_1_TABLES {
        assert!(tables.iter().any(|n| n == t), "{t} missing: {tables:?}");
    }
    assert_eq!(tables.len(), 11, "{tables:?}");
    let index = raw_root_index(&path);
    let expected: Vec<(Vec<u8>, u64)> = seen_before
        .snapshots
        .iter()
        .map(|s| (s.meta.root.clone(), s.id as u64))
        .collect();
    assert_eq!(index, expected);

    // Once migrated, reopening (read-only or not) changes nothing more.
    assert_eq!(everything(&open_ro(&path).unwrap()), seen_before);
    drop(open(&path));
    assert_eq!(raw_root_index(&path), expected);
    assert_eq!(raw_format_version(&path), Some(2));
}

#[test]
fn a_migrated_store_takes_new_snapshots_and_live_data() {
    let (_dir, path) = fixture_copy();
    let mut store = open(&path);
    let seen = everything(&store);
    let root = seen.snapshots[1].meta.root.clone();
    let base = seen.snapshots[1].id;

    // Ids continue after the stored ones.
    let rows = records(&[&root]);
    let mut m = meta(&root);
    m.dir_count = 1;
    let mut w = store.begin_snapshot(&m).unwrap();
    w.write_dir(&rows[0].path, 0, &rows[0].stats).unwrap();
    let new = w.commit().unwrap();
    assert_eq!(new, base + 1);

    // A snapshot derived from a migrated one: the base minus a subtree.
    let removed: Vec<Vec<u8>> = vec![[root.as_slice(), b"/a"].concat()];
    let derived = store
        .derive_snapshot(&DerivedSnapshot {
            base,
            meta: &seen.snapshots[1].meta,
            removed: &removed,
            upserts: &[],
            deltas: &[],
            watch_state: None,
        })
        .unwrap();
    let want: Vec<DirRecord> = seen.trees[1]
        .iter()
        .filter(|d| !d.path.starts_with(&removed[0]))
        .cloned()
        .collect();
    assert_eq!(store.read_tree(derived, None).unwrap(), want);
    assert_eq!(
        store
            .latest(SnapshotQuery::of_root(&root))
            .unwrap()
            .map(|s| s.id),
        Some(derived)
    );
    assert_eq!(store.append_batch(&LiveBatch::default()).unwrap(), 0);
    drop(store);
    // The old snapshots are untouched by all this.
    let after = everything(&open_ro(&path).unwrap());
    assert_eq!(after.snapshots[..2], seen.snapshots[..]);
    assert_eq!(after.trees[..2], seen.trees[..]);
}

#[test]
fn a_failed_migration_leaves_format_1() {
    let (_dir, path) = fixture_copy();
    let good = everything(&open_ro(&path).unwrap());
    // Damage one snapshot record: the root index cannot be built.
    raw_put_snapshot_record(&path, 1, b"not a snapshot record");
    let err = try_open(&path, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(raw_format_version(&path), Some(1));
    assert_eq!(raw_table_names(&path), FORMAT_1_TABLES);
    // What is intact still reads, read-only.
    let ro = open_ro(&path).unwrap();
    assert_eq!(ro.read_tree(2, None).unwrap(), good.trees[1]);
    assert_eq!(ro.snapshots().unwrap_err().kind(), ErrorKind::Corrupt);
}

/// A path beside the fixture must never be opened in place by the tests.
#[test]
fn the_committed_fixture_is_format_1() {
    assert_eq!(raw_format_version(Path::new(FIXTURE)), Some(1));
    assert_eq!(raw_table_names(Path::new(FIXTURE)), FORMAT_1_TABLES);
}
