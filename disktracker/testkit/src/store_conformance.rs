//! Conformance suite for [`SnapshotStore`] implementations.
//!
//! Every check is a plain function taking the store's registration
//! ([`StorePlugin`]); it opens fresh stores in its own temporary directory,
//! uses real data and panics with a message naming the duty that failed.
//! [`CHECKS`] lists them all; `tests/stores.rs` runs every check against
//! every registered store.
//!
//! The duties, beyond the trait's documentation:
//!
//! * every [`DirStats`] field round-trips exactly, including values above
//!   `i64::MAX` and a full `u128` fingerprint; paths are bytes (not UTF-8,
//!   control characters) and order is bytewise (`a-b` < `a/b` < `a0`);
//! * a subtree `P` is `P` itself plus the paths starting with `P/`, so
//!   `P-x` (which sorts between them) is not in it; `/` contains everything;
//! * an unknown snapshot is [`ErrorKind::NotFound`] for `visit_tree` and
//!   `children`, and `None` for `snapshot` and `dir`;
//! * a writer dropped without commit leaves nothing;
//! * deleting snapshots removes their directories and every cached diff
//!   that mentions them, and nothing else; it returns how many existed;
//!   ids are never reused (caches elsewhere name snapshots by id);
//! * a stored diff (even an empty one) is a cache hit; storing replaces;
//! * a read-only store reads everything, refuses every write and leaves the
//!   file byte-identical; opening a missing file read-only is
//!   [`ErrorKind::NotFound`] and creates nothing;
//! * a file that is not the store's is [`ErrorKind::Corrupt`], the error
//!   names the file, and the file is left byte-identical;
//! * after deleting most snapshots, `reclaim_space` shrinks the store's
//!   files, and add/delete cycles keep them bounded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::rng::Rng;
use disktracker::model::DiffEntry;
use disktracker::path::{escape_bytes, is_within, parent_bytes};
use disktracker::registry::Plugin as _;
use disktracker::{
    DirRecord, DirStats, ErrorKind, Result, SnapshotId, SnapshotInfo, SnapshotMeta, SnapshotStore,
    StoreOptions, StorePlugin, registry,
};

/// Every check, by name.
pub const CHECKS: &[crate::Check<StorePlugin>] = &[
    (
        "every_field_and_path_round_trips",
        every_field_and_path_round_trips,
    ),
    (
        "snapshots_are_listed_oldest_first_with_metadata",
        snapshots_are_listed_oldest_first_with_metadata,
    ),
    ("dir_and_children_lookups", dir_and_children_lookups),
    (
        "subtree_visits_and_early_stop",
        subtree_visits_and_early_stop,
    ),
    (
        "reads_match_an_oracle_on_a_generated_tree",
        reads_match_an_oracle_on_a_generated_tree,
    ),
    ("unknown_and_empty_snapshots", unknown_and_empty_snapshots),
    (
        "dropped_writer_leaves_nothing",
        dropped_writer_leaves_nothing,
    ),
    (
        "delete_cascades_to_dirs_and_diffs_only",
        delete_cascades_to_dirs_and_diffs_only,
    ),
    (
        "cached_diffs_round_trip_and_replace",
        cached_diffs_round_trip_and_replace,
    ),
    ("reopening_keeps_everything", reopening_keeps_everything),
    (
        "read_only_reads_and_refuses_writes",
        read_only_reads_and_refuses_writes,
    ),
    (
        "foreign_file_is_corrupt_and_untouched",
        foreign_file_is_corrupt_and_untouched,
    ),
    (
        "reclaim_space_shrinks_and_bounds_the_files",
        reclaim_space_shrinks_and_bounds_the_files,
    ),
    (
        "release_memory_keeps_the_store_usable",
        release_memory_keeps_the_store_usable,
    ),
];

/// Runs every check against `plugin` (see [`crate::run_checks`]).
pub fn run_all(plugin: &'static StorePlugin) {
    crate::run_checks(plugin, CHECKS);
}

/// The registered store called `name` (see [`crate::registered`]).
pub fn plugin(name: &str) -> &'static StorePlugin {
    crate::registered(registry::stores(), name)
}

/// A temporary directory holding one store file.
pub struct Scratch {
    dir: tempfile::TempDir,
    plugin: &'static StorePlugin,
    path: PathBuf,
}

