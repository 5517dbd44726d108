//! SQLite-specific checks; the behaviour every store shares is tested by the
//! conformance suite in `disktracker-testkit` (tests/stores.rs there).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use disktracker::{DirRecord, DirStats, ErrorKind, SnapshotMeta, SnapshotStore, StoreOptions};
use rusqlite::Connection;

use super::*;

fn opts(path: &Path) -> StoreOptions {
    StoreOptions::file(path.to_path_buf())
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data.db")
}

fn meta(root: &[u8]) -> SnapshotMeta {
    SnapshotMeta {
        root: root.to_vec(),
        host: "h".into(),
        walker: "w".into(),
        ..SnapshotMeta::default()
    }
}

fn write(store: &mut SqliteStore, rows: &[&[u8]]) -> SnapshotId {
    let mut w = store.begin_snapshot(&meta(rows[0])).unwrap();
    for (i, p) in rows.iter().enumerate() {
        let stats = DirStats {
            total_bytes: i as u64 + 1,
            ..DirStats::default()
        };
        w.write_dir(p, 0, &stats).unwrap();
    }
    w.commit().unwrap()
}

fn pragma(conn: &Connection, name: &str) -> String {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| {
        r.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    })
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Columns of a table as (name, declared type, not null, default).
fn columns(conn: &Connection, table: &str) -> Vec<(String, String, bool, Option<String>)> {
    let mut s = conn
        .prepare(
            "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?1) ORDER BY cid",
        )
        .unwrap();
    s.query_map([table], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn indexes(conn: &Connection) -> Vec<(String, String)> {
    let mut s = conn
        .prepare(
            "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn creates_file_0600_in_new_0700_directories_with_every_pragma() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state/deeper/data.db");
    let store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("state")), 0o700);
    assert_eq!(mode(&tmp.path().join("state/deeper")), 0o700);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);

    let c = &store.conn;
    assert_eq!(pragma(c, "journal_mode"), "wal");
    assert_eq!(pragma(c, "synchronous"), "1", "NORMAL");
    assert_eq!(pragma(c, "cache_size"), "-65536");
    assert_eq!(pragma(c, "mmap_size"), "268435456");
    assert_eq!(pragma(c, "temp_store"), "2", "MEMORY");
    assert_eq!(pragma(c, "foreign_keys"), "1");
    assert_eq!(pragma(c, "busy_timeout"), "5000");
    assert_eq!(pragma(c, "auto_vacuum"), "2", "INCREMENTAL");
    assert_eq!(pragma(c, "page_size"), open::PAGE_SIZE.to_string());
    drop(store);
    // The WAL and shared-memory files SQLite creates inherit the mode.
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    write(&mut store, &[b"/r"]);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
}

