//! Conformance suite for [`SnapshotStore`] implementations.
//!
//! Every check is a plain function taking the store's registration
//! ([`StorePlugin`]); it opens fresh stores in its own temporary directory
//! ([`Scratch`]; for a server store, a plugin with URL schemes, a fresh
//! database on the testkit's PostgreSQL server instead, where "the file"
//! below means the database: its size is its tables' and indexes', and
//! "byte-identical" a dump of its catalog and rows),
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
use disktracker::path::{escape_bytes, is_within, parent_bytes, trim_slashes};
use disktracker::registry::Plugin as _;
use disktracker::{
    DerivedSnapshot, DirDelta, DirRecord, DirStats, ErrorKind, IndexProvenance, JournalEvent,
    JournalKind, JournalQuery, LiveBatch, LoggedMutation, Mutation, Result, SnapshotId,
    SnapshotInfo, SnapshotMeta, SnapshotQuery, SnapshotStore, StoreLocation, StoreOptions,
    StorePlugin, WatchState, registry,
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
    (
        "find_snapshots_selects_roots_on_component_boundaries",
        find_snapshots_selects_roots_on_component_boundaries,
    ),
    (
        "compare_snapshots_lists_exactly_the_changed_directories",
        compare_snapshots_lists_exactly_the_changed_directories,
    ),
    (
        "snapshots_are_selected_by_host",
        snapshots_are_selected_by_host,
    ),
    (
        "append_batch_logs_mutations_events_and_state",
        append_batch_logs_mutations_events_and_state,
    ),
    (
        "mutations_after_a_cursor_under_a_path",
        mutations_after_a_cursor_under_a_path,
    ),
    (
        "journal_reads_by_time_and_path_newest_first",
        journal_reads_by_time_and_path_newest_first,
    ),
    (
        "dir_deltas_round_trip_in_path_order",
        dir_deltas_round_trip_in_path_order,
    ),
    (
        "watch_states_are_replaced_per_root",
        watch_states_are_replaced_per_root,
    ),
    (
        "derive_snapshot_equals_the_folded_tree",
        derive_snapshot_equals_the_folded_tree,
    ),
    (
        "derive_snapshot_refusals_write_nothing",
        derive_snapshot_refusals_write_nothing,
    ),
    (
        "index_provenance_round_trips_and_is_replaced",
        index_provenance_round_trips_and_is_replaced,
    ),
    (
        "delete_with_goes_with_the_commit",
        delete_with_goes_with_the_commit,
    ),
    (
        "read_only_reads_live_tables_and_refuses_live_writes",
        read_only_reads_live_tables_and_refuses_live_writes,
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

/// Where one check's store lives: a temporary directory holding the store
/// file, or — for a server store (a plugin with URL schemes) — a fresh
/// empty database on the test server ([`crate::postgres::TestPostgres`]).
pub struct Scratch {
    dir: tempfile::TempDir,
    plugin: &'static StorePlugin,
    path: PathBuf,
    /// The database name, for server stores.
    database: Option<String>,
}

impl Scratch {
    /// A new empty directory (the store file is `data.<extension>` in it),
    /// or a new empty database for a server store.
    pub fn new(plugin: &'static StorePlugin) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join(format!("data.{}", plugin.extension));
        let database = (!plugin.url_schemes.is_empty())
            .then(|| crate::postgres::TestPostgres::shared().create_database());
        Scratch {
            dir,
            plugin,
            path,
            database,
        }
    }

    /// Whether the store is a server's (a database, not a file).
    pub fn is_server(&self) -> bool {
        self.database.is_some()
    }

    /// The store file (file stores; for servers, a path that is never used).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The location the store is opened at.
    pub fn location(&self) -> StoreLocation {
        match &self.database {
            Some(db) => StoreLocation::Url(
                crate::postgres::TestPostgres::shared().socket_url(crate::postgres::SUPERUSER, db),
            ),
            None => StoreLocation::File(self.path.clone()),
        }
    }

    /// A name the store's errors about this location must mention: the
    /// file's name, or the database's.
    pub fn name(&self) -> String {
        match &self.database {
            Some(db) => db.clone(),
            None => self
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name")
                .to_owned(),
        }
    }

    fn options(&self, location: StoreLocation, read_only: bool) -> Result<StoreOptions> {
        let opts = match location {
            StoreLocation::File(p) => StoreOptions::file(p),
            StoreLocation::Url(u) => StoreOptions::url(u),
        };
        Ok(opts
            .read_only(read_only)
            .with_settings(self.plugin.default_settings()?))
    }

    /// Opens the store read-write or read-only.
    pub fn try_open(&self, read_only: bool) -> Result<Box<dyn SnapshotStore>> {
        (self.plugin.open)(&self.options(self.location(), read_only)?)
    }

    /// Opens the store read-write; panics with the store's error.
    pub fn open(&self) -> Box<dyn SnapshotStore> {
        self.try_open(false)
            .unwrap_or_else(|e| panic!("store {:?}: open failed: {e}", self.plugin.name))
    }

    /// Whether anything of a store exists there: the file, or any table in
    /// the database.
    pub fn exists(&self) -> bool {
        match &self.database {
            Some(db) => {
                let n: i64 = crate::postgres::TestPostgres::shared()
                    .admin_client(db)
                    .query_one(
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                        &[],
                    )
                    .expect("count tables")
                    .get(0);
                n > 0
            }
            None => self.path.exists(),
        }
    }

    /// Everything the store keeps, to compare before and after: the file's
    /// bytes, or a dump of the database (catalog and every row's digest).
    pub fn contents(&self) -> Vec<u8> {
        match &self.database {
            Some(db) => crate::postgres::TestPostgres::shared()
                .dump(db)
                .into_bytes(),
            None => std::fs::read(&self.path).expect("read the store file"),
        }
    }

    /// Total bytes the store takes: every file in the directory (the store
    /// file and any sidecar such as a write-ahead log), or every table of
    /// the database with its indexes.
    pub fn disk_bytes(&self) -> u64 {
        if let Some(db) = &self.database {
            return crate::postgres::TestPostgres::shared().relation_bytes(db);
        }
        std::fs::read_dir(self.dir.path())
            .expect("list the scratch directory")
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    }

    /// For server stores: opens (read-only or not) a database that does not
    /// exist, and checks it still does not; `None` for file stores.
    pub fn try_open_missing_database(
        &self,
        read_only: bool,
    ) -> Option<Result<Box<dyn SnapshotStore>>> {
        self.database.as_ref()?;
        let pg = crate::postgres::TestPostgres::shared();
        let missing = pg.unique_name("missing");
        let url = pg.socket_url(crate::postgres::SUPERUSER, &missing);
        let got = self
            .options(StoreLocation::Url(url), read_only)
            .and_then(|o| (self.plugin.open)(&o));
        assert!(
            !pg.database_exists(&missing),
            "opening a missing database created it"
        );
        Some(got)
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
        assert_reads_match("generated tree", store.as_ref(), *id, all, 7);
    }
}

/// `compare_snapshots`, where a store offers it, lists exactly the
/// directories whose recursive size (either kind) or existence differs, in
/// bytewise path order: equal rows are left out even when other fields
/// differ; an apparent-only change, a removal and an addition are in.
pub fn compare_snapshots_lists_exactly_the_changed_directories(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let mut rng = Rng::new(0xd1ff_0123_4567_89ab);
    let root: &[u8] = b"/t";
    let mut paths: Vec<Vec<u8>> = tricky_paths().iter().map(|p| p.to_vec()).collect();
    paths.extend(generated_tree(b"/t/gen", 400, &mut rng));
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let a_rows = rows_for(root, &refs, 3);
    let mut b_rows = Vec::new();
    for (i, (path, depth, stats)) in a_rows.iter().enumerate() {
        let mut st = *stats;
        match i % 5 {
            0 => {}
            // Same sizes, other fields changed: not a change of size.
            1 => {
                st.file_count = st.file_count.wrapping_add(1);
                st.mtime_ns = st.mtime_ns.wrapping_add(1);
                st.fingerprint = !st.fingerprint;
            }
            2 => st.total_apparent = st.total_apparent.wrapping_add(1),
            3 => st.total_bytes = st.total_bytes.wrapping_sub(4096),
            _ if path.as_slice() != root => continue,
            _ => {}
        }
        b_rows.push((path.clone(), *depth, st));
    }
    for (i, p) in generated_tree(b"/t/new", 60, &mut rng)
        .into_iter()
        .enumerate()
    {
        let depth = depth_below(root, &p);
        b_rows.push((p, depth, stats_for(10_000 + i as u64)));
    }
    let a = write_snapshot(store.as_mut(), &meta_for(root, 0), &a_rows);
    let b = write_snapshot(store.as_mut(), &meta_for(root, 1), &b_rows);
    let Some(got) = store
        .compare_snapshots(a, b)
        .unwrap_or_else(|e| panic!("compare_snapshots({a}, {b}): {e}"))
    else {
        return;
    };
    let sizes = |rows: &[Row]| -> std::collections::BTreeMap<Vec<u8>, (u64, u64)> {
        rows.iter()
            .map(|(p, _, st)| (p.clone(), (st.total_bytes, st.total_apparent)))
            .collect()
    };
    let (sa, sb) = (sizes(&a_rows), sizes(&b_rows));
    let every: BTreeSet<&Vec<u8>> = sa.keys().chain(sb.keys()).collect();
    let want: Vec<DiffEntry> = every
        .into_iter()
        .filter(|p| sa.get(*p) != sb.get(*p))
        .map(|p| DiffEntry {
            path: p.clone(),
            bytes_a: sa.get(p).map(|v| v.0),
            apparent_a: sa.get(p).map(|v| v.1),
            bytes_b: sb.get(p).map(|v| v.0),
            apparent_b: sb.get(p).map(|v| v.1),
        })
        .collect();
    assert!(want.len() > 100 && want.len() < sa.len() + sb.len());
    assert_eq!(
        shown(&got.iter().map(|e| e.path.clone()).collect::<Vec<_>>()),
        shown(&want.iter().map(|e| e.path.clone()).collect::<Vec<_>>()),
        "compare_snapshots: the changed paths, in order"
    );
    assert_eq!(got, want, "compare_snapshots: the sizes on both sides");
    // The other way round: additions and removals swap.
    let back = store
        .compare_snapshots(b, a)
        .expect("compare_snapshots")
        .expect("offered");
    assert_eq!(back.len(), want.len());
}

/// Every read of snapshot `id` agrees with `all` (its records in path
/// order): the whole tree, and for every `step`th directory (plus the root
/// and the deepest) its subtree, its children and its point lookup.
fn assert_reads_match(
    what: &str,
    store: &dyn SnapshotStore,
    id: SnapshotId,
    all: &[DirRecord],
    step: usize,
) {
    assert_records(
        &format!("{what}: whole tree"),
        &read_tree(store, id, None),
        all,
    );
    let mut sample: Vec<&DirRecord> = all.iter().step_by(step).collect();
    sample.extend(all.first());
    sample.extend(all.iter().max_by_key(|r| r.path.len()));
    for d in sample {
        let p = d.path.as_slice();
        let under: Vec<DirRecord> = all
            .iter()
            .filter(|r| is_within(&r.path, p))
            .cloned()
            .collect();
        assert_records(
            &format!("{what}: subtree {}", escape_bytes(p)),
            &read_tree(store, id, Some(p)),
            &under,
        );
        let kids: Vec<DirRecord> = all
            .iter()
            .filter(|r| parent_bytes(&r.path) == Some(p))
            .cloned()
            .collect();
        let got = store.children(id, p).expect("children");
        assert_records(
            &format!("{what}: children of {}", escape_bytes(p)),
            &got,
            &kids,
        );
        assert_eq!(
            store.dir(id, p).expect("dir").as_ref(),
            Some(d),
            "{what}: dir {}",
            escape_bytes(p)
        );
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
    assert!(!s.exists(), "read-only open created {}", s.location());
    for read_only in [true, false] {
        if let Some(got) = s.try_open_missing_database(read_only) {
            let err = got.err().expect("opening a missing database fails");
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        }
    }

    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let id = {
        let mut store = s.open();
        let id = write_snapshot(store.as_mut(), &meta_for(b"/t", 0), &rows);
        store
            .store_diff(id, id, &diff_entries(0))
            .expect("store_diff");
        id
    };
    let before = s.contents();
    {
        let mut store = s
            .try_open(true)
            .unwrap_or_else(|e| panic!("read-only open: {e}"));
        assert_eq!(store.location(), &s.location());
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
    assert!(s.contents() == before, "read-only use changed the store");
    let store = s.open();
    assert_eq!(
        store.snapshots().expect("snapshots").len(),
        1,
        "nothing was deleted"
    );
}

/// A file that is not a store of this kind: Corrupt, named, left alone.
/// For a server store: a database holding another application's tables
/// under our table names but not our schema marker (likewise Corrupt and
/// untouched), and one of our own databases from a newer version.
pub fn foreign_file_is_corrupt_and_untouched(plugin: &'static StorePlugin) {
    if !plugin.url_schemes.is_empty() {
        return foreign_database_is_corrupt_and_untouched(plugin);
    }
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
            assert!(
                err.to_string().contains(&s.name()),
                "{what}: the error names the file: {err}"
            );
            assert!(
                std::fs::read(s.path()).expect("read back") == bytes,
                "{what}: the file was modified"
            );
        }
    }
}

/// The server half of [`foreign_file_is_corrupt_and_untouched`].
fn foreign_database_is_corrupt_and_untouched(plugin: &'static StorePlugin) {
    let pg = crate::postgres::TestPostgres::shared();
    let cases: [(&str, &str); 3] = [
        (
            "another application's snapshots table",
            "CREATE TABLE snapshots (id serial PRIMARY KEY, taken timestamptz, note text); \
             INSERT INTO snapshots (taken, note) VALUES (now(), 'theirs');",
        ),
        (
            "every table name of ours, other columns",
            "CREATE TABLE dir_snapshots (x int); CREATE TABLE mutation_log (y text); \
             INSERT INTO mutation_log VALUES ('keep me');",
        ),
        (
            "a foreign table of our name",
            "CREATE TABLE watch_state (host text, note text); \
             CREATE VIEW fs_events AS SELECT 1 AS id;",
        ),
    ];
    for (what, sql) in cases {
        let s = Scratch::new(plugin);
        pg.admin_client(&s.name())
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{what}: set up: {e}"));
        let before = s.contents();
        for read_only in [false, true] {
            let err = s.try_open(read_only).err().unwrap_or_else(|| {
                panic!("{what}: opened a foreign database (read_only: {read_only})")
            });
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
            assert!(
                err.to_string().contains(&s.name()),
                "{what}: the error names the database: {err}"
            );
            assert!(s.contents() == before, "{what}: the database was modified");
        }
    }
    // Ours, from a newer version: refused, untouched.
    let s = Scratch::new(plugin);
    let id = write_snapshot(
        s.open().as_mut(),
        &meta_for(b"/t", 0),
        &rows_for(b"/t", &[b"/t"], 0),
    );
    pg.admin_client(&s.name())
        .batch_execute("UPDATE disktracker_schema SET version = version + 1")
        .expect("pretend a newer version");
    let before = s.contents();
    for read_only in [false, true] {
        let err = s
            .try_open(read_only)
            .err()
            .unwrap_or_else(|| panic!("opened a newer database (read_only: {read_only})"));
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(s.contents() == before, "a newer database was modified");
    }
    assert!(id > 0);
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

// ---- snapshot selection -----------------------------------------------------

fn ids_of(v: &[SnapshotInfo]) -> Vec<SnapshotId> {
    v.iter().map(|s| s.id).collect()
}

/// Writes a one-directory snapshot of `root` (its metadata numbered `n`).
fn one_dir_snapshot(store: &mut dyn SnapshotStore, root: &[u8], n: u64) -> SnapshotInfo {
    hosted_snapshot(store, root, n, "one-host")
}

/// A one-directory snapshot of `root` taken by `host`.
fn hosted_snapshot(store: &mut dyn SnapshotStore, root: &[u8], n: u64, host: &str) -> SnapshotInfo {
    let mut meta = meta_for(root, n);
    meta.host = host.to_owned();
    let id = write_snapshot(store, &meta, &rows_for(root, &[root], n));
    SnapshotInfo { id, meta }
}

/// `find_snapshots`, `latest` and `latest_per_root`: roots compared on
/// component boundaries (`/a` covers neither `/a-x/y` nor `/ab`; `/` covers
/// everything; nested roots both cover), newest first, `before`, `limit`.
pub fn find_snapshots_selects_roots_on_component_boundaries(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let find = |store: &dyn SnapshotStore, q: SnapshotQuery<'_>| -> Vec<SnapshotId> {
        ids_of(
            &store
                .find_snapshots(&q)
                .unwrap_or_else(|e| panic!("find_snapshots({q:?}): {e}")),
        )
    };
    assert!(find(store.as_ref(), SnapshotQuery::any()).is_empty());
    assert!(
        store
            .latest_per_root(None)
            .expect("latest_per_root")
            .is_empty()
    );
    assert_eq!(store.latest(SnapshotQuery::any()).expect("latest"), None);

    let roots: [&[u8]; 9] = [
        b"/a", b"/", b"/a/b", b"/a-x", b"/ab", b"/a", b"/m\xff", b"/a/b", b"/a",
    ];
    let snaps: Vec<SnapshotInfo> = roots
        .iter()
        .enumerate()
        .map(|(n, root)| one_dir_snapshot(store.as_mut(), root, n as u64))
        .collect();
    let id = |k: usize| snaps[k].id;
    let ids = |ks: &[usize]| -> Vec<SnapshotId> { ks.iter().map(|&k| id(k)).collect() };

    let newest_first: Vec<SnapshotInfo> = snaps.iter().rev().cloned().collect();
    assert_eq!(
        store
            .find_snapshots(&SnapshotQuery::any())
            .expect("find_snapshots"),
        newest_first,
        "every snapshot, newest first, metadata exact"
    );
    let cases: Vec<(&str, SnapshotQuery<'_>, Vec<SnapshotId>)> = vec![
        ("exactly /a", SnapshotQuery::of_root(b"/a"), ids(&[8, 5, 0])),
        (
            "exactly /a/b",
            SnapshotQuery::of_root(b"/a/b"),
            ids(&[7, 2]),
        ),
        ("exactly /", SnapshotQuery::of_root(b"/"), ids(&[1])),
        (
            "exactly /a- (a prefix)",
            SnapshotQuery::of_root(b"/a-"),
            vec![],
        ),
        (
            "exactly non-UTF-8",
            SnapshotQuery::of_root(b"/m\xff"),
            ids(&[6]),
        ),
        (
            "covering /a/b/c: /, /a, /a/b",
            SnapshotQuery::covering(b"/a/b/c"),
            ids(&[8, 7, 5, 2, 1, 0]),
        ),
        (
            "covering /a/b: the root itself counts",
            SnapshotQuery::covering(b"/a/b"),
            ids(&[8, 7, 5, 2, 1, 0]),
        ),
        (
            "covering /a: not /a/b, which lies below",
            SnapshotQuery::covering(b"/a"),
            ids(&[8, 5, 1, 0]),
        ),
        (
            "covering /a-x/y: not /a",
            SnapshotQuery::covering(b"/a-x/y"),
            ids(&[3, 1]),
        ),
        (
            "covering /ab: not /a",
            SnapshotQuery::covering(b"/ab"),
            ids(&[4, 1]),
        ),
        (
            "covering /abc: neither /a nor /ab",
            SnapshotQuery::covering(b"/abc"),
            ids(&[1]),
        ),
        ("covering /", SnapshotQuery::covering(b"/"), ids(&[1])),
        (
            "covering a non-UTF-8 path",
            SnapshotQuery::covering(b"/m\xff/\xfe"),
            ids(&[6, 1]),
        ),
        (
            "covering /m (a byte prefix of /m\\xff)",
            SnapshotQuery::covering(b"/m"),
            ids(&[1]),
        ),
        (
            "covering a path under no other root",
            SnapshotQuery::covering(b"/zzz/q"),
            ids(&[1]),
        ),
        (
            "any, before",
            SnapshotQuery::any().before(id(5)),
            ids(&[4, 3, 2, 1, 0]),
        ),
        (
            "exactly /a, before",
            SnapshotQuery::of_root(b"/a").before(id(8)),
            ids(&[5, 0]),
        ),
        (
            "covering, before",
            SnapshotQuery::covering(b"/a/b/c").before(id(5)),
            ids(&[2, 1, 0]),
        ),
        (
            "before the first",
            SnapshotQuery::any().before(id(0)),
            vec![],
        ),
        ("any, limit", SnapshotQuery::any().limit(3), ids(&[8, 7, 6])),
        (
            "covering, limit",
            SnapshotQuery::covering(b"/a/b/c").limit(2),
            ids(&[8, 7]),
        ),
        (
            "covering, before and limit",
            SnapshotQuery::covering(b"/a/b/c").before(id(7)).limit(2),
            ids(&[5, 2]),
        ),
        ("limit 0", SnapshotQuery::any().limit(0), vec![]),
        (
            "limit above the count",
            SnapshotQuery::of_root(b"/a").limit(usize::MAX),
            ids(&[8, 5, 0]),
        ),
    ];
    for (what, q, want) in &cases {
        assert_eq!(&find(store.as_ref(), *q), want, "find_snapshots: {what}");
        // Every row is the whole snapshot description.
        for got in store.find_snapshots(q).expect("find_snapshots") {
            let k = snaps.iter().position(|s| s.id == got.id).expect("known id");
            assert_eq!(got, snaps[k], "find_snapshots: {what}: metadata");
        }
    }
    let latest = |q: SnapshotQuery<'_>| store.latest(q).expect("latest");
    assert_eq!(
        latest(SnapshotQuery::covering(b"/a/b/c")),
        Some(snaps[8].clone())
    );
    assert_eq!(
        latest(SnapshotQuery::of_root(b"/a/b")),
        Some(snaps[7].clone())
    );
    assert_eq!(latest(SnapshotQuery::of_root(b"/nope")), None);
    assert_eq!(
        latest(SnapshotQuery::covering(b"/ab/c").before(id(4))),
        Some(snaps[1].clone())
    );

    let per_root =
        |store: &dyn SnapshotStore| store.latest_per_root(None).expect("latest_per_root");
    assert_eq!(
        per_root(store.as_ref()),
        [1, 8, 3, 7, 4, 6].map(|k| snaps[k].clone()),
        "newest of each root, by root bytes (/ < /a < /a-x < /a/b < /ab < /m\\xff)"
    );
    // Deleting the newest of a root makes its previous one the latest.
    store.delete_snapshots(&[id(8), id(7)]).expect("delete");
    assert_eq!(
        per_root(store.as_ref()),
        [1, 5, 3, 2, 4, 6].map(|k| snaps[k].clone())
    );
    assert_eq!(
        find(store.as_ref(), SnapshotQuery::covering(b"/a/b/c")),
        ids(&[5, 2, 1, 0])
    );
    store.delete_snapshots(&[id(3)]).expect("delete");
    assert_eq!(
        ids_of(&per_root(store.as_ref())),
        ids(&[1, 5, 2, 4, 6]),
        "a root without snapshots is gone"
    );
}

/// Hosts sharing a store: `find_snapshots` and `latest` keep to the host
/// asked (combined with every other filter), `latest_per_root` gives the
/// newest per root of one host, or per (root, host) pair of all.
pub fn snapshots_are_selected_by_host(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let plan: [(&[u8], &str); 8] = [
        (b"/var", "web-1"),
        (b"/var", "web-2"),
        (b"/srv", "web-1"),
        (b"/var", "web-1"),
        (b"/var/log", "web-2"),
        (b"/srv", "db\u{e9} \"quoted\""),
        (b"/var", "web-2"),
        (b"/var", "web-10"),
    ];
    let snaps: Vec<SnapshotInfo> = plan
        .iter()
        .enumerate()
        .map(|(n, (root, host))| hosted_snapshot(store.as_mut(), root, n as u64, host))
        .collect();
    let ids = |ks: &[usize]| -> Vec<SnapshotId> { ks.iter().map(|&k| snaps[k].id).collect() };
    let find = |q: SnapshotQuery<'_>| -> Vec<SnapshotId> {
        ids_of(
            &store
                .find_snapshots(&q)
                .unwrap_or_else(|e| panic!("find_snapshots({q:?}): {e}")),
        )
    };
    let cases: Vec<(&str, SnapshotQuery<'_>, Vec<SnapshotId>)> = vec![
        (
            "any host",
            SnapshotQuery::any(),
            ids(&[7, 6, 5, 4, 3, 2, 1, 0]),
        ),
        (
            "web-1",
            SnapshotQuery::any().host(Some("web-1")),
            ids(&[3, 2, 0]),
        ),
        (
            "web-1 is not a prefix of web-10",
            SnapshotQuery::any().host(Some("web-10")),
            ids(&[7]),
        ),
        (
            "an unknown host",
            SnapshotQuery::any().host(Some("web")),
            vec![],
        ),
        (
            "a host with quotes and escapes",
            SnapshotQuery::any().host(Some("db\u{e9} \"quoted\"")),
            ids(&[5]),
        ),
        (
            "exactly /var, web-2",
            SnapshotQuery::of_root(b"/var").host(Some("web-2")),
            ids(&[6, 1]),
        ),
        (
            "exactly /var, web-2, limit 1",
            SnapshotQuery::of_root(b"/var").host(Some("web-2")).limit(1),
            ids(&[6]),
        ),
        (
            "covering /var/log/x, web-2",
            SnapshotQuery::covering(b"/var/log/x").host(Some("web-2")),
            ids(&[6, 4, 1]),
        ),
        (
            "covering /var/log/x, web-1, before the 4th",
            SnapshotQuery::covering(b"/var/log/x")
                .host(Some("web-1"))
                .before(snaps[3].id),
            ids(&[0]),
        ),
        (
            "limit counts matches of the host only",
            SnapshotQuery::any().host(Some("web-1")).limit(2),
            ids(&[3, 2]),
        ),
    ];
    for (what, q, want) in &cases {
        assert_eq!(&find(*q), want, "find_snapshots: {what}");
    }
    assert_eq!(
        store
            .latest(SnapshotQuery::covering(b"/var/log").host(Some("web-1")))
            .expect("latest"),
        Some(snaps[3].clone()),
        "latest of a host"
    );
    let per_root_of = |store: &dyn SnapshotStore, host: Option<&str>| {
        ids_of(
            &store
                .latest_per_root(host)
                .unwrap_or_else(|e| panic!("latest_per_root({host:?}): {e}")),
        )
    };
    assert_eq!(
        per_root_of(store.as_ref(), Some("web-1")),
        ids(&[2, 3]),
        "newest of each root of web-1, by root bytes"
    );
    assert_eq!(per_root_of(store.as_ref(), Some("web-2")), ids(&[6, 4]));
    assert_eq!(
        per_root_of(store.as_ref(), Some("nobody")),
        Vec::<SnapshotId>::new()
    );
    assert_eq!(
        per_root_of(store.as_ref(), None),
        ids(&[5, 2, 3, 7, 6, 4]),
        "newest of each (root, host), by root bytes then host"
    );
    store.delete_snapshots(&[snaps[6].id]).expect("delete");
    assert_eq!(per_root_of(store.as_ref(), Some("web-2")), ids(&[1, 4]));
}

// ---- the live tables ----------------------------------------------------------

const MAX_LIMIT: usize = usize::MAX;

fn upsert(time_ms: i64, path: &[u8], seed: u64, old_total: Option<u64>) -> Mutation {
    Mutation::Upsert {
        time_ms,
        record: DirRecord {
            path: path.to_vec(),
            depth: (seed % 7) as u32,
            stats: stats_for(seed),
        },
        old_total,
    }
}

fn removal(time_ms: i64, path: &[u8], old_total: Option<u64>) -> Mutation {
    Mutation::RemoveSubtree {
        time_ms,
        path: path.to_vec(),
        old_total,
    }
}

fn event(
    time_ms: i64,
    kind: JournalKind,
    path: &[u8],
    delta: Option<i64>,
    is_dir: bool,
) -> JournalEvent {
    JournalEvent {
        time_ms,
        kind,
        path: path.to_vec(),
        delta_bytes: delta,
        is_dir,
    }
}

fn batch<'a>(
    mutations: &'a [Mutation],
    events: &'a [JournalEvent],
    watch_state: Option<&'a WatchState>,
) -> LiveBatch<'a> {
    LiveBatch {
        mutations,
        events,
        watch_state,
    }
}

