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
];

/// Indexes of the seed that a migration dropped (migration 4).
#[cfg(test)]
pub(crate) const DROPPED_SEED_INDEXES: &[&str] = &["idx_dir_path_bytes", "idx_dir_identity"];

/// The schema version this build writes and understands.
pub(crate) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Tables every database at version >= 1 must have (the seed's).
pub(crate) const SEED_TABLES: &[&str] = &[
    "snapshots",
    "dir_snapshots",
    "diff_cache",
    "fs_events",
    "dir_deltas",
    "watch_state",
    "mutation_log",
];

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