#[test]
fn migration_one_is_the_seed_schema_and_later_ones_add_or_drop_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let seed = Connection::open_in_memory().unwrap();
    seed.execute_batch(schema::MIGRATIONS[0].sql).unwrap();

    for table in schema::seed_tables() {
        let want = columns(&seed, table);
        let have = columns(&store.conn, table);
        assert!(!want.is_empty(), "{table}");
        assert_eq!(
            &have[..want.len()],
            &want[..],
            "{table}: seed columns first, unchanged"
        );
    }
    let seed_indexes = indexes(&seed);
    let names: Vec<_> = seed_indexes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "idx_diff_delta",
            "idx_dir_deltas_path",
            "idx_dir_deltas_snapshot",
            "idx_dir_identity",
            "idx_dir_path_bytes",
            "idx_dir_snapshot_id",
            "idx_fs_events_time",
            "idx_mutation_log_identity",
            "idx_mutation_log_time",
        ]
    );
    let all = indexes(&store.conn);
    for idx in &seed_indexes {
        let dropped = schema::DROPPED_SEED_INDEXES.contains(&idx.0.as_str());
        assert_eq!(
            all.contains(idx),
            !dropped,
            "{idx:?} kept unless migration 4 dropped it"
        );
    }
    // Every seed index has the seed's definition.
    let sql_of = |c: &Connection, name: &str| -> String {
        c.query_row(
            "SELECT sql FROM sqlite_schema WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    for (name, _) in seed_indexes
        .iter()
        .filter(|(n, _)| !schema::DROPPED_SEED_INDEXES.contains(&n.as_str()))
    {
        assert_eq!(sql_of(&store.conn, name), sql_of(&seed, name));
    }
    let extra: Vec<_> = columns(&store.conn, "dir_snapshots")
        .into_iter()
        .skip(columns(&seed, "dir_snapshots").len())
        .map(|c| c.0)
        .collect();
    assert_eq!(
        extra,
        [
            "apparent_bytes",
            "direct_apparent_bytes",
            "direct_files",
            "error_count"
        ]
    );
}

#[test]
fn a_version_one_database_is_upgraded_in_place_keeping_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    {
        // What an older DiskTracker that only knew the seed schema left.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(schema::MIGRATIONS[0].sql).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO snapshots (scan_root, started_at, finished_at, total_files, total_bytes, host)
                 VALUES ('/old', 1, 2, 3, 4096, 'h');
             INSERT INTO dir_snapshots (snapshot_id, path_blob, path_utf8, depth, total_bytes, file_count, mtime)
                 VALUES (1, CAST('/old' AS BLOB), '/old', 0, 4096, 3, 7);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        pragma(&store.conn, "page_size"),
        "4096",
        "an existing file keeps its page size"
    );
    let snap = store.snapshot(1).unwrap().unwrap();
    assert_eq!(snap.meta.root, b"/old");
    assert_eq!(snap.meta.total_bytes, 4096);
    assert_eq!(snap.meta.walker, "");
    let dir = store.dir(1, b"/old").unwrap().unwrap();
    assert_eq!(dir.stats.total_bytes, 4096);
    assert_eq!(dir.stats.mtime_ns, 7);
    assert_eq!(dir.stats.total_apparent, 0, "new columns default to 0");
    // Without auto-vacuum, reclaiming falls back to VACUUM and still works.
    drop(store);
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    store.delete_snapshots(&[1]).unwrap();
    store.reclaim_space().unwrap();
    assert!(store.snapshots().unwrap().is_empty());
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    drop(SqliteStore::open(&opts(&path)).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    for read_only in [false, true] {
        let err =
            SqliteStore::open(&StoreOptions::file(path.clone()).read_only(read_only)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("newer DiskTracker") && msg.contains("99"),
            "{msg}"
        );
        assert!(msg.contains("data.db"), "{msg}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&opts(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("contacts"), "{err}");
    assert!(err.to_string().contains("move it aside"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_missing_table_is_reported_as_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    drop(SqliteStore::open(&opts(&path)).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE fs_events")
        .unwrap();
    let err = SqliteStore::open(&opts(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("fs_events"), "{err}");
}

#[test]
fn a_directory_as_database_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&opts(tmp.path())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
}

#[test]
fn an_unwritable_location_is_a_permission_error_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores permission bits; nothing to observe then.
    if std::fs::File::create(locked.join("probe")).is_ok() {
        eprintln!("running as root: permission checks are not observable");
        return;
    }
    let err = SqliteStore::open(&opts(&locked.join("data.db"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert!(err.to_string().contains("--db"), "{err}");

    // An existing file that is not writable.
    let path = db_in(&tmp);
    drop(SqliteStore::open(&opts(&path)).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let err = SqliteStore::open(&opts(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
}

#[test]
fn a_busy_database_waits_then_reports_locked_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    // Keep the test short: the real timeout is five seconds.
    store.conn.busy_timeout(Duration::from_millis(200)).unwrap();

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.begin_snapshot(&meta(b"/r")).err().expect("locked");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("data.db") && msg.contains("another disktracker"),
        "{msg}"
    );
    let err = store.delete_snapshots(&[1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    other.execute_batch("ROLLBACK").unwrap();

    // A writer that finishes within the timeout is waited for, not reported.
    store.conn.busy_timeout(store.tuning.busy_timeout).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let id = write(&mut store, &[b"/r"]);
    release.join().unwrap();
    assert!(store.snapshot(id).unwrap().is_some());
}

#[test]
fn rows_out_of_path_order_are_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    {
        let mut w = store.begin_snapshot(&meta(b"/a")).unwrap();
        w.write_dir(b"/a", 0, &DirStats::default()).unwrap();
        w.write_dir(b"/a/b", 1, &DirStats::default()).unwrap();
        let err = w.write_dir(b"/a-b", 1, &DirStats::default()).unwrap_err();
        assert!(err.to_string().contains("/a-b"), "{err}");
        let err = w.write_dir(b"/a/b", 1, &DirStats::default()).unwrap_err();
        assert!(err.to_string().contains("order"), "{err}");
    }
    assert!(store.snapshots().unwrap().is_empty());
    let rows: i64 = store
        .conn
        .query_row("SELECT count(*) FROM dir_snapshots", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn u64_values_are_stored_as_bit_cast_integers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let stats = DirStats {
        total_bytes: u64::MAX,
        fingerprint: u128::MAX - 1,
        ..DirStats::default()
    };
    let mut w = store.begin_snapshot(&meta(b"/")).unwrap();
    w.write_dir(b"/", 0, &stats).unwrap();
    let id = w.commit().unwrap();
    let (total, lo, hi, utf8): (i64, i64, i64, Option<String>) = store
        .conn
        .query_row(
            "SELECT total_bytes, fingerprint_lo, fingerprint_hi, path_utf8 FROM dir_snapshots",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((total, lo, hi), (-1, -2, -1));
    assert_eq!(utf8.as_deref(), Some("/"));
    assert_eq!(store.dir(id, b"/").unwrap().unwrap().stats, stats);
}

#[test]
fn reads_use_row_id_ranges_and_never_the_per_row_index() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let plan = |sql: &str| -> String {
        let mut s = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        for i in 1..=s.parameter_count() {
            s.raw_bind_parameter(i, 1).unwrap();
        }
        let mut rows = s.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            out.push(r.get::<_, String>(3).unwrap());
        }
        out.join("; ")
    };
    let scan = plan(tree::SCAN_SQL);
    assert!(scan.contains("INTEGER PRIMARY KEY"), "{scan}");
    assert!(!scan.contains("idx_"), "{scan}");
    let probe = plan(tree::PROBE_SQL);
    assert!(probe.contains("INTEGER PRIMARY KEY"), "{probe}");
    let probe = plan(tree::PROBE_BELOW_SQL);
    assert!(probe.contains("INTEGER PRIMARY KEY"), "{probe}");
    let range = plan(tree::RANGE_SQL);
    assert!(range.contains("idx_dir_snapshot_id"), "{range}");
}

#[test]
fn subtree_reads_touch_a_bounded_number_of_rows() {
    // 2,000 rows in each of 3 snapshots; reading one small subtree of the
    // middle one must take a few dozen row reads, not thousands.
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let mut paths: Vec<Vec<u8>> = vec![b"/r".to_vec()];
    for i in 0..1999 {
        paths.push(format!("/r/d{i:04}").into_bytes());
    }
    paths.sort();
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(write(&mut store, &refs));
    }
    // Count virtual-machine steps of the statements run by one call.
    let steps = |f: &dyn Fn()| -> i64 {
        vm_steps(&store.conn);
        f();
        vm_steps(&store.conn)
    };
    let small = steps(&|| {
        let got = store.read_tree(ids[1], Some(b"/r/d1234")).unwrap();
        assert_eq!(got.len(), 1);
    });
    let whole = steps(&|| {
        assert_eq!(store.read_tree(ids[1], None).unwrap().len(), 2000);
    });
    let kids = steps(&|| {
        assert_eq!(store.children(ids[1], b"/r/d1234").unwrap().len(), 0);
    });
    let one = steps(&|| {
        assert!(store.dir(ids[1], b"/r/d1234").unwrap().is_some());
        assert!(store.dir(ids[1], b"/r/d1234x").unwrap().is_none());
    });
    assert!(small * 20 < whole, "subtree {small} steps vs whole {whole}");
    assert!(kids * 20 < whole, "children {kids} steps vs whole {whole}");
    assert!(
        one * 20 < whole,
        "two dir() calls {one} steps vs whole {whole}"
    );
}

/// Virtual-machine steps run by the store's cached read statements since
/// the last call (SQLite counts them per statement; reading resets them).
fn vm_steps(conn: &Connection) -> i64 {
    [
        tree::RANGE_SQL,
        tree::PROBE_SQL,
        tree::PROBE_BELOW_SQL,
        tree::SCAN_SQL,
    ]
    .iter()
    .map(|sql| {
        let s = conn.prepare_cached(sql).unwrap();
        i64::from(s.reset_status(rusqlite::StatementStatus::VmStep))
    })
    .sum()
}

#[test]
fn concurrent_first_opens_migrate_once_and_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut store = SqliteStore::open(&opts(&path))?;
                let id = write(&mut store, &[b"/r", b"/r/x"]);
                Ok::<_, disktracker::Error>((store.schema_version()?, id))
            })
        })
        .collect();
    let mut ids = Vec::new();
    for h in handles {
        let (version, id) = h.join().unwrap().unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four distinct snapshots");
    let store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(pragma(&store.conn, "auto_vacuum"), "2");
    assert_eq!(
        pragma(&store.conn, "page_size"),
        open::PAGE_SIZE.to_string()
    );
    for id in ids {
        assert_eq!(store.read_tree(id, None).unwrap().len(), 2);
    }
}

/// Brings a raw connection to schema `version` the way that version's
/// DiskTracker did: migrations 1..=version, each recording `user_version`.
fn migrate_raw_to(conn: &Connection, version: i64) {
    for m in schema::MIGRATIONS.iter().filter(|m| m.version <= version) {
        conn.execute_batch(m.sql).unwrap();
        conn.pragma_update(None, "user_version", m.version).unwrap();
    }
}

#[test]
fn migration_four_drops_exactly_the_two_history_indexes_of_an_older_database() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let paths: Vec<Vec<u8>> = {
        let mut v = vec![b"/r".to_vec(), b"/r-x".to_vec()];
        for i in 0..300 {
            v.push(format!("/r/d{i:03}").into_bytes());
            v.push(format!("/r/d{i:03}/sub").into_bytes());
        }
        v.sort();
        v
    };
    let stats = |i: usize| DirStats {
        total_bytes: i as u64 * 4096 + 1,
        dev: 7,
        ino: 1000 + i as u64,
        fingerprint: u128::MAX - i as u128,
        ..DirStats::default()
    };
    // What DiskTracker at schema version 3 left: the seed's indexes all
    // there, two snapshots written by the (unchanged) snapshot writer.
    let (before_indexes, ids) = {
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        migrate_raw_to(&conn, 3);
        let mut ids = Vec::new();
        for n in 0..2 {
            let mut w = writer::Writer::begin(&conn, &path, &meta(b"/r")).unwrap();
            for (i, p) in paths.iter().enumerate() {
                w.write_dir(p, n, &stats(i)).unwrap();
            }
            ids.push(Box::new(w).commit().unwrap());
        }
        (indexes(&conn), ids)
    };
    let names = |v: &[(String, String)]| -> Vec<String> { v.iter().map(|x| x.0.clone()).collect() };
    let before = names(&before_indexes);
    for dropped in schema::DROPPED_SEED_INDEXES {
        assert!(
            before.iter().any(|n| n == dropped),
            "{dropped} in {before:?}"
        );
    }

    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let after = names(&indexes(&store.conn));
    let mut want: Vec<String> = before
        .iter()
        .filter(|n| !schema::DROPPED_SEED_INDEXES.contains(&n.as_str()))
        .cloned()
        .chain(["idx_snapshots_root".into(), "idx_watch_state_root".into()])
        .collect();
    want.sort();
    assert_eq!(
        after, want,
        "exactly the two history indexes are gone (and migration 5 added its two)"
    );
    let ok: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");

    // Both snapshots are intact and every point read still works.
    assert_eq!(
        store
            .snapshots()
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        ids
    );
    for (n, &id) in ids.iter().enumerate() {
        let tree = store.read_tree(id, None).unwrap();
        assert_eq!(tree.len(), paths.len());
        for (i, (rec, p)) in tree.iter().zip(&paths).enumerate() {
            assert_eq!(&rec.path, p);
            assert_eq!(rec.depth, n as u32);
            assert_eq!(rec.stats, stats(i));
            let got = store.dir(id, p).unwrap().expect("dir() finds every path");
            assert_eq!(got.stats, stats(i), "{}", String::from_utf8_lossy(p));
        }
        assert!(
            store.dir(id, b"/r/d150/").unwrap().is_some(),
            "trailing slash"
        );
        for missing in [
            &b"/"[..],
            b"/q",
            b"/r/d1",
            b"/r/d150/s",
            b"/r/d299/sub/x",
            b"/s",
        ] {
            assert!(store.dir(id, missing).unwrap().is_none(), "{missing:?}");
        }
        assert_eq!(store.children(id, b"/r").unwrap().len(), 300);
    }
    assert!(store.dir(99, b"/r").unwrap().is_none(), "unknown snapshot");

    // New snapshots go on working beside the migrated ones.
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let new = write(&mut store, &refs);
    assert_eq!(store.read_tree(new, None).unwrap().len(), paths.len());
    assert_eq!(store.read_tree(ids[0], Some(b"/r/d007")).unwrap().len(), 2);
    drop(store);
    let store = SqliteStore::open(&StoreOptions::file(path.clone()).read_only(true)).unwrap();
    assert!(store.dir(ids[1], b"/r/d299/sub").unwrap().is_some());
}

#[test]
fn rows_around_batch_boundaries_keep_their_order_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let b = writer::BATCH;
    for n in [0, 1, b - 1, b, b + 1, 2 * b, 3 * b + 7] {
        let paths: Vec<Vec<u8>> = (0..n).map(|i| format!("/r/{i:06}").into_bytes()).collect();
        let stats = |i: usize| DirStats {
            total_bytes: i as u64,
            ino: u64::MAX - i as u64,
            fingerprint: (i as u128) << 70,
            mtime_ns: -(i as i64),
            ..DirStats::default()
        };
        let mut w = store.begin_snapshot(&meta(b"/r")).unwrap();
        for (i, p) in paths.iter().enumerate() {
            w.write_dir(p, 1, &stats(i)).unwrap();
        }
        let id = w.commit().unwrap();
        let got = store.read_tree(id, None).unwrap();
        assert_eq!(got.len(), n, "{n} rows");
        for (i, rec) in got.iter().enumerate() {
            assert_eq!(rec.path, paths[i], "{n} rows: row {i}");
            assert_eq!(rec.stats, stats(i), "{n} rows: row {i}");
        }
        // One contiguous run of row ids, in path order.
        let (count, span): (i64, i64) = store
            .conn
            .query_row(
                "SELECT count(*), coalesce(max(id) - min(id) + 1, 0) FROM dir_snapshots \
                 WHERE snapshot_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, span), (n as i64, n as i64), "{n} rows");
    }
    // An order violation in the middle of a later batch leaves nothing.
    let before = store.snapshots().unwrap().len();
    {
        let mut w = store.begin_snapshot(&meta(b"/r")).unwrap();
        for i in 0..(2 * b + 3) {
            w.write_dir(format!("/r/{i:06}").as_bytes(), 1, &DirStats::default())
                .unwrap();
        }
        assert!(w.write_dir(b"/r/000000", 1, &DirStats::default()).is_err());
    }
    assert_eq!(store.snapshots().unwrap().len(), before);
    let rows: i64 = store
        .conn
        .query_row("SELECT count(*) FROM dir_snapshots", [], |r| r.get(0))
        .unwrap();
    let want = [0, 1, b - 1, b, b + 1, 2 * b, 3 * b + 7]
        .iter()
        .sum::<usize>();
    assert_eq!(rows, want as i64, "no row of the dropped writer stayed");
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// `n` sorted paths below `/r` and their stats, as one "scan" writes them
/// (more than 40 bytes a row in the file).
fn scan_rows(n: usize, tag: u64) -> Vec<(Vec<u8>, DirStats)> {
    (0..n)
        .map(|i| {
            let stats = DirStats {
                total_bytes: tag * 1_000_000 + i as u64,
                ino: i as u64,
                ..DirStats::default()
            };
            (format!("/r/{i:06}").into_bytes(), stats)
        })
        .collect()
}

fn write_scan(store: &mut SqliteStore, n: usize, tag: u64) -> SnapshotId {
    write_scan_result(store, n, tag).unwrap()
}

#[test]
fn closing_keeps_the_log_and_the_next_writable_open_copies_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let wal = checkpoint::wal_path(&path);
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(
        pragma(&store.conn, "wal_autocheckpoint"),
        (checkpoint::WAL_LIMIT / open::PAGE_SIZE as u64).to_string()
    );
    assert_eq!(
        pragma(&store.conn, "journal_size_limit"),
        checkpoint::WAL_LIMIT.to_string()
    );
    let first = write_scan(&mut store, 3000, 0);
    let file_before = len(&path);
    drop(store);
    // Closing did not copy the snapshot into the file: it is in the log.
    assert!(len(&wal) > 3000 * 40, "log {} bytes", len(&wal));
    assert_eq!(len(&path), file_before, "no checkpoint on close");
    // Readers find it there.
    let reader = SqliteStore::open(&StoreOptions::file(path.clone()).read_only(true)).unwrap();
    assert_eq!(reader.read_tree(first, None).unwrap().len(), 3000);
    drop(reader);

    // The next writable open copies it into the file before its own write,
    // which then starts the log over: over many "scans" the log stays
    // about one snapshot long.
    let one = len(&wal);
    for tag in 1..8 {
        let mut store = SqliteStore::open(&opts(&path)).unwrap();
        write_scan(&mut store, 3000, tag);
        drop(store);
        assert!(
            len(&wal) <= one + one / 4,
            "log {} bytes after scan {tag}, one snapshot {one}",
            len(&wal)
        );
    }
    assert!(
        len(&path) > file_before + 6 * 3000 * 40,
        "earlier snapshots were copied"
    );
    let store = SqliteStore::open(&opts(&path)).unwrap();
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), 8);
    for s in &snaps {
        let tree = store.read_tree(s.id, None).unwrap();
        assert_eq!(tree.len(), 3000);
        assert_eq!(
            tree[17].stats.total_bytes,
            s.meta.total_files * 1_000_000 + 17
        );
    }
}

#[test]
fn a_log_past_the_limit_is_copied_on_close_and_truncated_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let wal = checkpoint::wal_path(&path);
    // The limit as `checkpoint::configure` would set it, but small.
    let limit = 256 * 1024;
    let open_limited = || {
        let mut store = SqliteStore::open(&opts(&path)).unwrap();
        store.wal_limit = limit;
        store
            .conn
            .query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |_| {
                Ok(())
            })
            .unwrap();
        store
    };
    let mut store = open_limited();
    let id = write_scan(&mut store, 4000, 1);
    let big = len(&wal);
    assert!(big > store.wal_limit, "log {big} bytes");
    let file_before = len(&path);
    drop(store);
    assert!(len(&path) > file_before + 4000 * 40, "copied on close");
    // A later write starts the log over and, the file being larger than
    // journal_size_limit, truncates it to that limit.
    let mut store = open_limited();
    let small = write_scan(&mut store, 10, 2);
    drop(store);
    assert!(len(&wal) <= limit, "log {} bytes, was {big}", len(&wal));
    let store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(store.read_tree(id, None).unwrap().len(), 4000);
    assert_eq!(store.read_tree(small, None).unwrap().len(), 10);
}

