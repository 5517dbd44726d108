//! The redb store on real files: round trips, ordering, transactions, deletes,
//! diffs, reopening, read-only use, bad files, locking and space reclaim.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use disktracker::model::DiffEntry;
use disktracker::{DirRecord, DirStats, ErrorKind, SnapshotStore};
use rstest::rstest;

#[test]
fn registered_as_redb_with_its_own_extension() {
    let plugin = disktracker::registry::stores()
        .unwrap()
        .get("redb")
        .unwrap();
    assert_eq!(plugin.extension, "redb");
    let (_dir, path) = temp_store();
    let store = (plugin.open)(&disktracker::StoreOptions::file(path.clone())).unwrap();
    assert_eq!(store.location().file(), Some(path.as_path()));
    assert!(store.snapshots().unwrap().is_empty());
}

#[rstest]
#[case::zeros(0, DirStats::default())]
#[case::maxima(u32::MAX, DirStats {
    total_bytes: u64::MAX,
    total_apparent: u64::MAX,
    direct_bytes: u64::MAX,
    direct_apparent: u64::MAX,
    file_count: u64::MAX,
    direct_files: u64::MAX,
    child_count: u64::MAX,
    error_count: u64::MAX,
    mtime_ns: i64::MAX,
    dev: u64::MAX,
    ino: u64::MAX,
    fingerprint: u128::MAX,
})]
#[case::minima_and_high_bits(7, DirStats {
    mtime_ns: i64::MIN,
    fingerprint: 1u128 << 127 | 1,
    dev: 1 << 63,
    ..DirStats::default()
})]
#[case::distinct_fields(3, stats(123_456))]
fn every_field_round_trips(#[case] depth: u32, #[case] s: DirStats) {
    let (_dir, path) = temp_store();
    let rec = DirRecord {
        path: b"/r/x".to_vec(),
        depth,
        stats: s,
    };
    let id = {
        let mut store = open(&path);
        write_snapshot(&mut store, b"/r", std::slice::from_ref(&rec))
    };
    // Through a fresh open, so the bytes really went through the file.
    let store = open(&path);
    assert_eq!(store.dir(id, b"/r/x").unwrap(), Some(rec.clone()));
    assert_eq!(store.read_tree(id, None).unwrap(), vec![rec.clone()]);
    assert_eq!(store.children(id, b"/r").unwrap(), vec![rec]);
}

#[test]
fn snapshot_meta_round_trips_including_non_utf8_root() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let mut m = meta(b"/data/\xff\xfe/\n");
    m.host = "h\u{f6}st".into();
    m.started_at_ms = i64::MIN;
    m.finished_at_ms = i64::MAX;
    m.total_files = u64::MAX;
    m.total_bytes = u64::MAX - 1;
    m.total_apparent = 17;
    m.dir_count = 1;
    m.error_count = 9;
    m.walker = "jwalk".into();
    let w = store.begin_snapshot(&m).unwrap();
    let id = w.commit().unwrap();
    drop(store);
    let store = open(&path);
    let info = store.snapshot(id).unwrap().unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.meta, m);
    assert_eq!(store.snapshots().unwrap(), vec![info]);
}

#[test]
fn non_utf8_paths_are_stored_and_found_byte_exact() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let rows = records(&[
        b"/r",
        b"/r/\xff",
        b"/r/\xff/\x80\x81",
        b"/r/caf\xc3\xa9",
        b"/r/line\nbreak",
        b"/r/\x01ctl",
    ]);
    let id = write_snapshot(&mut store, b"/r", &rows);
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(store.read_tree(id, None).unwrap(), sorted);
    assert_eq!(
        store.dir(id, b"/r/\xff/\x80\x81").unwrap().map(|r| r.stats),
        Some(rows[2].stats)
    );
    assert_eq!(
        visited(&store, id, Some(b"/r/\xff")),
        [b"/r/\xff".to_vec(), b"/r/\xff/\x80\x81".to_vec()]
    );
    let kids: Vec<_> = store
        .children(id, b"/r")
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        kids,
        [
            &b"/r/\x01ctl"[..],
            b"/r/caf\xc3\xa9",
            b"/r/line\nbreak",
            b"/r/\xff"
        ]
    );
}

