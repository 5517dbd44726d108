//! The live tables: `mutation_log`, `fs_events` (the journal), `dir_deltas`,
//! `watch_state` and the live index's provenance.

use std::collections::BTreeSet;

use disktracker::path::{descendant_prefix, prefix_end, trim_slashes};
use disktracker::{
    DirDelta, DirRecord, DirStats, IndexProvenance, JournalEvent, JournalKind, JournalQuery,
    LiveBatch, LoggedMutation, Mutation, Result, SnapshotId, WatchState,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

use crate::error::{self, Ctx};
use crate::{
    SqliteStore, blob_col, from_sql_u64, join_u128, now_ms, opt_u64, split_u128, to_sql_u64,
};

/// `mutation_log.mutation_type` of a [`Mutation::Upsert`].
const UPSERT: i64 = 1;
/// `mutation_log.mutation_type` of a [`Mutation::RemoveSubtree`].
const REMOVE_SUBTREE: i64 = 2;

const INSERT_MUTATION: &str = "INSERT INTO mutation_log (timestamp, mutation_type, dev, ino, \
     path_blob, old_size, new_size, depth, apparent_bytes, direct_bytes, direct_apparent_bytes, \
     file_count, direct_files, child_count, error_count, mtime, fingerprint_lo, fingerprint_hi) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

const MUTATION_COLS: &str = "id, timestamp, mutation_type, path_blob, old_size, new_size, dev, \
     ino, depth, apparent_bytes, direct_bytes, direct_apparent_bytes, file_count, direct_files, \
     child_count, error_count, mtime, fingerprint_lo, fingerprint_hi";

const INSERT_EVENT: &str = "INSERT INTO fs_events (timestamp, event_type, path_blob, \
     delta_bytes, is_dir) VALUES (?1, ?2, ?3, ?4, ?5)";

const UPSERT_WATCH: &str = "INSERT INTO watch_state (watch_root, last_event_time, \
     last_reconcile_time, last_snapshot_id, mutation_cursor) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (watch_root) DO UPDATE SET last_event_time = excluded.last_event_time, \
     last_reconcile_time = excluded.last_reconcile_time, \
     last_snapshot_id = excluded.last_snapshot_id, mutation_cursor = excluded.mutation_cursor";

const WATCH_COLS: &str =
    "watch_root, last_event_time, last_reconcile_time, last_snapshot_id, mutation_cursor";

macro_rules! insert_delta_head {
    () => {
        "INSERT INTO dir_deltas (snapshot_id, path_blob, path_utf8, previous_bytes, \
         current_bytes, delta_bytes, recorded_at) VALUES "
    };
}

const INSERT_DELTA: &str = concat!(insert_delta_head!(), "(?1, ?2, ?3, ?4, ?5, ?6, ?7)");

/// Deltas inserted per statement by [`insert_deltas`]: a statement per
/// row costs more than its row (a reconcile records one per changed
/// directory and ancestor).
const DELTA_BATCH: usize = 64;

/// Values of one row of [`INSERT_DELTA`].
const DELTA_VALUES: usize = 7;

/// [`INSERT_DELTA`] for [`DELTA_BATCH`] rows.
fn insert_delta_batch_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let rows: Vec<String> = (0..DELTA_BATCH)
            .map(|k| {
                let vals: Vec<String> = (1..=DELTA_VALUES)
                    .map(|i| format!("?{}", k * DELTA_VALUES + i))
                    .collect();
                format!("({})", vals.join(", "))
            })
            .collect();
        format!("{}{}", insert_delta_head!(), rows.join(", "))
    })
}

/// `path_blob` is `?N` itself or lies below it: `?N+1 <= path_blob < ?N+2`
/// (see [`Under`]).
fn under_sql(first: usize) -> String {
    format!(
        "(path_blob = ?{first} OR (path_blob >= ?{} AND path_blob < ?{}))",
        first + 1,
        first + 2
    )
}