/// Set in the child process of [`a_killed_writer_leaves_only_whole_snapshots`].
const KILL_CHILD: &str = "DISKTRACKER_SQLITE_TEST_WRITER";

/// How many snapshots the killed writer's retention keeps.
const KEEP: usize = 4;

#[test]
fn a_killed_writer_leaves_only_whole_snapshots() {
    if let Some(path) = std::env::var_os(KILL_CHILD) {
        // The child: write "scans" (open, write, commit, close) until killed,
        // keeping the newest KEEP as retention does (the oldest deleted in
        // the new snapshot's transaction), so the kill can land in an open
        // (and its background checkpoint), a write with its deletes, a
        // commit or a close.
        let path = PathBuf::from(path);
        for tag in 1.. {
            let mut store = SqliteStore::open(&opts(&path)).unwrap();
            let ids: Vec<_> = store.snapshots().unwrap().iter().map(|s| s.id).collect();
            let doomed = &ids[..(ids.len() + 1).saturating_sub(KEEP)];
            let n = 500 + (tag as usize * 397) % 2500;
            let m = SnapshotMeta {
                dir_count: n as u64,
                total_files: tag,
                ..meta(b"/r")
            };
            let mut w = store.begin_snapshot(&m).unwrap();
            for (i, (p, s)) in scan_rows(n, tag).into_iter().enumerate() {
                if i == n / 2 {
                    w.delete_with(doomed).unwrap();
                }
                w.write_dir(&p, 1, &s).unwrap();
            }
            w.commit().unwrap();
        }
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let exe = std::env::current_exe().unwrap();
    let mut seen = 0;
    for round in 0..6u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "tests::a_killed_writer_leaves_only_whole_snapshots",
                "--test-threads=1",
            ])
            .env(KILL_CHILD, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400 + round * 130));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let store = SqliteStore::open(&opts(&path)).unwrap();
        let ok: String = store
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "round {round}");
        for s in store.snapshots().unwrap() {
            let tag = s.meta.total_files;
            let tree = store.read_tree(s.id, None).unwrap();
            let want = scan_rows(s.meta.dir_count as usize, tag);
            assert_eq!(
                tree.len(),
                want.len(),
                "round {round}: snapshot {} is whole",
                s.id
            );
            for (rec, (p, st)) in tree.iter().zip(&want) {
                assert_eq!((&rec.path, &rec.stats), (p, st), "round {round}");
            }
        }
        // No rows without their snapshot.
        let orphans: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM dir_snapshots WHERE snapshot_id NOT IN (SELECT id FROM snapshots)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "round {round}");
        let count = store.snapshots().unwrap().len();
        assert!(
            count <= KEEP,
            "round {round}: {count} snapshots, retention keeps {KEEP}"
        );
        seen = seen.max(store.snapshots().unwrap().last().map_or(0, |s| s.id));
    }
    eprintln!("the killed writers committed {seen} snapshots in all");
    assert!(
        seen > KEEP as i64,
        "the writers committed {seen} snapshots: retention never ran"
    );
}

