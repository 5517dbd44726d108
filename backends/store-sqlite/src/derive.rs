//! A snapshot derived from a stored one: the base's rows, minus removed
//! subtrees, merged with upserted directories, written in one transaction.
//!
//! The new snapshot must keep the invariant every read relies on: its rows
//! occupy one contiguous row-id range in bytewise path order (crate docs).
//! So its rows are inserted in path order. Every removed subtree `P` and
//! every upserted path `U` becomes a range of the path order whose base rows
//! are left out: `[P, P\0)` and `[P/, P0)` (the directory, and its
//! descendants, which need not be adjacent: `P-x` sorts between), and
//! `[U, U\0)`; overlapping ranges are merged. Then one of two ways, by
//! what costs less (see [`ROWS_PER_RANGE_FOR_RUNS`]):
//!
//! * **Runs** (few ranges for the size of the base): where each range
//!   starts and ends in the base is found by the galloping search over row
//!   ids that subtree reads use (reading a few rows each, before anything
//!   is written); the runs of base rows between ranges are copied by SQLite
//!   itself (`INSERT … SELECT` of a row-id range: no record passes through
//!   Rust), and each range's upserts are inserted after the run before it.
//! * **Merge** (many ranges): one pass over the base in path order,
//!   merged with the upserts, each kept row copied from the read row into
//!   the writer's batched insert without building a record. A run costs one
//!   statement (and SQLite copies it through a temporary table, since it
//!   reads the table it writes), which many short runs cannot pay back.

use disktracker::path::{escape_bytes, is_within, left_out_ranges};
use disktracker::{DerivedSnapshot, DirRecord, Error, ErrorKind, Result, SnapshotId};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{self, Ctx};
use crate::live::{insert_deltas, upsert_watch_state};
use crate::writer::{RowSink, insert_snapshot};
use crate::{SqliteStore, blob_col};

const WHAT: &str = "deriving a snapshot in";

/// Copies the base rows `[?2, ?3)` into snapshot `?1`, in row-id order.
/// `+snapshot_id` keeps the planner on the row-id range (as in reads).
const COPY_RUN: &str = "INSERT INTO dir_snapshots (snapshot_id, path_blob, path_utf8, depth, \
     total_bytes, file_count, mtime, dev, ino, fingerprint_lo, fingerprint_hi, direct_bytes, \
     child_count, apparent_bytes, direct_apparent_bytes, direct_files, error_count) \
     SELECT ?1, path_blob, path_utf8, depth, total_bytes, file_count, mtime, dev, ino, \
     fingerprint_lo, fingerprint_hi, direct_bytes, child_count, apparent_bytes, \
     direct_apparent_bytes, direct_files, error_count FROM dir_snapshots \
     WHERE id >= ?2 AND id < ?3 AND +snapshot_id = ?4 ORDER BY id";

/// The base's rows `[?1, ?2]` in row-id (= path) order.
const READ_BASE: &str = concat!(
    "SELECT ",
    crate::dir_cols!(),
    " FROM dir_snapshots WHERE id >= ?1 AND id <= ?2 AND +snapshot_id = ?3 ORDER BY id"
);

/// Runs are copied with SQL when the base has at least this many rows per
/// left-out range; below, the merge pass is used. Measured in instructions
/// (callgrind, release build, 65,535-row base, the `derive` example): a row
/// costs about 12,500 instructions copied in a run and 15,000 in the merge
/// pass, and each range about 77,000 more in runs (two searches, one
/// statement and its temporary table); so runs pay when the rows outnumber
/// the ranges about 28 to 1.
pub(crate) const ROWS_PER_RANGE_FOR_RUNS: i64 = 28;

/// One step of the runs strategy, in path order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Copy the base rows with ids in `[from, to)`.
    Copy { from: i64, to: i64 },
    /// Insert `upserts[start..end]`.
    Insert { start: usize, end: usize },
}

/// The ranges of the path order left out of the base, sorted and merged.
fn left_out(removed: &[Vec<u8>], upserts: &[DirRecord]) -> Vec<(Vec<u8>, Vec<u8>)> {
    left_out_ranges(removed, upserts.iter().map(|u| u.path.as_slice()))
}

