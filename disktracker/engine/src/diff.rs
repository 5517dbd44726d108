//! Diffs between two snapshots, computed store-agnostically as a merge of
//! the two trees in path order, and cached in the store.

use std::cmp::Ordering;

use disktracker::path::is_within;
use disktracker::{DiffEntry, DirRecord, Result, SizeKind, SnapshotId, SnapshotStore};

/// One directory of one side of a merge.
#[derive(Clone, Copy, Debug)]
pub struct SizeRow<'a> {
    /// Absolute path.
    pub path: &'a [u8],
    /// Recursive disk usage.
    pub bytes: u64,
    /// Recursive apparent size.
    pub apparent: u64,
    /// Digest of the direct entries.
    pub fingerprint: u128,
}

impl<'a> From<&'a DirRecord> for SizeRow<'a> {
    fn from(r: &'a DirRecord) -> Self {
        SizeRow {
            path: &r.path,
            bytes: r.stats.total_bytes,
            apparent: r.stats.total_apparent,
            fingerprint: r.stats.fingerprint,
        }
    }
}

/// What a merge of two trees found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Every directory whose size (either kind) or existence differs, in path order.
    pub changed: Vec<DiffEntry>,
    /// Directories in both trees with equal sizes but a different
    /// fingerprint: their direct entries were rewritten, renamed or replaced
    /// without changing any total.
    pub rewritten: u64,
}

/// Merges two trees given in bytewise path order.
pub fn merge_rows<'a, 'b>(
    a: impl IntoIterator<Item = SizeRow<'a>>,
    b: impl IntoIterator<Item = SizeRow<'b>>,
) -> Merged {
    let mut m = StreamMerge::new(IterRows {
        rows: b.into_iter().peekable(),
        _rows: std::marker::PhantomData,
    });
    for ra in a {
        m.push_a(ra);
    }
    m.finish()
}

/// Side B of a [`StreamMerge`]: rows in bytewise path order, each looked at
/// before it is taken. A row may borrow from the source itself (a path built
/// in a buffer that the next row reuses), which an [`Iterator`] cannot do.
pub trait RowSource {
    /// The next row, not taken yet; `None` at the end.
    fn peek(&mut self) -> Option<SizeRow<'_>>;
    /// Takes the row [`RowSource::peek`] showed.
    fn advance(&mut self);
}

/// An iterator's rows as a [`RowSource`] (`'b` is named in the type so that
/// a peeked row can be lent for as long as the source is borrowed).
struct IterRows<'b, I: Iterator<Item = SizeRow<'b>>> {
    rows: std::iter::Peekable<I>,
    _rows: std::marker::PhantomData<SizeRow<'b>>,
}

impl<'b, I: Iterator<Item = SizeRow<'b>>> RowSource for IterRows<'b, I> {
    fn peek(&mut self) -> Option<SizeRow<'_>> {
        self.rows.peek().copied()
    }

    fn advance(&mut self) {
        self.rows.next();
    }
}

/// A merge fed one side at a time (for a store's visitor callback) while it
/// pulls the other side from a [`RowSource`]; both in bytewise path order.
pub struct StreamMerge<B: RowSource> {
    b: B,
    out: Merged,
}

impl<B: RowSource> StreamMerge<B> {
    /// A merge against side B.
    pub fn new(b: B) -> Self {
        StreamMerge {
            b,
            out: Merged::default(),
        }
    }

    /// Feeds the next row of side A.
    pub fn push_a(&mut self, ra: SizeRow<'_>) {
        while let Some(rb) = self.b.peek().filter(|rb| rb.path < ra.path) {
            self.out.changed.push(added(rb));
            self.b.advance();
        }
        let same = match self.b.peek() {
            Some(rb) if rb.path == ra.path => {
                if ra.bytes != rb.bytes || ra.apparent != rb.apparent {
                    self.out.changed.push(DiffEntry {
                        path: rb.path.to_vec(),
                        bytes_a: Some(ra.bytes),
                        apparent_a: Some(ra.apparent),
                        bytes_b: Some(rb.bytes),
                        apparent_b: Some(rb.apparent),
                    });
                } else {
                    self.out.rewritten += u64::from(ra.fingerprint != rb.fingerprint);
                }
                true
            }
            _ => {
                self.out.changed.push(DiffEntry {
                    path: ra.path.to_vec(),
                    bytes_a: Some(ra.bytes),
                    apparent_a: Some(ra.apparent),
                    ..DiffEntry::default()
                });
                false
            }
        };
        if same {
            self.b.advance();
        }
    }

    /// Ends side A; what is left of B was added.
    pub fn finish(mut self) -> Merged {
        while let Some(rb) = self.b.peek() {
            self.out.changed.push(added(rb));
            self.b.advance();
        }
        self.out
    }
}

fn added(rb: SizeRow<'_>) -> DiffEntry {
    DiffEntry {
        path: rb.path.to_vec(),
        bytes_b: Some(rb.bytes),
        apparent_b: Some(rb.apparent),
        ..DiffEntry::default()
    }
}