#[test]
fn a_halved_file_without_its_log_is_refused_and_left_untouched() {
    // What tests/bad_input.rs does to the database of a finished scan: a
    // read-only open and close, then the file cut in half and the log and
    // shared-memory files deleted.
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    write_scan(&mut store, 3000, 1);
    drop(store);
    drop(SqliteStore::open(&StoreOptions::file(path.clone()).read_only(true)).unwrap());
    let full = std::fs::read(&path).unwrap();
    let half = &full[..full.len() / 2];
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    std::fs::write(&path, half).unwrap();
    let outcome = SqliteStore::open(&opts(&path)).and_then(|mut store| {
        write_scan_result(&mut store, 3000, 2)?;
        store.snapshots()
    });
    let err = outcome.expect_err("a halved database is refused");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), half, "file untouched");
}

fn write_scan_result(
    store: &mut SqliteStore,
    n: usize,
    tag: u64,
) -> disktracker::Result<SnapshotId> {
    let m = SnapshotMeta {
        dir_count: n as u64,
        total_files: tag,
        ..meta(b"/r")
    };
    let mut w = store.begin_snapshot(&m)?;
    for (p, s) in scan_rows(n, tag) {
        w.write_dir(&p, 1, &s)?;
    }
    w.commit()
}

fn sqlite_settings(pairs: &[(&str, disktracker::settings::Value)]) -> disktracker::PluginSettings {
    let mut s = disktracker::PluginSettings::defaults("sqlite", settings::SETTINGS).unwrap();
    for (k, v) in pairs {
        s.set(k, v.clone(), "/etc/disktracker.toml").unwrap();
    }
    s
}

