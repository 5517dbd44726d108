//! The live tables — `mutation_log`, `fs_events` (the journal),
//! `dir_deltas`, `watch_state`, the index provenance — and
//! `derive_snapshot`. Every live table but `dir_deltas` (which belongs to
//! its snapshot) is scoped by the store's live host.

use std::collections::BTreeSet;

use disktracker::path::{escape_bytes, is_within, left_out_ranges};
use disktracker::{
    DerivedSnapshot, DirDelta, DirRecord, DirStats, Error, ErrorKind, IndexProvenance,
    JournalEvent, JournalKind, JournalQuery, LiveBatch, LoggedMutation, Mutation, Result,
    SnapshotId, WatchState,
};
use postgres::{Row, Transaction};

use crate::error::{self, Ctx};
use crate::writer::{BlockSink, COPY_BLOCKS, insert_snapshot};
use crate::{
    Cache, PgStore, TREE, Under, from_sql_u64, join_u128, next_dir, now_ms, open_block, opt_u64,
    prepare, split_u128, sql_limit, to_sql_u64,
};

/// `mutation_log.mutation_type` of a [`Mutation::Upsert`].
const UPSERT: i16 = 1;
/// `mutation_log.mutation_type` of a [`Mutation::RemoveSubtree`].
const REMOVE_SUBTREE: i16 = 2;

const INSERT_MUTATION: &str = "INSERT INTO mutation_log (host, timestamp, mutation_type, path, \
     old_size, new_size, depth, dev, ino, apparent_bytes, direct_bytes, direct_apparent_bytes, \
     file_count, direct_files, child_count, error_count, mtime, fingerprint_lo, fingerprint_hi) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
     RETURNING id";

macro_rules! mutation_cols {
    () => {
        "id, timestamp, mutation_type, path, old_size, new_size, depth, dev, ino, apparent_bytes, \
         direct_bytes, direct_apparent_bytes, file_count, direct_files, child_count, error_count, \
         mtime, fingerprint_lo, fingerprint_hi"
    };
}

const MUTATIONS_ALL: &str = concat!(
    "SELECT ",
    mutation_cols!(),
    " FROM mutation_log WHERE host = $1 AND id > $2 ORDER BY id LIMIT $3"
);
const MUTATIONS_UNDER: &str = concat!(
    "SELECT ",
    mutation_cols!(),
    " FROM mutation_log WHERE host = $1 AND id > $2 \
     AND (path = $4 OR (path >= $5 AND path < $6)) ORDER BY id LIMIT $3"
);
const COUNT_ALL: &str = "SELECT count(*) FROM mutation_log WHERE host = $1 AND id > $2";
const COUNT_UNDER: &str = "SELECT count(*) FROM mutation_log WHERE host = $1 AND id > $2 \
     AND (path = $3 OR (path >= $4 AND path < $5))";
const JOURNAL: &str = "SELECT timestamp, event_type, path, delta_bytes, is_dir FROM fs_events \
     WHERE host = $1 AND ($2::bigint IS NULL OR timestamp >= $2) \
     AND ($3::bigint IS NULL OR timestamp < $3) \
     AND ($4::bytea IS NULL OR path = $4 OR (path >= $5 AND path < $6)) \
     ORDER BY timestamp DESC, id DESC LIMIT $7";
const UPSERT_WATCH: &str = "INSERT INTO watch_state (host, watch_root, last_event_time, \
     last_reconcile_time, last_snapshot_id, mutation_cursor) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (host, watch_root) DO UPDATE SET last_event_time = excluded.last_event_time, \
     last_reconcile_time = excluded.last_reconcile_time, \
     last_snapshot_id = excluded.last_snapshot_id, mutation_cursor = excluded.mutation_cursor";
const WATCH_COLS_ONE: &str = "SELECT watch_root, last_event_time, last_reconcile_time, \
     last_snapshot_id, mutation_cursor FROM watch_state WHERE host = $1 AND watch_root = $2";
const WATCH_COLS_ALL: &str = "SELECT watch_root, last_event_time, last_reconcile_time, \
     last_snapshot_id, mutation_cursor FROM watch_state WHERE host = $1 ORDER BY watch_root";
const INSERT_DELTA: &str = "INSERT INTO dir_deltas (snapshot_id, path, previous_bytes, \
     current_bytes, delta_bytes, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)";