fn append(store: &mut dyn SnapshotStore, b: &LiveBatch<'_>) -> i64 {
    store
        .append_batch(b)
        .unwrap_or_else(|e| panic!("append_batch: {e}"))
}

fn all_mutations(store: &dyn SnapshotStore) -> Vec<LoggedMutation> {
    store
        .mutations_after(0, None, MAX_LIMIT)
        .unwrap_or_else(|e| panic!("mutations_after: {e}"))
}

fn shown_mutations(v: &[LoggedMutation]) -> Vec<String> {
    v.iter()
        .map(|m| format!("{} {}", m.id, escape_bytes(m.mutation.path())))
        .collect()
}

/// `append_batch`: both mutation kinds with every field exact (values above
/// `i64::MAX`, a full `u128` fingerprint, non-UTF-8 paths), journal entries
/// and the watch state in one call; the returned id is the last one
/// appended (the previous last for an empty batch, 0 for an empty log);
/// ids increase across batches and are never reused after pruning.
pub fn append_batch_logs_mutations_events_and_state(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    assert_eq!(
        append(store.as_mut(), &LiveBatch::default()),
        0,
        "an empty batch on an empty log"
    );
    assert!(all_mutations(store.as_ref()).is_empty());
    assert_eq!(store.watch_states().expect("watch_states"), []);

    let root: &[u8] = b"/w\xff";
    let first = vec![
        upsert(1_700_000_000_000, b"/w\xff/caf\xe9", 0, Some(u64::MAX)),
        removal(1_700_000_000_001, b"/w\xff/gone\nline", None),
        upsert(1_700_000_000_002, b"/w\xff", 2, None),
        removal(-5, b"/w\xff/\x01", Some(1 << 63)),
        upsert(i64::MAX, b"/w\xff/zero", 1, Some(0)),
    ];
    let events_1 = vec![
        event(
            1_700_000_000_000,
            JournalKind::Grew,
            b"/w\xff/caf\xe9",
            Some(i64::MAX),
            true,
        ),
        event(
            1_700_000_000_001,
            JournalKind::Removed,
            b"/w\xff/gone\nline",
            Some(i64::MIN),
            true,
        ),
        event(
            1_700_000_000_002,
            JournalKind::Changed,
            b"/w\xff/f\xfe",
            None,
            false,
        ),
    ];
    let state_1 = WatchState {
        root: root.to_vec(),
        last_event_ms: Some(1_700_000_000_002),
        last_reconcile_ms: None,
        last_snapshot: Some(i64::MAX),
        mutation_cursor: 0,
    };
    let last_1 = append(store.as_mut(), &batch(&first, &events_1, Some(&state_1)));
    let logged = all_mutations(store.as_ref());
    assert_eq!(
        logged.iter().map(|m| &m.mutation).collect::<Vec<_>>(),
        first.iter().collect::<Vec<_>>(),
        "every mutation back, exact and in append order"
    );
    assert!(logged[0].id > 0, "ids are positive");
    assert!(
        logged.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase: {:?}",
        shown_mutations(&logged)
    );
    assert_eq!(
        logged.last().map(|m| m.id),
        Some(last_1),
        "returns the last id"
    );
    assert_eq!(
        store.watch_state(root).expect("watch_state"),
        Some(state_1.clone())
    );
    let mut want_events = events_1.clone();
    want_events.reverse();
    assert_eq!(
        store.journal(&JournalQuery::all()).expect("journal"),
        want_events,
        "journal entries, exact, newest first"
    );

    // Events only: the previous last id; the state is left as it was.
    let events_2 = vec![event(
        1_700_000_000_010,
        JournalKind::Rescanned,
        root,
        None,
        true,
    )];
    assert_eq!(
        append(store.as_mut(), &batch(&[], &events_2, None)),
        last_1,
        "a batch without mutations returns the previous last id"
    );
    assert_eq!(store.watch_state(root).expect("watch_state"), Some(state_1));
    assert_eq!(
        store.journal(&JournalQuery::all()).expect("journal").len(),
        4
    );

    let second = vec![
        removal(1_700_000_000_020, b"/w\xff/caf\xe9", Some(7)),
        upsert(1_700_000_000_021, b"/w\xff/caf\xe9", 3, None),
    ];
    let state_2 = WatchState {
        root: root.to_vec(),
        last_event_ms: None,
        last_reconcile_ms: Some(1_700_000_000_021),
        last_snapshot: None,
        mutation_cursor: last_1,
    };
    let last_2 = append(store.as_mut(), &batch(&second, &[], Some(&state_2)));
    let logged = all_mutations(store.as_ref());
    assert_eq!(logged.len(), 7);
    assert!(
        logged[5].id > last_1,
        "the next batch's ids are above the last"
    );
    assert_eq!(logged[6].id, last_2);
    assert_eq!(
        store.watch_state(root).expect("watch_state"),
        Some(state_2),
        "the batch's state replaced the earlier one"
    );

    // Pruning every mutation does not make ids reusable.
    assert_eq!(store.prune_mutations(last_2, None).expect("prune"), 7);
    assert!(all_mutations(store.as_ref()).is_empty());
    let third = vec![upsert(1_700_000_000_030, b"/w\xff", 4, Some(1))];
    let last_3 = append(store.as_mut(), &batch(&third, &[], None));
    assert!(last_3 > last_2, "id {last_3} after pruned {last_2}");
    assert_eq!(
        append(store.as_mut(), &LiveBatch::default()),
        last_3,
        "an empty batch returns the last id"
    );
    drop(store);
    let store = s.open();
    let logged = all_mutations(store.as_ref());
    assert_eq!(logged.len(), 1, "kept after reopening");
    assert_eq!((logged[0].id, &logged[0].mutation), (last_3, &third[0]));
}