#[test]
fn the_registration_declares_the_settings_with_the_seed_defaults() {
    use disktracker::registry::Plugin as _;
    let plugin = disktracker::registry::stores()
        .unwrap()
        .get("sqlite")
        .unwrap();
    let defaults = plugin.default_settings().unwrap();
    let keys: Vec<(&str, String)> = defaults
        .iter()
        .map(|(k, v)| (k, v.value.to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            ("busy_timeout", "\"5s\"".to_owned()),
            ("cache_size", "\"64MiB\"".to_owned()),
            ("mmap_size", "\"256MiB\"".to_owned()),
        ]
    );
}

#[test]
fn settings_reach_the_connection_and_a_bad_value_creates_nothing() {
    use disktracker::settings::Value;
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    let tuned = sqlite_settings(&[
        ("busy_timeout", Value::String("250ms".into())),
        ("cache_size", Value::String("8MiB".into())),
        ("mmap_size", Value::Integer(1 << 20)),
    ]);
    for read_only in [false, true] {
        let mut store = SqliteStore::open(
            &opts(&path)
                .read_only(read_only)
                .with_settings(tuned.clone()),
        )
        .unwrap();
        let c = &store.conn;
        assert_eq!(pragma(c, "busy_timeout"), "250", "read_only: {read_only}");
        assert_eq!(pragma(c, "cache_size"), "-8192");
        assert_eq!(pragma(c, "mmap_size"), "1048576");
        store.release_memory();
        assert_eq!(
            pragma(&store.conn, "mmap_size"),
            "1048576",
            "release_memory restores the configured map"
        );
    }
    // The timeout is what a writer waits for another's lock.
    let mut store = SqliteStore::open(&opts(&path).with_settings(tuned)).unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let start = std::time::Instant::now();
    let err = store.begin_snapshot(&meta(b"/r")).err().expect("locked");
    let waited = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    assert!(
        waited >= Duration::from_millis(240) && waited < Duration::from_secs(3),
        "waited {waited:?} for a 250 ms busy_timeout"
    );
    other.execute_batch("ROLLBACK").unwrap();

    let fresh = tmp.path().join("fresh.db");
    for (key, value) in [
        ("busy_timeout", Value::String("a while".into())),
        ("cache_size", Value::Integer(-5)),
        ("mmap_size", Value::String("lots".into())),
    ] {
        let err = SqliteStore::open(
            &opts(&fresh).with_settings(sqlite_settings(&[(key, value.clone())])),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{key}: {err}");
        assert!(
            err.to_string().contains(&format!(
                "plugins.sqlite.{key} = {value} (from /etc/disktracker.toml)"
            )),
            "{err}"
        );
        assert!(!fresh.exists(), "{key}: nothing created");
    }
}

#[test]
fn a_version_four_database_is_migrated_keeping_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let path = db_in(&tmp);
    // What DiskTracker at schema version 4 left (the seed's live tables
    // were created but never written; rows are put there anyway, to see
    // what the migration makes of them).
    let ids = {
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        migrate_raw_to(&conn, 4);
        let mut ids = Vec::new();
        for root in [&b"/r"[..], b"/q"] {
            let mut w = writer::Writer::begin(&conn, &path, &meta(root)).unwrap();
            w.write_dir(root, 0, &DirStats::default()).unwrap();
            ids.push(Box::new(w).commit().unwrap());
        }
        conn.execute_batch(
            "INSERT INTO snapshots (scan_root, started_at, finished_at, total_files, total_bytes, host)
                 VALUES ('/old', 1, 2, 3, 4096, 'h');
             INSERT INTO watch_state (watch_root, last_event_time) VALUES (CAST('/r' AS BLOB), 1);
             INSERT INTO watch_state (watch_root, last_event_time) VALUES (CAST('/r' AS BLOB), 2);
             INSERT INTO dir_deltas (snapshot_id, path_blob, current_bytes, delta_bytes, recorded_at)
                 VALUES (999, CAST('/gone' AS BLOB), 1, 1, 1);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO dir_deltas (snapshot_id, path_blob, current_bytes, delta_bytes, recorded_at)
                 VALUES (?1, CAST('/r' AS BLOB), 5, 5, 7)",
            [ids[0]],
        )
        .unwrap();
        ids.push(conn.last_insert_rowid());
        ids
    };
    let mut store = SqliteStore::open(&opts(&path)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let ok: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), 3, "every snapshot kept");
    let old = store
        .latest(disktracker::SnapshotQuery::of_root(b"/old"))
        .unwrap()
        .expect("a version-1 row is found by its root");
    assert_eq!(old.meta.total_bytes, 4096);
    let per_root: Vec<Vec<u8>> = store
        .latest_per_root(None)
        .unwrap()
        .into_iter()
        .map(|s| s.meta.root)
        .collect();
    assert_eq!(per_root, [b"/old".to_vec(), b"/q".to_vec(), b"/r".to_vec()]);
    let states = store.watch_states().unwrap();
    assert_eq!(states.len(), 1, "one state per root");
    assert_eq!(states[0].last_event_ms, Some(2), "the newest kept");
    assert_eq!(states[0].mutation_cursor, 0);
    let orphans: i64 = store
        .conn
        .query_row(
            "SELECT count(*) FROM dir_deltas WHERE snapshot_id = 999",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "deltas of missing snapshots dropped");
    assert_eq!(store.dir_deltas(ids[0]).unwrap().len(), 1, "others kept");
    // The live tables work on the migrated file.
    let m = disktracker::Mutation::RemoveSubtree {
        time_ms: 1,
        path: b"/r/x".to_vec(),
        old_total: None,
    };
    let last = store
        .append_batch(&disktracker::LiveBatch {
            mutations: std::slice::from_ref(&m),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.mutations_after(0, None, 10).unwrap()[0].id, last);
    store.delete_snapshots(&[ids[0]]).unwrap();
    assert!(store.dir_deltas(ids[0]).unwrap().is_empty(), "trigger");
}