fn insert_mutation(
    tx: &mut Transaction<'_>,
    cache: &mut Cache,
    host: &str,
    m: &Mutation,
) -> std::result::Result<i64, postgres::Error> {
    let s = prepare(tx, cache, INSERT_MUTATION)?;
    let row = match m {
        Mutation::Upsert {
            time_ms,
            record,
            old_total,
        } => {
            let st = &record.stats;
            let (lo, hi) = split_u128(st.fingerprint);
            let depth = record.depth as i32;
            tx.query_one(
                &s,
                &[
                    &host,
                    time_ms,
                    &UPSERT,
                    &record.path,
                    &opt_u64(*old_total),
                    &Some(to_sql_u64(st.total_bytes)),
                    &Some(depth),
                    &Some(to_sql_u64(st.dev)),
                    &Some(to_sql_u64(st.ino)),
                    &Some(to_sql_u64(st.total_apparent)),
                    &Some(to_sql_u64(st.direct_bytes)),
                    &Some(to_sql_u64(st.direct_apparent)),
                    &Some(to_sql_u64(st.file_count)),
                    &Some(to_sql_u64(st.direct_files)),
                    &Some(to_sql_u64(st.child_count)),
                    &Some(to_sql_u64(st.error_count)),
                    &Some(st.mtime_ns),
                    &Some(lo),
                    &Some(hi),
                ],
            )?
        }
        Mutation::RemoveSubtree {
            time_ms,
            path,
            old_total,
        } => {
            let none: Option<i64> = None;
            let no_depth: Option<i32> = None;
            tx.query_one(
                &s,
                &[
                    &host,
                    time_ms,
                    &REMOVE_SUBTREE,
                    path,
                    &opt_u64(*old_total),
                    &none,
                    &no_depth,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                    &none,
                ],
            )?
        }
    };
    row.try_get(0)
}

