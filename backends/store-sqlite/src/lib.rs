//! DiskTracker's default [`SnapshotStore`]: one SQLite database file.
//!
//! # Layout
//!
//! The schema is the specification's (seed `001`) as migration 1, extended
//! only by later migrations tracked in `PRAGMA user_version` (see
//! `schema.rs`; a file of a newer version is refused untouched).
//! Connections use WAL journaling, `synchronous=NORMAL`, in-memory
//! temporaries and foreign keys. Three tunables come from `[plugins.sqlite]`
//! with the seed's values as defaults: `busy_timeout` (`"5s"`: how long a
//! writer waits for another process's write lock before reporting
//! [`disktracker::ErrorKind::Locked`]), `cache_size` (`"64MiB"`, the seed's
//! `cache_size = -65536`) and `mmap_size` (`"256MiB"`); empty settings, as
//! [`StoreOptions::file`] makes, mean all three defaults. New files get 16 KiB
//! pages (see `open.rs` for the measurements).
//!
//! # Creating and opening the file
//!
//! The path may lie in a shared directory (`open.rs` has the details). A new
//! database is built and migrated in a temporary file of its own (exclusive
//! create, 0600) and then renamed into place without replacing anything,
//! so nothing is ever created through a symbolic link and a file at the path
//! is always a whole database: an empty file there, or a SQLite database
//! without DiskTracker's schema, is refused untouched. A symbolic link at
//! the path is followed only when this user or root owns it and it leads to
//! a database; a link at `-wal` or `-shm` is refused, naming it. The file is
//! opened by its resolved path with `SQLITE_OPEN_NOFOLLOW`. A process killed
//! while creating may leave its temporary file (`.data.db.XXXXXX.new`).
//!
//! # The live tables (migration 5)
//!
//! * `mutation_log`: one row per [`disktracker::Mutation`]; the seed's
//!   columns keep their meaning (`mutation_type` 1 = upsert, 2 = removed
//!   subtree; `new_size`/`old_size` recursive disk usage), and added columns
//!   hold the rest of an upserted record (NULL for a removal). Ids come from
//!   AUTOINCREMENT, so they are never reused after pruning; an empty batch
//!   returns the last id ever appended (`sqlite_sequence`).
//! * `fs_events` is the journal, read newest first through the seed's
//!   `idx_fs_events_time`.
//! * `watch_state`: one row per root (a unique index on `watch_root`) with
//!   a `mutation_cursor`.
//! * `index_provenance` (one row) and `index_provenance_roots` (its roots,
//!   in the order recorded).
//! * `dir_deltas` has no foreign key in the seed schema; a trigger deletes
//!   a snapshot's deltas with it, however it is deleted.
//! * `idx_snapshots_root (scan_root_blob, id)`: `find_snapshots` and
//!   `latest_per_root` are one indexed statement each (a covering query
//!   names the path and each ancestor: `scan_root_blob IN (…)`).
//!
//! "Under a path" filters (mutations, journal) are the path itself plus the
//! range `P/ ..= P0` of its descendants, so `P-x` is not under `P`.
//!
//! # Writing a snapshot
//!
//! One `BEGIN IMMEDIATE` transaction per snapshot: a dropped or failed
//! writer rolls back, a killed process leaves an uncommitted log tail that
//! SQLite discards. Retention deletes its snapshots in the same transaction
//! ([`SnapshotWriter::delete_with`]), so a crash never leaves one without
//! the other. Rows are inserted 256 per statement (`writer.rs` says
//! why). The log is not copied into the file when the scan closes the
//! store but by the next writable open, on a background thread while that
//! process does its other work (`checkpoint.rs`): measured with the
//! throughput example, that takes ~35 ms of wall time (118 -> 85 ms) out of
//! each snapshot write of 65,000 directories, and 14-33 ms out of a whole
//! stand-in scan on two busy cores (the copy competes with the walk for the
//! CPUs; a first scan has nothing to copy). In exchange, until the next
//! writable open a reader first re-reads the log (~5 ms per 65,000
//! directories) and reads the newest snapshot's pages from it (a whole tree
//! of 65,000 directories in ~40 ms instead of ~29 ms), and a power loss (not
//! a killed process) can lose the snapshots written since the last copy, as
//! `synchronous=NORMAL` allows; the file stays consistent.
//!
//! A snapshot of 260,000 directories with long paths is 90 MB of pages,
//! more than the seed's 64 MiB `cache_size`, which SQLite would fill with
//! them before the commit. Instead, every 8 MiB of rows the changed pages
//! go to the log as uncommitted frames and leave the cache
//! (`writer::DirtyBound`): still one transaction, but SQLite's heap stays
//! under ~17 MiB. Long reads go by windows of rows, dropping the pages read
//! (mapped or cached) after each (`tree.rs`), so reading a whole snapshot
//! holds a few MiB of it, not all of it.
//!
//! Values are stored as SQLite integers: `u64`s bit-cast to `i64` (so sizes
//! above `i64::MAX` come back exactly), the `u128` fingerprint as two `i64`
//! halves, the modification time in nanoseconds.
//!
//! # Path order without a path index per snapshot
//!
//! A snapshot is written by one writer in one `BEGIN IMMEDIATE` transaction,
//! in strictly increasing bytewise path order (checked on every row). So the
//! rows of one snapshot occupy one contiguous range of row ids, and within it
//! row-id order *is* path order. Reads use that:
//!
//! * a whole tree is one sequential scan of that row-id range;
//! * a subtree `P` (the contiguous path range starting with `P/`, plus `P`
//!   itself, which need not be adjacent: `P-x` sorts between them) starts at
//!   a row found by galloping/binary search over row ids, comparing paths —
//!   a few dozen point reads, whatever the size of the snapshot or the number
//!   of other snapshots;
//! * `children` hops from child to child, skipping each child's subtree by a
//!   search for the first path after `P/name/`;
//! * `dir` is the same bisection for one path (about 17 row reads for a
//!   snapshot of 65,000 directories).
//!
//! # Deriving a snapshot
//!
//! `derive_snapshot` (what `reconcile` calls) keeps that invariant: it
//! writes the new snapshot's rows in path order, in one `BEGIN IMMEDIATE`
//! transaction with its deltas and watch state, copying the unchanged rows
//! itself: as runs of row ids copied by `INSERT … SELECT` when the changes
//! are few for the size of the base, or in one merge pass over the base
//! when they are many (`derive.rs` says how it chooses). Measured with the
//! `derive` example on a 65,535-directory base (medians of 11 runs, on a
//! machine so overloaded that only on-CPU time meant anything): 10,000
//! upserts 312 ms, 100 upserts 207-283 ms, no change 205-228 ms, against
//! 211-229 ms for writing the same tree as a new snapshot in the same
//! process. In instructions (callgrind) 1.00 G, 0.94 G and 0.82 G against
//! 0.67 G: a reconcile of 10,000 mutations costs about 1.5 times a fresh
//! snapshot write, so ~200 ms where that write takes the ~135 ms on-CPU
//! measured for it in `open.rs`.
//!
//! # Why two seed indexes are dropped (migration 4)
//!
//! The seed indexes `dir_snapshots` by `(path_blob, snapshot_id)` and by
//! `(dev, ino, snapshot_id)`. Both sort a new row next to the rows of every
//! older snapshot for the same path or inode, so one snapshot's 65,000 rows
//! land on leaf pages spread over the whole history: each scan dirties (and
//! logs, and checkpoints) index pages across every earlier snapshot, and the
//! cost grows with the history. Measured with the throughput example
//! (65,000 directories, one process per snapshot as in `scan`, medians;
//! on-CPU time in brackets): with those indexes the write took 320-330 ms
//! (280 ms) for the first snapshot, 590-640 ms (510-540 ms) for the 5th and
//! 1.1 s (910-930 ms) for the 13th; without them 183-193 ms (157-167 ms)
//! for every one of the three, and the file shrank from 452 to 306 bytes per
//! directory per snapshot. Since only `dir` read one of them and the row-id
//! search answers it (in ~60 µs instead of ~15 µs, for one call per `show`),
//! migration 1 stays the seed verbatim (the schema history is faithful) and
//! migration 4 drops both. A snapshot write now only appends: to the table
//! and to the seed's `idx_dir_snapshot_id`, whose keys increase too.
//!
//! # Reclaiming space
//!
//! New files are created with `auto_vacuum = INCREMENTAL`. Deleting snapshots
//! frees pages inside the file, which the next snapshot reuses, so a steady
//! retention policy keeps the file bounded without moving any page.
//! [`SnapshotStore::reclaim_space`] gives free pages back to the file system
//! when they exceed a quarter of the file (`PRAGMA incremental_vacuum`, or a
//! full `VACUUM` on a file created without auto-vacuum), then truncates the
//! write-ahead log (`wal_checkpoint(TRUNCATE)`), which otherwise keeps the
//! size of the last scan's writes (at least; up to 64 MiB, or the largest
//! transaction above that until the next write starts the log over).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checkpoint;
mod derive;
mod error;
mod live;
mod open;
mod schema;
mod select;
mod settings;
mod tree;
mod writer;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use disktracker::model::DiffEntry;
use disktracker::registry::StorePlugin;
use disktracker::{
    DerivedSnapshot, DirDelta, IndexProvenance, JournalEvent, JournalQuery, LiveBatch,
    LoggedMutation, RootFilter, SnapshotQuery, StoreLocation, WatchState,
};
use disktracker::{
    DirRecord, DirStats, Result, SnapshotId, SnapshotInfo, SnapshotMeta, SnapshotStore,
    SnapshotWriter, StoreOptions,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

use crate::error::Ctx;

disktracker::register_store!(
    StorePlugin::new(
        "sqlite",
        "SQLite database in WAL mode (the default): one file, readable with sqlite3",
        "db",
        b"SQLite format 3\0",
        open_store
    )
    .settings(settings::SETTINGS)
    .reads_beside_writes()
);

/// Opens the SQLite store at `opts.path` (the database file itself),
/// creating it (mode 0600, missing parent directories 0700) and migrating it
/// unless `opts.read_only`. This is the registered factory.
pub fn open_store(opts: &StoreOptions) -> Result<Box<dyn SnapshotStore>> {
    Ok(Box::new(SqliteStore::open(opts)?))
}

/// The SQLite [`SnapshotStore`].
pub struct SqliteStore {
    conn: Connection,
    /// The path as given, for messages.
    path: PathBuf,
    /// The path without symbolic links, which every connection opens.
    file: PathBuf,
    tuning: settings::Tuning,
    location: StoreLocation,
    read_only: bool,
    /// Copies the log earlier processes left into the file (writable
    /// stores only); every write waits for it first.
    checkpoint: checkpoint::Background,
    /// [`checkpoint::WAL_LIMIT`]; smaller in tests.
    wal_limit: u64,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpoint.finish();
        if !self.read_only {
            checkpoint::at_close(&self.conn, &self.file, self.wal_limit);
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// The schema version (`PRAGMA user_version`) this build creates and reads.
pub const SCHEMA_VERSION: i64 = schema::LATEST;

/// Columns of `dir_snapshots` that make a [`DirRecord`], in [`decode_dir`] order.
macro_rules! dir_cols {
    () => {
        "path_blob, depth, total_bytes, apparent_bytes, direct_bytes, direct_apparent_bytes, \
         file_count, direct_files, child_count, error_count, mtime, dev, ino, \
         fingerprint_lo, fingerprint_hi"
    };
}
pub(crate) use dir_cols;

pub(crate) const SNAPSHOT_COLS: &str = "id, scan_root, scan_root_blob, started_at, finished_at, host, \
     total_files, total_bytes, total_apparent, dir_count, error_count, walker";

impl SqliteStore {
    /// Opens (creating and migrating unless read-only) the database at
    /// `opts.path`. See [`open_store`].
    pub fn open(opts: &StoreOptions) -> Result<Self> {
        let path = opts.require_file("sqlite")?.to_path_buf();
        // Settings first: a bad value creates nothing.
        let tuning = settings::Tuning::from_settings(&opts.settings)?;
        let open::Opened { conn, file } = open::open(&path, opts, &tuning)?;
        let checkpoint = if opts.read_only {
            checkpoint::Background::default()
        } else {
            checkpoint::Background::start(&file)
        };
        Ok(SqliteStore {
            conn,
            location: StoreLocation::File(path.clone()),
            path,
            file,
            tuning,
            read_only: opts.read_only,
            checkpoint,
            wal_limit: checkpoint::WAL_LIMIT,
        })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx(&self.path, "reading")
    }

    /// Refuses writes to a read-only store; otherwise waits for the
    /// background checkpoint, so the write can start the log over.
    pub(crate) fn check_writable(&mut self, what: &str) -> Result<()> {
        if self.read_only {
            Err(error::read_only(&self.path, what))
        } else {
            self.checkpoint.finish();
            Ok(())
        }
    }

    /// Refuses writes to a read-only store, without waiting for the
    /// background checkpoint: SQLite lets it copy the log while this
    /// connection appends to it (the log then restarts at a later write).
    pub(crate) fn check_writable_now(&self, what: &str) -> Result<()> {
        if self.read_only {
            Err(error::read_only(&self.path, what))
        } else {
            Ok(())
        }
    }

    fn snapshot_exists(&self, id: SnapshotId) -> rusqlite::Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM snapshots WHERE id = ?1")?
            .exists([id])
    }

    /// `Ok` when snapshot `id` exists, else a not-found error.
    pub(crate) fn require_snapshot(&self, id: SnapshotId) -> Result<()> {
        if self.snapshot_exists(id).ctx(&self.path, "reading")? {
            Ok(())
        } else {
            Err(error::no_snapshot(&self.path, id))
        }
    }

    /// Drops the pages a read went through: those read through the file's
    /// mapping and the clean pages of the page cache (those read from the
    /// log). Pages still in use by a statement stay.
    ///
    /// Mapped pages count toward this process's resident memory for as long
    /// as the file stays mapped. Changing the limit unmaps the file (SQLite
    /// skips it while a statement still holds a mapped page); restoring it
    /// maps it again lazily, so the seed's `mmap_size` stays in effect.
    pub(crate) fn drop_read_pages(&self) {
        let _ = open::set_mmap_size(&self.conn, 0);
        let _ = open::set_mmap_size(&self.conn, self.tuning.mmap_bytes);
        let _ = self.conn.release_memory();
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction: committed when it
    /// returns `Ok`, rolled back otherwise.
    pub(crate) fn in_transaction<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .ctx(&self.path, what)?;
        let out = f(&self.conn).and_then(|v| {
            self.conn
                .execute_batch("COMMIT")
                .ctx(&self.path, what)
                .map(|()| v)
        });
        if out.is_err() && !self.conn.is_autocommit() {
            // Nothing of a failed operation may stay. A failing ROLLBACK
            // means SQLite already rolled back.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        out
    }
}

/// Bit-casts a `u64` into SQLite's signed 64-bit integer (and back with
/// [`from_sql_u64`]): lossless for every value, including those above
/// `i64::MAX`, which read back negative in `sqlite3` but exact here.
pub(crate) fn to_sql_u64(v: u64) -> i64 {
    v as i64
}

/// Inverse of [`to_sql_u64`].
pub(crate) fn from_sql_u64(v: i64) -> u64 {
    v as u64
}

/// The fingerprint as (low, high) 64-bit halves.
pub(crate) fn split_u128(v: u128) -> (i64, i64) {
    (to_sql_u64(v as u64), to_sql_u64((v >> 64) as u64))
}

pub(crate) fn join_u128(lo: i64, hi: i64) -> u128 {
    (u128::from(from_sql_u64(hi)) << 64) | u128::from(from_sql_u64(lo))
}

pub(crate) fn blob_col<'r>(row: &'r Row<'_>, i: usize, name: &str) -> rusqlite::Result<&'r [u8]> {
    match row.get_ref(i)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            name.to_owned(),
            other.data_type(),
        )),
    }
}

