//! A warm rescan reads the previous snapshot through a second handle while
//! the new one is written (`Beside::reader`), or through the store before the
//! write when that handle is not offered or does not open. All three give
//! the same changes, the same cached diff and the same stored snapshot, and
//! the changes are the ones the test made to the tree.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use disktracker::registry::{self, Plugin as _};
use disktracker::report::ChangeSummary;
use disktracker::{
    DiffEntry, DirRecord, Error, ErrorKind, Result, SnapshotStore, StoreOptions, WalkContext,
    WalkOptions,
};
use disktracker_engine::{
    Beside, OpenReader, ScanBy, ScanOutcome, ScanRetention, store_walk_beside, walk_to_store,
};
use disktracker_store_sqlite as _;
use disktracker_testkit::fixtures::tempdir;
use disktracker_walker_steal as _;

fn options(db: &Path) -> StoreOptions {
    let p = registry::stores().unwrap().get("sqlite").unwrap();
    StoreOptions::file(db).with_settings(p.default_settings().unwrap())
}

fn open(db: &Path) -> Box<dyn SnapshotStore> {
    (registry::stores().unwrap().get("sqlite").unwrap().open)(&options(db)).unwrap()
}

fn scan(store: &mut dyn SnapshotStore, root: &Path, beside: &Beside<'_>) -> ScanOutcome {
    let p = registry::walkers().unwrap().get("steal").unwrap();
    let walker = (p.create)(&p.default_settings().unwrap()).unwrap();
    let by = ScanBy {
        walker: "steal",
        host: "test",
    };
    let ctx = WalkContext::default();
    let (out, origin, start) =
        walk_to_store(&*walker, by, root, &WalkOptions::with_threads(2), &ctx).unwrap();
    store_walk_beside(
        store,
        out,
        &origin,
        &ctx.cancel,
        ScanRetention::default(),
        start,
        beside,
    )
    .unwrap()
}

fn file(path: &Path, len: usize) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, vec![b'x'; len]).unwrap();
}

fn snapshot(store: &dyn SnapshotStore, id: i64) -> Vec<DirRecord> {
    let mut rows = Vec::new();
    store
        .visit_tree(id, None, &mut |r| {
            rows.push(r.clone());
            true
        })
        .unwrap();
    rows
}