/// Space-separated paths.
fn words(s: &str) -> Vec<Vec<u8>> {
    s.split_whitespace()
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

/// Bytewise, `P-x` and `P.x` sort between `P` and `P/…`, and `P0` right after
/// `P/…`: none of them is in `P`'s subtree.
const TRAPS: &[&[u8]] = &[
    b"/",
    b"/P",
    b"/P-x",
    b"/P-x/in",
    b"/P.x",
    b"/P/a",
    b"/P/a/deep",
    b"/P/a/deep/er",
    b"/P/a-b",
    b"/P/a.b/c",
    b"/P/b",
    b"/P0",
    b"/P0/z",
    b"/Pz",
    b"/Q",
];

#[rstest]
#[case::whole(
    None,
    "/ /P /P-x /P-x/in /P.x /P/a /P/a-b /P/a.b/c /P/a/deep /P/a/deep/er /P/b /P0 /P0/z /Pz /Q"
)]
#[case::root(Some(&b"/"[..]), "/ /P /P-x /P-x/in /P.x /P/a /P/a-b /P/a.b/c /P/a/deep /P/a/deep/er /P/b /P0 /P0/z /Pz /Q")]
#[case::subtree(Some(&b"/P"[..]), "/P /P/a /P/a-b /P/a.b/c /P/a/deep /P/a/deep/er /P/b")]
#[case::nested(Some(&b"/P/a"[..]), "/P/a /P/a/deep /P/a/deep/er")]
#[case::sibling_with_dash(Some(&b"/P-x"[..]), "/P-x /P-x/in")]
#[case::leaf(Some(&b"/Pz"[..]), "/Pz")]
#[case::missing_dir_with_stored_descendants(Some(&b"/P/a.b"[..]), "/P/a.b/c")]
#[case::absent(Some(&b"/nope"[..]), "")]
#[case::prefix_of_names_only(Some(&b"/P/a/d"[..]), "")]
fn visit_tree_is_bytewise_and_respects_subtree_bounds(
    #[case] under: Option<&[u8]>,
    #[case] expect: &str,
) {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    // A second snapshot around it must not leak into the first one's ranges.
    write_snapshot(&mut store, b"/", &records(&[b"/", b"/P", b"/P/zz", b"/P0"]));
    let got = visited(&store, id, under);
    let expect = words(expect);
    assert_eq!(got, expect);
    // Records carry their own stats, not a neighbour's.
    for r in store.read_tree(id, under).unwrap() {
        let i = TRAPS.iter().position(|p| *p == r.path.as_slice()).unwrap();
        assert_eq!(r.stats, stats(i as u64 + 1));
    }
}

#[rstest]
#[case::root(&b"/"[..], "/P /P-x /P.x /P0 /Pz /Q")]
#[case::p(&b"/P"[..], "/P/a /P/a-b /P/b")]
#[case::nested(&b"/P/a"[..], "/P/a/deep")]
#[case::leaf(&b"/P/b"[..], "")]
#[case::absent(&b"/none"[..], "")]
fn children_are_immediate_and_path_ordered(#[case] parent: &[u8], #[case] expect: &str) {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    let got: Vec<Vec<u8>> = store
        .children(id, parent)
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let expect = words(expect);
    assert_eq!(got, expect);
}

