//! Writing one snapshot in one transaction.

use std::path::Path;

use disktracker::path::escape_bytes;
use disktracker::{DirStats, Error, ErrorKind, Result, SnapshotId, SnapshotMeta, SnapshotWriter};
use rusqlite::{CachedStatement, Connection};

use crate::error::Ctx;
use crate::{split_u128, to_sql_u64};

const INSERT_SNAPSHOT: &str = "INSERT INTO snapshots (scan_root, started_at, finished_at, \
     total_files, total_bytes, error_count, host, scan_root_blob, total_apparent, dir_count, walker) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The columns of one `dir_snapshots` row, `snapshot_id` first.
macro_rules! insert_dir_cols {
    () => {
        "INSERT INTO dir_snapshots (snapshot_id, path_blob, path_utf8, depth, \
         total_bytes, file_count, mtime, dev, ino, fingerprint_lo, fingerprint_hi, direct_bytes, \
         child_count, apparent_bytes, direct_apparent_bytes, direct_files, error_count) VALUES "
    };
}

/// Values bound per row (every column but `snapshot_id`).
const PER_ROW: usize = 16;

/// Rows per multi-row `INSERT`. Each execution of an INSERT into this
/// AUTOINCREMENT table scans and rewrites `sqlite_sequence`, opens its
/// cursors and, for a multi-row statement, a statement journal; one
/// execution per row spent about a third of the writer's work on that.
/// Measured in instructions (callgrind, two snapshots of 65,000 rows,
/// including the one prepare per process): 1 row per statement 100%, 64
/// rows 70%, 128 rows 67%, 256 rows 66%, 512 rows 67% (preparing the
/// statement grows with it: ~8 M instructions at 256). On-CPU time of the
/// rows fell from ~100 ms to ~65 ms.
/// 256 × 16 values stays far below SQLite's limit of 32,766 variables.
pub(crate) const BATCH: usize = 256;

/// One row: `?1` (the snapshot id) is bound once per snapshot, since SQLite
/// keeps bindings across executions; each row binds its own 16 values.
/// Used for the last, partial batch.
pub(crate) const INSERT_DIR: &str = concat!(
    insert_dir_cols!(),
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
);

/// [`BATCH`] rows in one statement: row `k` binds `?(2 + 16k)` to
/// `?(17 + 16k)`, and every row reuses `?1`. SQLite inserts the rows of a
/// `VALUES` list in order, so their row ids still follow path order.
pub(crate) fn insert_batch_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let mut sql = String::from(insert_dir_cols!());
        for k in 0..BATCH {
            if k > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?1");
            for i in 0..PER_ROW {
                sql.push_str(&format!(", ?{}", 2 + k * PER_ROW + i));
            }
            sql.push(')');
        }
        sql
    })
}

const WRITING: &str = "writing a snapshot to";

/// How many bytes of rows (as [`DirtyBound::row_bytes`] estimates them) a
/// write transaction inserts before the pages it changed leave the page
/// cache (see [`DirtyBound`]). Measured on a 260,000-directory snapshot:
/// SQLite's heap then peaks at about twice this (17 MiB), against the whole
/// 64 MiB cache without it, and a 65,000-directory scan takes no longer.
pub(crate) const DIRTY_BOUND: usize = 8 << 20;

/// Bytes a row takes in its page besides its path (twice: `path_blob` and
/// `path_utf8`): 15 integers, the record header and the cell's overhead.
const ROW_OVERHEAD: usize = 96;

/// Keeps a long write transaction's changed pages from filling the page
/// cache.
///
/// SQLite holds every page a transaction changes until the commit, up to
/// `cache_size` (the seed's 64 MiB: one snapshot of 260,000 directories with
/// their paths fills it). Every [`DIRTY_BOUND`] bytes of rows, the changed
/// pages are written to the WAL now (`sqlite3_db_cacheflush`) instead of at
/// the commit, and the then clean pages are freed. This is what SQLite
/// itself does when the cache is full (a spill), only sooner: the frames
/// carry no commit mark, so readers never see them, a rollback or a crash
/// leaves them to be ignored, and the commit still publishes the snapshot
/// whole. The pages written are the same; those changed again later (the
/// b-trees' right edges) are rewritten in place in the WAL, after which the
/// commit recomputes the checksums of the frames that follow (one more read
/// of them, from the OS's cache), as it does after a spill.
#[derive(Debug, Default)]
pub(crate) struct DirtyBound {
    since_flush: usize,
}

impl DirtyBound {
    /// Counts `bytes` more of rows inserted; flushes and frees the changed
    /// pages once the bound is reached.
    pub(crate) fn add(&mut self, conn: &Connection, bytes: usize) -> rusqlite::Result<()> {
        self.since_flush += bytes;
        if self.since_flush >= DIRTY_BOUND {
            conn.cache_flush()?;
            conn.release_memory()?;
            self.since_flush = 0;
        }
        Ok(())
    }