/// The runs strategy's steps: the runs of base rows (ids `lo..=hi`) to copy
/// between the left-out ranges, and the upserts to insert in each range.
/// Reads only the base (a galloping search per range boundary).
fn plan(
    store: &SqliteStore,
    lo: i64,
    hi: i64,
    ranges: &[(Vec<u8>, Vec<u8>)],
    upserts: &[DirRecord],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut pos = lo;
    let mut next = 0;
    for (start, end) in ranges {
        // Keys increase, and every row before `pos` sorts below them.
        let cut = store.seek_id(pos, hi, start, true)?;
        if cut > pos {
            steps.push(Step::Copy { from: pos, to: cut });
        }
        // Every upsert lies in a range (its own is among them), in order.
        let first = next;
        while next < upserts.len() && upserts[next].path.as_slice() < end.as_slice() {
            next += 1;
        }
        if next > first {
            steps.push(Step::Insert {
                start: first,
                end: next,
            });
        }
        pos = store.seek_id(cut, hi, end, true)?;
    }
    if pos <= hi {
        steps.push(Step::Copy {
            from: pos,
            to: hi + 1,
        });
    }
    Ok(steps)
}

/// Executes the runs strategy's steps into snapshot `id`.
fn write_runs(
    conn: &Connection,
    id: SnapshotId,
    base: SnapshotId,
    steps: &[Step],
    upserts: &[DirRecord],
) -> rusqlite::Result<()> {
    let mut copy = conn.prepare_cached(COPY_RUN)?;
    let mut sink = RowSink::new(conn, id)?;
    for step in steps {
        match *step {
            Step::Copy { from, to } => {
                // Rows buffered so far go first, to keep path order.
                sink.flush()?;
                copy.execute((id, from, to, base))?;
            }
            Step::Insert { start, end } => {
                for u in &upserts[start..end] {
                    sink.push(&u.path, u.depth, &u.stats)?;
                }
            }
        }
    }
    sink.flush()
}

/// The merge strategy: the base rows `lo..=hi` are read in path order while
/// the new snapshot's rows are written (SQLite allows inserting into a table
/// while a SELECT on it steps; whether the SELECT would see the new rows is
/// undefined, and `id <= hi` excludes them anyway). `removed` are the
/// left-out ranges of the removed subtrees only. Returns the new snapshot's
/// directory and error counts: every one of its rows passes through here.
fn write_merged(
    conn: &Connection,
    id: SnapshotId,
    base: SnapshotId,
    (lo, hi): (i64, i64),
    removed: &[(Vec<u8>, Vec<u8>)],
    upserts: &[DirRecord],
) -> rusqlite::Result<(u64, u64)> {
    let mut sink = RowSink::new(conn, id)?;
    let mut up = 0;
    let mut cut = 0;
    let mut read = conn.prepare_cached(READ_BASE)?;
    let mut rows = read.query((lo, hi, base))?;
    while let Some(row) = rows.next()? {
        let path = blob_col(row, 0, "path_blob")?;
        while up < upserts.len() && upserts[up].path.as_slice() < path {
            let u = &upserts[up];
            sink.push(&u.path, u.depth, &u.stats)?;
            up += 1;
        }
        if up < upserts.len() && upserts[up].path == path {
            continue;
        }
        while cut < removed.len() && removed[cut].1.as_slice() <= path {
            cut += 1;
        }
        if cut < removed.len() && removed[cut].0.as_slice() <= path {
            continue;
        }
        sink.push_row(row, 0)?;
    }
    for u in &upserts[up..] {
        sink.push(&u.path, u.depth, &u.stats)?;
    }
    sink.flush()?;
    Ok((sink.rows, sink.errors))
}

/// Sets snapshot `id`'s directory and error counts (the caller's meta
/// cannot know them without reading the whole base): `counted` when every
/// row was counted as it was written, else from its rows.
fn record_counts(
    conn: &Connection,
    id: SnapshotId,
    counted: Option<(u64, u64)>,
) -> rusqlite::Result<()> {
    let (dirs, errors) = match counted {
        Some(c) => c,
        None => count_rows(conn, id)?,
    };
    conn.prepare_cached("UPDATE snapshots SET dir_count = ?2, error_count = ?3 WHERE id = ?1")?
        .execute((id, crate::to_sql_u64(dirs), crate::to_sql_u64(errors)))?;
    Ok(())
}

/// Snapshot `id`'s rows and the sum of their error counts, read back.
fn count_rows(conn: &Connection, id: SnapshotId) -> rusqlite::Result<(u64, u64)> {
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .prepare_cached(crate::tree::RANGE_SQL)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (mut dirs, mut errors) = (0u64, 0u64);
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let mut stmt = conn.prepare_cached(
            "SELECT error_count FROM dir_snapshots WHERE id >= ?1 AND id <= ?2 AND +snapshot_id = ?3",
        )?;
        let mut rows = stmt.query((lo, hi, id))?;
        while let Some(r) = rows.next()? {
            dirs += 1;
            errors = errors.saturating_add(crate::from_sql_u64(r.get(0)?));
        }
    }
    Ok((dirs, errors))
}

