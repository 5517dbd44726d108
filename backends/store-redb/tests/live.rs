//! redb-specific sides of the snapshot selection and live-table API (the
//! shared semantics are in the testkit's conformance suite): selection reads
//! the root index, not every snapshot; deletes leave no index entry or delta
//! behind; a derived snapshot of a large base equals the fold computed here.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use disktracker::path::is_within;
use disktracker::{
    DerivedSnapshot, DirDelta, DirRecord, ErrorKind, SnapshotQuery, SnapshotStore, WatchState,
};

fn ids(v: Vec<disktracker::SnapshotInfo>) -> Vec<i64> {
    v.into_iter().map(|s| s.id).collect()
}

/// A damaged snapshot record of another root is never read by a selection
/// that does not include it: the answer comes from the root index.
#[test]
fn selections_read_the_root_index_not_every_snapshot() {
    let (_dir, path) = temp_store();
    {
        let mut store = open(&path);
        for root in [&b"/a"[..], b"/b", b"/a", b"/a-b", b"/a/x"] {
            write_snapshot(&mut store, root, &records(&[root]));
        }
    }
    // Snapshot 2 is the only one of /b.
    raw_put_snapshot_record(&path, 2, b"damaged");
    let store = open(&path);
    assert_eq!(
        ids(store
            .find_snapshots(&SnapshotQuery::of_root(b"/a"))
            .unwrap()),
        [3, 1]
    );
    assert_eq!(
        ids(store
            .find_snapshots(&SnapshotQuery::covering(b"/a/x/y"))
            .unwrap()),
        [5, 3, 1]
    );
    assert_eq!(
        ids(store
            .find_snapshots(&SnapshotQuery::of_root(b"/a").before(3))
            .unwrap()),
        [1]
    );
    assert_eq!(
        ids(store
            .find_snapshots(&SnapshotQuery::any().limit(2))
            .unwrap()),
        [5, 4]
    );
    // What does include it reports the damage.
    for err in [
        store.snapshots().unwrap_err(),
        store.latest_per_root(None).unwrap_err(),
        store
            .find_snapshots(&SnapshotQuery::of_root(b"/b"))
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    }
}

#[test]
fn latest_per_root_seeks_each_root_among_many() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let roots: Vec<Vec<u8>> = (0..12)
        .map(|i| format!("/srv/share-{:02}", (i * 7) % 12).into_bytes())
        .chain([
            b"/srv".to_vec(),
            b"/srv/share-01/x".to_vec(),
            b"/\xff".to_vec(),
        ])
        .collect();
    let mut newest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for round in 0..3 {
        for root in roots.iter().skip(round) {
            let id = write_snapshot(&mut store, root, &records(&[root]));
            newest.insert(root.clone(), id);
        }
    }
    let got: Vec<(Vec<u8>, i64)> = store
        .latest_per_root(None)
        .unwrap()
        .into_iter()
        .map(|s| (s.meta.root, s.id))
        .collect();
    assert_eq!(got, newest.into_iter().collect::<Vec<_>>());
}

#[test]
fn deleting_a_snapshot_leaves_no_index_entry_or_delta() {
    let (_dir, path) = temp_store();
    let (keep, gone) = {
        let mut store = open(&path);
        let rows = records(&[b"/r", b"/r/a"]);
        let keep = write_snapshot(&mut store, b"/r", &rows);
        let gone = write_snapshot(&mut store, b"/r", &rows);
        let delta = |snapshot, path: &[u8]| DirDelta {
            snapshot,
            path: path.to_vec(),
            previous_bytes: Some(1),
            current_bytes: 2,
            recorded_at_ms: 3,
        };
        store
            .record_dir_deltas(&[delta(gone, b"/r"), delta(gone, b"/r/a"), delta(keep, b"/r")])
            .unwrap();
        assert_eq!(store.delete_snapshots(&[gone]).unwrap(), 1);
        (keep, gone)
    };
    assert_eq!(raw_root_index(&path), [(b"/r".to_vec(), keep as u64)]);
    assert_eq!(raw_delta_rows(&path), 1);
    let store = open(&path);
    assert_eq!(store.dir_deltas(gone).unwrap(), []);
    assert_eq!(store.dir_deltas(keep).unwrap().len(), 1);
}

