//! Writing one snapshot in one transaction, its directories as blocks by
//! binary COPY.

use disktracker::model::DiffEntry;
use disktracker::path::escape_bytes;
use disktracker::{DirStats, Error, ErrorKind, Result, SnapshotId, SnapshotMeta, SnapshotWriter};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement, Transaction};

use crate::block::{Block, BlockEncoder};
use crate::error::Ctx;
use crate::{Cache, opt_u64, prepare, to_sql_u64};

const WRITING: &str = "writing a snapshot to";

pub(crate) const INSERT_SNAPSHOT: &str = "INSERT INTO snapshots (id, scan_root, host, started_at, \
     finished_at, total_files, total_bytes, total_apparent, dir_count, error_count, walker) \
     VALUES (coalesce($1, nextval(pg_get_serial_sequence('snapshots', 'id'))), \
     $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

pub(crate) const COPY_BLOCKS: &str =
    "COPY dir_blocks (snapshot_id, first_path, dir_count, body) FROM STDIN (FORMAT binary)";

/// Column types of [`COPY_BLOCKS`].
const BLOCK_TYPES: [Type; 4] = [Type::INT8, Type::BYTEA, Type::INT4, Type::BYTEA];

/// Closed blocks are sent once this many body bytes wait: a few `COPY`
/// round trips per snapshot, bounded memory.
const COPY_BYTES: usize = 1 << 20;

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

/// A snapshot's directories on their way into `dir_blocks`: encoded into
/// blocks, which are sent by binary `COPY` about [`COPY_BYTES`] at a time.
/// Counts the directories and their errors as they pass.
#[derive(Default)]
pub(crate) struct BlockSink {
    enc: BlockEncoder,
    closed: Vec<Block>,
    closed_bytes: usize,
    pub dirs: u64,
    pub errors: u64,
}

impl BlockSink {
    /// Adds one directory (in strictly increasing path order, which the
    /// caller checks), sending closed blocks when enough wait.
    pub(crate) fn push(
        &mut self,
        tx: &mut Transaction<'_>,
        copy: &Statement,
        id: SnapshotId,
        path: &[u8],
        depth: u32,
        stats: &DirStats,
    ) -> std::result::Result<(), postgres::Error> {
        self.enc.push(path, depth, stats);
        self.dirs += 1;
        self.errors = self.errors.saturating_add(stats.error_count);
        if self.enc.is_full() {
            self.close();
            if self.closed_bytes >= COPY_BYTES {
                self.send(tx, copy, id)?;
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(b) = self.enc.take() {
            self.closed_bytes += b.body.len();
            self.closed.push(b);
        }
    }

    /// Closes the open block and sends every waiting one.
    pub(crate) fn finish(
        &mut self,
        tx: &mut Transaction<'_>,
        copy: &Statement,
        id: SnapshotId,
    ) -> std::result::Result<(), postgres::Error> {
        self.close();
        self.send(tx, copy, id)
    }

    fn send(
        &mut self,
        tx: &mut Transaction<'_>,
        copy: &Statement,
        id: SnapshotId,
    ) -> std::result::Result<(), postgres::Error> {
        if self.closed.is_empty() {
            return Ok(());
        }
        let sink = tx.copy_in(copy)?;
        let mut w = BinaryCopyInWriter::new(sink, &BLOCK_TYPES);
        for b in &self.closed {
            let row: [&(dyn ToSql + Sync); 4] = [&id, &b.first_path, &b.dir_count, &b.body];
            w.write(&row)?;
        }
        w.finish()?;
        self.closed.clear();
        self.closed_bytes = 0;
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
    blocks: BlockSink,
    last: Vec<u8>,
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
        let copy = prepare(&mut tx, cache, COPY_BLOCKS).ctx(shown, WRITING)?;
        Ok(Writer {
            tx,
            copy,
            shown,
            id,
            blocks: BlockSink::default(),
            last: Vec::new(),
        })
    }
}

impl SnapshotWriter for Writer<'_> {
    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()> {
        if self.blocks.dirs > 0 && path <= self.last.as_slice() {
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
        self.blocks
            .push(&mut self.tx, &self.copy, self.id, path, depth, stats)
            .ctx(self.shown, WRITING)
    }

    fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()> {
        crate::delete_in(&mut self.tx, ids)
            .map(|_| ())
            .ctx(self.shown, WRITING)
    }

    fn commit(self: Box<Self>) -> Result<SnapshotId> {
        let mut w = *self;
        w.blocks
            .finish(&mut w.tx, &w.copy, w.id)
            .ctx(w.shown, WRITING)?;
        w.tx.commit().ctx(w.shown, WRITING)?;
        Ok(w.id)
    }
}
