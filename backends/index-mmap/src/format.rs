//! The on-disk format, as pure functions over bytes: no I/O, no `unsafe`
//! (the search's prefetch hint comes from the `map` module).
//!
//! ```text
//! offset 0   magic        8 bytes  "DSKTRKMM"
//!        8   version      u32 LE   1
//!       12   entry count  u32 LE   n
//!       16   pool length  u32 LE   p
//!       20   n entries of 16 bytes, sorted bytewise by path, strictly increasing:
//!              u32 LE path offset into the pool
//!              u32 LE path length
//!              u64 LE recursive disk usage in bytes
//! 20 + 16n   the path pool, p bytes
//! ```
//!
//! The file length must be exactly `20 + 16n + p`.
//!
//! # Untrusted input
//!
//! [`IndexView::parse`] checks only what is O(1): the header, the version and
//! the exact length. That keeps open time independent of the index size (the
//! budget is 1 ms for a million entries; validating every entry touches the
//! whole file, tens of milliseconds). Every later access is bounds-checked
//! instead: an entry whose offset or length points outside the pool reads as
//! absent, and a binary search over unsorted entries can only miss, never
//! fault. [`IndexView::verify`] performs the full O(n) check (bounds and strict
//! order) for callers that want to know; compaction runs it before it merges,
//! so a corrupt base is reported and never copied into a new file.

use std::cmp::Ordering;
use std::fmt;
use std::io::{self, Write};

use crate::map::prefetch;

/// The 8 magic bytes that open every index file.
pub const MAGIC: [u8; 8] = *b"DSKTRKMM";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 20;
/// Size of one entry in bytes.
pub const ENTRY_LEN: usize = 16;