#[test]
fn children_of_a_wide_and_deep_tree_match_a_filter() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let mut rows = synthetic_rows(5000, 0);
    // Add every ancestor so each level has children.
    let mut all = std::collections::BTreeSet::new();
    for r in &rows {
        let mut p = r.path.clone();
        while let Some(parent) = disktracker::path::parent_bytes(&p) {
            all.insert(parent.to_vec());
            p = parent.to_vec();
        }
    }
    let have: std::collections::HashSet<Vec<u8>> = rows.iter().map(|r| r.path.clone()).collect();
    for p in all {
        if !have.contains(&p) {
            rows.push(DirRecord {
                path: p,
                depth: 0,
                stats: stats(7),
            });
        }
    }
    let id = write_snapshot(&mut store, b"/", &rows);
    for parent in [
        &b"/"[..],
        b"/home/someone/projects",
        b"/home/someone/projects/workspace-03",
    ] {
        let expect: Vec<Vec<u8>> = {
            let mut v: Vec<Vec<u8>> = rows
                .iter()
                .filter(|r| disktracker::path::parent_bytes(&r.path) == Some(parent))
                .map(|r| r.path.clone())
                .collect();
            v.sort();
            v
        };
        assert!(!expect.is_empty());
        let got: Vec<Vec<u8>> = store
            .children(id, parent)
            .unwrap()
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(
            got,
            expect,
            "children of {}",
            String::from_utf8_lossy(parent)
        );
    }
}

#[rstest]
#[case(None, 1)]
#[case(None, 4)]
#[case(Some(&b"/P"[..]), 1)]
#[case(Some(&b"/P"[..]), 3)]
fn visit_tree_stops_early(#[case] under: Option<&[u8]>, #[case] stop_after: usize) {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    let all = visited(&store, id, under);
    let mut seen = Vec::new();
    store
        .visit_tree(id, under, &mut |r| {
            seen.push(r.path.clone());
            seen.len() < stop_after
        })
        .unwrap();
    assert_eq!(seen, all[..stop_after]);
}

#[test]
fn unknown_snapshots_are_absent_or_not_found() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    let empty = write_snapshot(&mut store, b"/", &[]);
    store.delete_snapshots(&[id]).unwrap();
    for bad in [0, -1, i64::MIN, id, empty + 1, i64::MAX] {
        // Lookups answer "absent"...
        assert_eq!(store.snapshot(bad).unwrap(), None);
        assert_eq!(store.dir(bad, b"/P").unwrap(), None);
        assert_eq!(store.cached_diff(bad, empty).unwrap(), None);
        // ...while walking a snapshot that does not exist is an error, as
        // in the SQLite store, so a typo is not mistaken for an empty tree.
        for err in [
            store.children(bad, b"/").unwrap_err(),
            store.read_tree(bad, None).unwrap_err(),
            store.read_tree(bad, Some(b"/P")).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert!(
                err.to_string().contains(&format!("snapshot {bad} ")),
                "{err}"
            );
            assert!(err.to_string().contains("data.redb"), "{err}");
        }
    }
    // A snapshot without directories exists: empty, not an error.
    assert!(store.read_tree(empty, None).unwrap().is_empty());
    assert!(store.children(empty, b"/").unwrap().is_empty());
}

#[rstest]
#[case::trailing_slash(&b"/P/"[..], &b"/P"[..])]
#[case::many_slashes(&b"/P/a///"[..], &b"/P/a"[..])]
#[case::empty_is_root(&b""[..], &b"/"[..])]
#[case::root_slashes(&b"//"[..], &b"/"[..])]
fn paths_with_trailing_slashes_mean_the_directory(#[case] given: &[u8], #[case] plain: &[u8]) {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    assert_eq!(
        visited(&store, id, Some(given)),
        visited(&store, id, Some(plain))
    );
    assert_eq!(
        store.children(id, given).unwrap(),
        store.children(id, plain).unwrap()
    );
    assert_eq!(store.dir(id, given).unwrap(), store.dir(id, plain).unwrap());
    assert!(store.dir(id, given).unwrap().is_some());
}

#[test]
fn ids_increase_and_are_never_reused() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let a = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    let b = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    assert!(a > 0 && b > a);
    assert_eq!(store.delete_snapshots(&[b]).unwrap(), 1);
    drop(store);
    let mut store = open(&path);
    let c = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    assert!(c > b, "id {c} reused after deleting {b}");
    let ids: Vec<i64> = store.snapshots().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [a, c]);
}