/// `EXPLAIN QUERY PLAN` of `sql` with every parameter bound to `bind`.
fn plan_of(conn: &Connection, sql: &str, params: &[rusqlite::types::Value]) -> String {
    let mut s = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    for (i, v) in params.iter().enumerate() {
        s.raw_bind_parameter(i + 1, v).unwrap();
    }
    let mut rows = s.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push(r.get::<_, String>(3).unwrap());
    }
    out.join("; ")
}

#[test]
fn snapshot_selection_is_one_indexed_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    for i in 0..40 {
        let root = format!("/root{}", i % 8).into_bytes();
        write(&mut store, &[&root]);
    }
    store.conn.execute_batch("ANALYZE").unwrap();
    for q in [
        disktracker::SnapshotQuery::of_root(b"/root3"),
        disktracker::SnapshotQuery::covering(b"/root3/a/b/c"),
    ] {
        let (sql, params) = select::find_sql(&q);
        let plan = plan_of(&store.conn, &sql, &params);
        assert!(plan.contains("idx_snapshots_root"), "{q:?}: {plan}");
        assert_eq!(store.find_snapshots(&q).unwrap().len(), 5);
    }
    let plan = plan_of(&store.conn, &select::latest_per_root_sql(), &[]);
    assert!(plan.contains("idx_snapshots_root"), "{plan}");
}