/// Why bytes are not a valid index. Rendered as the "problem" part of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than the header (0 bytes: an empty file).
    TooShort {
        /// Actual length.
        len: u64,
    },
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic {
        /// What was there instead.
        found: [u8; 8],
    },
    /// A version this build does not read.
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
    },
    /// The length differs from `20 + 16 × entries + pool length`.
    LengthMismatch {
        /// Actual length.
        actual: u64,
        /// Length the header describes.
        expected: u64,
        /// Entry count in the header.
        entries: u32,
        /// Pool length in the header.
        pool_len: u32,
    },
    /// An entry's path lies (partly) outside the pool. Found by [`IndexView::verify`].
    EntryOutOfBounds {
        /// Index of the entry.
        index: usize,
        /// Its path offset.
        offset: u32,
        /// Its path length.
        len: u32,
        /// The pool length.
        pool_len: usize,
    },
    /// An entry's path is not strictly greater than the previous one. Found by
    /// [`IndexView::verify`].
    NotSorted {
        /// Index of the entry.
        index: usize,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooShort { len: 0 } => f.write_str("the file is empty"),
            FormatError::TooShort { len } => write!(
                f,
                "the file is truncated: {len} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            FormatError::BadMagic { found } => write!(
                f,
                "bad magic: expected \"DSKTRKMM\", found \"{}\"",
                disktracker::path::escape_bytes(found)
            ),
            FormatError::UnsupportedVersion { found } => write!(
                f,
                "unsupported format version {found} (this build reads version {VERSION})"
            ),
            FormatError::LengthMismatch {
                actual,
                expected,
                entries,
                pool_len,
            } => write!(
                f,
                "length mismatch: the header describes {entries} entries and a {pool_len}-byte \
                 path pool ({expected} bytes in all) but the file has {actual} bytes{}",
                if actual < expected {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
            FormatError::EntryOutOfBounds {
                index,
                offset,
                len,
                pool_len,
            } => write!(
                f,
                "entry {index} points outside the path pool \
                 (offset {offset}, length {len}, pool {pool_len} bytes)"
            ),
            FormatError::NotSorted { index } => {
                write!(f, "entry {index} is not in strictly increasing path order")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// Reads the header fields; `None` when `bytes` is shorter than the header.
fn header(bytes: &[u8]) -> Option<([u8; 8], u32, u32, u32)> {
    let (magic, rest) = bytes.split_first_chunk::<8>()?;
    let (version, rest) = rest.split_first_chunk::<4>()?;
    let (count, rest) = rest.split_first_chunk::<4>()?;
    let (pool_len, _) = rest.split_first_chunk::<4>()?;
    Some((
        *magic,
        u32::from_le_bytes(*version),
        u32::from_le_bytes(*count),
        u32::from_le_bytes(*pool_len),
    ))
}

/// A validated view of index bytes (mapped or in memory). Cheap to copy.
///
/// Lookups binary-search these bytes directly and never allocate.
#[derive(Clone, Copy)]
pub struct IndexView<'a> {
    /// Exactly `16 × len` bytes of entries.
    entries: &'a [u8],
    /// The path pool.
    pool: &'a [u8],
}

impl fmt::Debug for IndexView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexView")
            .field("entries", &self.len())
            .field("pool_len", &self.pool.len())
            .finish()
    }
}

impl<'a> IndexView<'a> {
    /// An index with no entries.
    pub const EMPTY: IndexView<'static> = IndexView {
        entries: &[],
        pool: &[],
    };

    /// Checks the header, the version and the exact length (O(1)) and returns
    /// a view. Entries are checked lazily on access; see [`IndexView::verify`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let Some((magic, version, count, pool_len)) = header(bytes) else {
            return Err(FormatError::TooShort {
                len: bytes.len() as u64,
            });
        };
        if magic != MAGIC {
            return Err(FormatError::BadMagic { found: magic });
        }
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion { found: version });
        }
        // In u64: 16 × u32::MAX + u32::MAX + 20 cannot overflow it, but could
        // overflow a 32-bit usize.
        let expected =
            HEADER_LEN as u64 + ENTRY_LEN as u64 * u64::from(count) + u64::from(pool_len);
        let actual = bytes.len() as u64;
        if actual != expected {
            return Err(FormatError::LengthMismatch {
                actual,
                expected,
                entries: count,
                pool_len,
            });
        }
        // `expected` equals the slice length, so these fit in usize and in bounds;
        // `get` keeps that a non-panicking fact rather than an assumption.
        let entries_end = HEADER_LEN + ENTRY_LEN * count as usize;
        let entries = bytes.get(HEADER_LEN..entries_end).unwrap_or_default();
        let pool = bytes.get(entries_end..).unwrap_or_default();
        Ok(IndexView { entries, pool })
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len() / ENTRY_LEN
    }

    /// True when there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Length of the path pool in bytes.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// The raw fields of entry `i`: (path offset, path length, total bytes).
    #[inline]
    pub(crate) fn raw(&self, i: usize) -> Option<(u32, u32, u64)> {
        let e: &[u8; ENTRY_LEN] = self
            .entries
            .get(i.checked_mul(ENTRY_LEN)?..)?
            .first_chunk()?;
        // Destructuring a fixed-size array is irrefutable: no index can panic.
        let [
            o0,
            o1,
            o2,
            o3,
            l0,
            l1,
            l2,
            l3,
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            t6,
            t7,
        ] = *e;
        Some((
            u32::from_le_bytes([o0, o1, o2, o3]),
            u32::from_le_bytes([l0, l1, l2, l3]),
            u64::from_le_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
        ))
    }

    /// Starts fetching the cache line of entry `i` (a hint; nothing if out of range).
    #[inline(always)]
    pub(crate) fn prefetch_entry(&self, i: usize) {
        prefetch(self.entries, i.wrapping_mul(ENTRY_LEN));
    }

    /// Starts fetching the cache line of pool byte `at` (a hint; nothing if out of range).
    #[inline(always)]
    pub(crate) fn prefetch_pool(&self, at: usize) {
        prefetch(self.pool, at);
    }

    /// The path of entry `i`, or `None` when `i` is out of range or the entry
    /// points outside the pool (corrupt).
    #[inline]
    pub fn path(&self, i: usize) -> Option<&'a [u8]> {
        let (off, len, _) = self.raw(i)?;
        let start = off as usize;
        self.pool.get(start..start.checked_add(len as usize)?)
    }

    /// Entry `i` as (path, total bytes), or `None` when out of range or corrupt.
    #[inline]
    pub fn entry(&self, i: usize) -> Option<(&'a [u8], u64)> {
        let (off, len, total) = self.raw(i)?;
        let start = off as usize;
        let path = self.pool.get(start..start.checked_add(len as usize)?)?;
        Some((path, total))
    }

    /// The recorded total of `path`, by binary search; no allocation.
    ///
    /// A corrupt entry met on the way makes the path read as absent.
    #[inline]
    pub fn get(&self, path: &[u8]) -> Option<u64> {
        let i = self.find(path)?;
        self.raw(i).map(|(_, _, total)| total)
    }

    /// Index of the entry whose path equals `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let mut size = self.len();
        if size == 0 {
            return None;
        }
        // Bisect to the last entry <= key. The loop has a fixed trip count
        // (log2 n) and a data-independent shape, so the compiler can turn the
        // comparison into a conditional move instead of a mispredicted branch.
        let mut base = 0usize;
        while size > 1 {
            let half = size / 2;
            let mid = base + half;
            // The next probe is one of two entries; start fetching both while
            // this one is compared. On a large index most probes miss the CPU
            // caches, and this overlaps part of that wait (about 10% faster on
            // 1M entries; see benches/index_lookup.rs).
            let next = (size - half) / 2;
            prefetch(self.entries, (base + next) * ENTRY_LEN);
            prefetch(self.entries, (mid + next) * ENTRY_LEN);
            let p = self.path(mid)?;
            if p <= key {
                base = mid;
            }
            size -= half;
        }
        (self.path(base)? == key).then_some(base)
    }

    /// The number of leading entries for which `pred(path)` holds, assuming it
    /// holds for a prefix of the (sorted) entries. `None` if a corrupt entry is met.
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&[u8]) -> bool) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.path(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// Entries in file order. Corrupt entries (outside the pool) are skipped;
    /// call [`IndexView::verify`] first to know there are none.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], u64)> + Clone + 'a {
        let view = *self;
        (0..view.len()).filter_map(move |i| view.entry(i))
    }

    /// Full O(n) validation: every entry inside the pool, paths strictly
    /// increasing. Touches the whole file.
    pub fn verify(&self) -> Result<(), FormatError> {
        let mut prev: Option<&[u8]> = None;
        for index in 0..self.len() {
            let Some(path) = self.path(index) else {
                let (offset, len, _) = self.raw(index).unwrap_or_default();
                return Err(FormatError::EntryOutOfBounds {
                    index,
                    offset,
                    len,
                    pool_len: self.pool.len(),
                });
            };
            if prev.is_some_and(|p| p.cmp(path) != Ordering::Less) {
                return Err(FormatError::NotSorted { index });
            }
            prev = Some(path);
        }
        Ok(())
    }
}