#[test]
fn a_rescan_finds_the_same_changes_whichever_handle_reads_the_previous_snapshot() {
    let (_t, dir) = tempdir();
    let root = dir.join("tree");
    for (p, len) in [
        ("a/f", 10_000),
        ("b/g", 3_000),
        ("gone/h", 5_000),
        ("gone/sub/i", 1),
    ] {
        file(&root.join(p), len);
    }
    let dbs = ["first", "beside", "refused"].map(|n| dir.join(format!("{n}.db")));
    let mut stores: Vec<_> = dbs.iter().map(|db| open(db)).collect();
    for s in &mut stores {
        scan(&mut **s, &root, &Beside::default());
    }
    // Grow /a by 200 kB, add /new, remove /gone (and /gone/sub).
    file(&root.join("a/more"), 200_000);
    file(&root.join("new/j"), 7_000);
    fs::remove_dir_all(root.join("gone")).unwrap();

    let (opened, asked) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let second = || {
        let opts = options(&dbs[1]).read_only(true);
        let r = (registry::stores().unwrap().get("sqlite").unwrap().open)(&opts);
        opened.fetch_add(usize::from(r.is_ok()), Ordering::Relaxed);
        r
    };
    let refused = || -> Result<Box<dyn SnapshotStore>> {
        asked.fetch_add(1, Ordering::Relaxed);
        Err(Error::new(ErrorKind::Database, "refused"))
    };
    let readers: [Option<Box<OpenReader<'_>>>; 3] =
        [None, Some(Box::new(second)), Some(Box::new(refused))];
    let mut seen: Vec<(ChangeSummary, Vec<DiffEntry>, Vec<DirRecord>)> = Vec::new();
    for (store, reader) in stores.iter_mut().zip(readers) {
        let beside = Beside {
            reader,
            ..Beside::default()
        };
        let out = scan(&mut **store, &root, &beside);
        let since = out.since.expect("a warm rescan reports its changes");
        let cached = store
            .cached_diff(since.previous, out.snapshot.id)
            .unwrap()
            .expect("the rescan caches its diff");
        seen.push((since, cached, snapshot(&**store, out.snapshot.id)));
    }
    assert_eq!(opened.load(Ordering::Relaxed), 1, "the second handle read");
    assert_eq!(
        asked.load(Ordering::Relaxed),
        1,
        "the refusing one was asked"
    );
    let (since, cached, rows) = &seen[0];
    assert_eq!(
        (since.changed_dirs, since.added_dirs, since.removed_dirs),
        (2, 1, 2),
        "root and /a changed, /new added, /gone and /gone/sub removed: {since:?}"
    );
    let paths: Vec<String> = cached
        .iter()
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    let r = root.to_str().unwrap();
    assert_eq!(
        paths,
        [
            r.to_owned(),
            format!("{r}/a"),
            format!("{r}/gone"),
            format!("{r}/gone/sub"),
            format!("{r}/new")
        ]
    );
    for (i, other) in seen.iter().enumerate().skip(1) {
        assert_eq!(&other.0, since, "changes, reader {i}");
        assert_eq!(&other.1, cached, "cached diff, reader {i}");
        assert_eq!(&other.2, rows, "stored snapshot, reader {i}");
    }
}

/// Another process deletes the root's previous snapshot (`snapshots delete`,
/// or its own scan's retention) after this rescan chose it and before it
/// read it: through the second handle (its read fails, and so does the
/// store's after the commit) or with no second handle (the store's read
/// before the write fails). The scan is stored all the same, without a
/// change summary, and says why.
#[test]
fn a_previous_snapshot_deleted_during_a_rescan_costs_the_summary_not_the_scan() {
    let (_t, dir) = tempdir();
    let root = dir.join("tree");
    file(&root.join("a/f"), 10_000);
    file(&root.join("b/g"), 3_000);
    for offered in [true, false] {
        let db = dir.join(format!("offered-{offered}.db"));
        let mut store = open(&db);
        let first = scan(&mut *store, &root, &Beside::default()).snapshot.id;
        let deleted = AtomicUsize::new(0);
        // Runs once the rescan has chosen `first`, just before its write.
        let delete_then_open = || -> Result<Box<dyn SnapshotStore>> {
            deleted.fetch_add(open(&db).delete_snapshots(&[first])?, Ordering::Relaxed);
            if offered {
                (registry::stores().unwrap().get("sqlite").unwrap().open)(
                    &options(&db).read_only(true),
                )
            } else {
                Err(Error::new(ErrorKind::Database, "refused"))
            }
        };
        let beside = Beside {
            reader: Some(Box::new(delete_then_open)),
            ..Beside::default()
        };
        let out = scan(&mut *store, &root, &beside);
        assert_eq!(deleted.load(Ordering::Relaxed), 1, "offered: {offered}");
        assert!(out.since.is_none(), "offered: {offered}");
        let lost = out.since_lost.expect("the scan says why it has no summary");
        assert_eq!(lost.kind(), ErrorKind::NotFound, "{lost}");
        let ids: Vec<i64> = store.snapshots().unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, [out.snapshot.id], "offered: {offered}");
        let rows = snapshot(&*store, out.snapshot.id);
        let sizes: Vec<(String, u64)> = rows
            .iter()
            .map(|r| {
                let path = String::from_utf8_lossy(&r.path);
                let rel = path.strip_prefix(root.to_str().unwrap()).unwrap();
                (rel.to_owned(), r.stats.file_count)
            })
            .collect();
        assert_eq!(
            sizes,
            [("".into(), 2), ("/a".into(), 1), ("/b".into(), 1)],
            "the new snapshot is the tree, offered: {offered}"
        );
    }
}