#[test]
fn dropping_the_writer_rolls_everything_back() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let kept = write_snapshot(&mut store, b"/", &records(TRAPS));
    {
        let mut w = store.begin_snapshot(&meta(b"/")).unwrap();
        // Enough rows to span several chunks handed to redb before the drop.
        for (i, p) in synthetic_paths(20_000).iter().enumerate() {
            w.write_dir(p, 3, &stats(i as u64)).unwrap();
        }
    }
    assert_eq!(store.snapshots().unwrap().len(), 1);
    assert_eq!(store.read_tree(kept, None).unwrap().len(), TRAPS.len());
    assert_eq!(
        store.read_tree(kept + 1, None).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    drop(store);
    assert_eq!(
        raw_dir_rows(&path),
        TRAPS.len() as u64,
        "rows of the dropped snapshot remain"
    );
    let mut store = open(&path);
    assert_eq!(store.snapshots().unwrap().len(), 1);
    let next = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    assert!(next > kept);
    assert_eq!(visited(&store, next, None), [b"/".to_vec()]);
}

#[rstest]
#[case::duplicate("/a /a")]
#[case::descending("/b /a")]
#[case::dash_after_slash("/P/x /P-x")]
fn out_of_order_rows_are_refused_and_nothing_is_stored(#[case] paths: &str) {
    let paths = words(paths);
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    {
        let mut w = store.begin_snapshot(&meta(b"/")).unwrap();
        w.write_dir(&paths[0], 1, &stats(1)).unwrap();
        let err = w.write_dir(&paths[1], 1, &stats(2)).unwrap_err();
        assert!(err.to_string().contains("order"), "{err}");
        assert!(err.to_string().contains("data.redb"), "{err}");
    }
    assert!(store.snapshots().unwrap().is_empty());
}

fn diff(path: &[u8], a: Option<u64>, b: Option<u64>) -> DiffEntry {
    DiffEntry {
        path: path.to_vec(),
        bytes_a: a,
        bytes_b: b,
        apparent_a: a.map(|x| x / 2),
        apparent_b: b.map(|x| x / 3),
    }
}

#[test]
fn diffs_are_cached_replaced_and_kept_in_order() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let a = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    let b = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    assert_eq!(store.cached_diff(a, b).unwrap(), None);
    // Sorted by delta, not path: the store must hand back the same order.
    let entries = vec![
        diff(b"/z", Some(1), Some(u64::MAX)),
        diff(b"/\xff", None, Some(5)),
        diff(b"/a", Some(9), None),
        diff(b"/", Some(0), Some(0)),
    ];
    store.store_diff(a, b, &entries).unwrap();
    assert_eq!(store.cached_diff(a, b).unwrap(), Some(entries.clone()));
    assert_eq!(store.cached_diff(b, a).unwrap(), None, "a diff is directed");
    let replacement = vec![diff(b"/only", Some(1), Some(2))];
    store.store_diff(a, b, &replacement).unwrap();
    assert_eq!(store.cached_diff(a, b).unwrap(), Some(replacement));
    // No change at all is a cached answer too, unlike "not cached".
    store.store_diff(b, a, &[]).unwrap();
    assert_eq!(store.cached_diff(b, a).unwrap(), Some(vec![]));
    drop(store);
    let store = open(&path);
    assert_eq!(store.cached_diff(b, a).unwrap(), Some(vec![]));
    assert_eq!(store.cached_diff(a, b).unwrap().unwrap().len(), 1);
}

#[test]
fn a_diff_of_a_missing_snapshot_is_refused() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let a = write_snapshot(&mut store, b"/", &records(&[b"/"]));
    for (x, y) in [(a, a + 1), (a + 1, a), (0, a)] {
        let err = store
            .store_diff(x, y, &[diff(b"/", Some(1), Some(2))])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
    assert_eq!(store.cached_diff(a, a + 1).unwrap(), None);
}