/// Limits of the format, checked before anything is written.
fn too_large(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("the index cannot hold it: {what} exceeds the format's 32-bit limit"),
    )
}

/// Encodes `entries` — which must be sorted bytewise and strictly increasing —
/// as an index file into `w`.
///
/// The iterator is cloned and walked three times (sizes and order check; the
/// entry table; the pool), so it should be cheap to clone, e.g. a merge over
/// borrowed data. Nothing is written if the order or the format's 32-bit
/// limits are violated (an [`io::ErrorKind::InvalidInput`] error).
pub fn write_sorted<'e, W, I>(w: &mut W, entries: I) -> io::Result<()>
where
    W: Write,
    I: Iterator<Item = (&'e [u8], u64)> + Clone,
{
    // Pass 1: sizes and order, so the header can be written first and a bad
    // input never produces a file.
    let mut count: u32 = 0;
    let mut pool_len: u32 = 0;
    let mut prev: Option<&[u8]> = None;
    for (path, _) in entries.clone() {
        if let Some(p) = prev
            && p >= path
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "index entries out of order: {:?} does not sort after {:?}",
                    disktracker::path::escape_bytes(path),
                    disktracker::path::escape_bytes(p)
                ),
            ));
        }
        prev = Some(path);
        count = count
            .checked_add(1)
            .ok_or_else(|| too_large("the entry count"))?;
        let len = u32::try_from(path.len()).map_err(|_| too_large("a path length"))?;
        pool_len = pool_len
            .checked_add(len)
            .ok_or_else(|| too_large("the total length of all paths"))?;
    }

    w.write_all(&MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(&count.to_le_bytes())?;
    w.write_all(&pool_len.to_le_bytes())?;

    // Pass 2: the entry table. Paths go into the pool in entry order, so a
    // binary search's last steps touch neighbouring pool bytes too.
    let mut offset: u32 = 0;
    for (path, total) in entries.clone() {
        let len = path.len() as u32; // checked in pass 1
        let mut e = [0u8; ENTRY_LEN];
        e[0..4].copy_from_slice(&offset.to_le_bytes());
        e[4..8].copy_from_slice(&len.to_le_bytes());
        e[8..16].copy_from_slice(&total.to_le_bytes());
        w.write_all(&e)?;
        offset = offset.wrapping_add(len);
    }

    // Pass 3: the pool.
    for (path, _) in entries {
        w.write_all(path)?;
    }
    Ok(())
}