fn usage(path: &std::path::Path, message: String) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!(
            "cannot derive a snapshot in {}: {message}",
            disktracker::path::escape_path(path)
        ),
    )
    .with_hint("this is a bug in the caller; nothing was stored")
}

/// [`disktracker::SnapshotStore::derive_snapshot`].
pub(crate) fn derive(store: &mut SqliteStore, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
    store.check_writable_now("derive a snapshot")?;
    let path = store.path.clone();
    let root = d.meta.root.as_slice();
    if let Some(w) = d.upserts.windows(2).find(|w| w[0].path >= w[1].path) {
        return Err(usage(
            &path,
            format!(
                "upserts must be in strictly increasing bytewise path order, but {} came after {}",
                escape_bytes(&w[1].path),
                escape_bytes(&w[0].path)
            ),
        ));
    }
    if let Some(u) = d.upserts.iter().find(|u| !is_within(&u.path, root)) {
        return Err(usage(
            &path,
            format!(
                "the upserted directory {} is not under the root {}",
                escape_bytes(&u.path),
                escape_bytes(root)
            ),
        ));
    }
    let store = &*store;
    store.in_transaction(WHAT, |conn| {
        let base_root: Option<Vec<u8>> = conn
            .prepare_cached(
                "SELECT coalesce(scan_root_blob, CAST(scan_root AS BLOB)) FROM snapshots WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([d.base], |r| Ok(blob_col(r, 0, "scan_root_blob")?.to_vec()))
                    .optional()
            })
            .ctx(&path, WHAT)?;
        let Some(base_root) = base_root else {
            return Err(error::no_snapshot(&path, d.base));
        };
        if base_root != root {
            return Err(usage(
                &path,
                format!(
                    "the base snapshot {} is of {}, not of {}",
                    d.base,
                    escape_bytes(&base_root),
                    escape_bytes(root)
                ),
            ));
        }
        let range = store.row_range(d.base)?;
        let ranges = left_out(d.removed, d.upserts);
        let rows = range.map_or(0, |(lo, hi)| hi - lo + 1);
        let per_range = rows / i64::try_from(ranges.len()).unwrap_or(i64::MAX).max(1);
        let steps = match range {
            Some((lo, hi)) if per_range >= ROWS_PER_RANGE_FOR_RUNS => {
                Some(plan(store, lo, hi, &ranges, d.upserts)?)
            }
            _ => None,
        };
        let id = insert_snapshot(conn, d.meta).ctx(&path, WHAT)?;
        // Runs are copied by SQLite: their rows are counted afterwards.
        let counted = match (range, steps) {
            (_, Some(steps)) => write_runs(conn, id, d.base, &steps, d.upserts).map(|()| None),
            (Some(range), None) => {
                let removed = left_out(d.removed, &[]);
                write_merged(conn, id, d.base, range, &removed, d.upserts).map(Some)
            }
            (None, None) => write_runs(
                conn,
                id,
                d.base,
                &[Step::Insert {
                    start: 0,
                    end: d.upserts.len(),
                }],
                d.upserts,
            )
            .map(|()| None),
        }
        .ctx(&path, WHAT)?;
        record_counts(conn, id, counted).ctx(&path, WHAT)?;
        insert_deltas(conn, Some(id), d.deltas).ctx(&path, WHAT)?;
        if let Some(w) = d.watch_state {
            let mut w = w.clone();
            w.last_snapshot = Some(id);
            upsert_watch_state(conn, &w).ctx(&path, WHAT)?;
        }
        Ok(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_ranges_cover_the_subtree_but_not_its_neighbours() {
        let rec = |p: &[u8]| DirRecord {
            path: p.to_vec(),
            ..DirRecord::default()
        };
        let ranges = left_out(
            &[b"/a".to_vec(), b"/a/b/".to_vec()],
            &[rec(b"/a-x"), rec(b"/b")],
        );
        let inside = |p: &[u8]| {
            ranges
                .iter()
                .any(|(lo, hi)| lo.as_slice() <= p && p < hi.as_slice())
        };
        for p in [&b"/a"[..], b"/a/b", b"/a/b/c", b"/a/\xff", b"/a-x", b"/b"] {
            assert!(inside(p), "{}", escape_bytes(p));
        }
        for p in [
            &b"/"[..],
            b"/a-",
            b"/a-x/y",
            b"/a0",
            b"/a\x00",
            b"/ab",
            b"/b/c",
            b"/b0",
        ] {
            assert!(!inside(p), "{}", escape_bytes(p));
        }
        // /a/b's ranges lie inside /a's and merged away.
        assert_eq!(ranges.len(), 4, "{ranges:?}");
        let root = left_out(&[b"/".to_vec()], &[rec(b"/")]);
        assert_eq!(root, [(b"/".to_vec(), b"0".to_vec())]);
    }
}