impl Scratch {
    /// A new empty directory; the store file is `data.<extension>` in it.
    pub fn new(plugin: &'static StorePlugin) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join(format!("data.{}", plugin.extension));
        Scratch { dir, plugin, path }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the store read-write or read-only.
    pub fn try_open(&self, read_only: bool) -> Result<Box<dyn SnapshotStore>> {
        (self.plugin.open)(
            &StoreOptions::file(self.path.clone())
                .read_only(read_only)
                .with_settings(self.plugin.default_settings()?),
        )
    }

    /// Opens the store read-write; panics with the store's error.
    pub fn open(&self) -> Box<dyn SnapshotStore> {
        self.try_open(false)
            .unwrap_or_else(|e| panic!("store {:?}: open failed: {e}", self.plugin.name))
    }

    /// Total bytes of every file in the directory (the store file and any
    /// sidecar such as a write-ahead log).
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(self.dir.path())
            .expect("list the scratch directory")
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }
}

/// A row to write: path, depth, stats.
pub type Row = (Vec<u8>, u32, DirStats);

/// Writes and commits one snapshot; `rows` are sorted bytewise first.
pub fn write_snapshot(
    store: &mut dyn SnapshotStore,
    meta: &SnapshotMeta,
    rows: &[Row],
) -> SnapshotId {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut w = store
        .begin_snapshot(meta)
        .unwrap_or_else(|e| panic!("begin_snapshot: {e}"));
    for (path, depth, stats) in sorted {
        w.write_dir(path, *depth, stats)
            .unwrap_or_else(|e| panic!("write_dir {}: {e}", escape_bytes(path)));
    }
    w.commit().unwrap_or_else(|e| panic!("commit: {e}"))
}

/// Snapshot metadata for `root` with every field set.
pub fn meta_for(root: &[u8], n: u64) -> SnapshotMeta {
    SnapshotMeta {
        root: root.to_vec(),
        started_at_ms: 1_700_000_000_000 + n as i64,
        finished_at_ms: 1_700_000_000_500 + n as i64,
        host: format!("host-{n}"),
        total_files: 10 + n,
        total_bytes: u64::MAX - n,
        total_apparent: (1 << 63) + n,
        dir_count: 3 + n,
        error_count: n,
        walker: "conformance".into(),
    }
}

/// Stats exercising every field; `i` picks extreme values for small `i`.
pub fn stats_for(i: u64) -> DirStats {
    match i {
        0 => DirStats {
            total_bytes: u64::MAX,
            total_apparent: u64::MAX - 1,
            direct_bytes: u64::MAX - 2,
            direct_apparent: u64::MAX - 3,
            file_count: u64::MAX - 4,
            direct_files: u64::MAX - 5,
            child_count: u64::MAX - 6,
            error_count: u64::MAX - 7,
            mtime_ns: i64::MIN,
            dev: u64::MAX,
            ino: u64::MAX - 8,
            fingerprint: u128::MAX,
        },
        1 => DirStats {
            mtime_ns: -1,
            ..DirStats::default()
        },
        2 => DirStats {
            total_bytes: 1 << 63,
            total_apparent: (1 << 63) - 1,
            mtime_ns: i64::MAX,
            fingerprint: 1 << 127 | 1 << 63 | 1,
            ..stats_for(3)
        },
        _ => {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            DirStats {
                total_bytes: x >> 3,
                total_apparent: x >> 4,
                direct_bytes: x >> 20,
                direct_apparent: x >> 21,
                file_count: i * 7,
                direct_files: i % 13,
                child_count: i % 5,
                error_count: i % 3,
                mtime_ns: 1_700_000_000_000_000_000 + i as i64,
                dev: 2049 + i % 2,
                ino: x >> 40,
                fingerprint: u128::from(x) << 64 | u128::from(!x),
            }
        }
    }
}

/// Depth of `path` below `root`.
fn depth_below(root: &[u8], path: &[u8]) -> u32 {
    if path.len() <= root.len() {
        0
    } else {
        path[root.len()..].iter().filter(|&&b| b == b'/').count() as u32
    }
}

/// Rows for `paths` below `root`, stats numbered from `seed`.
pub fn rows_for(root: &[u8], paths: &[&[u8]], seed: u64) -> Vec<Row> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.to_vec(), depth_below(root, p), stats_for(seed + i as u64)))
        .collect()
}