#[test]
fn delete_cascades_to_dirs_and_every_diff_involving_the_snapshot() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let s1 = write_snapshot(&mut store, b"/", &records(TRAPS));
    let s2 = write_snapshot(&mut store, b"/", &records(TRAPS));
    let s3 = write_snapshot(&mut store, b"/", &records(&[b"/", b"/P"]));
    let e = vec![diff(b"/P", Some(1), Some(2))];
    for (x, y) in [(s1, s2), (s2, s1), (s1, s3), (s2, s3), (s3, s2)] {
        store.store_diff(x, y, &e).unwrap();
    }
    // Duplicates, unknown and impossible ids count once or not at all.
    assert_eq!(store.delete_snapshots(&[s1, s1, 999, -4, 0]).unwrap(), 1);
    assert_eq!(store.snapshot(s1).unwrap(), None);
    assert_eq!(
        store.read_tree(s1, None).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(store.dir(s1, b"/P").unwrap(), None);
    for (x, y) in [(s1, s2), (s2, s1), (s1, s3)] {
        assert_eq!(store.cached_diff(x, y).unwrap(), None);
    }
    for (x, y) in [(s2, s3), (s3, s2)] {
        assert_eq!(store.cached_diff(x, y).unwrap(), Some(e.clone()));
    }
    assert_eq!(store.read_tree(s2, None).unwrap().len(), TRAPS.len());
    assert_eq!(store.delete_snapshots(&[s1]).unwrap(), 0);
    assert_eq!(store.delete_snapshots(&[s2, s3]).unwrap(), 2);
    assert!(store.snapshots().unwrap().is_empty());
    assert_eq!(store.cached_diff(s2, s3).unwrap(), None);
    drop(store);
    assert_eq!(
        raw_dir_rows(&path),
        0,
        "directory rows outlived their snapshots"
    );
    assert_eq!(
        raw_diff_rows(&path),
        0,
        "cached diff rows outlived their snapshots"
    );
    let store = open(&path);
    assert!(store.snapshots().unwrap().is_empty());
}

#[test]
fn new_files_are_private_and_parents_are_created_0700() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/nested/data.redb");
    let store = open(&path);
    drop(store);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/nested")), 0o700);
}

#[test]
fn read_only_reads_and_refuses_every_write() {
    let (_dir, path) = temp_store();
    let id = write_snapshot(&mut open(&path), b"/", &records(TRAPS));
    let before = std::fs::read(&path).unwrap();
    let mut ro = open_ro(&path).unwrap();
    assert_eq!(ro.snapshots().unwrap().len(), 1);
    assert_eq!(visited(&ro, id, Some(b"/P/a")).len(), 3);
    let errs = [
        ro.begin_snapshot(&meta(b"/")).err().unwrap(),
        ro.delete_snapshots(&[id]).unwrap_err(),
        ro.store_diff(id, id, &[]).unwrap_err(),
        ro.reclaim_space().unwrap_err(),
    ];
    for e in errs {
        assert!(e.to_string().contains("read-only"), "{e}");
        assert!(e.to_string().contains("data.redb"), "{e}");
    }
    assert_eq!(ro.snapshots().unwrap().len(), 1);
    drop(ro);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a read-only open changed the file"
    );
}

#[test]
fn an_existing_empty_file_is_refused_untouched() {
    // The store never leaves an empty file at its path (it creates the
    // store under a temporary name), so an empty file there is not its own.
    let (_dir, path) = temp_store();
    std::fs::write(&path, b"").unwrap();
    for read_only in [true, false] {
        let err = try_open(&path, read_only).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("empty file"), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
    std::fs::remove_file(&path).unwrap();
    assert!(open(&path).snapshots().unwrap().is_empty());
    // Nothing but the store is left in the directory.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [path.file_name().unwrap()]);
}

#[test]
fn read_only_on_a_missing_file_is_not_found_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/data.redb");
    let err = open_ro(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("data.redb"), "{err}");
    assert!(!dir.path().join("sub").exists());
}

