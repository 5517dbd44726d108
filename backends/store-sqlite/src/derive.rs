//! A snapshot derived from a stored one: the base's rows, minus removed
//! subtrees, merged with upserted directories, written in one transaction.
//!
//! The new snapshot must keep the invariant every read relies on: its rows
//! occupy one contiguous row-id range in bytewise path order (crate docs).
//! So the rows are inserted in path order, in one pass:
//!
//! 1. Every removed subtree `P` and every upserted path `U` becomes a range
//!    of the path order whose base rows are left out: `[P, P\0)` and
//!    `[P/, P0)` (the directory, and its descendants, which need not be
//!    adjacent: `P-x` sorts between), and `[U, U\0)`. Overlapping ranges
//!    are merged.
//! 2. Where each range starts and ends in the base is found by row id,
//!    reading only the base (before anything is written): by the same
//!    galloping search over row ids that subtree reads use when the ranges
//!    are few, by one sequential pass over the base's paths when they are
//!    many (each search costs a few dozen point reads; see
//!    [`SCAN_WHEN_RANGES_TIMES`]).
//! 3. Then the runs of base rows between ranges are copied by the store
//!    itself (`INSERT … SELECT` of a row-id range: SQLite copies the
//!    records without handing them to Rust), and the upserts of each range
//!    are inserted after the run before it.

use disktracker::path::{descendant_prefix, escape_bytes, is_within, prefix_end, trim_slashes};
use disktracker::{DerivedSnapshot, DirRecord, Error, ErrorKind, Result, SnapshotId};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{self, Ctx};
use crate::live::{insert_deltas, upsert_watch_state};
use crate::writer::{insert_rows, insert_snapshot};
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

/// The base's paths in row-id (= path) order, for the sequential pass.
const BASE_PATHS: &str = "SELECT id, path_blob FROM dir_snapshots \
     WHERE id >= ?1 AND id <= ?2 AND +snapshot_id = ?3 ORDER BY id";

/// The sequential pass over the base's paths is used when the base has
/// fewer rows than this many times the range boundaries to find; otherwise
/// each boundary is searched for. Measured (release build, 65,536-row base,
/// see the crate docs): a search costs about as much as stepping over 20-40
/// rows.
pub(crate) const SCAN_WHEN_RANGES_TIMES: i64 = 32;

/// One step of the merge, in path order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Copy the base rows with ids in `[from, to)`.
    Copy { from: i64, to: i64 },
    /// Insert `upserts[start..end]`.
    Insert { start: usize, end: usize },
}

/// The smallest path above `p`: `p` followed by a zero byte.
fn just_after(p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + 1);
    v.extend_from_slice(p);
    v.push(0);
    v
}

/// The ranges of the path order left out of the base, sorted and merged.
fn left_out(removed: &[Vec<u8>], upserts: &[DirRecord]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut ranges = Vec::with_capacity(removed.len() * 2 + upserts.len());
    for p in removed {
        let p = trim_slashes(p);
        ranges.push((p.to_vec(), just_after(p)));
        let lo = descendant_prefix(p);
        let hi = prefix_end(&lo);
        ranges.push((lo, hi));
    }
    for u in upserts {
        ranges.push((u.path.clone(), just_after(&u.path)));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1 => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Finds, for increasing keys, the first base row whose path is not below
/// the key.
enum Finder<'s> {
    /// Galloping searches over row ids from the previous position.
    Search {
        store: &'s SqliteStore,
        pos: i64,
        hi: i64,
    },
    /// One pass over the base's paths; `current` is the row at the position.
    Pass {
        rows: rusqlite::Rows<'s>,
        current: Option<(i64, Vec<u8>)>,
        hi: i64,
    },
}

impl Finder<'_> {
    /// The id of the first row at or after the previous answer whose path
    /// is `>= key` (`hi + 1` when there is none). Keys must not decrease.
    fn first_not_below(&mut self, key: &[u8], path: &std::path::Path) -> Result<i64> {
        match self {
            Finder::Search { store, pos, hi } => {
                *pos = store.seek_id(*pos, *hi, key, true)?;
                Ok(*pos)
            }
            Finder::Pass { rows, current, hi } => loop {
                match current {
                    Some((_, p)) if p.as_slice() < key => {
                        *current = match rows.next().ctx(path, WHAT)? {
                            Some(r) => Some((
                                r.get(0).ctx(path, WHAT)?,
                                blob_col(r, 1, "path_blob").ctx(path, WHAT)?.to_vec(),
                            )),
                            None => None,
                        };
                    }
                    Some((id, _)) => return Ok(*id),
                    None => return Ok(*hi + 1),
                }
            },
        }
    }
}

