//! Path-ordered reads of one snapshot through its row-id range.
//!
//! Within a snapshot, row ids are contiguous and increase with the path
//! (see the crate docs), so "the first row whose path is >= K" is a search
//! over row ids that reads one row per step. Every search is bounded by the
//! snapshot's own row-id range, so other snapshots' rows are never read.

use disktracker::path::{descendant_prefix, prefix_end, trim_slashes};
use disktracker::{DirRecord, Result, SnapshotId};
use rusqlite::OptionalExtension;

use crate::error::Ctx;
use crate::{SqliteStore, decode_dir, dir_cols};

/// First and last row id of a snapshot (two seeks of `idx_dir_snapshot_id`).
pub(crate) const RANGE_SQL: &str = "SELECT (SELECT min(id) FROM dir_snapshots WHERE snapshot_id = ?1), \
                                (SELECT max(id) FROM dir_snapshots WHERE snapshot_id = ?1)";

/// The first row with id in `[?1, ?2]`: one seek on the table's rowid b-tree.
pub(crate) const PROBE_SQL: &str = concat!(
    "SELECT id, ",
    dir_cols!(),
    " FROM dir_snapshots WHERE id >= ?1 AND id <= ?2 ORDER BY id LIMIT 1"
);

/// Like [`PROBE_SQL`], but only the id and whether the path is below `?3`.
pub(crate) const PROBE_BELOW_SQL: &str =
    "SELECT id, path_blob < ?3 FROM dir_snapshots WHERE id >= ?1 AND id <= ?2 ORDER BY id LIMIT 1";

/// Rows `[?1, ?2]` in order: a sequential scan of the rowid b-tree, no index.
/// `+snapshot_id` keeps the planner off `idx_dir_snapshot_id` (which would
/// add an index seek per row) while still guarding against foreign rows.
pub(crate) const SCAN_SQL: &str = concat!(
    "SELECT ",
    dir_cols!(),
    " FROM dir_snapshots WHERE id >= ?1 AND id <= ?2 AND +snapshot_id = ?3 ORDER BY id"
);

const READING: &str = "reading a snapshot from";

/// Rows a long read takes per statement. Pages read through the file's
/// mapping stay resident until it is unmapped, and those read from the log
/// stay in the page cache, so a whole snapshot read in one go (90 MB for
/// 260,000 directories with long paths) would add itself to the reader's
/// peak memory; between windows both are dropped. 16,384 rows are 2–6 MB
/// of pages.
pub(crate) const WINDOW: i64 = 16_384;

impl SqliteStore {
    /// The snapshot's row-id range, or `None` when it has no rows.
    pub(crate) fn row_range(&self, id: SnapshotId) -> Result<Option<(i64, i64)>> {
        let (lo, hi): (Option<i64>, Option<i64>) = self
            .conn
            .prepare_cached(RANGE_SQL)
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
            .ctx(&self.path, READING)?;
        Ok(lo.zip(hi))
    }

    /// The first row with id in `[from, to]`.
    fn probe(&self, from: i64, to: i64) -> Result<Option<(i64, DirRecord)>> {
        if from > to {
            return Ok(None);
        }
        self.conn
            .prepare_cached(PROBE_SQL)
            .and_then(|mut s| {
                s.query_row([from, to], |r| {
                    let mut rec = DirRecord::default();
                    decode_dir(r, 1, &mut rec)?;
                    Ok((r.get(0)?, rec))
                })
                .optional()
            })
            .ctx(&self.path, READING)
    }