/// A deterministic xorshift, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn a_derived_snapshot_of_a_large_base_equals_the_fold() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let base_rows = synthetic_rows(20_000, 6);
    let root = b"/home".to_vec();
    let base = write_snapshot(&mut store, &root, &base_rows);
    // An unrelated snapshot after the base: its rows must not leak in.
    write_snapshot(&mut store, &root, &synthetic_rows(500, 2));

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Removed: whole components (many rows) and single leaves, some with
    // trailing slashes, one that is not in the base at all.
    let mut removed: Vec<Vec<u8>> = Vec::new();
    let above = |p: &[u8], name: &[u8]| {
        p[..p.windows(name.len()).rposition(|w| w == name).unwrap()].to_vec()
    };
    for i in 0..30 {
        let p = &base_rows[rng.below(base_rows.len() as u64) as usize].path;
        let cut = match if i < 3 { 3 } else { rng.below(3) } {
            // .../workspace-NN: about 540 rows.
            3 => above(p, b"/component-"),
            // .../component-NNN: the directory above src/module/nested-dir.
            0 => above(p, b"/src/"),
            1 => [p.as_slice(), b"/"].concat(),
            _ => p.clone(),
        };
        removed.push(cut);
    }
    removed.push(b"/home/nobody".to_vec());
    // Upserts: replacements of kept and of removed rows, and new rows.
    let mut upserts: BTreeMap<Vec<u8>, DirRecord> = BTreeMap::new();
    for i in 0..4000u64 {
        let path = if i % 3 == 0 {
            let mut p = base_rows[rng.below(base_rows.len() as u64) as usize]
                .path
                .clone();
            p.extend_from_slice(format!("/new-{i}").as_bytes());
            p
        } else {
            base_rows[rng.below(base_rows.len() as u64) as usize]
                .path
                .clone()
        };
        upserts.insert(
            path.clone(),
            DirRecord {
                path,
                depth: 7,
                stats: stats(1_000_000 + i),
            },
        );
    }
    let upserts: Vec<DirRecord> = upserts.into_values().collect();

    // The fold, computed here: remove each subtree, then write each upsert.
    let mut want: BTreeMap<Vec<u8>, DirRecord> = base_rows
        .iter()
        .filter(|r| {
            !removed.iter().any(|cut| {
                let cut = disktracker::path::trim_slashes(cut);
                is_within(&r.path, cut)
            })
        })
        .map(|r| (r.path.clone(), r.clone()))
        .collect();
    let dropped = base_rows.len() - want.len();
    assert!(
        dropped > 100,
        "the removals should cut real subtrees ({dropped})"
    );
    for u in &upserts {
        want.insert(u.path.clone(), u.clone());
    }

    let mut m = meta(&root);
    m.dir_count = want.len() as u64;
    let deltas = vec![DirDelta {
        snapshot: -1,
        path: b"/home".to_vec(),
        previous_bytes: None,
        current_bytes: 42,
        recorded_at_ms: 7,
    }];
    let state = WatchState {
        root: root.clone(),
        mutation_cursor: 12,
        ..WatchState::default()
    };
    let id = store
        .derive_snapshot(&DerivedSnapshot {
            base,
            meta: &m,
            removed: &removed,
            upserts: &upserts,
            deltas: &deltas,
            watch_state: Some(&state),
        })
        .unwrap();
    drop(store);
    let store = open(&path);
    let got = store.read_tree(id, None).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().eq(want.values()),
        "derived tree differs from the fold"
    );
    // The counts are the rows', whatever the caller said.
    let counted = disktracker::SnapshotMeta {
        dir_count: want.len() as u64,
        error_count: want.values().map(|r| r.stats.error_count).sum(),
        ..m.clone()
    };
    assert_eq!(store.snapshot(id).unwrap().unwrap().meta, counted);
    assert_eq!(store.read_tree(base, None).unwrap(), base_rows);
    let recorded = store.dir_deltas(id).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].snapshot, id);
    assert_eq!(
        store.watch_state(&root).unwrap().unwrap().last_snapshot,
        Some(id)
    );
}