/// A path and the bounds of its strict descendants, bound as three
/// parameters for [`under_sql`]: a subtree is a range of the bytewise order,
/// and `P-x`, which sorts between `P` and `P/`, is outside it.
pub(crate) struct Under {
    exact: Vec<u8>,
    lo: Vec<u8>,
    hi: Vec<u8>,
}

impl Under {
    pub(crate) fn new(path: &[u8]) -> Self {
        let lo = descendant_prefix(path);
        Under {
            exact: trim_slashes(path).to_vec(),
            hi: prefix_end(&lo),
            lo,
        }
    }

    fn values(&self) -> [Value; 3] {
        [
            Value::Blob(self.exact.clone()),
            Value::Blob(self.lo.clone()),
            Value::Blob(self.hi.clone()),
        ]
    }
}

/// A `usize` limit as SQLite's `LIMIT` takes it.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn insert_mutation(conn: &Connection, m: &Mutation) -> rusqlite::Result<()> {
    let mut s = conn.prepare_cached(INSERT_MUTATION)?;
    match m {
        Mutation::Upsert {
            time_ms,
            record,
            old_total,
        } => {
            let st = &record.stats;
            let (fp_lo, fp_hi) = split_u128(st.fingerprint);
            s.execute(rusqlite::params![
                time_ms,
                UPSERT,
                to_sql_u64(st.dev),
                to_sql_u64(st.ino),
                record.path,
                opt_u64(*old_total),
                to_sql_u64(st.total_bytes),
                i64::from(record.depth),
                to_sql_u64(st.total_apparent),
                to_sql_u64(st.direct_bytes),
                to_sql_u64(st.direct_apparent),
                to_sql_u64(st.file_count),
                to_sql_u64(st.direct_files),
                to_sql_u64(st.child_count),
                to_sql_u64(st.error_count),
                st.mtime_ns,
                fp_lo,
                fp_hi,
            ])?;
        }
        Mutation::RemoveSubtree {
            time_ms,
            path,
            old_total,
        } => {
            let none: Option<i64> = None;
            s.execute(rusqlite::params![
                time_ms,
                REMOVE_SUBTREE,
                0,
                0,
                path,
                opt_u64(*old_total),
                none,
                none,
                none,
                none,
                none,
                none,
                none,
                none,
                none,
                none,
                none,
                none,
            ])?;
        }
    }
    Ok(())
}

/// Decodes a [`MUTATION_COLS`] row; `Ok(None)` when its type or an upsert's
/// record columns are not what this store writes.
fn decode_mutation(row: &Row<'_>) -> rusqlite::Result<Option<LoggedMutation>> {
    let id: i64 = row.get(0)?;
    let time_ms: i64 = row.get(1)?;
    let kind: i64 = row.get(2)?;
    let path = blob_col(row, 3, "path_blob")?.to_vec();
    let old_total = row.get::<_, Option<i64>>(4)?.map(from_sql_u64);
    let mutation = match kind {
        UPSERT => {
            let opt = |i: usize| row.get::<_, Option<i64>>(i);
            let (Some(total), Some(depth)) = (opt(5)?, opt(8)?) else {
                return Ok(None);
            };
            let mut rest = [0i64; 10];
            for (k, v) in rest.iter_mut().enumerate() {
                match opt(9 + k)? {
                    Some(x) => *v = x,
                    None => return Ok(None),
                }
            }
            let Ok(depth) = u32::try_from(depth) else {
                return Ok(None);
            };
            let u = from_sql_u64;
            Mutation::Upsert {
                time_ms,
                record: DirRecord {
                    path,
                    depth,
                    stats: DirStats {
                        total_bytes: u(total),
                        total_apparent: u(rest[0]),
                        direct_bytes: u(rest[1]),
                        direct_apparent: u(rest[2]),
                        file_count: u(rest[3]),
                        direct_files: u(rest[4]),
                        child_count: u(rest[5]),
                        error_count: u(rest[6]),
                        mtime_ns: rest[7],
                        dev: u(row.get(6)?),
                        ino: u(row.get(7)?),
                        fingerprint: join_u128(rest[8], rest[9]),
                    },
                },
                old_total,
            }
        }
        REMOVE_SUBTREE => Mutation::RemoveSubtree {
            time_ms,
            path,
            old_total,
        },
        _ => return Ok(None),
    };
    Ok(Some(LoggedMutation { id, mutation }))
}