/// The merge, as steps: runs of base rows (`lo..=hi`) to copy between the
/// left-out ranges, and the upserts to insert in each range.
fn plan(
    finder: &mut Finder<'_>,
    lo: i64,
    hi: i64,
    ranges: &[(Vec<u8>, Vec<u8>)],
    upserts: &[DirRecord],
    path: &std::path::Path,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut pos = lo;
    let mut next = 0;
    for (start, end) in ranges {
        let cut = finder.first_not_below(start, path)?;
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
        pos = finder.first_not_below(end, path)?;
    }
    if pos <= hi {
        steps.push(Step::Copy {
            from: pos,
            to: hi + 1,
        });
    }
    Ok(steps)
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
    store.check_writable("derive a snapshot")?;
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
        let steps = match store.row_range(d.base)? {
            None if d.upserts.is_empty() => Vec::new(),
            None => vec![Step::Insert {
                start: 0,
                end: d.upserts.len(),
            }],
            Some((lo, hi)) => {
                let ranges = left_out(d.removed, d.upserts);
                let boundaries = i64::try_from(ranges.len() * 2).unwrap_or(i64::MAX);
                if hi - lo + 1 < boundaries.saturating_mul(SCAN_WHEN_RANGES_TIMES) {
                    let mut stmt = conn.prepare_cached(BASE_PATHS).ctx(&path, WHAT)?;
                    let mut rows = stmt.query((lo, hi, d.base)).ctx(&path, WHAT)?;
                    let current = match rows.next().ctx(&path, WHAT)? {
                        Some(r) => Some((
                            r.get(0).ctx(&path, WHAT)?,
                            blob_col(r, 1, "path_blob").ctx(&path, WHAT)?.to_vec(),
                        )),
                        None => None,
                    };
                    let mut finder = Finder::Pass { rows, current, hi };
                    plan(&mut finder, lo, hi, &ranges, d.upserts, &path)?
                } else {
                    let mut finder = Finder::Search { store, pos: lo, hi };
                    plan(&mut finder, lo, hi, &ranges, d.upserts, &path)?
                }
            }
        };
        let id = insert_snapshot(conn, d.meta).ctx(&path, WHAT)?;
        write(conn, id, d.base, &steps, d.upserts).ctx(&path, WHAT)?;
        insert_deltas(conn, Some(id), d.deltas).ctx(&path, WHAT)?;
        if let Some(w) = d.watch_state {
            let mut w = w.clone();
            w.last_snapshot = Some(id);
            upsert_watch_state(conn, &w).ctx(&path, WHAT)?;
        }
        Ok(id)
    })
}

fn write(
    conn: &Connection,
    id: SnapshotId,
    base: SnapshotId,
    steps: &[Step],
    upserts: &[DirRecord],
) -> rusqlite::Result<()> {
    let mut copy = conn.prepare_cached(COPY_RUN)?;
    for step in steps {
        match *step {
            Step::Copy { from, to } => {
                copy.execute((id, from, to, base))?;
            }
            Step::Insert { start, end } => insert_rows(conn, id, &upserts[start..end])?,
        }
    }
    Ok(())
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