    /// The estimated bytes of a row with a path of `path_len` bytes.
    pub(crate) fn row_bytes(path_len: usize) -> usize {
        2 * path_len + ROW_OVERHEAD
    }
}

/// Inserts the `snapshots` row of a new snapshot; returns its id.
pub(crate) fn insert_snapshot(
    conn: &Connection,
    meta: &SnapshotMeta,
) -> rusqlite::Result<SnapshotId> {
    conn.prepare_cached(INSERT_SNAPSHOT)?
        .execute(rusqlite::params![
            String::from_utf8_lossy(&meta.root),
            meta.started_at_ms,
            meta.finished_at_ms,
            to_sql_u64(meta.total_files),
            to_sql_u64(meta.total_bytes),
            to_sql_u64(meta.error_count),
            meta.host,
            meta.root,
            to_sql_u64(meta.total_apparent),
            to_sql_u64(meta.dir_count),
            meta.walker,
        ])?;
    Ok(conn.last_insert_rowid())
}

/// Deletes snapshots by id, inside the caller's transaction; returns how
/// many existed. The foreign keys take their directories and cached diffs
/// with them, and a trigger their deltas (schema migration 5).
pub(crate) fn delete_snapshots(conn: &Connection, ids: &[SnapshotId]) -> rusqlite::Result<usize> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut delete = conn.prepare_cached("DELETE FROM snapshots WHERE id = ?1")?;
    let mut deleted = 0;
    for id in ids {
        deleted += delete.execute([id])?;
    }
    Ok(deleted)
}

/// Rows on their way into one snapshot's `dir_snapshots` rows, inserted
/// [`BATCH`] per statement as they come (in path order).
pub(crate) struct RowSink<'a> {
    conn: &'a Connection,
    id: SnapshotId,
    /// The [`BATCH`]-row insert, `?1` bound to `id`.
    batch: CachedStatement<'a>,
    /// Rows not inserted yet (fewer than [`BATCH`]): their paths end to end
    /// in `paths`, each ending at `ends[k]`. Reused from batch to batch, so
    /// a row costs no allocation.
    paths: Vec<u8>,
    ends: Vec<usize>,
    pending: Vec<(u32, DirStats)>,
    dirty: DirtyBound,
    /// Rows pushed, and the sum of their error counts (saturating): the
    /// snapshot's counts, when every row goes through this sink.
    pub(crate) rows: u64,
    pub(crate) errors: u64,
}

impl<'a> RowSink<'a> {
    /// A sink for the rows of snapshot `id`.
    pub(crate) fn new(conn: &'a Connection, id: SnapshotId) -> rusqlite::Result<Self> {
        let mut batch = conn.prepare_cached(insert_batch_sql())?;
        batch.raw_bind_parameter(1, id)?;
        Ok(RowSink {
            conn,
            id,
            batch,
            paths: Vec::new(),
            ends: Vec::with_capacity(BATCH),
            pending: Vec::with_capacity(BATCH),
            dirty: DirtyBound::default(),
            rows: 0,
            errors: 0,
        })
    }