fn insert_event(conn: &Connection, e: &JournalEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(INSERT_EVENT)?
        .execute(rusqlite::params![
            e.time_ms,
            e.kind.code(),
            e.path,
            e.delta_bytes,
            e.is_dir,
        ])?;
    Ok(())
}

pub(crate) fn upsert_watch_state(conn: &Connection, w: &WatchState) -> rusqlite::Result<()> {
    conn.prepare_cached(UPSERT_WATCH)?
        .execute(rusqlite::params![
            w.root,
            w.last_event_ms,
            w.last_reconcile_ms,
            w.last_snapshot,
            w.mutation_cursor,
        ])?;
    Ok(())
}

fn decode_watch(row: &Row<'_>) -> rusqlite::Result<WatchState> {
    Ok(WatchState {
        root: blob_col(row, 0, "watch_root")?.to_vec(),
        last_event_ms: row.get(1)?,
        last_reconcile_ms: row.get(2)?,
        last_snapshot: row.get(3)?,
        mutation_cursor: row.get(4)?,
    })
}

/// Inserts deltas, each against `snapshot` when given, else its own.
pub(crate) fn insert_deltas(
    conn: &Connection,
    snapshot: Option<SnapshotId>,
    deltas: &[DirDelta],
) -> rusqlite::Result<()> {
    let bind = |s: &mut rusqlite::CachedStatement<'_>, at: usize, d: &DirDelta| {
        // delta_bytes is the seed's column; the exact delta is recomputed
        // from the two sides when read.
        let delta = d
            .delta_bytes()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        s.raw_bind_parameter(at, snapshot.unwrap_or(d.snapshot))?;
        s.raw_bind_parameter(at + 1, &d.path)?;
        s.raw_bind_parameter(at + 2, std::str::from_utf8(&d.path).ok())?;
        s.raw_bind_parameter(at + 3, opt_u64(d.previous_bytes))?;
        s.raw_bind_parameter(at + 4, to_sql_u64(d.current_bytes))?;
        s.raw_bind_parameter(at + 5, delta)?;
        s.raw_bind_parameter(at + 6, d.recorded_at_ms)
    };
    let mut chunks = deltas.chunks_exact(DELTA_BATCH);
    if chunks.len() > 0 {
        let mut batch = conn.prepare_cached(insert_delta_batch_sql())?;
        for chunk in &mut chunks {
            for (k, d) in chunk.iter().enumerate() {
                bind(&mut batch, 1 + k * DELTA_VALUES, d)?;
            }
            batch.raw_execute()?;
        }
    }
    let mut one = conn.prepare_cached(INSERT_DELTA)?;
    for d in chunks.remainder() {
        bind(&mut one, 1, d)?;
        one.raw_execute()?;
    }
    Ok(())
}

