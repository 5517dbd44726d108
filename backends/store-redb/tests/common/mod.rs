//! Helpers shared by the redb store tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use disktracker::settings::{PluginSettings, Value};
use disktracker::{DirRecord, DirStats, SnapshotMeta, SnapshotStore, StoreOptions};
use disktracker_store_redb::{RedbStore, SETTINGS};

/// Opens the store at `path`, creating it unless `read_only`.
pub fn try_open(path: &Path, read_only: bool) -> disktracker::Result<RedbStore> {
    RedbStore::open(&StoreOptions::file(path.to_path_buf()).read_only(read_only))
}

/// `[plugins.redb]` settings: the defaults with `overrides` from `test.toml`.
pub fn settings(overrides: &[(&str, Value)]) -> PluginSettings {
    let mut s = PluginSettings::defaults("redb", SETTINGS).unwrap();
    for (key, value) in overrides {
        s.set(key, value.clone(), "test.toml").unwrap();
    }
    s
}

/// [`try_open`] with settings.
pub fn try_open_with(
    path: &Path,
    read_only: bool,
    overrides: &[(&str, Value)],
) -> disktracker::Result<RedbStore> {
    RedbStore::open(
        &StoreOptions::file(path.to_path_buf())
            .read_only(read_only)
            .with_settings(settings(overrides)),
    )
}

/// [`try_open`] without waiting for a busy file.
pub fn try_open_now(path: &Path, read_only: bool) -> disktracker::Result<RedbStore> {
    try_open_with(path, read_only, &[("lock_timeout", toml_str("0s"))])
}

/// Shorthand for a TOML value in tests.
pub fn toml_str(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Opens (creating) the store at `path`.
pub fn open(path: &Path) -> RedbStore {
    try_open(path, false).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Opens the store at `path` read-only.
pub fn open_ro(path: &Path) -> disktracker::Result<RedbStore> {
    try_open(path, true)
}

/// A fresh temp dir and the store path inside it.
pub fn temp_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.redb");
    (dir, path)
}

/// A snapshot description for `root`.
pub fn meta(root: &[u8]) -> SnapshotMeta {
    SnapshotMeta {
        root: root.to_vec(),
        started_at_ms: 1_700_000_000_000,
        finished_at_ms: 1_700_000_000_500,
        host: "testhost".into(),
        total_files: 10,
        total_bytes: 4096,
        total_apparent: 1000,
        dir_count: 3,
        error_count: 0,
        walker: "test".into(),
    }
}

/// Stats distinct per `seed`, touching every field.
pub fn stats(seed: u64) -> DirStats {
    DirStats {
        total_bytes: seed * 4096 + 1,
        total_apparent: seed * 1000 + 2,
        direct_bytes: seed * 512 + 3,
        direct_apparent: seed * 100 + 4,
        file_count: seed * 7 + 5,
        direct_files: seed * 3 + 6,
        child_count: seed % 11,
        error_count: seed % 5,
        mtime_ns: (seed as i64) * 1_000_000_007 - 42,
        dev: 0x803 + seed,
        ino: 1_000_000 + seed,
        fingerprint: (u128::from(seed) << 100)
            ^ u128::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    }
}

/// Writes `rows` (sorted here, so callers may list them in any order) as one snapshot.
pub fn write_snapshot(store: &mut dyn SnapshotStore, root: &[u8], rows: &[DirRecord]) -> i64 {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    let mut w = store.begin_snapshot(&meta(root)).unwrap();
    for r in &rows {
        w.write_dir(&r.path, r.depth, &r.stats).unwrap();
    }
    w.commit().unwrap()
}

/// Records for `paths`, depth counted from `/`-separated components below `/r`.
pub fn records(paths: &[&[u8]]) -> Vec<DirRecord> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| DirRecord {
            path: p.to_vec(),
            depth: p.iter().filter(|&&c| c == b'/').count() as u32,
            stats: stats(i as u64 + 1),
        })
        .collect()
}

/// Directory paths of a synthetic tree: `n` directories, ~60-120 bytes each,
/// already in bytewise order.
pub fn synthetic_paths(n: usize) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                "/home/someone/projects/workspace-{:02}/component-{:03}/src/module_{:05}/nested-dir",
                i % 37,
                (i / 37) % 211,
                i
            )
            .into_bytes()
        })
        .collect();
    v.sort();
    v
}

/// [`synthetic_paths`] as rows at `depth`, with distinct stats.
pub fn synthetic_rows(n: usize, depth: u32) -> Vec<DirRecord> {
    synthetic_paths(n)
        .into_iter()
        .enumerate()
        .map(|(i, path)| DirRecord {
            path,
            depth,
            stats: stats(i as u64),
        })
        .collect()
}

/// Paths visited by `visit_tree`.
pub fn visited(store: &dyn SnapshotStore, id: i64, under: Option<&[u8]>) -> Vec<Vec<u8>> {
    store
        .read_tree(id, under)
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect()
}

/// Rows in the directory table of the (closed) store at `path`, counted with
/// redb directly, so rows of no listed snapshot cannot hide.
pub fn raw_dir_rows(path: &Path) -> u64 {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let def: redb::TableDefinition<&[u8], &[u8; 108]> =
        redb::TableDefinition::new("disktracker.dirs");
    txn.open_table(def).unwrap().len().unwrap()
}

/// Rows in the cached-diff table of the (closed) store at `path`.
pub fn raw_diff_rows(path: &Path) -> u64 {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let def: redb::TableDefinition<(u64, u64, u64), &[u8]> =
        redb::TableDefinition::new("disktracker.diffs");
    txn.open_table(def).unwrap().len().unwrap()
}

/// The `format_version` stored in the (closed) store at `path`, read with redb directly.
pub fn raw_format_version(path: &Path) -> Option<u64> {
    use redb::ReadableDatabase;
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let def: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("disktracker.meta");
    let meta = txn.open_table(def).unwrap();
    meta.get("format_version").unwrap().map(|v| v.value())
}

/// The names of the tables in the (closed) store at `path`, sorted.
pub fn raw_table_names(path: &Path) -> Vec<String> {
    use redb::{ReadableDatabase, TableHandle};
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let mut names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    names
}

/// The entries of the root index of the (closed) store at `path`.
pub fn raw_root_index(path: &Path) -> Vec<(Vec<u8>, u64)> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let def: redb::TableDefinition<(&[u8], u64), ()> =
        redb::TableDefinition::new("disktracker.roots");
    let t = txn.open_table(def).unwrap();
    t.iter()
        .unwrap()
        .map(|e| {
            let (k, _) = e.unwrap();
            let (root, id) = k.value();
            (root.to_vec(), id)
        })
        .collect()
}

/// Rows of the delta table of the (closed) store at `path`.
pub fn raw_delta_rows(path: &Path) -> u64 {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::ReadOnlyDatabase::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let def: redb::TableDefinition<(u64, &[u8], u64), &[u8]> =
        redb::TableDefinition::new("disktracker.dir_deltas");
    txn.open_table(def).unwrap().len().unwrap()
}

/// Replaces the stored record of snapshot `id` with `bytes` (to damage it).
pub fn raw_put_snapshot_record(path: &Path, id: u64, bytes: &[u8]) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<u64, &[u8]> =
            redb::TableDefinition::new("disktracker.snapshots");
        txn.open_table(def).unwrap().insert(id, bytes).unwrap();
    }
    txn.commit().unwrap();
}