/// `mutations_after` (oldest first, strictly after the cursor, `under` on
/// component boundaries, `limit`) and `prune_mutations`.
pub fn mutations_after_a_cursor_under_a_path(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let paths: [&[u8]; 13] = [
        b"/a", b"/a/b", b"/a-x", b"/a-x/y", b"/ab", b"/a/b/c", b"/b", b"/a/\xff", b"/", b"/a0",
        b"/a/b-c", b"/a/b", b"/a.b",
    ];
    let mutations: Vec<Mutation> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = 1_000 + i as i64;
            if i % 3 == 1 {
                removal(t, p, Some(i as u64))
            } else {
                upsert(t, p, 10 + i as u64, None)
            }
        })
        .collect();
    for chunk in mutations.chunks(5) {
        append(store.as_mut(), &batch(chunk, &[], None));
    }
    let logged = all_mutations(store.as_ref());
    assert_eq!(
        logged.iter().map(|m| &m.mutation).collect::<Vec<_>>(),
        mutations.iter().collect::<Vec<_>>()
    );
    let oracle = |log: &[LoggedMutation], cursor: i64, under: Option<&[u8]>, limit: usize| {
        log.iter()
            .filter(|m| m.id > cursor)
            .filter(|m| under.is_none_or(|u| is_within(m.mutation.path(), trim_slashes(u))))
            .take(limit)
            .cloned()
            .collect::<Vec<_>>()
    };
    let last = logged[logged.len() - 1].id;
    let cursors = [
        0,
        logged[0].id,
        logged[4].id,
        logged[7].id,
        last,
        last + 100,
    ];
    let unders: [Option<&[u8]>; 10] = [
        None,
        Some(b"/a"),
        Some(b"/a/"),
        Some(b"/a/b"),
        Some(b"/"),
        Some(b"/a-x"),
        Some(b"/ab"),
        Some(b"/missing"),
        Some(b"/a/\xff"),
        Some(b"/a."),
    ];
    for cursor in cursors {
        for under in unders {
            for limit in [0, 1, 2, 5, MAX_LIMIT] {
                let got = store
                    .mutations_after(cursor, under, limit)
                    .unwrap_or_else(|e| panic!("mutations_after: {e}"));
                let want = oracle(&logged, cursor, under, limit);
                assert_eq!(
                    shown_mutations(&got),
                    shown_mutations(&want),
                    "mutations_after({cursor}, {:?}, {limit})",
                    under.map(escape_bytes)
                );
                assert_eq!(got, want);
            }
        }
    }

    // Pruning under a path keeps everything else.
    let through = logged[7].id;
    let doomed = oracle(&logged, 0, Some(b"/a"), MAX_LIMIT)
        .into_iter()
        .filter(|m| m.id <= through)
        .count();
    assert!(doomed >= 3, "the case prunes something");
    assert_eq!(
        store.prune_mutations(through, Some(b"/a")).expect("prune"),
        doomed
    );
    let left: Vec<LoggedMutation> = logged
        .iter()
        .filter(|m| !(m.id <= through && is_within(m.mutation.path(), b"/a")))
        .cloned()
        .collect();
    assert_eq!(
        shown_mutations(&all_mutations(store.as_ref())),
        shown_mutations(&left),
        "pruned through {through} under /a (not /a-x, /ab, /a0, /a.b)"
    );
    let through = logged[9].id;
    let doomed = left.iter().filter(|m| m.id <= through).count();
    assert_eq!(store.prune_mutations(through, None).expect("prune"), doomed);
    let left: Vec<LoggedMutation> = left.into_iter().filter(|m| m.id > through).collect();
    assert_eq!(all_mutations(store.as_ref()), left);
    assert_eq!(store.prune_mutations(0, None).expect("prune"), 0);
    assert_eq!(
        store
            .prune_mutations(last, Some(b"/nothing"))
            .expect("prune"),
        0
    );
}