    /// The first row with id in `[from, to]`: its id, and whether its path
    /// sorts below `key`. SQLite compares the two BLOBs bytewise (memcmp,
    /// then length), so the row is not decoded.
    fn probe_below(&self, from: i64, to: i64, key: &[u8]) -> Result<Option<(i64, bool)>> {
        self.conn
            .prepare_cached(PROBE_BELOW_SQL)
            .and_then(|mut s| {
                s.query_row((from, to, key), |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .ctx(&self.path, READING)
    }

    /// The first row in `[from, to]` whose path is `>= key`, given that
    /// every row before `from` in the snapshot sorts below `key`.
    ///
    /// Bisects the range, reading one row per step. With `near`, it first
    /// gallops forward from `from` (1, 2, 4, … rows), so a row `d` rows
    /// ahead costs O(log d) probes: `children` skips a small subtree in a
    /// few probes, a large one in no more than a plain bisection. Gaps in
    /// the ids are tolerated (a probe returns the next existing row).
    fn seek(&self, from: i64, to: i64, key: &[u8], near: bool) -> Result<Option<(i64, DirRecord)>> {
        let at = self.seek_id(from, to, key, near)?;
        self.probe(at, to)
    }

    /// Like [`seek`](Self::seek), but only the position: every row in
    /// `[from, id)` sorts below `key`, none in `[id, to]` does (`id` may be
    /// a gap in the ids, or `to + 1`).
    pub(crate) fn seek_id(&self, from: i64, to: i64, key: &[u8], near: bool) -> Result<i64> {
        // Invariant: rows with id < lo sort below key; rows with id >= up do not.
        let mut lo = from;
        let mut up = to.saturating_add(1);
        let mut step: i64 = 1;
        // Gallop: probe 1, 2, 4, ... rows ahead until one is not below key.
        if near {
            loop {
                let at = lo.saturating_add(step - 1);
                if at >= up {
                    break;
                }
                match self.probe_below(at, up - 1, key)? {
                    Some((rid, true)) => {
                        lo = rid + 1;
                        step = step.saturating_mul(2);
                    }
                    // No row in [at, up) or the first of them is >= key.
                    _ => {
                        up = at;
                        break;
                    }
                }
            }
        }
        while lo < up {
            let mid = lo + (up - lo) / 2;
            match self.probe_below(mid, up - 1, key)? {
                Some((rid, true)) => lo = rid + 1,
                _ => up = mid,
            }
        }
        Ok(lo)
    }
}

/// [`disktracker::SnapshotStore::visit_tree`].
pub(crate) fn visit(
    store: &SqliteStore,
    id: SnapshotId,
    under: Option<&[u8]>,
    visit: &mut dyn FnMut(&DirRecord) -> bool,
) -> Result<()> {
    let Some((lo, hi)) = store.row_range(id)? else {
        return store.require_snapshot(id);
    };
    let (start, prefix) = match under {
        None => (lo, None),
        Some(p) => {
            let base = trim_slashes(p);
            let prefix = descendant_prefix(p);
            // The subtree starts at P itself; its descendants follow, but
            // not necessarily right after it ("P-x" sorts between), so the
            // search for "P/" gallops from P. The root "/" is covered by
            // its prefix.
            let (mut from, mut near) = (lo, false);
            if base != b"/"
                && let Some((rid, rec)) = store.seek(lo, hi, base, false)?
            {
                if rec.path == base && !visit(&rec) {
                    return Ok(());
                }
                (from, near) = (rid, true);
            }
            match store.seek(from, hi, &prefix, near)? {
                Some((rid, _)) => (rid, Some(prefix)),
                None => return Ok(()),
            }
        }
    };
    // In windows of rows, the pages read dropped after each: see [`WINDOW`].
    let mut rec = DirRecord::default();
    let mut from = start;
    loop {
        let to = hi.min(from.saturating_add(WINDOW - 1));
        let mut stmt = store
            .conn
            .prepare_cached(SCAN_SQL)
            .ctx(&store.path, READING)?;
        let mut rows = stmt.query((from, to, id)).ctx(&store.path, READING)?;
        while let Some(row) = rows.next().ctx(&store.path, READING)? {
            decode_dir(row, 0, &mut rec).ctx(&store.path, READING)?;
            if let Some(prefix) = &prefix
                && !rec.path.starts_with(prefix)
            {
                return Ok(());
            }
            if !visit(&rec) {
                return Ok(());
            }
        }
        drop(rows);
        drop(stmt);
        if to >= hi {
            return Ok(());
        }
        store.drop_read_pages();
        from = to + 1;
    }
}

/// [`disktracker::SnapshotStore::dir`]: a bisection of the snapshot's
/// row-id range, like the start of a subtree read.
///
/// There is deliberately no path index to use instead: migration 4 dropped
/// the seed's `idx_dir_path_bytes`, whose upkeep made every snapshot write
/// slower than the last (see `schema.rs`). The search reads about
/// log2(rows) rows of this snapshot only, whatever the history.
pub(crate) fn dir(store: &SqliteStore, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
    // An unknown snapshot and an empty one both hold no such directory.
    let Some((lo, hi)) = store.row_range(id)? else {
        return Ok(None);
    };
    let path = trim_slashes(path);
    Ok(store
        .seek(lo, hi, path, false)?
        .map(|(_, rec)| rec)
        .filter(|rec| rec.path == path))
}

/// [`disktracker::SnapshotStore::children`]: hops from child to child.
///
/// After a row `P/name/...` (inside child `name`'s subtree) the next child
/// can only be at or after `P/name0` (`'0'` follows `'/'`: the end of the
/// subtree's range), so one seek skips the rest of that subtree. A row
/// `P/name` without another `/` is a child.
pub(crate) fn children(store: &SqliteStore, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
    let Some((lo, hi)) = store.row_range(id)? else {
        store.require_snapshot(id)?;
        return Ok(Vec::new());
    };
    let prefix = descendant_prefix(path);
    let mut out = Vec::new();
    let mut cur = store.seek(lo, hi, &prefix, false)?;
    while let Some((rid, rec)) = cur {
        let Some(rest) = rec.path.strip_prefix(prefix.as_slice()) else {
            break;
        };
        match rest.iter().position(|&b| b == b'/') {
            // The root itself when listing the children of "/".
            None if rest.is_empty() => cur = store.probe(rid + 1, hi)?,
            None => {
                out.push(rec);
                cur = store.probe(rid + 1, hi)?;
            }
            Some(slash) => {
                let key = prefix_end(&rec.path[..prefix.len() + slash + 1]);
                cur = store.seek(rid + 1, hi, &key, true)?;
            }
        }
    }
    Ok(out)
}
