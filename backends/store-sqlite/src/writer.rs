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

/// `?1` (the snapshot id) is bound once per snapshot: SQLite keeps bindings
/// across executions, so each row binds only its own 16 values.
const INSERT_DIR: &str = "INSERT INTO dir_snapshots (snapshot_id, path_blob, path_utf8, depth, \
     total_bytes, file_count, mtime, dev, ino, fingerprint_lo, fingerprint_hi, direct_bytes, \
     child_count, apparent_bytes, direct_apparent_bytes, direct_files, error_count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

const WRITING: &str = "writing a snapshot to";

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
    insert: CachedStatement<'a>,
    /// The previous row's path, to enforce strictly increasing path order,
    /// which the row-id based reads depend on.
    last: Vec<u8>,
    rows: u64,
    committed: bool,
}

impl<'a> Writer<'a> {
    /// Starts the transaction and inserts the `snapshots` row.
    pub(crate) fn begin(conn: &'a Connection, path: &'a Path, meta: &SnapshotMeta) -> Result<Self> {
        conn.execute_batch("BEGIN IMMEDIATE").ctx(path, WRITING)?;
        // From here on, an early return must roll back: build the writer
        // first so its Drop does it.
        let insert = match conn.prepare_cached(INSERT_DIR) {
            Ok(s) => s,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(crate::error::sql(path, WRITING, e));
            }
        };
        let mut w = Writer {
            conn,
            path,
            id: 0,
            insert,
            last: Vec::new(),
            rows: 0,
            committed: false,
        };
        conn.prepare_cached(INSERT_SNAPSHOT)
            .and_then(|mut s| {
                s.execute(rusqlite::params![
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
                ])
            })
            .ctx(path, WRITING)?;
        w.id = conn.last_insert_rowid();
        w.insert.raw_bind_parameter(1, w.id).ctx(path, WRITING)?;
        Ok(w)
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
        if self.rows > 0 && path <= self.last.as_slice() {
            return Err(self.out_of_order(path));
        }
        let (fp_lo, fp_hi) = split_u128(stats.fingerprint);
        let s = &mut self.insert;
        // Positional binds into the cached statement: no per-row allocation
        // beyond SQLite copying the two path values.
        let bind = (|| -> rusqlite::Result<()> {
            s.raw_bind_parameter(2, path)?;
            s.raw_bind_parameter(3, std::str::from_utf8(path).ok())?;
            s.raw_bind_parameter(4, i64::from(depth))?;
            s.raw_bind_parameter(5, to_sql_u64(stats.total_bytes))?;
            s.raw_bind_parameter(6, to_sql_u64(stats.file_count))?;
            s.raw_bind_parameter(7, stats.mtime_ns)?;
            s.raw_bind_parameter(8, to_sql_u64(stats.dev))?;
            s.raw_bind_parameter(9, to_sql_u64(stats.ino))?;
            s.raw_bind_parameter(10, fp_lo)?;
            s.raw_bind_parameter(11, fp_hi)?;
            s.raw_bind_parameter(12, to_sql_u64(stats.direct_bytes))?;
            s.raw_bind_parameter(13, to_sql_u64(stats.child_count))?;
            s.raw_bind_parameter(14, to_sql_u64(stats.total_apparent))?;
            s.raw_bind_parameter(15, to_sql_u64(stats.direct_apparent))?;
            s.raw_bind_parameter(16, to_sql_u64(stats.direct_files))?;
            s.raw_bind_parameter(17, to_sql_u64(stats.error_count))?;
            s.raw_execute().map(drop)
        })();
        bind.ctx(self.path, WRITING)?;
        self.last.clear();
        self.last.extend_from_slice(path);
        self.rows += 1;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<SnapshotId> {
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
