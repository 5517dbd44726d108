//! The schema and its versioned migrations.
//!
//! Migration 1 is the schema of the specification (seed `001`) verbatim: the
//! same tables, columns, defaults and index names. Everything DiskTracker
//! needs beyond it is added by later migrations, each applied in its own
//! transaction and recorded in `PRAGMA user_version`, so a database created by
//! any earlier version upgrades in place and a database from a *newer*
//! version (a `user_version` above [`LATEST`]) is refused untouched.

/// One schema step: the `user_version` it produces and the SQL that gets there.
pub(crate) struct Migration {
    /// `PRAGMA user_version` after this migration.
    pub version: i64,
    /// What it does, for error messages.
    pub summary: &'static str,
    /// The statements, run inside one transaction.
    pub sql: &'static str,
}

/// The schema of seed `001`, unchanged.
const SEED_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_root TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    total_files INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    error_count INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dir_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    path_blob BLOB NOT NULL,
    path_utf8 TEXT,
    depth INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    dev INTEGER NOT NULL DEFAULT 0,
    ino INTEGER NOT NULL DEFAULT 0,
    fingerprint_lo INTEGER NOT NULL DEFAULT 0,
    fingerprint_hi INTEGER NOT NULL DEFAULT 0,
    direct_bytes INTEGER NOT NULL DEFAULT 0,
    child_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS diff_cache (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_a INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    snapshot_b INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    path_blob BLOB NOT NULL,
    bytes_a INTEGER,
    bytes_b INTEGER,
    delta_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fs_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    event_type INTEGER NOT NULL,
    path_blob BLOB NOT NULL,
    delta_bytes INTEGER,
    is_dir INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dir_deltas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    snapshot_id INTEGER NOT NULL,
    path_blob BLOB NOT NULL,
    path_utf8 TEXT,
    previous_bytes INTEGER,
    current_bytes INTEGER NOT NULL,
    delta_bytes INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_state (
    id INTEGER PRIMARY KEY,
    watch_root BLOB NOT NULL,
    last_event_time INTEGER,
    last_reconcile_time INTEGER,
    last_snapshot_id INTEGER
);
CREATE TABLE IF NOT EXISTS mutation_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    mutation_type INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    path_blob BLOB NOT NULL,
    old_size INTEGER,
    new_size INTEGER,
    old_path_blob BLOB
);
CREATE INDEX IF NOT EXISTS idx_dir_snapshot_id ON dir_snapshots(snapshot_id);
CREATE INDEX IF NOT EXISTS idx_dir_path_bytes ON dir_snapshots(path_blob, snapshot_id);
CREATE INDEX IF NOT EXISTS idx_dir_identity ON dir_snapshots(dev, ino, snapshot_id);
CREATE INDEX IF NOT EXISTS idx_diff_delta ON diff_cache(snapshot_a, snapshot_b, delta_bytes);
CREATE INDEX IF NOT EXISTS idx_fs_events_time ON fs_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_dir_deltas_snapshot ON dir_deltas(snapshot_id);
CREATE INDEX IF NOT EXISTS idx_dir_deltas_path ON dir_deltas(path_blob, recorded_at);
CREATE INDEX IF NOT EXISTS idx_mutation_log_time ON mutation_log(timestamp);
CREATE INDEX IF NOT EXISTS idx_mutation_log_identity ON mutation_log(dev, ino);
"#;

/// The data model's fields that the seed schema has no column for.
///
/// `total_bytes`/`direct_bytes` of the seed hold disk usage (like `du`); the
/// apparent sizes get their own columns. `scan_root` stays the lossy UTF-8
/// form for people reading the database with `sqlite3`; `scan_root_blob` is
/// the exact bytes.
const DATA_MODEL_COLUMNS: &str = r#"
ALTER TABLE dir_snapshots ADD COLUMN apparent_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dir_snapshots ADD COLUMN direct_apparent_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dir_snapshots ADD COLUMN direct_files INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dir_snapshots ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN scan_root_blob BLOB;
ALTER TABLE snapshots ADD COLUMN total_apparent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN dir_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN walker TEXT NOT NULL DEFAULT '';
ALTER TABLE diff_cache ADD COLUMN apparent_a INTEGER;
ALTER TABLE diff_cache ADD COLUMN apparent_b INTEGER;
"#;

/// Which diffs are cached, so a stored diff with no changed directory is
/// still a cache hit (it has no `diff_cache` rows), and an index on
/// `snapshot_b`: without it every deleted snapshot makes the foreign-key
/// cascade scan all of `diff_cache` (the seed's index leads with `snapshot_a`).
const DIFF_CACHE_SETS: &str = r#"
CREATE TABLE diff_cache_sets (
    snapshot_a INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    snapshot_b INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    entry_count INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (snapshot_a, snapshot_b)
) WITHOUT ROWID;
CREATE INDEX idx_diff_cache_sets_b ON diff_cache_sets(snapshot_b);
CREATE INDEX idx_diff_cache_b ON diff_cache(snapshot_b);
"#;

/// Drops the two seed indexes that grow a snapshot write with history.
///
/// `idx_dir_path_bytes (path_blob, snapshot_id)` and `idx_dir_identity
/// (dev, ino, snapshot_id)` sort each new row next to every older
/// snapshot's row for the same path or inode, so a scan of 65,000
/// directories dirties index leaves spread over the whole history: the
/// snapshot write took ~320 ms for the first snapshot, ~600 ms for the 5th
/// and ~1.1 s for the 13th, against ~185 ms flat without them (the crate
/// docs have the figures). They also took a third of the bytes per
/// directory row. Only `dir()` read one of them, and it now searches the
/// snapshot's row-id range like every other read.
const DROP_HISTORY_INDEXES: &str = r#"
DROP INDEX IF EXISTS idx_dir_path_bytes;
DROP INDEX IF EXISTS idx_dir_identity;
"#;