fn assert_corrupt_and_untouched(path: &std::path::Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    for read_only in [false, true] {
        let err = if read_only {
            open_ro(path)
        } else {
            try_open(path, read_only)
        }
        .unwrap_err();
        // A reader cannot tell a cut-short redb file from one whose writer
        // was killed (both need recovery), so it tries to recover it, which
        // finds the damage before writing anything.
        assert_eq!(
            err.kind(),
            ErrorKind::Corrupt,
            "read_only={read_only}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(err.hint().is_some(), "{msg}");
        assert_eq!(
            std::fs::read(path).unwrap(),
            content,
            "the file was modified"
        );
    }
}

#[rstest]
#[case::text(b"this is not a database\n".repeat(500))]
#[case::tiny(b"re".to_vec())]
#[case::sqlite_header(b"SQLite format 3\0".iter().copied().chain(std::iter::repeat_n(0, 8192)).collect())]
#[case::zeros(vec![0; 70_000])]
fn garbage_is_corrupt_and_left_byte_identical(#[case] content: Vec<u8>) {
    let (_dir, path) = temp_store();
    assert_corrupt_and_untouched(&path, &content);
}

#[test]
fn a_truncated_store_is_corrupt_and_left_byte_identical() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    write_snapshot(&mut store, b"/", &records(TRAPS));
    drop(store);
    let full = std::fs::read(&path).unwrap();
    assert_corrupt_and_untouched(&path, &full[..full.len() / 3]);
}

#[test]
fn damaged_bytes_never_panic() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let rows = synthetic_rows(3000, 2);
    let id = write_snapshot(&mut store, b"/", &rows);
    drop(store);
    let good = std::fs::read(&path).unwrap();
    // Flip bytes at many offsets; each open and read may fail, but cleanly.
    let step = (good.len() / 97).max(1);
    for at in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        for b in &mut bad[at..(at + 64).min(good.len())] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bad).unwrap();
        if let Ok(store) = open_ro(&path) {
            let _ = store.snapshots();
            let _ = store.read_tree(id, None);
            let _ = store.children(id, b"/home");
        }
        // A writable open may let redb repair what it can; it must not panic either.
        if let Ok(mut store) = try_open(&path, false) {
            let _ = store.snapshots();
            let _ = store.read_tree(id, Some(b"/home/someone"));
            let _ = store.delete_snapshots(&[id]);
            let _ = store.reclaim_space();
        }
    }
}

#[test]
fn a_newer_format_is_refused_with_a_clear_error() {
    let (_dir, path) = temp_store();
    drop(open(&path));
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, u64> =
                redb::TableDefinition::new("disktracker.meta");
            let mut t = txn.open_table(def).unwrap();
            t.insert("format_version", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    for read_only in [false, true] {
        let err = try_open(&path, read_only).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(err.to_string().contains("99"), "{err}");
    }
    // Untouched: no migration ran, no table was added or dropped.
    let tables = raw_table_names(&path);
    for read_only in [false, true] {
        try_open(&path, read_only).unwrap_err();
    }
    assert_eq!(raw_format_version(&path), Some(99));
    assert_eq!(raw_table_names(&path), tables);
}

#[test]
fn a_foreign_redb_file_is_refused_untouched() {
    let (_dir, path) = temp_store();
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("someone_elses");
            txn.open_table(def).unwrap().insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    for read_only in [true, false] {
        let err = try_open(&path, read_only).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("not a disktracker store"), "{err}");
    }
    // A writable open lets redb update its own bookkeeping, but nothing of
    // ours is added and the owner's data is intact.
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    assert_eq!(names, ["someone_elses"]);
    let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("someone_elses");
    let t = txn.open_table(def).unwrap();
    assert_eq!(redb::ReadableTable::get(&t, 1).unwrap().unwrap().value(), 2);
}