/// The handmade tree: ordering traps (`a b` < `a-b` < `a.x` < `a` + `/` <
/// `a0`), bytes that are not UTF-8, control characters, multibyte UTF-8.
pub fn tricky_paths() -> Vec<&'static [u8]> {
    vec![
        b"/t",
        b"/t/a",
        b"/t/a b",
        b"/t/a-b",
        b"/t/a-b/c",
        b"/t/a.x",
        b"/t/a/b",
        b"/t/a/b/c",
        b"/t/a/b0",
        b"/t/a0",
        b"/t/caf\xe9",
        b"/t/caf\xe9/\xff\xfe",
        b"/t/\x01ctl",
        b"/t/z\nline",
        "/t/\u{fc}ber".as_bytes(),
    ]
}

fn shown(paths: &[Vec<u8>]) -> Vec<String> {
    paths.iter().map(|p| escape_bytes(p).into_owned()).collect()
}

fn paths_of(recs: &[DirRecord]) -> Vec<Vec<u8>> {
    recs.iter().map(|r| r.path.clone()).collect()
}

fn read_tree(store: &dyn SnapshotStore, id: SnapshotId, under: Option<&[u8]>) -> Vec<DirRecord> {
    store.read_tree(id, under).unwrap_or_else(|e| {
        panic!(
            "read_tree({id}, {:?}): {e}",
            under.map(|u| escape_bytes(u).into_owned())
        )
    })
}