/// A mutation row; `None` when it is not one this store writes.
fn decode_mutation(row: &Row) -> std::result::Result<Option<LoggedMutation>, postgres::Error> {
    let id: i64 = row.try_get(0)?;
    let time_ms: i64 = row.try_get(1)?;
    let kind: i16 = row.try_get(2)?;
    let path: Vec<u8> = row.try_get(3)?;
    let old_total = row.try_get::<_, Option<i64>>(4)?.map(from_sql_u64);
    let mutation = match kind {
        UPSERT => {
            let opt = |i: usize| row.try_get::<_, Option<i64>>(i);
            let (Some(total), Some(depth)) = (opt(5)?, row.try_get::<_, Option<i32>>(6)?) else {
                return Ok(None);
            };
            let mut rest = [0i64; 12];
            for (k, v) in rest.iter_mut().enumerate() {
                match opt(7 + k)? {
                    Some(x) => *v = x,
                    None => return Ok(None),
                }
            }
            let u = from_sql_u64;
            Mutation::Upsert {
                time_ms,
                record: DirRecord {
                    path,
                    depth: depth as u32,
                    stats: DirStats {
                        total_bytes: u(total),
                        dev: u(rest[0]),
                        ino: u(rest[1]),
                        total_apparent: u(rest[2]),
                        direct_bytes: u(rest[3]),
                        direct_apparent: u(rest[4]),
                        file_count: u(rest[5]),
                        direct_files: u(rest[6]),
                        child_count: u(rest[7]),
                        error_count: u(rest[8]),
                        mtime_ns: rest[9],
                        fingerprint: join_u128(rest[10], rest[11]),
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

fn upsert_watch(
    tx: &mut Transaction<'_>,
    cache: &mut Cache,
    host: &str,
    w: &WatchState,
) -> std::result::Result<(), postgres::Error> {
    let s = prepare(tx, cache, UPSERT_WATCH)?;
    tx.execute(
        &s,
        &[
            &host,
            &w.root,
            &w.last_event_ms,
            &w.last_reconcile_ms,
            &w.last_snapshot,
            &w.mutation_cursor,
        ],
    )?;
    Ok(())
}

fn decode_watch(row: &Row) -> std::result::Result<WatchState, postgres::Error> {
    Ok(WatchState {
        root: row.try_get(0)?,
        last_event_ms: row.try_get(1)?,
        last_reconcile_ms: row.try_get(2)?,
        last_snapshot: row.try_get(3)?,
        mutation_cursor: row.try_get(4)?,
    })
}

fn insert_deltas(
    tx: &mut Transaction<'_>,
    cache: &mut Cache,
    snapshot: Option<SnapshotId>,
    deltas: &[DirDelta],
) -> std::result::Result<(), postgres::Error> {
    let s = prepare(tx, cache, INSERT_DELTA)?;
    for d in deltas {
        // The exact delta is recomputed from the two sides when read; this
        // column only orders.
        let delta = d
            .delta_bytes()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        tx.execute(
            &s,
            &[
                &snapshot.unwrap_or(d.snapshot),
                &d.path,
                &opt_u64(d.previous_bytes),
                &to_sql_u64(d.current_bytes),
                &delta,
                &d.recorded_at_ms,
            ],
        )?;
    }
    Ok(())
}

/// NotFound for the first of `ids` that does not exist (the deltas'
/// foreign key then catches a snapshot deleted meanwhile).
fn require_snapshots(
    tx: &mut Transaction<'_>,
    shown: &str,
    what: &str,
    ids: &BTreeSet<SnapshotId>,
) -> Result<()> {
    let list: Vec<i64> = ids.iter().copied().collect();
    let found = tx
        .query("SELECT id FROM snapshots WHERE id = ANY($1)", &[&list])
        .ctx(shown, what)?;
    for id in ids {
        if !found.iter().any(|r| r.get::<_, i64>(0) == *id) {
            return Err(error::no_snapshot(shown, *id));
        }
    }
    Ok(())
}

const INSERT_EVENTS: &str = "INSERT INTO fs_events (host, timestamp, event_type, path, delta_bytes, is_dir) \
     SELECT $1, t, k, p, d, i FROM unnest($2::bigint[], $3::smallint[], $4::bytea[], \
     $5::bigint[], $6::boolean[]) WITH ORDINALITY AS e(t, k, p, d, i, n) ORDER BY n";

pub(crate) fn append_batch(store: &mut PgStore, batch: &LiveBatch<'_>) -> Result<i64> {
    store.check_writable("append to the mutation log")?;
    let host = store.live_host.clone();
    let what = "appending a watcher batch to";
    store.in_transaction(what, |tx, cache, shown| {
        let mut last = None;
        for m in batch.mutations {
            last = Some(insert_mutation(tx, cache, &host, m).ctx(shown, what)?);
        }
        if !batch.events.is_empty() {
            // One statement for the whole batch, in the batch's order.
            let ev = batch.events;
            let times: Vec<i64> = ev.iter().map(|e| e.time_ms).collect();
            let kinds: Vec<i16> = ev.iter().map(|e| e.kind.code() as i16).collect();
            let paths: Vec<&[u8]> = ev.iter().map(|e| e.path.as_slice()).collect();
            let deltas: Vec<Option<i64>> = ev.iter().map(|e| e.delta_bytes).collect();
            let dirs: Vec<bool> = ev.iter().map(|e| e.is_dir).collect();
            let s = crate::prepare(tx, cache, INSERT_EVENTS).ctx(shown, what)?;
            tx.execute(&s, &[&host, &times, &kinds, &paths, &deltas, &dirs])
                .ctx(shown, what)?;
        }
        if let Some(w) = batch.watch_state {
            upsert_watch(tx, cache, &host, w).ctx(shown, what)?;
        }
        match last {
            Some(id) => {
                // The last id ever appended by this host, kept for empty
                // batches after the log was pruned.
                tx.execute(
                    "INSERT INTO mutation_heads (host, last_id) VALUES ($1, $2) \
                     ON CONFLICT (host) DO UPDATE SET last_id = greatest(mutation_heads.last_id, excluded.last_id)",
                    &[&host, &id],
                )
                .ctx(shown, what)?;
                Ok(id)
            }
            None => Ok(tx
                .query_opt("SELECT last_id FROM mutation_heads WHERE host = $1", &[&host])
                .ctx(shown, what)?
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(0)),
        }
    })
}

pub(crate) fn mutations_after(
    store: &PgStore,
    cursor: i64,
    under: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<LoggedMutation>> {
    let limit = sql_limit(limit);
    let host = store.live_host.as_str();
    let rows = store.with("reading the mutation log of", |c, cache| {
        let rows = match under.map(Under::new) {
            None => {
                let s = prepare(c, cache, MUTATIONS_ALL)?;
                c.query(&s, &[&host, &cursor, &limit])?
            }
            Some(u) => {
                let s = prepare(c, cache, MUTATIONS_UNDER)?;
                c.query(&s, &[&host, &cursor, &limit, &u.exact, &u.lo, &u.hi])?
            }
        };
        rows.iter()
            .map(decode_mutation)
            .collect::<std::result::Result<Vec<_>, _>>()
    })?;
    rows.into_iter()
        .map(|m| {
            m.ok_or_else(|| {
                error::corrupt(
                    &store.shown,
                    "a mutation_log row is not a mutation it can hold",
                )
            })
        })
        .collect()
}

pub(crate) fn count_mutations_after(
    store: &PgStore,
    cursor: i64,
    under: Option<&[u8]>,
) -> Result<u64> {
    let host = store.live_host.as_str();
    let n: i64 = store.with("counting the mutation log of", |c, cache| {
        let row = match under.map(Under::new) {
            None => {
                let s = prepare(c, cache, COUNT_ALL)?;
                c.query_one(&s, &[&host, &cursor])?
            }
            Some(u) => {
                let s = prepare(c, cache, COUNT_UNDER)?;
                c.query_one(&s, &[&host, &cursor, &u.exact, &u.lo, &u.hi])?
            }
        };
        row.try_get(0)
    })?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn prune_mutations(
    store: &mut PgStore,
    through: i64,
    under: Option<&[u8]>,
) -> Result<usize> {
    store.check_writable("prune the mutation log")?;
    let host = store.live_host.clone();
    let what = "pruning the mutation log of";
    store.in_transaction(what, |tx, _, shown| {
        let n = match under.map(Under::new) {
            None => tx.execute(
                "DELETE FROM mutation_log WHERE host = $1 AND id <= $2",
                &[&host, &through],
            ),
            Some(u) => tx.execute(
                "DELETE FROM mutation_log WHERE host = $1 AND id <= $2 \
                 AND (path = $3 OR (path >= $4 AND path < $5))",
                &[&host, &through, &u.exact, &u.lo, &u.hi],
            ),
        }
        .ctx(shown, what)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    })
}

pub(crate) fn journal(store: &PgStore, q: &JournalQuery) -> Result<Vec<JournalEvent>> {
    let what = "reading the event journal of";
    let host = store.live_host.as_str();
    let under = q.under.as_deref().map(Under::new);
    let (exact, lo, hi) = match &under {
        Some(u) => (Some(&u.exact), Some(&u.lo), Some(&u.hi)),
        None => (None, None, None),
    };
    let limit = sql_limit(q.limit.unwrap_or(usize::MAX));
    let rows = store.with(what, |c, cache| {
        let s = prepare(c, cache, JOURNAL)?;
        let rows = c.query(
            &s,
            &[&host, &q.since_ms, &q.until_ms, &exact, &lo, &hi, &limit],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, i16>(1)?,
                    r.try_get::<_, Vec<u8>>(2)?,
                    r.try_get::<_, Option<i64>>(3)?,
                    r.try_get::<_, bool>(4)?,
                ))
            })
            .collect::<std::result::Result<Vec<_>, postgres::Error>>()
    })?;
    rows.into_iter()
        .map(|(time_ms, code, path, delta_bytes, is_dir)| {
            let kind = JournalKind::from_code(i64::from(code)).ok_or_else(|| {
                error::corrupt(&store.shown, format!("unknown fs_events.event_type {code}"))
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

pub(crate) fn prune_journal(store: &mut PgStore, before_ms: i64) -> Result<usize> {
    store.check_writable("prune the event journal")?;
    let host = store.live_host.clone();
    let what = "pruning the event journal of";
    store.in_transaction(what, |tx, _, shown| {
        let n = tx
            .execute(
                "DELETE FROM fs_events WHERE host = $1 AND timestamp < $2",
                &[&host, &before_ms],
            )
            .ctx(shown, what)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    })
}

pub(crate) fn record_dir_deltas(store: &mut PgStore, deltas: &[DirDelta]) -> Result<()> {
    store.check_writable("record directory deltas")?;
    let what = "recording directory deltas in";
    store.in_transaction(what, |tx, cache, shown| {
        let ids: BTreeSet<SnapshotId> = deltas.iter().map(|d| d.snapshot).collect();
        require_snapshots(tx, shown, what, &ids)?;
        insert_deltas(tx, cache, None, deltas).ctx(shown, what)
    })
}

pub(crate) fn dir_deltas(store: &PgStore, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
    store.with("reading directory deltas from", |c, cache| {
        let s = prepare(
            c,
            cache,
            "SELECT snapshot_id, path, previous_bytes, current_bytes, recorded_at \
             FROM dir_deltas WHERE snapshot_id = $1 ORDER BY path, id",
        )?;
        c.query(&s, &[&snapshot])?
            .iter()
            .map(|r| {
                Ok(DirDelta {
                    snapshot: r.try_get(0)?,
                    path: r.try_get(1)?,
                    previous_bytes: r.try_get::<_, Option<i64>>(2)?.map(from_sql_u64),
                    current_bytes: from_sql_u64(r.try_get(3)?),
                    recorded_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    })
}

pub(crate) fn watch_state(store: &PgStore, root: &[u8]) -> Result<Option<WatchState>> {
    let host = store.live_host.as_str();
    store.with("reading the watch state from", |c, cache| {
        let s = prepare(c, cache, WATCH_COLS_ONE)?;
        c.query_opt(&s, &[&host, &root])?
            .as_ref()
            .map(decode_watch)
            .transpose()
    })
}

pub(crate) fn watch_states(store: &PgStore) -> Result<Vec<WatchState>> {
    let host = store.live_host.as_str();
    store.with("reading the watch state from", |c, cache| {
        let s = prepare(c, cache, WATCH_COLS_ALL)?;
        c.query(&s, &[&host])?.iter().map(decode_watch).collect()
    })
}

pub(crate) fn set_watch_state(store: &mut PgStore, state: &WatchState) -> Result<()> {
    store.check_writable("record the watch state")?;
    let host = store.live_host.clone();
    let what = "recording the watch state in";
    store.in_transaction(what, |tx, cache, shown| {
        upsert_watch(tx, cache, &host, state).ctx(shown, what)
    })
}

pub(crate) fn index_provenance(store: &PgStore) -> Result<Option<IndexProvenance>> {
    let host = store.live_host.as_str();
    store.with("reading the index provenance from", |c, _| {
        let Some(head) = c.query_opt(
            "SELECT file_len, dev, ino, mtime_ns, checksum, mutation_cursor \
             FROM index_provenance WHERE host = $1",
            &[&host],
        )?
        else {
            return Ok(None);
        };
        let snapshots = c
            .query(
                "SELECT root, snapshot_id FROM index_provenance_roots WHERE host = $1 \
                 ORDER BY position",
                &[&host],
            )?
            .iter()
            .map(|r| Ok((r.try_get::<_, Vec<u8>>(0)?, r.try_get::<_, i64>(1)?)))
            .collect::<std::result::Result<Vec<_>, postgres::Error>>()?;
        let u = |i: usize| head.try_get::<_, i64>(i).map(from_sql_u64);
        Ok(Some(IndexProvenance {
            snapshots,
            len: u(0)?,
            dev: u(1)?,
            ino: u(2)?,
            mtime_ns: head.try_get(3)?,
            checksum: u(4)?,
            mutation_cursor: head.try_get(5)?,
        }))
    })
}

pub(crate) fn set_index_provenance(store: &mut PgStore, p: &IndexProvenance) -> Result<()> {
    store.check_writable("record the index provenance")?;
    let host = store.live_host.clone();
    let what = "recording the index provenance in";
    store.in_transaction(what, |tx, _, shown| {
        tx.execute(
            "INSERT INTO index_provenance (host, file_len, dev, ino, mtime_ns, checksum, \
             mutation_cursor, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (host) DO UPDATE SET file_len = excluded.file_len, dev = excluded.dev, \
             ino = excluded.ino, mtime_ns = excluded.mtime_ns, checksum = excluded.checksum, \
             mutation_cursor = excluded.mutation_cursor, recorded_at = excluded.recorded_at",
            &[
                &host,
                &to_sql_u64(p.len),
                &to_sql_u64(p.dev),
                &to_sql_u64(p.ino),
                &p.mtime_ns,
                &to_sql_u64(p.checksum),
                &p.mutation_cursor,
                &now_ms(),
            ],
        )
        .ctx(shown, what)?;
        tx.execute(
            "DELETE FROM index_provenance_roots WHERE host = $1",
            &[&host],
        )
        .ctx(shown, what)?;
        for (i, (root, id)) in p.snapshots.iter().enumerate() {
            let pos = i32::try_from(i).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO index_provenance_roots (host, position, root, snapshot_id) \
                 VALUES ($1, $2, $3, $4)",
                &[&host, &pos, root, id],
            )
            .ctx(shown, what)?;
        }
        Ok(())
    })
}

// ---- derive_snapshot --------------------------------------------------------

/// The ranges of the path order left out of the base, sorted and merged.
fn left_out(removed: &[Vec<u8>], upserts: &[DirRecord]) -> Vec<(Vec<u8>, Vec<u8>)> {
    left_out_ranges(removed, upserts.iter().map(|u| u.path.as_slice()))
}

fn usage(shown: &str, message: String) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!("cannot derive a snapshot in {shown}: {message}"),
    )
    .with_hint("this is a bug in the caller; nothing was stored")
}

pub(crate) fn derive_snapshot(store: &mut PgStore, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
    store.check_writable("derive a snapshot")?;
    let host = store.live_host.clone();
    let shown = store.shown.clone();
    let root = d.meta.root.as_slice();
    if let Some(w) = d.upserts.windows(2).find(|w| w[0].path >= w[1].path) {
        return Err(usage(
            &shown,
            format!(
                "upserts must be in strictly increasing bytewise path order, but {} came after {}",
                escape_bytes(&w[1].path),
                escape_bytes(&w[0].path)
            ),
        ));
    }
    if let Some(u) = d.upserts.iter().find(|u| !is_within(&u.path, root)) {
        return Err(usage(
            &shown,
            format!(
                "the upserted directory {} is not under the root {}",
                escape_bytes(&u.path),
                escape_bytes(root)
            ),
        ));
    }
    let what = "deriving a snapshot in";
    // Repeatable read: the base's row and its directories are read from one
    // snapshot of the database, even if another host deletes the base
    // meanwhile (its rows stay visible to this transaction).
    store.in_transaction_at(
        postgres::IsolationLevel::RepeatableRead,
        what,
        |tx, cache, shown| {
            let base_root: Option<Vec<u8>> = tx
                .query_opt("SELECT scan_root FROM snapshots WHERE id = $1", &[&d.base])
                .ctx(shown, what)?
                .map(|r| r.get(0));
            let Some(base_root) = base_root else {
                return Err(error::no_snapshot(shown, d.base));
            };
            if base_root != root {
                return Err(usage(
                    shown,
                    format!(
                        "the base snapshot {} is of {}, not of {}",
                        d.base,
                        escape_bytes(&base_root),
                        escape_bytes(root)
                    ),
                ));
            }
            let id: i64 = tx
                .query_one(
                    "SELECT nextval(pg_get_serial_sequence('snapshots', 'id'))",
                    &[],
                )
                .ctx(shown, what)?
                .get(0);
            let s = prepare(tx, cache, TREE).ctx(shown, what)?;
            let base_blocks = tx.query(&s, &[&d.base]).ctx(shown, what)?;
            let copy = prepare(tx, cache, COPY_BLOCKS).ctx(shown, what)?;
            let mut sink = BlockSink::default();
            let out = left_out(d.removed, d.upserts);
            let mut out = out.iter().peekable();
            let mut upserts = d.upserts.iter().peekable();
            let mut rec = DirRecord::default();
            // The base's directories outside the left-out ranges, merged in
            // path order with the upserts (whose paths are left out).
            for row in &base_blocks {
                let mut block = open_block(row, d.base, shown, what)?;
                while next_dir(&mut block, &mut rec, d.base, shown)? {
                    while out
                        .next_if(|(_, hi)| hi.as_slice() <= rec.path.as_slice())
                        .is_some()
                    {}
                    if out
                        .peek()
                        .is_some_and(|(lo, _)| lo.as_slice() <= rec.path.as_slice())
                    {
                        continue;
                    }
                    while let Some(u) = upserts.next_if(|u| u.path < rec.path) {
                        sink.push(tx, &copy, id, &u.path, u.depth, &u.stats)
                            .ctx(shown, what)?;
                    }
                    sink.push(tx, &copy, id, &rec.path, rec.depth, &rec.stats)
                        .ctx(shown, what)?;
                }
            }
            for u in upserts {
                sink.push(tx, &copy, id, &u.path, u.depth, &u.stats)
                    .ctx(shown, what)?;
            }
            sink.finish(tx, &copy, id).ctx(shown, what)?;
            let (dirs, errors) = (sink.dirs, sink.errors);
            insert_snapshot(tx, cache, Some(id), d.meta, dirs, errors).ctx(shown, what)?;
            insert_deltas(tx, cache, Some(id), d.deltas).ctx(shown, what)?;
            if let Some(w) = d.watch_state {
                let mut w = w.clone();
                w.last_snapshot = Some(id);
                upsert_watch(tx, cache, &host, &w).ctx(shown, what)?;
            }
            Ok(id)
        },
    )
}