/// Fills `rec` from the [`dir_cols!`] columns starting at column `at`,
/// reusing `rec.path`'s allocation.
pub(crate) fn decode_dir(row: &Row<'_>, at: usize, rec: &mut DirRecord) -> rusqlite::Result<()> {
    let path = blob_col(row, at, "path_blob")?;
    rec.path.clear();
    rec.path.extend_from_slice(path);
    (rec.depth, rec.stats) = decode_stats(row, at)?;
    Ok(())
}

/// The depth and stats of the [`dir_cols!`] columns starting at column `at`
/// (the path is column `at` itself).
pub(crate) fn decode_stats(row: &Row<'_>, at: usize) -> rusqlite::Result<(u32, DirStats)> {
    let int = |i: usize| -> rusqlite::Result<i64> {
        match row.get_ref(at + i)? {
            ValueRef::Integer(v) => Ok(v),
            other => Err(rusqlite::Error::InvalidColumnType(
                at + i,
                String::new(),
                other.data_type(),
            )),
        }
    };
    let depth = int(1)?;
    let depth = u32::try_from(depth)
        .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(at + 1, depth))?;
    let u = |i: usize| int(i).map(from_sql_u64);
    Ok((
        depth,
        DirStats {
            total_bytes: u(2)?,
            total_apparent: u(3)?,
            direct_bytes: u(4)?,
            direct_apparent: u(5)?,
            file_count: u(6)?,
            direct_files: u(7)?,
            child_count: u(8)?,
            error_count: u(9)?,
            mtime_ns: int(10)?,
            dev: u(11)?,
            ino: u(12)?,
            fingerprint: join_u128(int(13)?, int(14)?),
        },
    ))
}