    /// Adds one row; inserts the batch when it is full.
    pub(crate) fn push(
        &mut self,
        path: &[u8],
        depth: u32,
        stats: &DirStats,
    ) -> rusqlite::Result<()> {
        self.paths.extend_from_slice(path);
        self.ends.push(self.paths.len());
        self.pending.push((depth, *stats));
        self.rows += 1;
        self.errors = self.errors.saturating_add(stats.error_count);
        if self.pending.len() == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds the row at column `at` of `row` ([`crate::dir_cols!`] order)
    /// without building a [`disktracker::DirRecord`].
    pub(crate) fn push_row(&mut self, row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<()> {
        let (depth, stats) = crate::decode_stats(row, at)?;
        let path = crate::blob_col(row, at, "path_blob")?;
        self.push(path, depth, &stats)
    }

    /// The `k`th pending row's path.
    fn pending_path(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.paths[start..self.ends[k]]
    }

    /// Inserts the pending rows: a full batch in one statement, a partial
    /// one row by row.
    pub(crate) fn flush(&mut self) -> rusqlite::Result<()> {
        let bytes = self.pending.len() * DirtyBound::row_bytes(0) + 2 * self.paths.len();
        if self.pending.len() == BATCH {
            for k in 0..BATCH {
                let start = if k == 0 { 0 } else { self.ends[k - 1] };
                let (depth, stats) = &self.pending[k];
                let path = &self.paths[start..self.ends[k]];
                bind_row(&mut self.batch, 2 + k * PER_ROW, path, *depth, stats)?;
            }
            self.batch.raw_execute()?;
        } else if !self.pending.is_empty() {
            let mut one = self.conn.prepare_cached(INSERT_DIR)?;
            one.raw_bind_parameter(1, self.id)?;
            for k in 0..self.pending.len() {
                let (depth, stats) = &self.pending[k];
                bind_row(&mut one, 2, self.pending_path(k), *depth, stats)?;
                one.raw_execute()?;
            }
        }
        self.paths.clear();
        self.ends.clear();
        self.pending.clear();
        self.dirty.add(self.conn, bytes)
    }
}

/// An open `BEGIN IMMEDIATE` transaction holding one new snapshot.
///
/// Dropping it without [`SnapshotWriter::commit`] rolls the transaction back,
/// so an error, a cancelled scan or a panic unwinding through the caller
/// leaves no partial snapshot (and a killed process leaves only an
/// uncommitted WAL tail, which SQLite discards).
pub(crate) struct Writer<'a> {
    conn: &'a Connection,
    path: &'a Path,
    id: SnapshotId,
    rows_in: RowSink<'a>,
    /// The previous row's path, to enforce strictly increasing path order,
    /// which the row-id based reads depend on.
    last: Vec<u8>,
    committed: bool,
}

/// Binds one row's 16 values at parameters `at` to `at + 15`.
fn bind_row(
    s: &mut CachedStatement<'_>,
    at: usize,
    path: &[u8],
    depth: u32,
    stats: &DirStats,
) -> rusqlite::Result<()> {
    let (fp_lo, fp_hi) = split_u128(stats.fingerprint);
    s.raw_bind_parameter(at, path)?;
    s.raw_bind_parameter(at + 1, std::str::from_utf8(path).ok())?;
    s.raw_bind_parameter(at + 2, i64::from(depth))?;
    s.raw_bind_parameter(at + 3, to_sql_u64(stats.total_bytes))?;
    s.raw_bind_parameter(at + 4, to_sql_u64(stats.file_count))?;
    s.raw_bind_parameter(at + 5, stats.mtime_ns)?;
    s.raw_bind_parameter(at + 6, to_sql_u64(stats.dev))?;
    s.raw_bind_parameter(at + 7, to_sql_u64(stats.ino))?;
    s.raw_bind_parameter(at + 8, fp_lo)?;
    s.raw_bind_parameter(at + 9, fp_hi)?;
    s.raw_bind_parameter(at + 10, to_sql_u64(stats.direct_bytes))?;
    s.raw_bind_parameter(at + 11, to_sql_u64(stats.child_count))?;
    s.raw_bind_parameter(at + 12, to_sql_u64(stats.total_apparent))?;
    s.raw_bind_parameter(at + 13, to_sql_u64(stats.direct_apparent))?;
    s.raw_bind_parameter(at + 14, to_sql_u64(stats.direct_files))?;
    s.raw_bind_parameter(at + 15, to_sql_u64(stats.error_count))
}

impl<'a> Writer<'a> {
    /// Starts the transaction and inserts the `snapshots` row.
    pub(crate) fn begin(conn: &'a Connection, path: &'a Path, meta: &SnapshotMeta) -> Result<Self> {
        conn.execute_batch("BEGIN IMMEDIATE").ctx(path, WRITING)?;
        let started = insert_snapshot(conn, meta).and_then(|id| Ok((id, RowSink::new(conn, id)?)));
        match started {
            Ok((id, rows_in)) => Ok(Writer {
                conn,
                path,
                id,
                rows_in,
                last: Vec::new(),
                committed: false,
            }),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(crate::error::sql(path, WRITING, e))
            }
        }
    }

    fn out_of_order(&self, path: &[u8]) -> Error {
        Error::new(
            ErrorKind::Database,
            format!(
                "cannot write a snapshot to {}: rows must arrive in strictly increasing bytewise path order, but {} came after {}",
                disktracker::path::escape_path(self.path),
                escape_bytes(path),
                escape_bytes(&self.last),
            ),
        )
        .with_hint("this is a bug in the caller; nothing was stored")
    }
}

impl SnapshotWriter for Writer<'_> {
    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()> {
        if self.rows_in.rows > 0 && path <= self.last.as_slice() {
            return Err(self.out_of_order(path));
        }
        self.last.clear();
        self.last.extend_from_slice(path);
        self.rows_in
            .push(path, depth, stats)
            .ctx(self.path, WRITING)
    }

    fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()> {
        // In this transaction: committed with the new snapshot or not at all.
        delete_snapshots(self.conn, ids)
            .map(|_| ())
            .ctx(self.path, WRITING)
    }

    fn commit(mut self: Box<Self>) -> Result<SnapshotId> {
        self.rows_in.flush().ctx(self.path, WRITING)?;
        self.conn.execute_batch("COMMIT").ctx(self.path, WRITING)?;
        self.committed = true;
        Ok(self.id)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if !self.committed && !self.conn.is_autocommit() {
            // Errors are ignored: SQLite may already have rolled back (after
            // an I/O error, say), and a drop cannot report anything.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
