//! Writing one snapshot in one transaction, its directories by binary COPY.

use disktracker::model::DiffEntry;
use disktracker::path::escape_bytes;
use disktracker::{DirStats, Error, ErrorKind, Result, SnapshotId, SnapshotMeta, SnapshotWriter};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement, Transaction};

use crate::error::Ctx;
use crate::{COPY_BATCH, Cache, opt_u64, prepare, split_u128, to_sql_u64};

const WRITING: &str = "writing a snapshot to";

pub(crate) const INSERT_SNAPSHOT: &str = "INSERT INTO snapshots (id, scan_root, host, started_at, \
     finished_at, total_files, total_bytes, total_apparent, dir_count, error_count, walker) \
     VALUES (coalesce($1, nextval(pg_get_serial_sequence('snapshots', 'id'))), \
     $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

pub(crate) const COPY_DIRS: &str = "COPY dir_snapshots (snapshot_id, path, depth, total_bytes, \
     total_apparent, direct_bytes, direct_apparent, file_count, direct_files, child_count, \
     error_count, mtime_ns, dev, ino, fingerprint_lo, fingerprint_hi) FROM STDIN (FORMAT binary)";

/// Column types of [`COPY_DIRS`].
const DIR_TYPES: [Type; 16] = [
    Type::INT8,
    Type::BYTEA,
    Type::INT4,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
];

/// Inserts the `snapshots` row (with `id`, or the next id); returns the id.
pub(crate) fn insert_snapshot(
    tx: &mut Transaction<'_>,
    cache: &mut Cache,
    id: Option<SnapshotId>,
    meta: &SnapshotMeta,
    dir_count: u64,
    error_count: u64,
) -> std::result::Result<SnapshotId, postgres::Error> {
    let s = prepare(tx, cache, INSERT_SNAPSHOT)?;
    let row = tx.query_one(
        &s,
        &[
            &id,
            &meta.root,
            &meta.host,
            &meta.started_at_ms,
            &meta.finished_at_ms,
            &to_sql_u64(meta.total_files),
            &to_sql_u64(meta.total_bytes),
            &to_sql_u64(meta.total_apparent),
            &to_sql_u64(dir_count),
            &to_sql_u64(error_count),
            &meta.walker,
        ],
    )?;
    row.try_get(0)
}

/// Directory rows waiting for the next COPY: paths end to end, reused from
/// batch to batch so a row costs no allocation.
#[derive(Default)]
pub(crate) struct RowBuf {
    paths: Vec<u8>,
    ends: Vec<usize>,
    rows: Vec<(u32, DirStats)>,
}

impl RowBuf {
    pub(crate) fn push(&mut self, path: &[u8], depth: u32, stats: &DirStats) {
        self.paths.extend_from_slice(path);
        self.ends.push(self.paths.len());
        self.rows.push((depth, *stats));
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Sends the buffered rows of snapshot `id` in one binary COPY.
    pub(crate) fn flush(
        &mut self,
        tx: &mut Transaction<'_>,
        copy: &Statement,
        id: SnapshotId,
    ) -> std::result::Result<(), postgres::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sink = tx.copy_in(copy)?;
        let mut w = BinaryCopyInWriter::new(sink, &DIR_TYPES);
        let mut start = 0;
        for (k, (depth, s)) in self.rows.iter().enumerate() {
            let path = &self.paths[start..self.ends[k]];
            start = self.ends[k];
            let (lo, hi) = split_u128(s.fingerprint);
            // The depth's bits in an integer column (lossless both ways).
            let depth = *depth as i32;
            let row: [&(dyn ToSql + Sync); 16] = [
                &id,
                &path,
                &depth,
                &to_sql_u64(s.total_bytes),
                &to_sql_u64(s.total_apparent),
                &to_sql_u64(s.direct_bytes),
                &to_sql_u64(s.direct_apparent),
                &to_sql_u64(s.file_count),
                &to_sql_u64(s.direct_files),
                &to_sql_u64(s.child_count),
                &to_sql_u64(s.error_count),
                &s.mtime_ns,
                &to_sql_u64(s.dev),
                &to_sql_u64(s.ino),
                &lo,
                &hi,
            ];
            w.write(&row)?;
        }
        w.finish()?;
        self.paths.clear();
        self.ends.clear();
        self.rows.clear();
        Ok(())
    }
}