fn decode_snapshot(row: &Row<'_>) -> rusqlite::Result<SnapshotInfo> {
    // scan_root_blob holds the exact bytes; scan_root (lossy UTF-8) is the
    // fallback for a row without it.
    let root = match row.get_ref(2)? {
        ValueRef::Null => blob_col(row, 1, "scan_root")?.to_vec(),
        _ => blob_col(row, 2, "scan_root_blob")?.to_vec(),
    };
    let u = |i: usize| row.get::<_, i64>(i).map(from_sql_u64);
    Ok(SnapshotInfo {
        id: row.get(0)?,
        meta: SnapshotMeta {
            root,
            started_at_ms: row.get(3)?,
            finished_at_ms: row.get(4)?,
            host: row.get(5)?,
            total_files: u(6)?,
            total_bytes: u(7)?,
            total_apparent: u(8)?,
            dir_count: u(9)?,
            error_count: u(10)?,
            walker: row.get(11)?,
        },
    })
}

pub(crate) fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(to_sql_u64)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl SnapshotStore for SqliteStore {
    fn location(&self) -> &StoreLocation {
        &self.location
    }

    fn find_snapshots(&self, query: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>> {
        let (sql, params) = select::find_sql(query);
        let run = |stmt: &mut rusqlite::Statement<'_>| {
            stmt.query_map(params_from_iter(params), decode_snapshot)
                .and_then(std::iter::Iterator::collect)
        };
        // A covering query has one parameter per ancestor: not cached.
        if matches!(query.root, RootFilter::Covering(_)) {
            self.conn.prepare(&sql).and_then(|mut s| run(&mut s))
        } else {
            self.conn.prepare_cached(&sql).and_then(|mut s| run(&mut s))
        }
        .ctx(&self.path, "selecting snapshots in")
    }

    fn latest_per_root(&self, host: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        self.conn
            .prepare_cached(&select::latest_per_root_sql())
            .and_then(|mut s| s.query_map([host], decode_snapshot)?.collect())
            .ctx(&self.path, "selecting snapshots in")
    }

    fn append_batch(&mut self, batch: &LiveBatch<'_>) -> Result<i64> {
        SqliteStore::append_batch(self, batch)
    }

    fn mutations_after(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>> {
        SqliteStore::mutations_after(self, cursor, under, limit)
    }

    fn prune_mutations(&mut self, through: i64, under: Option<&[u8]>) -> Result<usize> {
        SqliteStore::prune_mutations(self, through, under)
    }

    fn journal(&self, query: &JournalQuery) -> Result<Vec<JournalEvent>> {
        SqliteStore::journal(self, query)
    }

    fn prune_journal(&mut self, before_ms: i64) -> Result<usize> {
        SqliteStore::prune_journal(self, before_ms)
    }

    fn record_dir_deltas(&mut self, deltas: &[DirDelta]) -> Result<()> {
        SqliteStore::record_dir_deltas(self, deltas)
    }

    fn dir_deltas(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
        SqliteStore::dir_deltas(self, snapshot)
    }

    fn watch_state(&self, root: &[u8]) -> Result<Option<WatchState>> {
        SqliteStore::watch_state(self, root)
    }

    fn watch_states(&self) -> Result<Vec<WatchState>> {
        SqliteStore::watch_states(self)
    }

    fn set_watch_state(&mut self, state: &WatchState) -> Result<()> {
        SqliteStore::set_watch_state(self, state)
    }

    fn derive_snapshot(&mut self, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
        derive::derive(self, d)
    }

    fn index_provenance(&self) -> Result<Option<IndexProvenance>> {
        SqliteStore::index_provenance(self)
    }

    fn set_index_provenance(&mut self, p: &IndexProvenance) -> Result<()> {
        SqliteStore::set_index_provenance(self, p)
    }

    fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>> {
        self.check_writable("write a snapshot")?;
        Ok(Box::new(writer::Writer::begin(
            &self.conn, &self.path, meta,
        )?))
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let sql = format!("SELECT {SNAPSHOT_COLS} FROM snapshots ORDER BY id");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .ctx(&self.path, "listing snapshots in")?;
        stmt.query_map([], decode_snapshot)
            .and_then(std::iter::Iterator::collect)
            .ctx(&self.path, "listing snapshots in")
    }

    fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>> {
        let sql = format!("SELECT {SNAPSHOT_COLS} FROM snapshots WHERE id = ?1");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .ctx(&self.path, "reading snapshots from")?;
        stmt.query_row([id], decode_snapshot)
            .optional()
            .ctx(&self.path, "reading snapshots from")
    }

    fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize> {
        self.check_writable("delete snapshots")?;
        let what = "deleting snapshots from";
        self.in_transaction(what, |conn| {
            writer::delete_snapshots(conn, ids).ctx(&self.path, what)
        })
    }

    fn visit_tree(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()> {
        tree::visit(self, id, under, visit)
    }

    fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
        tree::dir(self, id, path)
    }

    fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
        tree::children(self, id, path)
    }

    fn cached_diff(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>> {
        let what = "reading a cached diff from";
        let cached = self
            .conn
            .prepare_cached(
                "SELECT entry_count FROM diff_cache_sets WHERE snapshot_a = ?1 AND snapshot_b = ?2",
            )
            .and_then(|mut s| s.query_row([a, b], |r| r.get::<_, i64>(0)).optional())
            .ctx(&self.path, what)?;
        let Some(count) = cached else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path_blob, bytes_a, bytes_b, apparent_a, apparent_b FROM diff_cache \
                 WHERE snapshot_a = ?1 AND snapshot_b = ?2 ORDER BY id",
            )
            .ctx(&self.path, what)?;
        let entries: Vec<DiffEntry> = stmt
            .query_map([a, b], |r| {
                let u = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.map(from_sql_u64));
                Ok(DiffEntry {
                    path: blob_col(r, 0, "path_blob")?.to_vec(),
                    bytes_a: u(1)?,
                    bytes_b: u(2)?,
                    apparent_a: u(3)?,
                    apparent_b: u(4)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx(&self.path, what)?;
        if usize::try_from(count).ok() != Some(entries.len()) {
            return Err(error::corrupt(
                &self.path,
                format!(
                    "the cached diff {a} -> {b} should have {count} entries but has {}",
                    entries.len()
                ),
            ));
        }
        Ok(Some(entries))
    }

    fn store_diff(&mut self, a: SnapshotId, b: SnapshotId, entries: &[DiffEntry]) -> Result<()> {
        self.check_writable("cache a diff")?;
        let what = "caching a diff in";
        self.in_transaction(what, |conn| {
            for id in [a, b] {
                self.require_snapshot(id)?;
            }
            let path = self.path.as_path();
            conn.prepare_cached("DELETE FROM diff_cache WHERE snapshot_a = ?1 AND snapshot_b = ?2")
                .and_then(|mut s| s.execute([a, b]))
                .ctx(path, what)?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO diff_cache_sets (snapshot_a, snapshot_b, entry_count, stored_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute((a, b, i64::try_from(entries.len()).unwrap_or(i64::MAX), now_ms()))
            })
            .ctx(path, what)?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO diff_cache (snapshot_a, snapshot_b, path_blob, bytes_a, bytes_b, \
                     delta_bytes, apparent_a, apparent_b) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .ctx(path, what)?;
            let mut dirty = writer::DirtyBound::default();
            for e in entries {
                // delta_bytes only orders rows (idx_diff_delta); the exact
                // delta is recomputed from the two sides when read.
                let delta = e
                    .delta(disktracker::SizeKind::DiskUsage)
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                insert
                    .execute((
                        a,
                        b,
                        e.path.as_slice(),
                        opt_u64(e.bytes_a),
                        opt_u64(e.bytes_b),
                        delta,
                        opt_u64(e.apparent_a),
                        opt_u64(e.apparent_b),
                    ))
                    .ctx(path, what)?;
                dirty
                    .add(conn, writer::DirtyBound::row_bytes(e.path.len()))
                    .ctx(path, what)?;
            }
            Ok(())
        })
    }

    fn release_memory(&mut self) {
        self.drop_read_pages();
    }

    fn reclaim_space(&mut self) -> Result<()> {
        self.check_writable("reclaim space")?;
        let what = "reclaiming free space in";
        let path = self.path.as_path();
        let pragma = |name: &str| -> Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .ctx(path, what)
        };
        let free = pragma("freelist_count")?;
        let pages = pragma("page_count")?;
        // Free pages are reused by the next snapshot, so only give them back
        // when they are a large share of the file (many snapshots deleted);
        // with a steady retention they are refilled anyway.
        if free > 0 && free.saturating_mul(4) >= pages {
            if pragma("auto_vacuum")? == 2 {
                // Moves pages from the end into the holes and truncates.
                // It frees one page per step (each step yields a row), so
                // it must be stepped to the end.
                self.conn
                    .prepare("PRAGMA incremental_vacuum")
                    .and_then(|mut s| {
                        let mut rows = s.query([])?;
                        while rows.next()?.is_some() {}
                        Ok(())
                    })
                    .ctx(path, what)?;
            } else {
                // A file created without incremental auto-vacuum: rebuild it.
                self.conn.execute_batch("VACUUM").ctx(path, what)?;
            }
        }
        // Copies the log into the file and truncates it; with readers still
        // active this may stop early, which is fine (the next call finishes).
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .ctx(path, what)
    }
}

#[cfg(test)]
mod tests;