/// Every directory whose size (either kind) or existence differs between
/// `a` and `b`, both in bytewise path order; the result is in path order.
pub fn merge_trees(a: &[DirRecord], b: &[DirRecord]) -> Vec<DiffEntry> {
    merge_rows(a.iter().map(SizeRow::from), b.iter().map(SizeRow::from)).changed
}

/// Every changed directory between `a` and `b`, in path order: from the
/// store's diff cache, or computed and then cached. Caching is best-effort:
/// a read-only or busy store still gets its answer.
pub fn changed_dirs(
    store: &mut dyn SnapshotStore,
    a: SnapshotId,
    b: SnapshotId,
) -> Result<Vec<DiffEntry>> {
    if let Some(cached) = store.cached_diff(a, b)? {
        return Ok(cached);
    }
    let entries = match store.compare_snapshots(a, b)? {
        Some(entries) => entries,
        None => merge_trees(&store.read_tree(a, None)?, &store.read_tree(b, None)?),
    };
    let _ = store.store_diff(a, b, &entries);
    Ok(entries)
}

/// Which changed directories to show.
#[derive(Clone, Debug)]
pub struct DiffFilter<'a> {
    /// Only this directory and below.
    pub under: Option<&'a [u8]>,
    /// Only changes at least this large (absolute).
    pub min_delta: u64,
    /// At most this many rows.
    pub top: usize,
    /// Which size.
    pub kind: SizeKind,
}

/// Filters `entries` and sorts them by absolute delta, largest first (ties
/// by path). Returns the rows and how many directories changed under the path.
pub fn select(entries: Vec<DiffEntry>, f: &DiffFilter<'_>) -> (Vec<DiffEntry>, u64) {
    let mut rows: Vec<DiffEntry> = entries
        .into_iter()
        .filter(|e| f.under.is_none_or(|u| is_within(&e.path, u)))
        .filter(|e| e.delta(f.kind) != 0 || (e.bytes_a.is_some() != e.bytes_b.is_some()))
        .collect();
    let changed = rows.len() as u64;
    rows.retain(|e| e.delta(f.kind).unsigned_abs() >= u128::from(f.min_delta));
    rows.sort_by(|x, y| {
        match y
            .delta(f.kind)
            .unsigned_abs()
            .cmp(&x.delta(f.kind).unsigned_abs())
        {
            Ordering::Equal => x.path.cmp(&y.path),
            o => o,
        }
    });
    rows.truncate(f.top);
    (rows, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::DirStats;

    fn rec(path: &str, bytes: u64, apparent: u64) -> DirRecord {
        DirRecord {
            path: path.as_bytes().to_vec(),
            depth: path.matches('/').count() as u32,
            stats: DirStats {
                total_bytes: bytes,
                total_apparent: apparent,
                ..DirStats::default()
            },
        }
    }

    #[test]
    fn merge_finds_added_removed_and_changed_in_path_order() {
        let a = [
            rec("/r", 100, 90),
            rec("/r/a", 10, 9),
            rec("/r/a-b", 5, 5),
            rec("/r/b", 20, 20),
            rec("/r/z", 1, 1),
        ];
        let b = vec![
            rec("/r", 130, 90),
            rec("/r/a", 10, 9),
            rec("/r/a/new", 30, 1),
            rec("/r/b", 20, 21),
            rec("/r/c", 4, 4),
        ];
        let d = merge_trees(&a, &b);
        let paths: Vec<&[u8]> = d.iter().map(|e| &e.path[..]).collect();
        assert_eq!(
            paths,
            [
                &b"/r"[..],
                b"/r/a-b",
                b"/r/a/new",
                b"/r/b",
                b"/r/c",
                b"/r/z"
            ]
        );
        assert_eq!(d[0].delta(SizeKind::DiskUsage), 30);
        assert_eq!(d[0].delta(SizeKind::Apparent), 0);
        assert_eq!((d[1].bytes_a, d[1].bytes_b), (Some(5), None));
        assert_eq!((d[2].bytes_a, d[2].bytes_b), (None, Some(30)));
        assert_eq!(
            d[3].delta(SizeKind::Apparent),
            1,
            "apparent-only change is kept"
        );

        let f = DiffFilter {
            under: Some(b"/r/a"),
            min_delta: 0,
            top: 10,
            kind: SizeKind::DiskUsage,
        };
        let (rows, changed) = select(d.clone(), &f);
        assert_eq!(changed, 1, "/r/a-b is not under /r/a");
        assert_eq!(rows[0].path, b"/r/a/new");
        let f = DiffFilter {
            under: None,
            min_delta: 5,
            top: 2,
            kind: SizeKind::DiskUsage,
        };
        let (rows, changed) = select(d, &f);
        assert_eq!(
            changed, 5,
            "the apparent-only change is not a disk-usage change"
        );
        let deltas: Vec<i128> = rows.iter().map(|e| e.delta(SizeKind::DiskUsage)).collect();
        assert_eq!(deltas, [30, 30]);
    }
}