/// [`write_sorted`] into a new `Vec`: handy for tests and fuzzing.
pub fn encode<'e, I>(entries: I) -> io::Result<Vec<u8>>
where
    I: Iterator<Item = (&'e [u8], u64)> + Clone,
{
    let mut out = Vec::new();
    write_sorted(&mut out, entries)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let paths: [&[u8]; 4] = [b"/a", b"/a-b", b"/a/b", b"/b\xff"];
        encode(paths.iter().enumerate().map(|(i, p)| (*p, i as u64 * 10))).unwrap()
    }

    #[test]
    fn layout_matches_the_spec_byte_for_byte() {
        let bytes = encode([(&b"/a"[..], 7u64), (&b"/bc"[..], 1 << 40)].into_iter()).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(b"DSKTRKMM");
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(&5u32.to_le_bytes());
        for (off, len, total) in [(0u32, 2u32, 7u64), (2, 3, 1 << 40)] {
            want.extend_from_slice(&off.to_le_bytes());
            want.extend_from_slice(&len.to_le_bytes());
            want.extend_from_slice(&total.to_le_bytes());
        }
        want.extend_from_slice(b"/a/bc");
        assert_eq!(bytes, want);
    }

    #[test]
    fn finds_every_entry_and_misses_others() {
        let bytes = sample();
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.len(), 4);
        v.verify().unwrap();
        assert_eq!(v.get(b"/a"), Some(0));
        assert_eq!(v.get(b"/a-b"), Some(10));
        assert_eq!(v.get(b"/a/b"), Some(20));
        assert_eq!(v.get(b"/b\xff"), Some(30));
        for miss in [&b""[..], b"/", b"/a/", b"/a.b", b"/b", b"/c", b"\xff"] {
            assert_eq!(v.get(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn writer_rejects_unsorted_and_duplicate_input() {
        let dup = [(&b"/a"[..], 1u64), (&b"/a"[..], 2)];
        assert_eq!(
            encode(dup.into_iter()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let unsorted = [(&b"/b"[..], 1u64), (&b"/a"[..], 2)];
        assert!(encode(unsorted.into_iter()).is_err());
    }

    #[test]
    fn out_of_bounds_entry_reads_as_absent_and_fails_verify() {
        let mut bytes = sample();
        // Entry 2's offset (the middle of a 4-entry search) far past the pool.
        let at = HEADER_LEN + 2 * ENTRY_LEN;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.entry(2), None);
        assert_eq!(v.get(b"/a/b"), None);
        assert!(matches!(
            v.verify(),
            Err(FormatError::EntryOutOfBounds { index: 2, .. })
        ));
        // Offset + length overflowing u32/usize arithmetic is also just absent.
        bytes[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.entry(2), None);
    }

    #[test]
    fn unsorted_entries_only_miss() {
        let mut bytes = sample();
        // Swap the first two entries' records: order is now "/a-b", "/a", ...
        let (a, b) = (HEADER_LEN, HEADER_LEN + ENTRY_LEN);
        let first: [u8; ENTRY_LEN] = bytes[a..b].try_into().unwrap();
        bytes.copy_within(b..b + ENTRY_LEN, a);
        bytes[b..b + ENTRY_LEN].copy_from_slice(&first);
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.verify(), Err(FormatError::NotSorted { index: 1 }));
        for p in [&b"/a"[..], b"/a-b", b"/a/b", b"/zz"] {
            let _ = v.get(p); // any answer, no panic
        }
    }
}