/// `journal`: newest first; `since` inclusive, `until` exclusive; `under`
/// on component boundaries; `limit` keeps the newest. `prune_journal`.
pub fn journal_reads_by_time_and_path_newest_first(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    assert!(
        store
            .journal(&JournalQuery::all())
            .expect("journal")
            .is_empty()
    );
    let first = vec![
        event(1000, JournalKind::Created, b"/j", Some(4096), true),
        event(1010, JournalKind::Grew, b"/j/a", Some(i64::MAX), true),
        event(1020, JournalKind::Shrank, b"/j/a-x", Some(-5), true),
        event(1030, JournalKind::Changed, b"/j/a/f\xff", None, false),
        event(1040, JournalKind::Removed, b"/j/ab", Some(i64::MIN), true),
        event(1050, JournalKind::Renamed, b"/j/a/b", Some(0), true),
        event(1060, JournalKind::Rescanned, b"/j", None, true),
    ];
    // Appended later, but older than most: order is by time.
    let second = vec![
        event(1005, JournalKind::Grew, b"/j/a/b", Some(1), true),
        event(
            1070,
            JournalKind::Created,
            "/j/\u{202e}x".as_bytes(),
            Some(10),
            true,
        ),
        event(1080, JournalKind::Removed, b"/j/a", Some(-4096), true),
        event(1090, JournalKind::Changed, b"/j/a0", Some(3), false),
    ];
    append(store.as_mut(), &batch(&[], &first, None));
    append(store.as_mut(), &batch(&[], &second, None));
    let mut all: Vec<JournalEvent> = first.iter().chain(&second).cloned().collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
    let oracle = |all: &[JournalEvent], q: &JournalQuery| -> Vec<JournalEvent> {
        all.iter()
            .filter(|e| q.since_ms.is_none_or(|t| e.time_ms >= t))
            .filter(|e| q.until_ms.is_none_or(|t| e.time_ms < t))
            .filter(|e| {
                q.under
                    .as_deref()
                    .is_none_or(|u| is_within(&e.path, trim_slashes(u)))
            })
            .take(q.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    };
    let shown_events = |v: &[JournalEvent]| -> Vec<String> {
        v.iter()
            .map(|e| format!("{} {}", e.time_ms, escape_bytes(&e.path)))
            .collect()
    };
    let queries = [
        JournalQuery::all(),
        JournalQuery::all().since(1040),
        JournalQuery::all().until(1040),
        JournalQuery::all().since(1010).until(1060),
        JournalQuery::all().since(1061).until(1061),
        JournalQuery::all().under(&b"/j/a"[..]),
        JournalQuery::all().under(&b"/j/a/"[..]),
        JournalQuery::all().under(&b"/"[..]),
        JournalQuery::all().under(&b"/k"[..]),
        JournalQuery::all().under(&b"/j/a/f\xff"[..]),
        JournalQuery::all().limit(3),
        JournalQuery::all().limit(0),
        JournalQuery::all().limit(MAX_LIMIT),
        JournalQuery::all().under(&b"/j/a"[..]).since(1006).limit(2),
        JournalQuery::all().under(&b"/j/a"[..]).until(1080).limit(2),
    ];
    for q in &queries {
        let got = store
            .journal(q)
            .unwrap_or_else(|e| panic!("journal({q:?}): {e}"));
        let want = oracle(&all, q);
        assert_eq!(shown_events(&got), shown_events(&want), "journal({q:?})");
        assert_eq!(got, want, "journal({q:?}): every field");
    }
    assert!(
        oracle(&all, &queries[5]).len() == 5,
        "the under case has its traps"
    );

    let older = all.iter().filter(|e| e.time_ms < 1040).count();
    assert_eq!(store.prune_journal(1040).expect("prune_journal"), older);
    all.retain(|e| e.time_ms >= 1040);
    assert_eq!(
        store.journal(&JournalQuery::all()).expect("journal"),
        all,
        "entries at the cut-off stay"
    );
    assert_eq!(store.prune_journal(0).expect("prune_journal"), 0);
    assert_eq!(
        store.prune_journal(i64::MAX).expect("prune_journal"),
        all.len()
    );
    assert!(
        store
            .journal(&JournalQuery::all())
            .expect("journal")
            .is_empty()
    );
}

fn delta(path: &[u8], previous: Option<u64>, current: u64, at: i64) -> DirDelta {
    DirDelta {
        snapshot: 0,
        path: path.to_vec(),
        previous_bytes: previous,
        current_bytes: current,
        recorded_at_ms: at,
    }
}

/// `deltas` as `dir_deltas(snapshot)` returns them: the snapshot set, in path order.
fn deltas_of(snapshot: SnapshotId, deltas: &[DirDelta]) -> Vec<DirDelta> {
    let mut v: Vec<DirDelta> = deltas
        .iter()
        .map(|d| DirDelta {
            snapshot,
            ..d.clone()
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

fn sample_deltas(tag: u64) -> Vec<DirDelta> {
    vec![
        delta(b"/t/a/b", Some(u64::MAX), 0, 5),
        delta(b"/t/a-b", None, u64::MAX - tag, -1),
        delta(b"/t", Some(1 << 63), (1 << 63) - 1, 1_700_000_000_000),
        delta(b"/t/caf\xe9", Some(tag), tag + 4096, 7),
        delta(b"/t/a", Some(0), 1, 8),
    ]
}

/// `record_dir_deltas` / `dir_deltas`: exact, in path order, per snapshot;
/// deleting a snapshot deletes its deltas.
pub fn dir_deltas_round_trip_in_path_order(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let a = one_dir_snapshot(store.as_mut(), b"/t", 0).id;
    let b = one_dir_snapshot(store.as_mut(), b"/t", 1).id;
    assert!(store.dir_deltas(a).expect("dir_deltas").is_empty());
    let mut mixed: Vec<DirDelta> = Vec::new();
    for (id, tag) in [(a, 1), (b, 2)] {
        mixed.extend(
            sample_deltas(tag)
                .into_iter()
                .map(|d| DirDelta { snapshot: id, ..d }),
        );
    }
    // One call may record deltas of several snapshots.
    store.record_dir_deltas(&mixed).expect("record_dir_deltas");
    store.record_dir_deltas(&[]).expect("record nothing");
    assert_eq!(
        store.dir_deltas(a).expect("dir_deltas"),
        deltas_of(a, &sample_deltas(1)),
        "a's deltas, exact, in path order (/t < /t/a < /t/a-b < /t/a/b < /t/caf\\xe9)"
    );
    assert_eq!(
        store.dir_deltas(b).expect("dir_deltas"),
        deltas_of(b, &sample_deltas(2))
    );
    // A later call adds to a snapshot's deltas.
    let extra = DirDelta {
        snapshot: a,
        ..delta(b"/t/a0", None, 3, 9)
    };
    store
        .record_dir_deltas(std::slice::from_ref(&extra))
        .expect("record_dir_deltas");
    let mut want_a = sample_deltas(1);
    want_a.push(extra);
    assert_eq!(
        store.dir_deltas(a).expect("dir_deltas"),
        deltas_of(a, &want_a)
    );
    assert_eq!(store.delete_snapshots(&[a]).expect("delete"), 1);
    assert!(
        store.dir_deltas(a).expect("dir_deltas").is_empty(),
        "a deleted snapshot's deltas are gone"
    );
    assert_eq!(
        store.dir_deltas(b).expect("dir_deltas"),
        deltas_of(b, &sample_deltas(2)),
        "other snapshots' deltas stay"
    );
    drop(store);
    let mut store = s.open();
    assert_eq!(
        store.dir_deltas(b).expect("dir_deltas"),
        deltas_of(b, &sample_deltas(2)),
        "kept after reopening"
    );
    // Many at once (a reconcile records one per changed directory and
    // ancestor; stores may insert them in batches): every one, exact.
    let many: Vec<DirDelta> = (0..1000u64)
        .map(|i| {
            delta(
                format!("/t/many/{i:04}").as_bytes(),
                (i % 3 != 0).then_some(i * 4096),
                i * 512 + 1,
                i64::try_from(i).unwrap_or(0),
            )
        })
        .collect();
    for n in [1, 63, 64, 65, 129, 1000] {
        let d = one_dir_snapshot(store.as_mut(), b"/t", 3).id;
        let some: Vec<DirDelta> = many[..n]
            .iter()
            .map(|x| DirDelta {
                snapshot: d,
                ..x.clone()
            })
            .collect();
        store.record_dir_deltas(&some).expect("record_dir_deltas");
        assert_eq!(
            store.dir_deltas(d).expect("dir_deltas"),
            deltas_of(d, &some),
            "{n} deltas in one call"
        );
    }
}

fn watch(root: &[u8], n: i64) -> WatchState {
    WatchState {
        root: root.to_vec(),
        last_event_ms: Some(1_700_000_000_000 + n),
        last_reconcile_ms: (n % 2 == 0).then_some(1_600_000_000_000 + n),
        last_snapshot: Some(n),
        mutation_cursor: i64::MAX - n,
    }
}

/// `set_watch_state` replaces the state of its root; `watch_states` lists
/// them by root bytes.
pub fn watch_states_are_replaced_per_root(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    assert_eq!(store.watch_state(b"/a").expect("watch_state"), None);
    assert!(store.watch_states().expect("watch_states").is_empty());
    let roots: [&[u8]; 5] = [b"/b", b"/a", b"/a/b", b"/\xff", b"/a-b"];
    for (n, root) in roots.iter().enumerate() {
        store
            .set_watch_state(&watch(root, n as i64))
            .expect("set_watch_state");
    }
    let sorted = |v: &[WatchState]| -> Vec<String> {
        v.iter()
            .map(|w| escape_bytes(&w.root).into_owned())
            .collect()
    };
    let states = store.watch_states().expect("watch_states");
    assert_eq!(
        sorted(&states),
        ["/a", "/a-b", "/a/b", "/b", "/\\xff"],
        "by root bytes"
    );
    for (n, root) in roots.iter().enumerate() {
        assert_eq!(
            store.watch_state(root).expect("watch_state"),
            Some(watch(root, n as i64))
        );
    }
    assert_eq!(store.watch_state(b"/c").expect("watch_state"), None);
    assert_eq!(
        store.watch_state(b"/a/b/c").expect("watch_state"),
        None,
        "exact roots only"
    );
    // Replaced, not merged: fields set to None stay None.
    let bare = WatchState {
        root: b"/a".to_vec(),
        ..WatchState::default()
    };
    store.set_watch_state(&bare).expect("set_watch_state");
    assert_eq!(
        store.watch_state(b"/a").expect("watch_state"),
        Some(bare.clone())
    );
    assert_eq!(
        store.watch_states().expect("watch_states").len(),
        5,
        "one per root"
    );
    drop(store);
    let store = s.open();
    assert_eq!(store.watch_state(b"/a").expect("watch_state"), Some(bare));
    assert_eq!(
        store.watch_state(b"/\xff").expect("watch_state"),
        Some(watch(b"/\xff", 3))
    );
}

/// The paths of a base tree for `derive_snapshot`: a generated tree plus
/// the traps around `/gen/a` (`/gen/a-x` and `/gen/a0` sort between it and
/// `/gen/a/`, `/gen/ab` after).
fn derive_base(root: &[u8], rng: &mut Rng) -> Vec<DirRecord> {
    let mut paths: BTreeSet<Vec<u8>> = generated_tree(root, 1200, rng).into_iter().collect();
    for extra in [
        "/a",
        "/a/x",
        "/a/x/y",
        "/a-x",
        "/a-x/y",
        "/a0",
        "/ab",
        "/a/\u{e9}",
    ] {
        let mut p = root.to_vec();
        p.extend_from_slice(extra.as_bytes());
        paths.insert(p);
    }
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    as_records(&rows_for(root, &refs, 300))
}

/// What deriving must give: `base` minus each removed subtree (`P` and
/// everything under `P/`), then each upsert written over it or added.
fn fold(base: &[DirRecord], removed: &[Vec<u8>], upserts: &[DirRecord]) -> Vec<DirRecord> {
    let mut tree: std::collections::BTreeMap<Vec<u8>, DirRecord> = base
        .iter()
        .filter(|r| !removed.iter().any(|p| is_within(&r.path, p)))
        .map(|r| (r.path.clone(), r.clone()))
        .collect();
    for u in upserts {
        tree.insert(u.path.clone(), u.clone());
    }
    tree.into_values().collect()
}

fn record(root: &[u8], path: &[u8], seed: u64) -> DirRecord {
    DirRecord {
        path: path.to_vec(),
        depth: depth_below(root, path),
        stats: stats_for(seed),
    }
}

/// Everything a failed derive must leave as it was.
#[derive(Debug, PartialEq)]
struct LiveState {
    snapshots: Vec<SnapshotInfo>,
    deltas: Vec<Vec<DirDelta>>,
    watch: Vec<WatchState>,
}

fn live_state(store: &dyn SnapshotStore) -> LiveState {
    let snapshots = store.snapshots().expect("snapshots");
    let deltas = snapshots
        .iter()
        .map(|s| store.dir_deltas(s.id).expect("dir_deltas"))
        .collect();
    LiveState {
        snapshots,
        deltas,
        watch: store.watch_states().expect("watch_states"),
    }
}

fn derive(store: &mut dyn SnapshotStore, d: &DerivedSnapshot<'_>) -> SnapshotId {
    store
        .derive_snapshot(d)
        .unwrap_or_else(|e| panic!("derive_snapshot from {}: {e}", d.base))
}

/// `derive_snapshot` gives exactly the independently folded tree, readable
/// like a written snapshot, with its deltas and watch state; the base and
/// its neighbours are unchanged; a chain of derivations stays exact.
pub fn derive_snapshot_equals_the_folded_tree(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let mut rng = Rng::new(0xde21_7e00_0000_0001);
    let root: &[u8] = b"/gen";
    let other_root: &[u8] = b"/gen-other";
    let base_rows = derive_base(root, &mut rng);
    let other_rows = as_records(&rows_for(other_root, &[other_root, b"/gen-other/x"], 5));
    let to_rows = |recs: &[DirRecord]| -> Vec<Row> {
        recs.iter()
            .map(|r| (r.path.clone(), r.depth, r.stats))
            .collect()
    };
    let before = write_snapshot(
        store.as_mut(),
        &meta_for(other_root, 0),
        &to_rows(&other_rows),
    );
    let base = write_snapshot(store.as_mut(), &meta_for(root, 1), &to_rows(&base_rows));
    let after = write_snapshot(
        store.as_mut(),
        &meta_for(root, 2),
        &to_rows(&base_rows[..40]),
    );

    let p = |s: &str| -> Vec<u8> { [root, s.as_bytes()].concat() };
    // Unsorted and overlapping on purpose; one names nothing.
    let removed = vec![p("/a"), p("/b"), p("/a/x"), p("/no/such/dir")];
    assert!(
        base_rows.iter().any(|r| r.path == p("/b")),
        "the generated tree has /b"
    );
    let kept_base = fold(&base_rows, &removed, &[]);
    let mut upserts: Vec<DirRecord> = kept_base
        .iter()
        .step_by(5)
        .enumerate()
        .map(|(i, r)| DirRecord {
            stats: stats_for(5000 + i as u64),
            ..r.clone()
        })
        .collect();
    for (i, added) in [
        "/a",
        "/a/new",
        "/a-new",
        "/0new",
        "/new\u{ff}",
        "/\u{10ffff}",
        "/b/x/y",
    ]
    .iter()
    .enumerate()
    {
        upserts.push(record(root, &p(added), 9000 + i as u64));
    }
    upserts.push(record(root, root, 0));
    upserts.sort_by(|a, b| a.path.cmp(&b.path));
    upserts.dedup_by(|a, b| a.path == b.path);
    let want = fold(&base_rows, &removed, &upserts);

    let deltas = vec![
        DirDelta {
            snapshot: -7, // ignored: the new snapshot's id is recorded
            ..delta(&p("/a"), None, 12, 3)
        },
        delta(root, Some(1), u64::MAX, 4),
        delta(&p("/b"), Some(4096), 0, 5),
    ];
    let state = WatchState {
        last_snapshot: Some(base),
        ..watch(root, 11)
    };
    let meta = meta_for(root, 77);
    let base_before = read_tree(store.as_ref(), base, None);
    let derived = derive(
        store.as_mut(),
        &DerivedSnapshot {
            base,
            meta: &meta,
            removed: &removed,
            upserts: &upserts,
            deltas: &deltas,
            watch_state: Some(&state),
        },
    );
    assert!(derived > after, "a new id, above every earlier one");
    // The directory and error counts are the rows', not the caller's.
    let counted = |rows: &[DirRecord], meta: &SnapshotMeta| SnapshotMeta {
        dir_count: rows.len() as u64,
        error_count: rows
            .iter()
            .fold(0u64, |a, r| a.saturating_add(r.stats.error_count)),
        ..meta.clone()
    };
    assert_ne!(
        meta.dir_count,
        want.len() as u64,
        "the given count is wrong on purpose"
    );
    assert_eq!(
        store.snapshot(derived).expect("snapshot"),
        Some(SnapshotInfo {
            id: derived,
            meta: counted(&want, &meta)
        })
    );
    assert_reads_match("derived snapshot", store.as_ref(), derived, &want, 5);
    for under in [p("/a"), p("/b"), p("/a-x"), p("/no/such/dir")] {
        let want_under: Vec<DirRecord> = want
            .iter()
            .filter(|r| is_within(&r.path, &under))
            .cloned()
            .collect();
        assert_records(
            &format!("derived subtree {}", escape_bytes(&under)),
            &read_tree(store.as_ref(), derived, Some(&under)),
            &want_under,
        );
    }
    assert_eq!(
        store.dir_deltas(derived).expect("dir_deltas"),
        deltas_of(derived, &deltas),
        "deltas recorded against the new snapshot"
    );
    assert_eq!(
        store.watch_state(root).expect("watch_state"),
        Some(WatchState {
            last_snapshot: Some(derived),
            ..state.clone()
        }),
        "watch state stored with the new snapshot"
    );
    assert_records(
        "base unchanged",
        &read_tree(store.as_ref(), base, None),
        &base_before,
    );
    assert_records(
        "earlier neighbour",
        &read_tree(store.as_ref(), before, None),
        &other_rows,
    );
    assert_records(
        "later neighbour",
        &read_tree(store.as_ref(), after, None),
        &base_rows[..40],
    );

    // A chain: derive from the derived one, then write an ordinary snapshot.
    let removed_2 = vec![p("/a-x"), p("/a")];
    let upserts_2 = vec![
        record(root, &p("/a"), 42),
        record(root, &p("/a-x"), 43),
        record(root, &p("/a-x/z"), 44),
    ];
    let want_2 = fold(&want, &removed_2, &upserts_2);
    let second = derive(
        store.as_mut(),
        &DerivedSnapshot {
            base: derived,
            meta: &meta_for(root, 78),
            removed: &removed_2,
            upserts: &upserts_2,
            deltas: &[],
            watch_state: None,
        },
    );
    assert_reads_match("derived twice", store.as_ref(), second, &want_2, 9);
    assert_eq!(
        store.snapshot(second).expect("snapshot").map(|s| s.meta),
        Some(counted(&want_2, &meta_for(root, 78)))
    );
    assert!(store.dir_deltas(second).expect("dir_deltas").is_empty());
    assert_eq!(
        store
            .watch_state(root)
            .expect("watch_state")
            .and_then(|w| w.last_snapshot),
        Some(derived),
        "no watch state given: the stored one stays"
    );
    let plain = write_snapshot(store.as_mut(), &meta_for(root, 79), &to_rows(&base_rows));
    assert_reads_match(
        "written after deriving",
        store.as_ref(),
        plain,
        &base_rows,
        11,
    );
    assert_reads_match("still the derived", store.as_ref(), derived, &want, 13);

    // Nothing changed: a copy of the base.
    let copy = derive(
        store.as_mut(),
        &DerivedSnapshot {
            base,
            meta: &meta_for(root, 80),
            removed: &[],
            upserts: &[],
            deltas: &[],
            watch_state: None,
        },
    );
    assert_reads_match("unchanged copy", store.as_ref(), copy, &base_rows, 17);
    // The root removed and written again: only the upserts remain.
    let fresh = vec![record(root, root, 1), record(root, &p("/only"), 2)];
    let only = derive(
        store.as_mut(),
        &DerivedSnapshot {
            base,
            meta: &meta_for(root, 81),
            removed: &[root.to_vec()],
            upserts: &fresh,
            deltas: &[],
            watch_state: None,
        },
    );
    assert_reads_match("root removed", store.as_ref(), only, &fresh, 1);
    assert_eq!(
        store.snapshot(only).expect("snapshot").map(|s| s.meta),
        Some(counted(&fresh, &meta_for(root, 81)))
    );
    drop(store);
    let store = s.open();
    assert_reads_match("derived, reopened", store.as_ref(), derived, &want, 7);
}

/// A derive that cannot be done writes nothing: an unknown base
/// (`NotFound`), a base of another root (`Usage`), upserts out of order.
pub fn derive_snapshot_refusals_write_nothing(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let root: &[u8] = b"/d";
    let rows = rows_for(root, &[b"/d", b"/d/a", b"/d/a/b", b"/d/c"], 0);
    let base = write_snapshot(store.as_mut(), &meta_for(root, 0), &rows);
    let other = one_dir_snapshot(store.as_mut(), b"/d/a", 1).id;
    store
        .record_dir_deltas(&[DirDelta {
            snapshot: base,
            ..delta(b"/d", None, 1, 1)
        }])
        .expect("record_dir_deltas");
    let state = watch(root, 3);
    store.set_watch_state(&state).expect("set_watch_state");
    let unchanged = live_state(store.as_ref());
    let meta = meta_for(root, 9);
    let deltas = vec![delta(b"/d/a", Some(1), 2, 10)];
    let new_state = watch(root, 4);
    let good = vec![record(root, b"/d/a", 5), record(root, b"/d/b", 6)];
    let attempt = |store: &mut dyn SnapshotStore, base: SnapshotId, upserts: &[DirRecord]| {
        store.derive_snapshot(&DerivedSnapshot {
            base,
            meta: &meta,
            removed: &[b"/d/c".to_vec()],
            upserts,
            deltas: &deltas,
            watch_state: Some(&new_state),
        })
    };

    let err = attempt(store.as_mut(), base.max(other) + 1000, &good)
        .expect_err("derive from an unknown base");
    assert_eq!(err.kind(), ErrorKind::NotFound, "unknown base: {err}");
    assert_eq!(
        live_state(store.as_ref()),
        unchanged,
        "unknown base: nothing written"
    );

    let err = attempt(store.as_mut(), other, &good).expect_err("derive from another root");
    assert_eq!(err.kind(), ErrorKind::Usage, "base of another root: {err}");
    assert_eq!(
        live_state(store.as_ref()),
        unchanged,
        "another root: nothing written"
    );

    let reversed: Vec<DirRecord> = good.iter().rev().cloned().collect();
    let doubled = vec![good[0].clone(), good[0].clone()];
    for (what, upserts) in [("descending", &reversed), ("duplicate", &doubled)] {
        assert!(
            attempt(store.as_mut(), base, upserts).is_err(),
            "{what} upserts are refused"
        );
        assert_eq!(
            live_state(store.as_ref()),
            unchanged,
            "{what} upserts: nothing written"
        );
    }
    assert_records(
        "base unchanged",
        &read_tree(store.as_ref(), base, None),
        &as_records(&rows),
    );

    // The failures left nothing behind for the id the next snapshot gets.
    let id = attempt(store.as_mut(), base, &good).expect("a valid derive");
    assert_eq!(
        store.dir_deltas(id).expect("dir_deltas"),
        deltas_of(id, &deltas)
    );
    assert_records(
        "the valid derive",
        &read_tree(store.as_ref(), id, None),
        &fold(&as_records(&rows), &[b"/d/c".to_vec()], &good),
    );
    assert_eq!(store.snapshots().expect("snapshots").len(), 3);
}

/// `index_provenance`: `None` on a new store, round trip, replace.
pub fn index_provenance_round_trips_and_is_replaced(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    assert_eq!(store.index_provenance().expect("index_provenance"), None);
    let first = IndexProvenance {
        snapshots: vec![
            (b"/".to_vec(), 1),
            (b"/a".to_vec(), i64::MAX),
            (b"/a/\xff\n".to_vec(), 3),
        ],
        len: u64::MAX,
        dev: u64::MAX - 1,
        ino: 1 << 63,
        mtime_ns: i64::MIN,
        checksum: u64::MAX - 2,
        mutation_cursor: i64::MAX,
    };
    store
        .set_index_provenance(&first)
        .expect("set_index_provenance");
    assert_eq!(
        store.index_provenance().expect("index_provenance"),
        Some(first)
    );
    let second = IndexProvenance {
        snapshots: vec![(b"/b".to_vec(), 9)],
        len: 20,
        dev: 2049,
        ino: 7,
        mtime_ns: 1_700_000_000_123_456_789,
        checksum: 0,
        mutation_cursor: 12,
    };
    store
        .set_index_provenance(&second)
        .expect("set_index_provenance");
    assert_eq!(
        store.index_provenance().expect("index_provenance"),
        Some(second.clone()),
        "replaced, not merged"
    );
    let empty = IndexProvenance::default();
    store
        .set_index_provenance(&empty)
        .expect("set_index_provenance");
    assert_eq!(
        store.index_provenance().expect("index_provenance"),
        Some(empty.clone()),
        "an index of no root is still recorded"
    );
    drop(store);
    let store = s.open();
    assert_eq!(
        store.index_provenance().expect("index_provenance"),
        Some(empty)
    );
}

/// `SnapshotWriter::delete_with`: the snapshots go with the commit, and
/// with everything that depends on them, or not at all.
pub fn delete_with_goes_with_the_commit(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let mut store = s.open();
    let rows = rows_for(b"/t", &tricky_paths(), 0);
    let ids: Vec<SnapshotId> = (0..3)
        .map(|n| write_snapshot(store.as_mut(), &meta_for(b"/t", n), &rows))
        .collect();
    let (s1, s2, s3) = (ids[0], ids[1], ids[2]);
    for (a, b) in [(s1, s2), (s2, s3), (s1, s3)] {
        store
            .store_diff(a, b, &diff_entries(a as u64))
            .expect("store_diff");
    }
    for &id in &ids {
        store
            .record_dir_deltas(&[DirDelta {
                snapshot: id,
                ..delta(b"/t/a", Some(1), id as u64, 2)
            }])
            .expect("record_dir_deltas");
    }
    let all = as_records(&rows);
    let unchanged = live_state(store.as_ref());
    {
        let mut w = store.begin_snapshot(&meta_for(b"/t", 3)).expect("begin");
        w.delete_with(&[s1]).expect("delete_with");
        for r in &all {
            w.write_dir(&r.path, r.depth, &r.stats).expect("write_dir");
        }
        // Dropped without commit.
    }
    assert_eq!(
        live_state(store.as_ref()),
        unchanged,
        "a dropped writer deletes nothing"
    );
    assert_records("kept", &read_tree(store.as_ref(), s1, None), &all);
    assert!(store.cached_diff(s1, s2).expect("cached_diff").is_some());

    let mut w = store.begin_snapshot(&meta_for(b"/t", 4)).expect("begin");
    let (head, tail) = all.split_at(5);
    for r in head {
        w.write_dir(&r.path, r.depth, &r.stats).expect("write_dir");
    }
    w.delete_with(&[s2, s1, s2, s3 + 1000])
        .expect("delete_with");
    for r in tail {
        w.write_dir(&r.path, r.depth, &r.stats).expect("write_dir");
    }
    let new = w.commit().expect("commit");
    assert_eq!(
        ids_of(&store.snapshots().expect("snapshots")),
        [s3, new],
        "deleted with the commit; unknown ids ignored"
    );
    for gone in [s1, s2] {
        assert_eq!(
            store.dir(gone, b"/t").expect("dir"),
            None,
            "{gone}'s directories"
        );
        let err = store
            .visit_tree(gone, None, &mut |_| true)
            .expect_err("visit a deleted snapshot");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(
            store.dir_deltas(gone).expect("dir_deltas").is_empty(),
            "{gone}'s deltas"
        );
    }
    for (a, b) in [(s1, s2), (s2, s3), (s1, s3)] {
        assert_eq!(
            store.cached_diff(a, b).expect("cached_diff"),
            None,
            "diff {a}->{b}"
        );
    }
    assert_records("survivor", &read_tree(store.as_ref(), s3, None), &all);
    assert_eq!(store.dir_deltas(s3).expect("dir_deltas").len(), 1);
    assert_records(
        "the new snapshot",
        &read_tree(store.as_ref(), new, None),
        &all,
    );

    let mut w = store.begin_snapshot(&meta_for(b"/t", 5)).expect("begin");
    w.delete_with(&[]).expect("delete nothing");
    let last = w.commit().expect("commit");
    assert!(last > new);
    assert_eq!(store.snapshots().expect("snapshots").len(), 3);
}

/// A read-only store reads every live table and refuses every live write,
/// leaving the file byte-identical.
pub fn read_only_reads_live_tables_and_refuses_live_writes(plugin: &'static StorePlugin) {
    let s = Scratch::new(plugin);
    let root: &[u8] = b"/r";
    let rows = rows_for(root, &[b"/r", b"/r/a", b"/r/b"], 0);
    let mutations = vec![upsert(5, b"/r/a", 3, Some(9)), removal(6, b"/r/b", None)];
    let events = vec![event(5, JournalKind::Grew, b"/r/a", Some(1), true)];
    let provenance = IndexProvenance {
        snapshots: vec![(root.to_vec(), 1)],
        len: 100,
        ..IndexProvenance::default()
    };
    let base = {
        let mut store = s.open();
        let base = write_snapshot(store.as_mut(), &meta_for(root, 0), &rows);
        append(
            store.as_mut(),
            &batch(&mutations, &events, Some(&watch(root, 1))),
        );
        store
            .record_dir_deltas(&[DirDelta {
                snapshot: base,
                ..delta(b"/r/a", None, 4, 4)
            }])
            .expect("record_dir_deltas");
        store
            .set_index_provenance(&provenance)
            .expect("set_index_provenance");
        base
    };
    let read_all = |store: &dyn SnapshotStore| {
        (
            store
                .find_snapshots(&SnapshotQuery::covering(b"/r/a"))
                .expect("find_snapshots"),
            store.latest_per_root(None).expect("latest_per_root"),
            store
                .mutations_after(0, Some(root), MAX_LIMIT)
                .expect("mutations_after"),
            store
                .journal(&JournalQuery::all().under(root))
                .expect("journal"),
            store.dir_deltas(base).expect("dir_deltas"),
            store.watch_state(root).expect("watch_state"),
            store.watch_states().expect("watch_states"),
            store.index_provenance().expect("index_provenance"),
        )
    };
    let want = read_all(s.open().as_ref());
    assert_eq!(want.2.len(), 2, "the store holds the mutations");
    let before = s.contents();
    {
        let mut store = s
            .try_open(true)
            .unwrap_or_else(|e| panic!("read-only open: {e}"));
        assert_eq!(read_all(store.as_ref()), want, "read-only reads");
        let refused: Vec<(&str, bool)> = vec![
            (
                "append_batch",
                store
                    .append_batch(&batch(&mutations, &events, None))
                    .is_err(),
            ),
            (
                "append_batch (empty)",
                store.append_batch(&LiveBatch::default()).is_err(),
            ),
            (
                "prune_mutations",
                store.prune_mutations(i64::MAX, None).is_err(),
            ),
            ("prune_journal", store.prune_journal(i64::MAX).is_err()),
            (
                "record_dir_deltas",
                store
                    .record_dir_deltas(&[DirDelta {
                        snapshot: base,
                        ..delta(b"/r", None, 1, 1)
                    }])
                    .is_err(),
            ),
            (
                "set_watch_state",
                store.set_watch_state(&watch(root, 2)).is_err(),
            ),
            (
                "set_index_provenance",
                store
                    .set_index_provenance(&IndexProvenance::default())
                    .is_err(),
            ),
            (
                "derive_snapshot",
                store
                    .derive_snapshot(&DerivedSnapshot {
                        base,
                        meta: &meta_for(root, 1),
                        removed: &[],
                        upserts: &[],
                        deltas: &[],
                        watch_state: None,
                    })
                    .is_err(),
            ),
        ];
        for (what, was_refused) in refused {
            assert!(was_refused, "read-only {what} must fail");
        }
        assert_eq!(read_all(store.as_ref()), want, "nothing changed");
    }
    assert!(s.contents() == before, "read-only use changed the store");
}