/// What the live half needs (issue 8): the mutation log holds a whole
/// directory record, the watch state a mutation cursor and one row per root,
/// the live index's provenance gets a table, snapshots are selected by root
/// through an index, and deltas go with their snapshot.
///
/// * `mutation_log`: the seed's columns keep their meaning (`mutation_type`
///   1 = upsert, 2 = removed subtree; `new_size` the recursive disk usage,
///   `old_size` the previous one; `dev`/`ino` 0 for a removal); the added
///   columns hold the rest of an upserted [`disktracker::DirRecord`] and are
///   NULL for a removal.
/// * `watch_state`: duplicate roots (no earlier version wrote the table)
///   are reduced to the newest before the unique index is built.
/// * `index_provenance` is one row (`id = 1`); its roots are in
///   `index_provenance_roots`, in the order recorded.
/// * `scan_root_blob` was NULL in rows written at schema version 1; it is
///   filled from `scan_root` so that the root index sees every snapshot.
/// * `dir_deltas` has no foreign key in the seed and a column cannot gain
///   one, so a trigger deletes a snapshot's deltas with it (and deltas of
///   snapshots already gone are dropped).
const LIVE_TABLES: &str = r#"
ALTER TABLE mutation_log ADD COLUMN depth INTEGER;
ALTER TABLE mutation_log ADD COLUMN apparent_bytes INTEGER;
ALTER TABLE mutation_log ADD COLUMN direct_bytes INTEGER;
ALTER TABLE mutation_log ADD COLUMN direct_apparent_bytes INTEGER;
ALTER TABLE mutation_log ADD COLUMN file_count INTEGER;
ALTER TABLE mutation_log ADD COLUMN direct_files INTEGER;
ALTER TABLE mutation_log ADD COLUMN child_count INTEGER;
ALTER TABLE mutation_log ADD COLUMN error_count INTEGER;
ALTER TABLE mutation_log ADD COLUMN mtime INTEGER;
ALTER TABLE mutation_log ADD COLUMN fingerprint_lo INTEGER;
ALTER TABLE mutation_log ADD COLUMN fingerprint_hi INTEGER;
ALTER TABLE watch_state ADD COLUMN mutation_cursor INTEGER NOT NULL DEFAULT 0;
DELETE FROM watch_state
    WHERE id NOT IN (SELECT max(id) FROM watch_state GROUP BY watch_root);
CREATE UNIQUE INDEX idx_watch_state_root ON watch_state(watch_root);
CREATE TABLE index_provenance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    file_len INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    checksum INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE index_provenance_roots (
    position INTEGER PRIMARY KEY,
    root_blob BLOB NOT NULL,
    snapshot_id INTEGER NOT NULL
);
UPDATE snapshots SET scan_root_blob = CAST(scan_root AS BLOB) WHERE scan_root_blob IS NULL;
CREATE INDEX idx_snapshots_root ON snapshots(scan_root_blob, id);
DELETE FROM dir_deltas WHERE snapshot_id NOT IN (SELECT id FROM snapshots);
CREATE TRIGGER dir_deltas_follow_their_snapshot AFTER DELETE ON snapshots
BEGIN
    DELETE FROM dir_deltas WHERE snapshot_id = OLD.id;
END;
"#;

/// Every migration, in order. Append only: never edit a released step.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        summary: "create the seed schema",
        sql: SEED_SCHEMA,
    },
    Migration {
        version: 2,
        summary: "add apparent sizes, direct file and error counts, lossless scan roots",
        sql: DATA_MODEL_COLUMNS,
    },
    Migration {
        version: 3,
        summary: "record cached diff sets and index diff_cache by snapshot_b",
        sql: DIFF_CACHE_SETS,
    },
    Migration {
        version: 4,
        summary: "drop the per-path and per-inode history indexes of dir_snapshots",
        sql: DROP_HISTORY_INDEXES,
    },
    Migration {
        version: 5,
        summary: "live tables: whole records in mutation_log, one watch_state per root with a cursor, index provenance, snapshots by root",
        sql: LIVE_TABLES,
    },
];

/// Indexes of the seed that a migration dropped (migration 4).
#[cfg(test)]
pub(crate) const DROPPED_SEED_INDEXES: &[&str] = &["idx_dir_path_bytes", "idx_dir_identity"];

/// The schema version this build writes and understands.
pub(crate) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Tables a database must have, each from the schema version that made it.
pub(crate) const REQUIRED_TABLES: &[(i64, &str)] = &[
    (1, "snapshots"),
    (1, "dir_snapshots"),
    (1, "diff_cache"),
    (1, "fs_events"),
    (1, "dir_deltas"),
    (1, "watch_state"),
    (1, "mutation_log"),
    (3, "diff_cache_sets"),
    (5, "index_provenance"),
    (5, "index_provenance_roots"),
];

/// The tables of the seed schema (migration 1).
#[cfg(test)]
pub(crate) fn seed_tables() -> impl Iterator<Item = &'static str> {
    REQUIRED_TABLES
        .iter()
        .filter(|(v, _)| *v == 1)
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.summary);
        }
        assert_eq!(LATEST, MIGRATIONS.len() as i64);
    }
}