#[test]
fn a_second_open_is_locked_until_the_first_closes() {
    let (_dir, path) = temp_store();
    let store = open(&path);
    for read_only in [false, true] {
        let err = try_open_now(&path, read_only).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Locked,
            "read_only={read_only}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("another disktracker is using"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("--db"), "{msg}");
        assert!(msg.contains("plugins.redb.lock_timeout"), "{msg}");
    }
    drop(store);
    drop(open(&path));
}

#[test]
fn readers_share_but_exclude_a_writer() {
    let (_dir, path) = temp_store();
    drop(open(&path));
    let r1 = open_ro(&path).unwrap();
    let r2 = open_ro(&path).unwrap();
    let err = try_open_now(&path, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    drop((r1, r2));
    drop(open(&path));
}

#[test]
fn an_unwritable_location_is_a_permission_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores mode bits; sysfs refuses new files even to root.
    let path = if std::fs::File::create(locked.join("probe")).is_ok() {
        std::path::PathBuf::from("/sys/disktracker-test.redb")
    } else {
        locked.join("data.redb")
    };
    let err = try_open(&path, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.hint().is_some(), "{err}");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn deleted_space_is_reused_and_reclaim_bounds_the_file() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let rows = synthetic_rows(20_000, 6);
    let first = write_snapshot(&mut store, b"/", &rows);
    let one = std::fs::metadata(&path).unwrap().len();
    // Rolling retention without reclaim: freed pages are reused, so the file
    // stays near two snapshots' worth instead of growing with every scan.
    let mut prev = first;
    for _ in 0..8 {
        let next = write_snapshot(&mut store, b"/", &rows);
        store.delete_snapshots(&[prev]).unwrap();
        prev = next;
    }
    let rolling = std::fs::metadata(&path).unwrap().len();
    assert!(
        rolling <= 4 * one,
        "file grew to {rolling} bytes from {one} with one snapshot kept"
    );
    // Many snapshots, then prune all but one and reclaim.
    let mut ids = vec![prev];
    for _ in 0..9 {
        ids.push(write_snapshot(&mut store, b"/", &rows));
    }
    let big = std::fs::metadata(&path).unwrap().len();
    assert!(
        big >= 6 * one,
        "ten snapshots take {big} bytes, one takes {one}"
    );
    let keep = *ids.last().unwrap();
    store.delete_snapshots(&ids[..ids.len() - 1]).unwrap();
    store.reclaim_space().unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    let (len, used) = store.space_usage().unwrap();
    assert_eq!(len, after);
    assert!(
        after <= 2 * one,
        "after reclaim the file is {after} bytes; one snapshot took {one}"
    );
    assert!(used <= len);
    assert_eq!(store.read_tree(keep, None).unwrap(), rows);
    // Nothing left to gain: reclaiming again leaves the file as it is.
    store.reclaim_space().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), after);
    drop(store);
    let store = open(&path);
    assert_eq!(store.read_tree(keep, None).unwrap().len(), rows.len());
}

#[test]
fn a_panicking_visitor_panics_through_unchanged() {
    let (_dir, path) = temp_store();
    let mut store = open(&path);
    let id = write_snapshot(&mut store, b"/", &records(TRAPS));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.visit_tree(id, None, &mut |_| panic!("visitor's own bug"))
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"visitor's own bug"));
    // The store is still usable afterwards.
    assert_eq!(store.read_tree(id, None).unwrap().len(), TRAPS.len());
}

#[test]
fn racing_first_opens_are_ok_or_locked_never_corrupt() {
    for round in 0..20 {
        let (_dir, path) = temp_store();
        let barrier = std::sync::Barrier::new(4);
        let results: Vec<disktracker::Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        try_open(path, i % 2 == 1 && round % 2 == 1).map(drop)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            if let Err(e) = r {
                assert!(
                    matches!(e.kind(), ErrorKind::Locked | ErrorKind::NotFound),
                    "round {round}: {e}"
                );
            }
        }
        // Whoever won left a valid, empty store behind.
        assert!(open(&path).snapshots().unwrap().is_empty());
    }
}