#[test]
fn derived_rows_are_one_contiguous_run_in_path_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let paths: Vec<Vec<u8>> = {
        let mut v = vec![b"/r".to_vec()];
        for i in 0..2000 {
            v.push(format!("/r/d{:04}", i / 4).into_bytes());
            v.push(format!("/r/d{:04}/s{}", i / 4, i % 4).into_bytes());
        }
        v.sort();
        v.dedup();
        v
    };
    let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
    let base = write(&mut store, &refs);
    let rec = |p: &[u8], n: u64| DirRecord {
        path: p.to_vec(),
        depth: 1,
        stats: DirStats {
            total_bytes: n,
            ..DirStats::default()
        },
    };
    // Few changes (row-id searches) and many (one pass over the base).
    for every in [400, 3] {
        let upserts: Vec<DirRecord> = paths
            .iter()
            .skip(1)
            .step_by(every)
            .map(|p| rec(&[p.as_slice(), b"-new"].concat(), 7))
            .chain(paths.iter().skip(1).step_by(every).map(|p| rec(p, 9)))
            .map(|r| (r.path.clone(), r))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        let removed = vec![b"/r/d0100".to_vec(), b"/r/d0200/s1".to_vec()];
        let id = store
            .derive_snapshot(&disktracker::DerivedSnapshot {
                base,
                meta: &meta(b"/r"),
                removed: &removed,
                upserts: &upserts,
                deltas: &[],
                watch_state: None,
            })
            .unwrap();
        let (count, span): (i64, i64) = store
            .conn
            .query_row(
                "SELECT count(*), max(id) - min(id) + 1 FROM dir_snapshots WHERE snapshot_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(count, span, "every {every}: one run of row ids");
        let ordered: Vec<Vec<u8>> = store
            .conn
            .prepare("SELECT path_blob FROM dir_snapshots WHERE snapshot_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([id], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            ordered.windows(2).all(|w| w[0] < w[1]),
            "every {every}: row ids follow path order"
        );
        let want: std::collections::BTreeSet<Vec<u8>> = paths
            .iter()
            .filter(|p| !removed.iter().any(|r| disktracker::path::is_within(p, r)))
            .cloned()
            .chain(upserts.iter().map(|u| u.path.clone()))
            .collect();
        assert_eq!(
            ordered,
            want.into_iter().collect::<Vec<_>>(),
            "every {every}: the folded paths"
        );
    }
}