/// Writes a diff's entries (in order, by position) with one binary COPY.
pub(crate) fn copy_diff(
    tx: &mut Transaction<'_>,
    a: SnapshotId,
    b: SnapshotId,
    entries: &[DiffEntry],
) -> std::result::Result<(), postgres::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let sink = tx.copy_in(
        "COPY diff_cache (snapshot_a, snapshot_b, position, path, bytes_a, bytes_b, apparent_a, \
         apparent_b) FROM STDIN (FORMAT binary)",
    )?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::INT4,
        Type::BYTEA,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
    ];
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for (i, e) in entries.iter().enumerate() {
        let pos = i32::try_from(i).unwrap_or(i32::MAX);
        let row: [&(dyn ToSql + Sync); 8] = [
            &a,
            &b,
            &pos,
            &e.path,
            &opt_u64(e.bytes_a),
            &opt_u64(e.bytes_b),
            &opt_u64(e.apparent_a),
            &opt_u64(e.apparent_b),
        ];
        w.write(&row)?;
    }
    w.finish()?;
    Ok(())
}

/// An open transaction holding one new snapshot. Dropping it without
/// [`SnapshotWriter::commit`] rolls back (the driver's `Transaction` does),
/// so an error, a cancelled scan or a panic leaves nothing; a lost
/// connection leaves nothing either, since the server never saw a commit.
pub(crate) struct Writer<'a> {
    tx: Transaction<'a>,
    copy: Statement,
    shown: &'a str,
    id: SnapshotId,
    buf: RowBuf,
    last: Vec<u8>,
    rows: u64,
}

impl<'a> Writer<'a> {
    /// Starts the transaction and inserts the `snapshots` row.
    pub(crate) fn begin(
        client: &'a mut Client,
        cache: &mut Cache,
        shown: &'a str,
        meta: &SnapshotMeta,
    ) -> Result<Self> {
        let mut tx = client.transaction().ctx(shown, WRITING)?;
        let id = insert_snapshot(&mut tx, cache, None, meta, meta.dir_count, meta.error_count)
            .ctx(shown, WRITING)?;
        let copy = prepare(&mut tx, cache, COPY_DIRS).ctx(shown, WRITING)?;
        Ok(Writer {
            tx,
            copy,
            shown,
            id,
            buf: RowBuf::default(),
            last: Vec::new(),
            rows: 0,
        })
    }
}

impl SnapshotWriter for Writer<'_> {
    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()> {
        if self.rows > 0 && path <= self.last.as_slice() {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "cannot write a snapshot to {}: rows must arrive in strictly increasing bytewise path order, but {} came after {}",
                    self.shown,
                    escape_bytes(path),
                    escape_bytes(&self.last),
                ),
            )
            .with_hint("this is a bug in the caller; nothing was stored"));
        }
        self.last.clear();
        self.last.extend_from_slice(path);
        self.rows += 1;
        self.buf.push(path, depth, stats);
        if self.buf.len() >= COPY_BATCH {
            self.buf
                .flush(&mut self.tx, &self.copy, self.id)
                .ctx(self.shown, WRITING)?;
        }
        Ok(())
    }

    fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()> {
        crate::delete_in(&mut self.tx, ids)
            .map(|_| ())
            .ctx(self.shown, WRITING)
    }

    fn commit(self: Box<Self>) -> Result<SnapshotId> {
        let mut w = *self;
        w.buf
            .flush(&mut w.tx, &w.copy, w.id)
            .ctx(w.shown, WRITING)?;
        w.tx.commit().ctx(w.shown, WRITING)?;
        Ok(w.id)
    }
}