impl SqliteStore {
    /// The id of the last mutation ever appended (0 for none): AUTOINCREMENT
    /// remembers it in `sqlite_sequence` even when every row was pruned.
    fn last_mutation_id(&self) -> rusqlite::Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'mutation_log'")?
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0))
    }

    pub(crate) fn append_batch(&mut self, batch: &LiveBatch<'_>) -> Result<i64> {
        self.check_writable("append to the mutation log")?;
        let what = "appending a watcher batch to";
        self.in_transaction(what, |conn| {
            let path = self.path.as_path();
            for m in batch.mutations {
                insert_mutation(conn, m).ctx(path, what)?;
            }
            for e in batch.events {
                insert_event(conn, e).ctx(path, what)?;
            }
            if let Some(w) = batch.watch_state {
                upsert_watch_state(conn, w).ctx(path, what)?;
            }
            self.last_mutation_id().ctx(path, what)
        })
    }

    pub(crate) fn mutations_after(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>> {
        let what = "reading the mutation log of";
        let mut params = vec![Value::Integer(cursor), Value::Integer(sql_limit(limit))];
        let filter = match under {
            Some(p) => {
                params.extend(Under::new(p).values());
                format!("AND {}", under_sql(3))
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT {MUTATION_COLS} FROM mutation_log WHERE id > ?1 {filter} ORDER BY id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).ctx(&self.path, what)?;
        let rows = stmt
            .query_map(params_from_iter(params), decode_mutation)
            .and_then(std::iter::Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .ctx(&self.path, what)?;
        rows.into_iter()
            .map(|m| {
                m.ok_or_else(|| {
                    error::corrupt(
                        &self.path,
                        "a mutation_log row is not a mutation it can hold",
                    )
                })
            })
            .collect()
    }

    pub(crate) fn prune_mutations(&mut self, through: i64, under: Option<&[u8]>) -> Result<usize> {
        self.check_writable("prune the mutation log")?;
        let what = "pruning the mutation log of";
        let mut params = vec![Value::Integer(through)];
        let filter = match under {
            Some(p) => {
                params.extend(Under::new(p).values());
                format!("AND {}", under_sql(2))
            }
            None => String::new(),
        };
        let sql = format!("DELETE FROM mutation_log WHERE id <= ?1 {filter}");
        self.in_transaction(what, |conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.execute(params_from_iter(params)))
                .ctx(&self.path, what)
        })
    }

    pub(crate) fn journal(&self, q: &JournalQuery) -> Result<Vec<JournalEvent>> {
        let what = "reading the event journal of";
        let mut params = vec![Value::Integer(sql_limit(q.limit.unwrap_or(usize::MAX)))];
        let mut filters = Vec::new();
        if let Some(t) = q.since_ms {
            params.push(Value::Integer(t));
            filters.push(format!("timestamp >= ?{}", params.len()));
        }
        if let Some(t) = q.until_ms {
            params.push(Value::Integer(t));
            filters.push(format!("timestamp < ?{}", params.len()));
        }
        if let Some(p) = &q.under {
            filters.push(under_sql(params.len() + 1));
            params.extend(Under::new(p).values());
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        let sql = format!(
            "SELECT timestamp, event_type, path_blob, delta_bytes, is_dir FROM fs_events {filter} \
             ORDER BY timestamp DESC, id DESC LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).ctx(&self.path, what)?;
        let rows = stmt
            .query_map(params_from_iter(params), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    blob_col(r, 2, "path_blob")?.to_vec(),
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(&self.path, what)?;
        rows.into_iter()
            .map(|(time_ms, code, path, delta_bytes, is_dir)| {
                let kind = JournalKind::from_code(code).ok_or_else(|| {
                    error::corrupt(&self.path, format!("unknown fs_events.event_type {code}"))
                })?;
                Ok(JournalEvent {
                    time_ms,
                    kind,
                    path,
                    delta_bytes,
                    is_dir,
                })
            })
            .collect()
    }

    pub(crate) fn prune_journal(&mut self, before_ms: i64) -> Result<usize> {
        self.check_writable("prune the event journal")?;
        let what = "pruning the event journal of";
        self.in_transaction(what, |conn| {
            conn.prepare_cached("DELETE FROM fs_events WHERE timestamp < ?1")
                .and_then(|mut s| s.execute([before_ms]))
                .ctx(&self.path, what)
        })
    }

    pub(crate) fn record_dir_deltas(&mut self, deltas: &[DirDelta]) -> Result<()> {
        self.check_writable("record directory deltas")?;
        let what = "recording directory deltas in";
        self.in_transaction(what, |conn| {
            // dir_deltas has no foreign key (seed schema): a delta of an
            // unknown snapshot would never be deleted.
            let snapshots: BTreeSet<SnapshotId> = deltas.iter().map(|d| d.snapshot).collect();
            for id in snapshots {
                self.require_snapshot(id)?;
            }
            insert_deltas(conn, None, deltas).ctx(&self.path, what)
        })
    }

    pub(crate) fn dir_deltas(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
        let what = "reading directory deltas from";
        self.conn
            .prepare_cached(
                "SELECT snapshot_id, path_blob, previous_bytes, current_bytes, recorded_at \
                 FROM dir_deltas WHERE snapshot_id = ?1 ORDER BY path_blob, id",
            )
            .and_then(|mut s| {
                s.query_map([snapshot], |r| {
                    Ok(DirDelta {
                        snapshot: r.get(0)?,
                        path: blob_col(r, 1, "path_blob")?.to_vec(),
                        previous_bytes: r.get::<_, Option<i64>>(2)?.map(from_sql_u64),
                        current_bytes: from_sql_u64(r.get(3)?),
                        recorded_at_ms: r.get(4)?,
                    })
                })?
                .collect()
            })
            .ctx(&self.path, what)
    }

    pub(crate) fn watch_state(&self, root: &[u8]) -> Result<Option<WatchState>> {
        let sql = format!("SELECT {WATCH_COLS} FROM watch_state WHERE watch_root = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([root], decode_watch).optional())
            .ctx(&self.path, "reading the watch state from")
    }

    pub(crate) fn watch_states(&self) -> Result<Vec<WatchState>> {
        let sql = format!("SELECT {WATCH_COLS} FROM watch_state ORDER BY watch_root");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([], decode_watch)?.collect())
            .ctx(&self.path, "reading the watch state from")
    }

    pub(crate) fn set_watch_state(&mut self, state: &WatchState) -> Result<()> {
        self.check_writable("record the watch state")?;
        let what = "recording the watch state in";
        self.in_transaction(what, |conn| {
            upsert_watch_state(conn, state).ctx(&self.path, what)
        })
    }

    pub(crate) fn index_provenance(&self) -> Result<Option<IndexProvenance>> {
        let what = "reading the index provenance from";
        let head = self
            .conn
            .prepare_cached(
                "SELECT file_len, dev, ino, mtime_ns, checksum, mutation_cursor \
                 FROM index_provenance WHERE id = 1",
            )
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()
            })
            .ctx(&self.path, what)?;
        let Some((len, dev, ino, mtime_ns, checksum, mutation_cursor)) = head else {
            return Ok(None);
        };
        let snapshots = self
            .conn
            .prepare_cached(
                "SELECT root_blob, snapshot_id FROM index_provenance_roots ORDER BY position",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((blob_col(r, 0, "root_blob")?.to_vec(), r.get(1)?))
                })?
                .collect()
            })
            .ctx(&self.path, what)?;
        Ok(Some(IndexProvenance {
            snapshots,
            len: from_sql_u64(len),
            dev: from_sql_u64(dev),
            ino: from_sql_u64(ino),
            mtime_ns,
            checksum: from_sql_u64(checksum),
            mutation_cursor,
        }))
    }

    pub(crate) fn set_index_provenance(&mut self, p: &IndexProvenance) -> Result<()> {
        self.check_writable("record the index provenance")?;
        let what = "recording the index provenance in";
        self.in_transaction(what, |conn| {
            let path = self.path.as_path();
            conn.prepare_cached(
                "INSERT OR REPLACE INTO index_provenance \
                 (id, file_len, dev, ino, mtime_ns, checksum, mutation_cursor, recorded_at) \
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    to_sql_u64(p.len),
                    to_sql_u64(p.dev),
                    to_sql_u64(p.ino),
                    p.mtime_ns,
                    to_sql_u64(p.checksum),
                    p.mutation_cursor,
                    now_ms(),
                ])
            })
            .ctx(path, what)?;
            conn.execute_batch("DELETE FROM index_provenance_roots")
                .ctx(path, what)?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO index_provenance_roots (position, root_blob, snapshot_id) \
                     VALUES (?1, ?2, ?3)",
                )
                .ctx(path, what)?;
            for (i, (root, id)) in p.snapshots.iter().enumerate() {
                insert
                    .execute(rusqlite::params![i as i64, root, id])
                    .ctx(path, what)?;
            }
            Ok(())
        })
    }
}