fn as_records(rows: &[Row]) -> Vec<DirRecord> {
    let mut v: Vec<DirRecord> = rows
        .iter()
        .map(|(path, depth, stats)| DirRecord {
            path: path.clone(),
            depth: *depth,
            stats: *stats,
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// Asserts two record lists are equal, comparing paths first for a readable message.
fn assert_records(what: &str, got: &[DirRecord], want: &[DirRecord]) {
    assert_eq!(
        shown(&paths_of(got)),
        shown(&paths_of(want)),
        "{what}: paths (in order)"
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}: record of {}", escape_bytes(&w.path));
    }
}

/// Write, commit and read back: every field, bytewise order, non-UTF-8 paths.
pub fn every_field_and_path_round_trips(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let id = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
    let want = as_records(&rows);
    let got = read_tree(store.as_ref(), id, None);
    assert_records("read_tree of the whole snapshot", &got, &want);

    // Bytewise order, spelled out for the classic traps.
    let pos = |p: &[u8]| got.iter().position(|r| r.path == p).expect("present");
    assert!(pos(b"/t/a b") < pos(b"/t/a-b"), "' ' sorts before '-'");
    assert!(pos(b"/t/a-b") < pos(b"/t/a/b"), "'-' sorts before '/'");
    assert!(pos(b"/t/a/b/c") < pos(b"/t/a/b0"), "'/' sorts before '0'");
    assert!(pos(b"/t/a0") < pos(b"/t/caf\xe9"), "bytes, not characters");
    assert!(
        pos(b"/t/caf\xe9") < pos("/t/\u{fc}ber".as_bytes()),
        "0xe9 < 0xfc"
    );

    // The same values through the point lookup.
    for w in &want {
        let d = store
            .dir(id, &w.path)
            .unwrap_or_else(|e| panic!("dir {}: {e}", escape_bytes(&w.path)));
        assert_eq!(d.as_ref(), Some(w), "dir({})", escape_bytes(&w.path));
    }
}

/// `snapshots()` is oldest first with increasing ids; metadata round-trips.
pub fn snapshots_are_listed_oldest_first_with_metadata(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    assert!(
        store.snapshots().expect("snapshots").is_empty(),
        "new store is empty"
    );
    let roots: [&[u8]; 3] = [b"/t", b"/m\xffnot-utf8", b"/t"];
    let mut want = Vec::new();
    for (n, root) in roots.iter().enumerate() {
        let meta = meta_for(root, n as u64);
        let rows = rows_for(root, &[root], n as u64);
        let id = write_snapshot(store.as_mut(), &meta, &rows);
        assert!(id > 0, "ids are positive");
        want.push(SnapshotInfo { id, meta });
    }
    let got = store.snapshots().expect("snapshots");
    assert_eq!(got, want, "snapshots(): oldest first, metadata exact");
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    for w in &want {
        assert_eq!(store.snapshot(w.id).expect("snapshot").as_ref(), Some(w));
    }
}

/// `dir()` and `children()`, including the `P-x` trap and the root `/`.
pub fn dir_and_children_lookups(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let a = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
    // A second snapshot sharing paths with other stats, plus its own.
    let other: Vec<&[u8]> = vec![b"/t", b"/t/a", b"/t/a/b", b"/t/a/only-b", b"/t/a0"];
    let rows_b = rows_for(b"/t", &other, 100);
    let b = write_snapshot(store.as_mut(), &meta_for(b"/t", 1), &rows_b);

    let kids = |id: SnapshotId, p: &[u8]| -> Vec<String> {
        let got = store
            .children(id, p)
            .unwrap_or_else(|e| panic!("children({id}, {}): {e}", escape_bytes(p)));
        for r in &got {
            assert_eq!(
                parent_bytes(&r.path),
                Some(p),
                "child of {}",
                escape_bytes(p)
            );
        }
        shown(&paths_of(&got))
    };
    let expect =
        |v: &[&[u8]]| -> Vec<String> { shown(&v.iter().map(|p| p.to_vec()).collect::<Vec<_>>()) };
    let mut top: Vec<&[u8]> = tricky_paths()
        .into_iter()
        .filter(|p| parent_bytes(p) == Some(b"/t"))
        .collect();
    top.sort();
    assert_eq!(kids(a, b"/t"), expect(&top), "children of /t");
    assert_eq!(
        kids(a, b"/t/a"),
        expect(&[b"/t/a/b", b"/t/a/b0"]),
        "children of /t/a skip /t/a-b and /t/a.x"
    );
    assert_eq!(kids(a, b"/t/a-b"), expect(&[b"/t/a-b/c"]));
    assert_eq!(kids(a, b"/t/caf\xe9"), expect(&[b"/t/caf\xe9/\xff\xfe"]));
    assert_eq!(kids(a, b"/t/a/b/c"), expect(&[]), "a leaf has no children");
    assert_eq!(
        kids(a, b"/t/missing"),
        expect(&[]),
        "a missing directory has no children"
    );
    assert_eq!(kids(a, b"/"), expect(&[b"/t"]), "children of the root /");
    assert_eq!(
        kids(b, b"/t/a"),
        expect(&[b"/t/a/b", b"/t/a/only-b"]),
        "other snapshot's children"
    );

    // Full records from children(), not just paths.
    let want_b = as_records(&rows_b);
    let got = store.children(b, b"/t").expect("children");
    let want: Vec<DirRecord> = want_b
        .iter()
        .filter(|r| parent_bytes(&r.path) == Some(b"/t"))
        .cloned()
        .collect();
    assert_records("children(b, /t)", &got, &want);

    // dir(): each snapshot its own stats; absent paths are None.
    for r in &want_b {
        assert_eq!(store.dir(b, &r.path).expect("dir").as_ref(), Some(r));
    }
    assert_eq!(
        store.dir(a, b"/t/a/only-b").expect("dir"),
        None,
        "only in the other snapshot"
    );
    assert_eq!(
        store.dir(b, b"/t/a-b").expect("dir"),
        None,
        "only in the first snapshot"
    );
    assert_eq!(store.dir(a, b"/t/missing").expect("dir"), None);
}

/// `visit_tree` with `under`: `P` plus `P/…` only, `/` is everything, early stop.
pub fn subtree_visits_and_early_stop(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    // Neighbouring snapshots must not leak into the visited one.
    write_snapshot(
        store.as_mut(),
        &meta_for(b"/t", 0),
        &rows_for(b"/t", &[b"/t", b"/t/a", b"/t/a/x"], 50),
    );
    let id = write_snapshot(store.as_mut(), &meta_for(b"/t", 1), &rows);
    write_snapshot(
        store.as_mut(),
        &meta_for(b"/t", 2),
        &rows_for(b"/t", &[b"/t", b"/t/a", b"/t/a/z"], 60),
    );
    let all = as_records(&rows);

    let expect_under = |p: &[u8]| -> Vec<DirRecord> {
        all.iter()
            .filter(|r| is_within(&r.path, p))
            .cloned()
            .collect()
    };
    let unders: [&[u8]; 9] = [
        b"/t",
        b"/t/a",
        b"/t/a-b",
        b"/t/a/b",
        b"/t/a/b/c",
        b"/t/caf\xe9",
        b"/t/missing",
        b"/",
        b"/t/a/b0",
    ];
    for p in unders {
        let got = read_tree(store.as_ref(), id, Some(p));
        assert_records(
            &format!("visit_tree under {}", escape_bytes(p)),
            &got,
            &expect_under(p),
        );
    }
    let got = paths_of(&read_tree(store.as_ref(), id, Some(b"/t/a")));
    assert!(
        !got.iter()
            .any(|p| p.starts_with(b"/t/a-") || p.starts_with(b"/t/a.") || p == b"/t/a0"),
        "P-x is not under P"
    );
    assert_eq!(
        read_tree(store.as_ref(), id, Some(b"/u")).len(),
        0,
        "a path after every row"
    );
    assert_eq!(
        read_tree(store.as_ref(), id, Some(b"/a")).len(),
        0,
        "a path before every row"
    );

    // Early stop: exactly as many visits as allowed, in order.
    for (under, limit) in [
        (None, 1usize),
        (None, 4),
        (Some(&b"/t/a"[..]), 1),
        (Some(&b"/t/a"[..]), 2),
    ] {
        let mut seen = Vec::new();
        store
            .visit_tree(id, under, &mut |r| {
                seen.push(r.path.clone());
                seen.len() < limit
            })
            .expect("visit_tree");
        let full = paths_of(&read_tree(store.as_ref(), id, under));
        assert_eq!(
            shown(&seen),
            shown(&full[..limit]),
            "stopping after {limit}"
        );
    }
}

/// About `n` directories below `root` whose names share prefixes and differ
/// in bytes around `/` (`-`, `.`, `0`, space, 0xff), so many subtrees have
/// `P-x` neighbours.
fn generated_tree(root: &[u8], n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    const NAMES: &[&[u8]] = &[
        b"a",
        b"a-",
        b"a-b",
        b"a.",
        b"a0",
        b"a b",
        b"ab",
        b"b",
        b"\xff",
        b"\xc3\xa9",
        b"z",
    ];
    let mut all = BTreeSet::new();
    all.insert(root.to_vec());
    let mut dirs = vec![root.to_vec()];
    while all.len() < n {
        let parent = dirs[rng.below(dirs.len())].clone();
        if parent.len() > 90 {
            continue;
        }
        let name = NAMES[rng.below(NAMES.len())];
        let mut p = parent;
        p.push(b'/');
        p.extend_from_slice(name);
        if all.insert(p.clone()) {
            dirs.push(p);
        }
    }
    all.into_iter().collect()
}

/// Every read against a brute-force oracle on a generated tree, with other
/// snapshots (overlapping paths) stored before and after it.
pub fn reads_match_an_oracle_on_a_generated_tree(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let mut rng = Rng::new(0x5eed_1234_abcd_ef01);
    let root: &[u8] = b"/gen";
    let mut ids = Vec::new();
    let mut trees = Vec::new();
    for n in 0..3u64 {
        let paths = generated_tree(root, 1500, &mut rng);
        let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        let rows = rows_for(root, &refs, 1000 * n);
        ids.push(write_snapshot(store.as_mut(), &meta_for(root, n), &rows));
        trees.push(as_records(&rows));
    }
    for (id, all) in ids.iter().zip(&trees) {
        assert_records(
            "whole generated tree",
            &read_tree(store.as_ref(), *id, None),
            all,
        );
        // A sample of directories, the deepest and the root among them.
        let mut sample: Vec<&DirRecord> = all.iter().step_by(7).collect();
        sample.push(&all[0]);
        sample.extend(all.iter().max_by_key(|r| r.path.len()));
        for d in sample {
            let p = d.path.as_slice();
            let under: Vec<DirRecord> = all
                .iter()
                .filter(|r| is_within(&r.path, p))
                .cloned()
                .collect();
            assert_records(
                &format!("subtree {}", escape_bytes(p)),
                &read_tree(store.as_ref(), *id, Some(p)),
                &under,
            );
            let kids: Vec<DirRecord> = all
                .iter()
                .filter(|r| parent_bytes(&r.path) == Some(p))
                .cloned()
                .collect();
            let got = store.children(*id, p).expect("children");
            assert_records(&format!("children of {}", escape_bytes(p)), &got, &kids);
            assert_eq!(store.dir(*id, p).expect("dir").as_ref(), Some(d));
        }
    }
}

/// After `release_memory` (called by a scan after reading the previous
/// snapshot) every read and write still gives the same answers.
pub fn release_memory_keeps_the_store_usable(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let mut rng = Rng::new(0xfeed_0000_1111_2222);
    let root: &[u8] = b"/rel";
    let paths = generated_tree(root, 800, &mut rng);
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let rows = as_records(&rows_for(root, &refs, 7));
    let a = write_snapshot(
        store.as_mut(),
        &meta_for(root, 0),
        &rows_for(root, &refs, 7),
    );
    assert_records("before release", &read_tree(store.as_ref(), a, None), &rows);
    store.release_memory();
    assert_records("after release", &read_tree(store.as_ref(), a, None), &rows);
    store.release_memory();
    let b = write_snapshot(
        store.as_mut(),
        &meta_for(root, 1),
        &rows_for(root, &refs, 7),
    );
    assert_records(
        "written after release",
        &read_tree(store.as_ref(), b, None),
        &rows,
    );
    assert_eq!(
        store.dir(a, &rows[5].path).expect("dir").as_ref(),
        Some(&rows[5])
    );
}

/// Unknown snapshots are errors or `None`; an empty snapshot is valid.
pub fn unknown_and_empty_snapshots(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let known = write_snapshot(
        store.as_mut(),
        &meta_for(b"/t", 0),
        &rows_for(b"/t", &[b"/t"], 0),
    );
    let unknown = known + 1000;
    assert_eq!(store.snapshot(unknown).expect("snapshot"), None);
    assert_eq!(store.dir(unknown, b"/t").expect("dir"), None);
    let err = store
        .visit_tree(unknown, None, &mut |_| true)
        .expect_err("visit_tree of an unknown snapshot");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = store
        .children(unknown, b"/t")
        .expect_err("children of an unknown snapshot");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let empty = write_snapshot(store.as_mut(), &meta_for(b"/e", 1), &[]);
    assert!(read_tree(store.as_ref(), empty, None).is_empty());
    assert!(read_tree(store.as_ref(), empty, Some(b"/e")).is_empty());
    assert!(store.children(empty, b"/e").expect("children").is_empty());
    assert_eq!(store.snapshots().expect("snapshots").len(), 2);
}

/// A writer dropped without commit (error, Ctrl-C) leaves no trace.
pub fn dropped_writer_leaves_nothing(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let kept = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
    let before = store.snapshots().expect("snapshots");
    {
        let mut w = store.begin_snapshot(&meta_for(b"/t", 1)).expect("begin");
        for r in as_records(&rows) {
            w.write_dir(&r.path, r.depth, &r.stats).expect("write_dir");
        }
        // Dropped here without commit.
    }
    assert_eq!(
        store.snapshots().expect("snapshots"),
        before,
        "no snapshot from the dropped writer"
    );
    // The store is usable and the next snapshot holds exactly its own rows.
    let next = write_snapshot(store.as_mut(), &meta_for(b"/t", 2), &rows[..3]);
    assert_records(
        "after a dropped writer",
        &read_tree(store.as_ref(), next, None),
        &as_records(&rows[..3]),
    );
    assert_records(
        "the earlier snapshot",
        &read_tree(store.as_ref(), kept, None),
        &as_records(&rows),
    );
    drop(store);
    let store = s.open();
    assert_eq!(
        store.snapshots().expect("snapshots").len(),
        2,
        "still nothing after reopening"
    );
}

fn diff_entries(tag: u64) -> Vec<DiffEntry> {
    let mut v = vec![
        DiffEntry {
            path: b"/t".to_vec(),
            bytes_a: Some(u64::MAX),
            bytes_b: Some(tag),
            apparent_a: Some(1 << 63),
            apparent_b: Some(0),
        },
        DiffEntry {
            path: b"/t/caf\xe9".to_vec(),
            bytes_a: None,
            bytes_b: Some(4096 + tag),
            apparent_a: None,
            apparent_b: Some(17),
        },
        DiffEntry {
            path: b"/t/gone".to_vec(),
            bytes_a: Some(8192),
            bytes_b: None,
            apparent_a: Some(5),
            apparent_b: None,
        },
    ];
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// Deleting removes the snapshots' directories and any cached diff naming them.
pub fn delete_cascades_to_dirs_and_diffs_only(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let ids: Vec<SnapshotId> = (0..3)
        .map(|n| write_snapshot(store.as_mut(), &meta_for(b"/t", n), &rows))
        .collect();
    let (s1, s2, s3) = (ids[0], ids[1], ids[2]);
    for (a, b) in [(s1, s2), (s2, s3), (s1, s3), (s3, s2)] {
        store
            .store_diff(a, b, &diff_entries(a as u64))
            .expect("store_diff");
    }
    let deleted = store
        .delete_snapshots(&[s2, s3 + 1000, s2])
        .expect("delete_snapshots");
    assert_eq!(deleted, 1, "counts snapshots that existed, once each");
    let left: Vec<SnapshotId> = store
        .snapshots()
        .expect("snapshots")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(left, [s1, s3]);
    assert_eq!(store.snapshot(s2).expect("snapshot"), None);
    assert_eq!(
        store.dir(s2, b"/t").expect("dir"),
        None,
        "directories deleted"
    );
    assert!(
        store.visit_tree(s2, None, &mut |_| true).is_err(),
        "deleted snapshot is unknown"
    );
    for (a, b) in [(s1, s2), (s2, s3), (s3, s2)] {
        assert_eq!(
            store.cached_diff(a, b).expect("cached_diff"),
            None,
            "diff {a}->{b} deleted"
        );
    }
    assert_eq!(
        store.cached_diff(s1, s3).expect("cached_diff"),
        Some(diff_entries(s1 as u64)),
        "unrelated diff kept"
    );
    for id in [s1, s3] {
        assert_records(
            "surviving snapshot",
            &read_tree(store.as_ref(), id, None),
            &as_records(&rows),
        );
    }
    assert_eq!(store.delete_snapshots(&[]).expect("delete nothing"), 0);
    assert_eq!(store.delete_snapshots(&[s1, s3]).expect("delete"), 2);
    assert!(store.snapshots().expect("snapshots").is_empty());
    // Ids are not reused for new snapshots after deletions of the newest.
    let next = write_snapshot(store.as_mut(), &meta_for(b"/t", 9), &rows);
    assert!(next > s3, "new id {next} after deleted {s3}");
}

/// Cache miss, hit, replace, empty diff, direction matters.
pub fn cached_diffs_round_trip_and_replace(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &[b"/t"], 0);
    let a = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
    let b = write_snapshot(store.as_mut(), &meta_for(b"/t", 1), &rows);
    assert_eq!(
        store.cached_diff(a, b).expect("cached_diff"),
        None,
        "nothing cached yet"
    );
    store
        .store_diff(a, b, &diff_entries(1))
        .expect("store_diff");
    assert_eq!(
        store.cached_diff(a, b).expect("cached_diff"),
        Some(diff_entries(1))
    );
    assert_eq!(
        store.cached_diff(b, a).expect("cached_diff"),
        None,
        "direction matters"
    );
    let replacement = vec![diff_entries(2).remove(0)];
    store.store_diff(a, b, &replacement).expect("store_diff");
    assert_eq!(
        store.cached_diff(a, b).expect("cached_diff"),
        Some(replacement),
        "replaced, not merged"
    );
    store.store_diff(b, a, &[]).expect("store an empty diff");
    assert_eq!(
        store.cached_diff(b, a).expect("cached_diff"),
        Some(Vec::new()),
        "an empty diff is a hit"
    );
    assert!(
        store.store_diff(a, b + 1000, &diff_entries(3)).is_err(),
        "diff with an unknown snapshot"
    );
}

/// Closing and reopening (read-write, then read-only) keeps everything.
pub fn reopening_keeps_everything(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let (snaps, a, b) = {
        let mut store = s.open();
        let a = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
        let b = write_snapshot(store.as_mut(), &meta_for(b"/t", 1), &rows[..4]);
        store
            .store_diff(a, b, &diff_entries(5))
            .expect("store_diff");
        (store.snapshots().expect("snapshots"), a, b)
    };
    for read_only in [false, true] {
        let store = s
            .try_open(read_only)
            .unwrap_or_else(|e| panic!("reopen (read_only: {read_only}): {e}"));
        assert_eq!(store.snapshots().expect("snapshots"), snaps);
        assert_records(
            "reopened a",
            &read_tree(store.as_ref(), a, None),
            &as_records(&rows),
        );
        assert_records(
            "reopened b",
            &read_tree(store.as_ref(), b, None),
            &as_records(&rows[..4]),
        );
        assert_eq!(
            store.cached_diff(a, b).expect("cached_diff"),
            Some(diff_entries(5))
        );
    }
}

/// Read-only: a missing file is NotFound; reads work; writes fail; nothing changes.
pub fn read_only_reads_and_refuses_writes(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let err = s
        .try_open(true)
        .err()
        .expect("read-only open of a missing file fails");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        !s.path().exists(),
        "read-only open created {}",
        s.path().display()
    );

    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let id = {
        let mut store = s.open();
        let id = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
        store
            .store_diff(id, id, &diff_entries(0))
            .expect("store_diff");
        id
    };
    let before = std::fs::read(s.path()).expect("read the store file");
    {
        let mut store = s
            .try_open(true)
            .unwrap_or_else(|e| panic!("read-only open: {e}"));
        assert_eq!(store.location().file(), Some(s.path()));
        assert_records(
            "read-only read",
            &read_tree(store.as_ref(), id, None),
            &as_records(&rows),
        );
        assert!(
            store.begin_snapshot(&meta_for(b"/t", 1)).is_err(),
            "read-only begin_snapshot"
        );
        assert!(
            store.delete_snapshots(&[id]).is_err(),
            "read-only delete_snapshots"
        );
        assert!(
            store.store_diff(id, id, &[]).is_err(),
            "read-only store_diff"
        );
        assert!(store.reclaim_space().is_err(), "read-only reclaim_space");
        assert_eq!(
            store.cached_diff(id, id).expect("cached_diff"),
            Some(diff_entries(0))
        );
    }
    assert!(
        std::fs::read(s.path()).expect("read the store file") == before,
        "read-only use changed the file"
    );
    let store = s.open();
    assert_eq!(
        store.snapshots().expect("snapshots").len(),
        1,
        "nothing was deleted"
    );
}

/// A file that is not a store of this kind: Corrupt, named, left alone.
pub fn foreign_file_is_corrupt_and_untouched(plugin: &'static StorePlugin) {
    let mut rng = Rng::new(42);
    let mut big = b"this is not a database\n".to_vec();
    big.extend((0..64 * 1024).map(|_| rng.next_u64() as u8));
    let cases: [(&str, Vec<u8>); 3] = [
        ("short text", b"hello world\n".to_vec()),
        ("64 KiB of noise", big),
        ("a page of 0xff", vec![0xff; 8192]),
    ];
    for (what, bytes) in cases {
        let s = Scratch::new(plugin);
        std::fs::write(s.path(), &bytes).expect("write the foreign file");
        for read_only in [false, true] {
            let err = s.try_open(read_only).err().unwrap_or_else(|| {
                panic!("{what}: opened a foreign file (read_only: {read_only})")
            });
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
            let name = s
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name");
            assert!(
                err.to_string().contains(name),
                "{what}: the error names the file: {err}"
            );
            assert!(
                std::fs::read(s.path()).expect("read back") == bytes,
                "{what}: the file was modified"
            );
        }
    }
}

/// After deleting most snapshots, `reclaim_space` shrinks the files; add/delete
/// cycles then stay bounded.
pub fn reclaim_space_shrinks_and_bounds_the_files(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let mut rng = Rng::new(7);
    let root: &[u8] = b"/home/someone/projects/a-reasonably-long-root";
    let paths = generated_tree(root, 1500, &mut rng);
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let rows = rows_for(root, &refs, 0);
    let mut ids: Vec<SnapshotId> = (0..20)
        .map(|n| write_snapshot(store.as_mut(), &meta_for(root, n), &rows))
        .collect();
    store.reclaim_space().expect("reclaim_space");
    let peak = s.disk_bytes();
    let last = ids.pop().expect("20 ids");
    assert_eq!(store.delete_snapshots(&ids).expect("delete"), ids.len());
    store.reclaim_space().expect("reclaim_space");
    let one = s.disk_bytes();
    assert!(
        one * 4 < peak,
        "after deleting 19 of 20 snapshots: {one} bytes, was {peak}"
    );
    assert_records(
        "survivor",
        &read_tree(store.as_ref(), last, None),
        &as_records(&rows),
    );

    // Rolling retention (add one, delete the oldest, reclaim): after a few
    // cycles the files stop growing, however many more cycles follow.
    let mut live = vec![last];
    let mut cycle = |store: &mut Box<dyn SnapshotStore>, n: u64| {
        live.push(write_snapshot(
            store.as_mut(),
            &meta_for(root, 100 + n),
            &rows,
        ));
        let oldest = live.remove(0);
        store.delete_snapshots(&[oldest]).expect("delete");
        store.reclaim_space().expect("reclaim_space");
    };
    for n in 0..5 {
        cycle(&mut store, n);
    }
    let settled = s.disk_bytes();
    for n in 5..25 {
        cycle(&mut store, n);
    }
    let later = s.disk_bytes();
    assert!(
        later <= settled + settled / 4,
        "the files keep growing under add/delete cycles: {settled} bytes after 5, {later} after 25"
    );
    assert!(
        later * 2 < peak,
        "one live snapshot after 25 cycles takes {later} bytes, 20 took {peak}"
    );
    drop(store);
    let store = s.open();
    assert_eq!(store.snapshots().expect("snapshots").len(), 1);
}