/// A snapshot write long enough to flush its changed pages to the WAL
/// several times (see `writer::DirtyBound`) is still one transaction: other
/// connections and a crash in the middle see none of it, the commit all of
/// it, and the page cache does not hold it all meanwhile.
#[test]
fn a_write_past_the_dirty_bound_is_still_one_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let db = db_in(&tmp);
    let mut store = SqliteStore::open(&opts(&db)).unwrap();
    let first = write(&mut store, &[b"/first"]);
    let tail = "x".repeat(200);
    let rows: Vec<Vec<u8>> = (0..3 * writer::DIRTY_BOUND / writer::DirtyBound::row_bytes(210))
        .map(|i| format!("/r/{i:07}{tail}").into_bytes())
        .collect();
    let wal = tmp.path().join("data.db-wal");
    let wal_before = std::fs::metadata(&wal).unwrap().len();

    let mut w = store.begin_snapshot(&meta(b"/r")).unwrap();
    w.write_dir(b"/r", 0, &DirStats::default()).unwrap();
    for p in &rows {
        w.write_dir(p, 1, &DirStats::default()).unwrap();
    }
    // Mid-transaction: most of it is in the WAL already, uncommitted.
    let wal_now = std::fs::metadata(&wal).unwrap().len();
    assert!(
        wal_now >= wal_before + writer::DIRTY_BOUND as u64,
        "the changed pages went to the WAL: {wal_before} -> {wal_now}"
    );
    let other = Connection::open(&db).unwrap();
    let count = |c: &Connection, sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM snapshots"), 1);
    assert_eq!(count(&other, "SELECT count(*) FROM dir_snapshots"), 1);

    // The files as a kill -9 now would leave them (the -shm is rebuilt).
    let crashed = tmp.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    std::fs::copy(&db, crashed.join("data.db")).unwrap();
    std::fs::copy(&wal, crashed.join("data.db-wal")).unwrap();
    let after_crash = SqliteStore::open(&opts(&crashed.join("data.db"))).unwrap();
    let snaps = after_crash.snapshots().unwrap();
    assert_eq!(snaps.iter().map(|s| s.id).collect::<Vec<_>>(), [first]);
    let ok: String = after_crash
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(after_crash);

    let id = w.commit().unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM snapshots"), 2);
    let tree = store.read_tree(id, None).unwrap();
    assert_eq!(tree.len(), rows.len() + 1);
    assert!(tree[1..].iter().zip(&rows).all(|(r, p)| &r.path == p));
}

/// A read longer than a window (see `tree::WINDOW`) is read in several
/// statements, the mapping dropped between them: every row once, in order,
/// a subtree across a window's end whole, and a visitor's stop obeyed.
#[test]
fn long_reads_cross_windows_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&opts(&db_in(&tmp))).unwrap();
    let n = 2 * tree::WINDOW as usize + 100;
    let mut paths: Vec<Vec<u8>> = vec![b"/r".to_vec()];
    // "/r/a/…" spans the first window's end; "/r/b/…" follows.
    paths.extend((0..n).map(|i| {
        let part = if i < tree::WINDOW as usize + 50 {
            'a'
        } else {
            'b'
        };
        format!("/r/{part}/{i:06}").into_bytes()
    }));
    paths.sort();
    let id = {
        let rows: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        write(&mut store, &rows)
    };
    let read = |under: Option<&[u8]>, stop_after: usize| {
        let mut got = Vec::new();
        store
            .visit_tree(id, under, &mut |r| {
                got.push(r.path.clone());
                got.len() < stop_after
            })
            .unwrap();
        got
    };
    assert_eq!(read(None, usize::MAX), paths);
    let under_a: Vec<Vec<u8>> = paths
        .iter()
        .filter(|p| p.starts_with(b"/r/a/"))
        .cloned()
        .collect();
    assert_eq!(read(Some(b"/r/a"), usize::MAX), under_a);
    let stop = tree::WINDOW as usize + 7;
    assert_eq!(read(None, stop), paths[..stop]);
}
