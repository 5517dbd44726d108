//! The on-disk format, as pure functions over bytes: no I/O, no `unsafe`
//! (the search's prefetch hint comes from the `map` module).
//!
//! ```text
//! offset 0   magic        8 bytes  "DSKTRKMM"
//!        8   version      u32 LE   1
//!       12   entry count  u32 LE   n ≥ 1
//!       16   pool length  u32 LE   p
//!       20   n entries of 16 bytes, sorted bytewise by path, strictly increasing:
//!              u32 LE path offset into the pool
//!              u32 LE path length
//!              u64 LE recursive disk usage in bytes
//! 20 + 16n   the path pool, p bytes
//! ```
//!
//! The file length must be exactly `20 + 16n + p`. Every path is absolute
//! (starts with `/`). The pool holds the paths in entry order, each right
//! after the previous one (entry 0 at offset 0, the last one ending at `p`),
//! as the seed's "paths are packed once after the entry table" reads and as
//! every writer lays them out; offsets are therefore redundant, which is
//! what lets a reader check them.
//!
//! There is at least one entry: an index is written from a stored snapshot,
//! and a snapshot always holds its root directory, so a file with no entries
//! can only be damage (or an index of nothing, which nobody writes).
//!
//! # Untrusted input
//!
//! [`IndexView::parse`] checks only what is O(1): the header, the version,
//! the exact length, and entry 0 (the root). That keeps open time independent
//! of the index size (validating every entry touches the whole file, tens of
//! milliseconds for a million entries). A lookup then checks what it meets
//! ([`search`]): each probed entry lies inside the pool and follows its
//! neighbours' offsets, each probed path is absolute, and the final entry's
//! neighbours are contiguous and in strict order around the key. Any
//! violation is a [`FormatError`], never an answer. [`IndexView::verify`]
//! checks every entry (O(n)).
//!
//! What no structural check can see is a changed size field (a flipped bit
//! in a `u64` is a valid size): that needs a checksum of the whole file, which
//! the caller computes (the engine records an XXH3 of the file's bytes).

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
    /// The header says there are no entries (an index always holds its root).
    NoEntries,
    /// An entry's path lies (partly) outside the pool.
    EntryOutOfBounds {
        /// Index of the entry.
        index: usize,
        /// Its path offset.
        offset: u32,
        /// Its path length.
        len: u32,
        /// The pool length.
        pool_len: u64,
    },
    /// An entry's path is empty or does not start with `/`.
    NotAbsolute {
        /// Index of the entry.
        index: usize,
    },
    /// An entry's path does not start where the previous entry's ends
    /// (or entry 0 not at offset 0).
    NotContiguous {
        /// Index of the entry.
        index: usize,
    },
    /// The paths do not fill the pool exactly.
    PoolNotFilled {
        /// Bytes the paths cover.
        used: u64,
        /// The pool length.
        pool_len: u64,
    },
    /// An entry's path is not strictly greater than the previous one (or a
    /// binary search met entries whose order contradicts each other).
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
            FormatError::NoEntries => {
                f.write_str("it has no entries (an index always holds at least its root)")
            }
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
            FormatError::NotAbsolute { index } => {
                write!(f, "entry {index}'s path is not an absolute path")
            }
            FormatError::NotContiguous { index } => write!(
                f,
                "entry {index}'s path does not follow the previous one in the path pool"
            ),
            FormatError::PoolNotFilled { used, pool_len } => write!(
                f,
                "the paths cover {used} bytes of a {pool_len}-byte path pool"
            ),
            FormatError::NotSorted { index } => {
                write!(f, "entry {index} is not in strictly increasing path order")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// The header fields: (magic, version, entry count, pool length).
pub(crate) type Header = ([u8; 8], u32, u32, u32);

/// Reads the header fields; `None` when `bytes` is shorter than the header.
pub(crate) fn header(bytes: &[u8]) -> Option<Header> {
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

/// Checks a header against the file's actual length; returns (entries, pool length).
pub(crate) fn check_header(h: Header, actual: u64) -> Result<(usize, u64), FormatError> {
    let (magic, version, count, pool_len) = h;
    if magic != MAGIC {
        return Err(FormatError::BadMagic { found: magic });
    }
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    // In u64: 16 × u32::MAX + u32::MAX + 20 cannot overflow it, but could
    // overflow a 32-bit usize.
    let expected = HEADER_LEN as u64 + ENTRY_LEN as u64 * u64::from(count) + u64::from(pool_len);
    if actual != expected {
        return Err(FormatError::LengthMismatch {
            actual,
            expected,
            entries: count,
            pool_len,
        });
    }
    if count == 0 {
        return Err(FormatError::NoEntries);
    }
    Ok((count as usize, u64::from(pool_len)))
}

/// Decodes one 16-byte entry: (path offset, path length, total bytes).
#[inline(always)]
pub(crate) fn decode_entry(e: [u8; ENTRY_LEN]) -> (u32, u32, u64) {
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
    ] = e;
    (
        u32::from_le_bytes([o0, o1, o2, o3]),
        u32::from_le_bytes([l0, l1, l2, l3]),
        u64::from_le_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
    )
}

/// Where a search reads entries and paths: the bytes in memory
/// ([`IndexView`]) or the file through positioned reads (the one-shot reader).
/// The search and its checks are written once, over this.
pub(crate) trait Source {
    /// What a read can fail with besides a format violation.
    type Error: From<FormatError>;
    /// Number of entries (≥ 1).
    fn count(&self) -> usize;
    /// Pool length in bytes.
    fn pool_len(&self) -> u64;
    /// Entry `i`'s raw fields; `i < count()`.
    fn raw(&self, i: usize) -> Result<(u32, u32, u64), Self::Error>;
    /// Compares the path at `off..off + len` (inside the pool, `len ≥ 1`)
    /// with `key`; [`FormatError::NotAbsolute`] for entry `index` if the
    /// path does not start with `/`.
    fn cmp_key(
        &self,
        index: usize,
        off: u32,
        len: u32,
        key: &[u8],
    ) -> Result<Ordering, Self::Error>;
    /// Compares the paths of two checked entries `(index, off, len)`.
    fn cmp_paths(
        &self,
        a: (usize, u32, u32),
        b: (usize, u32, u32),
    ) -> Result<Ordering, Self::Error>;
    /// A hint that entry `i` will be read soon.
    #[inline(always)]
    fn prefetch_entry(&self, _i: usize) {}
}

/// Entry `i` with its path inside the pool and not empty.
#[inline(always)]
fn checked<S: Source>(s: &S, i: usize) -> Result<(u32, u32, u64), S::Error> {
    let (off, len, total) = s.raw(i)?;
    if u64::from(off) + u64::from(len) > s.pool_len() {
        return Err(FormatError::EntryOutOfBounds {
            index: i,
            offset: off,
            len,
            pool_len: s.pool_len(),
        }
        .into());
    }
    if len == 0 {
        return Err(FormatError::NotAbsolute { index: i }.into());
    }
    Ok((off, len, total))
}

/// Entry 0, checked: inside the pool at offset 0, its path absolute.
/// Returns its (offset, length).
pub(crate) fn root_entry<S: Source>(s: &S) -> Result<(u32, u32), S::Error> {
    let (off, len, _) = checked(s, 0)?;
    if off != 0 {
        return Err(FormatError::NotContiguous { index: 0 }.into());
    }
    // Any key will do: the comparison checks the path is absolute.
    s.cmp_key(0, off, len, b"/")?;
    Ok((off, len))
}

/// The binary search every lookup runs, with the checks it can afford:
/// returns `(entry index, total bytes)` of `key`, `None` when absent, or the
/// first violation of the format met on the way.
///
/// Checked on the way, at no extra memory access: every probed entry lies
/// inside the pool and its path is absolute; its offset lies strictly
/// between those of the probes known to sort below and above the key (in a
/// valid file offsets grow with the entry index, so a shuffled or reversed
/// entry table shows up here). At the end, the entry found and its two
/// neighbours (adjacent in the file, so nearly free) must be contiguous in
/// the pool and strictly ordered around the key. What a search cannot see
/// is disorder far from its probes, which [`IndexView::verify`] finds.
#[inline]
pub(crate) fn search<S: Source>(s: &S, key: &[u8]) -> Result<Option<(usize, u64)>, S::Error> {
    let n = s.count();
    if n == 0 {
        return Err(FormatError::NoEntries.into());
    }
    // Bisect to the last entry <= key. The loop has a fixed trip count
    // (log2 n) and a data-independent shape, so the compiler can turn the
    // comparison into conditional moves instead of a mispredicted branch.
    let mut base = 0usize;
    let mut size = n;
    // Offsets of the entry at `base` (once probed) and of the nearest probe
    // above the key; entry 0 sits at offset 0 and every path is non-empty.
    let mut lo_off = 0u64;
    let mut hi_off = s.pool_len();
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        // The next probe is one of two entries; start fetching both while
        // this one is compared. On a large index most probes miss the CPU
        // caches, and this overlaps part of that wait (about 10% faster on
        // 1M entries; see benches/index_lookup.rs).
        let next = (size - half) / 2;
        s.prefetch_entry(base + next);
        s.prefetch_entry(mid + next);
        let (off, len, _) = checked(s, mid)?;
        let at = u64::from(off);
        // (`at == hi_off` is the same entry probed twice, which the
        // bisection does when the range shrinks to its upper end.)
        if at <= lo_off || at > hi_off {
            return Err(FormatError::NotSorted { index: mid }.into());
        }
        let le = s.cmp_key(mid, off, len, key)? != Ordering::Greater;
        base = if le { mid } else { base };
        lo_off = if le { at } else { lo_off };
        hi_off = if le { hi_off } else { at };
        size -= half;
    }
    window(s, base, key)
}

/// The end of [`search`]: entry `base` and its neighbours.
#[inline]
fn window<S: Source>(s: &S, base: usize, key: &[u8]) -> Result<Option<(usize, u64)>, S::Error> {
    let (off, len, total) = checked(s, base)?;
    let ord = s.cmp_key(base, off, len, key)?;
    let end = u64::from(off) + u64::from(len);
    if base == 0 {
        if off != 0 {
            return Err(FormatError::NotContiguous { index: 0 }.into());
        }
    } else {
        // The search moved to `base` only on a probe <= key.
        if ord == Ordering::Greater {
            return Err(FormatError::NotSorted { index: base }.into());
        }
        let (poff, plen, _) = checked(s, base - 1)?;
        if u64::from(poff) + u64::from(plen) != u64::from(off) {
            return Err(FormatError::NotContiguous { index: base }.into());
        }
        if s.cmp_paths((base - 1, poff, plen), (base, off, len))? != Ordering::Less {
            return Err(FormatError::NotSorted { index: base }.into());
        }
    }
    if base + 1 < s.count() {
        let (noff, nlen, _) = checked(s, base + 1)?;
        if end != u64::from(noff) {
            return Err(FormatError::NotContiguous { index: base + 1 }.into());
        }
        // `path(base) <= key < path(base + 1)`; when the key sorts before
        // entry 0, the pair must still be in order.
        let after_key = s.cmp_key(base + 1, noff, nlen, key)? == Ordering::Greater;
        let in_order = ord != Ordering::Greater
            || s.cmp_paths((base, off, len), (base + 1, noff, nlen))? == Ordering::Less;
        if !after_key || !in_order {
            return Err(FormatError::NotSorted { index: base + 1 }.into());
        }
    } else if end != s.pool_len() {
        return Err(FormatError::PoolNotFilled {
            used: end,
            pool_len: s.pool_len(),
        }
        .into());
    }
    Ok((ord == Ordering::Equal).then_some((base, total)))
}

/// A view of index bytes (mapped or in memory) whose header, length and
/// root entry are checked. Cheap to copy.
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

impl Source for IndexView<'_> {
    type Error = FormatError;

    #[inline(always)]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn pool_len(&self) -> u64 {
        self.pool.len() as u64
    }

    #[inline(always)]
    fn raw(&self, i: usize) -> Result<(u32, u32, u64), FormatError> {
        // `i < count()` by contract; a miss would be a bug, reported as such.
        self.raw(i).ok_or(FormatError::EntryOutOfBounds {
            index: i,
            offset: 0,
            len: 0,
            pool_len: self.pool.len() as u64,
        })
    }

    #[inline(always)]
    fn cmp_key(
        &self,
        index: usize,
        off: u32,
        len: u32,
        key: &[u8],
    ) -> Result<Ordering, FormatError> {
        let p = self.slice(index, off, len)?;
        if p.first() != Some(&b'/') {
            return Err(FormatError::NotAbsolute { index });
        }
        Ok(p.cmp(key))
    }

    #[inline(always)]
    fn cmp_paths(
        &self,
        a: (usize, u32, u32),
        b: (usize, u32, u32),
    ) -> Result<Ordering, FormatError> {
        let pa = self.slice(a.0, a.1, a.2)?;
        let pb = self.slice(b.0, b.1, b.2)?;
        if pa.first() != Some(&b'/') {
            return Err(FormatError::NotAbsolute { index: a.0 });
        }
        if pb.first() != Some(&b'/') {
            return Err(FormatError::NotAbsolute { index: b.0 });
        }
        Ok(pa.cmp(pb))
    }

    #[inline(always)]
    fn prefetch_entry(&self, i: usize) {
        prefetch(self.entries, i.wrapping_mul(ENTRY_LEN));
    }
}

impl<'a> IndexView<'a> {
    /// Checks the header, the version, the exact length and entry 0 (inside
    /// the pool at offset 0, an absolute path), all O(1), and returns a
    /// view. Other entries are checked as lookups meet them; see
    /// [`IndexView::verify`] for all of them.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let Some(h) = header(bytes) else {
            return Err(FormatError::TooShort {
                len: bytes.len() as u64,
            });
        };
        let (count, _) = check_header(h, bytes.len() as u64)?;
        // The length equals the slice length, so these fit in usize and in
        // bounds; `get` keeps that a non-panicking fact, not an assumption.
        let entries_end = HEADER_LEN + ENTRY_LEN * count;
        let entries = bytes.get(HEADER_LEN..entries_end).unwrap_or_default();
        let pool = bytes.get(entries_end..).unwrap_or_default();
        let view = IndexView { entries, pool };
        view.root()?;
        Ok(view)
    }

    /// The view of bytes already parsed with `count` entries: the same
    /// slices as [`IndexView::parse`] gives, without checking again (for
    /// the lookup path). Bytes that do not fit give a smaller view, never a
    /// panic.
    #[inline]
    pub(crate) fn split(bytes: &'a [u8], count: usize) -> Self {
        let entries_end = count
            .saturating_mul(ENTRY_LEN)
            .saturating_add(HEADER_LEN)
            .min(bytes.len());
        IndexView {
            entries: bytes.get(HEADER_LEN..entries_end).unwrap_or_default(),
            pool: bytes.get(entries_end..).unwrap_or_default(),
        }
    }

    /// The root: entry 0's path, checked (offset 0, inside the pool, absolute).
    pub fn root(&self) -> Result<&'a [u8], FormatError> {
        let (off, len) = root_entry(self)?;
        self.slice(0, off, len)
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len() / ENTRY_LEN
    }

    /// True when there are no entries (never, for a parsed view).
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
        Some(decode_entry(*e))
    }

    /// The pool bytes of a path whose bounds were checked.
    #[inline(always)]
    fn slice(&self, index: usize, off: u32, len: u32) -> Result<&'a [u8], FormatError> {
        let start = off as usize;
        self.pool
            .get(start..start.saturating_add(len as usize))
            .ok_or(FormatError::EntryOutOfBounds {
                index,
                offset: off,
                len,
                pool_len: self.pool.len() as u64,
            })
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

    /// The path of entry `i`, or why it cannot be read (`i < len()`).
    pub(crate) fn checked_path(&self, i: usize) -> Result<&'a [u8], FormatError> {
        let (off, len, _) = checked(self, i)?;
        self.slice(i, off, len)
    }

    /// The path of entry `i`, or `None` when `i` is out of range or the entry
    /// points outside the pool.
    #[inline]
    pub fn path(&self, i: usize) -> Option<&'a [u8]> {
        let (off, len, _) = self.raw(i)?;
        let start = off as usize;
        self.pool.get(start..start.checked_add(len as usize)?)
    }

    /// Entry `i` as (path, total bytes), or `None` when out of range or
    /// pointing outside the pool.
    #[inline]
    pub fn entry(&self, i: usize) -> Option<(&'a [u8], u64)> {
        let (off, len, total) = self.raw(i)?;
        let start = off as usize;
        let path = self.pool.get(start..start.checked_add(len as usize)?)?;
        Some((path, total))
    }

    /// The recorded total of `path` by binary search, `None` when absent, or
    /// the violation of the format the search met; no allocation.
    #[inline]
    pub fn get(&self, path: &[u8]) -> Result<Option<u64>, FormatError> {
        Ok(search(self, path)?.map(|(_, total)| total))
    }

    /// Index of the entry whose path equals `key`, as [`IndexView::get`].
    #[inline]
    pub fn find(&self, key: &[u8]) -> Result<Option<usize>, FormatError> {
        Ok(search(self, key)?.map(|(i, _)| i))
    }

    /// The number of leading entries for which `pred(path)` holds, assuming it
    /// holds for a prefix of the (sorted) entries. Fails on an entry outside
    /// the pool or not absolute.
    pub(crate) fn partition_point(
        &self,
        mut pred: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, FormatError> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (off, len, _) = checked(self, mid)?;
            let p = self.slice(mid, off, len)?;
            if p.first() != Some(&b'/') {
                return Err(FormatError::NotAbsolute { index: mid });
            }
            if pred(p) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Entries in file order. Entries outside the pool are skipped; call
    /// [`IndexView::verify`] first to know there are none.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], u64)> + Clone + 'a {
        let view = *self;
        (0..view.len()).filter_map(move |i| view.entry(i))
    }

    /// Full O(n) validation: at least one entry; every path inside the pool,
    /// absolute, right after the previous one, strictly greater than it; the
    /// paths filling the pool. Touches the whole file.
    pub fn verify(&self) -> Result<(), FormatError> {
        if self.is_empty() {
            return Err(FormatError::NoEntries);
        }
        let mut prev: Option<&[u8]> = None;
        let mut expected = 0u64;
        for index in 0..self.len() {
            let (off, len, _) = checked(self, index)?;
            if u64::from(off) != expected {
                return Err(FormatError::NotContiguous { index });
            }
            let path = self.slice(index, off, len)?;
            if path.first() != Some(&b'/') {
                return Err(FormatError::NotAbsolute { index });
            }
            if prev.is_some_and(|p| p >= path) {
                return Err(FormatError::NotSorted { index });
            }
            prev = Some(path);
            expected += u64::from(len);
        }
        if expected != self.pool.len() as u64 {
            return Err(FormatError::PoolNotFilled {
                used: expected,
                pool_len: self.pool.len() as u64,
            });
        }
        Ok(())
    }
}

/// An input the format cannot hold, reported before anything is written.
fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// Limits of the format, checked before anything is written.
fn too_large(what: &str) -> io::Error {
    invalid(format!(
        "the index cannot hold it: {what} exceeds the format's 32-bit limit"
    ))
}

/// Encodes `entries` — which must be sorted bytewise, strictly increasing,
/// absolute paths, at least one — as an index file into `w`.
///
/// The iterator is cloned and walked three times (sizes and checks; the
/// entry table; the pool), so it should be cheap to clone, e.g. a merge over
/// borrowed data. Nothing is written if the input breaks a rule of the
/// format (an [`io::ErrorKind::InvalidInput`] error).
pub fn write_sorted<'e, W, I>(w: &mut W, entries: I) -> io::Result<()>
where
    W: Write,
    I: Iterator<Item = (&'e [u8], u64)> + Clone,
{
    write_visited(w, &mut |f| {
        for (path, total) in entries.clone() {
            f(path, total)?;
        }
        Ok(())
    })
}

/// A visit of every entry: calls its argument with each, in order.
pub type Visit<'v> = dyn FnMut(&mut dyn FnMut(&[u8], u64) -> io::Result<()>) -> io::Result<()> + 'v;

/// Like [`write_sorted`], with the entries given by a visit, made three
/// times; each path is needed only for its call. A visit that does not
/// yield the same entries every time is an [`io::ErrorKind::InvalidInput`]
/// error (the file is then incomplete: the caller discards it).
pub fn write_visited<W: Write>(w: &mut W, visit: &mut Visit<'_>) -> io::Result<()> {
    // Pass 1: sizes and rules, so the header can be written first and a bad
    // input never produces a file.
    let mut count: u32 = 0;
    let mut pool_len: u32 = 0;
    let mut prev: Vec<u8> = Vec::new();
    visit(&mut |path, _| {
        if path.first() != Some(&b'/') {
            return Err(invalid(format!(
                "index paths must be absolute: \"{}\"",
                disktracker::path::escape_bytes(path)
            )));
        }
        if count > 0 && prev.as_slice() >= path {
            return Err(invalid(format!(
                "index entries out of order: \"{}\" does not sort after \"{}\"",
                disktracker::path::escape_bytes(path),
                disktracker::path::escape_bytes(&prev)
            )));
        }
        prev.clear();
        prev.extend_from_slice(path);
        count = count
            .checked_add(1)
            .ok_or_else(|| too_large("the entry count"))?;
        let len = u32::try_from(path.len()).map_err(|_| too_large("a path length"))?;
        pool_len = pool_len
            .checked_add(len)
            .ok_or_else(|| too_large("the total length of all paths"))?;
        Ok(())
    })?;
    if count == 0 {
        return Err(invalid(
            "an index needs at least one path (its root); there is nothing to index".into(),
        ));
    }

    w.write_all(&MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(&count.to_le_bytes())?;
    w.write_all(&pool_len.to_le_bytes())?;

    // Pass 2: the entry table. Paths go into the pool in entry order, so a
    // binary search's last steps touch neighbouring pool bytes too.
    let mut offset: u32 = 0;
    let mut n: u32 = 0;
    visit(&mut |path, total| {
        let len = u32::try_from(path.len()).map_err(|_| changed())?;
        let mut e = [0u8; ENTRY_LEN];
        e[0..4].copy_from_slice(&offset.to_le_bytes());
        e[4..8].copy_from_slice(&len.to_le_bytes());
        e[8..16].copy_from_slice(&total.to_le_bytes());
        n += 1;
        offset = offset.checked_add(len).ok_or_else(changed)?;
        w.write_all(&e)
    })?;
    if (n, offset) != (count, pool_len) {
        return Err(changed());
    }

    // Pass 3: the pool.
    let mut written: u64 = 0;
    visit(&mut |path, _| {
        written += path.len() as u64;
        w.write_all(path)
    })?;
    if written != u64::from(pool_len) {
        return Err(changed());
    }
    Ok(())
}

/// A visit that yielded other entries than the one before.
fn changed() -> io::Error {
    invalid("the index entries changed between passes".into())
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

    fn swap_entries(bytes: &mut [u8], i: usize, j: usize) {
        let (a, b) = (HEADER_LEN + i * ENTRY_LEN, HEADER_LEN + j * ENTRY_LEN);
        let first: [u8; ENTRY_LEN] = bytes[a..a + ENTRY_LEN].try_into().unwrap();
        bytes.copy_within(b..b + ENTRY_LEN, a);
        bytes[b..b + ENTRY_LEN].copy_from_slice(&first);
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
        assert_eq!(v.root(), Ok(&b"/a"[..]));
        assert_eq!(v.get(b"/a"), Ok(Some(0)));
        assert_eq!(v.get(b"/a-b"), Ok(Some(10)));
        assert_eq!(v.get(b"/a/b"), Ok(Some(20)));
        assert_eq!(v.get(b"/b\xff"), Ok(Some(30)));
        for miss in [&b""[..], b"/", b"/a/", b"/a.b", b"/b", b"/c", b"\xff"] {
            assert_eq!(v.get(miss), Ok(None), "{miss:?}");
        }
    }

    #[test]
    fn writer_rejects_what_the_reader_would() {
        let dup = [(&b"/a"[..], 1u64), (&b"/a"[..], 2)];
        assert_eq!(
            encode(dup.into_iter()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let unsorted = [(&b"/b"[..], 1u64), (&b"/a"[..], 2)];
        assert!(encode(unsorted.into_iter()).is_err());
        let relative = [(&b"a"[..], 1u64)];
        assert!(encode(relative.into_iter()).is_err());
        let empty_path = [(&b""[..], 1u64)];
        assert!(encode(empty_path.into_iter()).is_err());
        let nothing: [(&[u8], u64); 0] = [];
        let err = encode(nothing.into_iter()).unwrap_err();
        assert!(err.to_string().contains("at least one path"), "{err}");
    }

    #[test]
    fn parse_rejects_no_entries_and_a_bad_root() {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        assert_eq!(IndexView::parse(&b).unwrap_err(), FormatError::NoEntries);

        let mut bytes = sample();
        bytes[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            IndexView::parse(&bytes).unwrap_err(),
            FormatError::NotContiguous { index: 0 }
        );
        let mut bytes = sample();
        bytes[HEADER_LEN + 4 * ENTRY_LEN] = b'x';
        assert_eq!(
            IndexView::parse(&bytes).unwrap_err(),
            FormatError::NotAbsolute { index: 0 }
        );
    }

    #[test]
    fn out_of_bounds_entry_is_an_error_where_met_and_fails_verify() {
        let mut bytes = sample();
        // Entry 2's offset (the first probe of a 4-entry search) far past the pool.
        let at = HEADER_LEN + 2 * ENTRY_LEN;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.entry(2), None);
        assert!(matches!(
            v.get(b"/a/b"),
            Err(FormatError::EntryOutOfBounds { index: 2, .. })
        ));
        assert!(matches!(
            v.verify(),
            Err(FormatError::EntryOutOfBounds { index: 2, .. })
        ));
        // Offset + length overflowing u32 arithmetic is the same error.
        bytes[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.entry(2), None);
        assert!(v.get(b"/a").is_err());
    }

    #[test]
    fn swapped_entries_are_reported_by_lookups_that_meet_them() {
        let mut bytes = sample();
        swap_entries(&mut bytes, 2, 3);
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.verify(), Err(FormatError::NotContiguous { index: 2 }));
        // Searches that reach the swapped pair fail; the others, which only
        // meet intact entries, answer exactly as the intact file would.
        for p in [&b"/a-b"[..], b"/a/b", b"/b\xff", b"/zz"] {
            assert!(v.get(p).is_err(), "{p:?}");
        }
        assert_eq!(v.get(b"/a"), Ok(Some(0)));
        assert_eq!(v.get(b"/"), Ok(None));
    }

    #[test]
    fn a_path_pool_rewritten_out_of_order_is_found_by_verify() {
        // Offsets and lengths intact, the bytes of two equal-length paths
        // swapped in the pool: only path comparisons can see it, so a
        // lookup sees it where it compares neighbours, and `verify` always.
        let paths: [&[u8]; 3] = [b"/a", b"/b", b"/c"];
        let mut bytes = encode(paths.iter().map(|p| (*p, 1))).unwrap();
        let pool = bytes.len() - 6;
        bytes[pool + 2..pool + 6].copy_from_slice(b"/c/b");
        let v = IndexView::parse(&bytes).unwrap();
        assert_eq!(v.verify(), Err(FormatError::NotSorted { index: 2 }));
        assert_eq!(v.get(b"/c"), Err(FormatError::NotSorted { index: 2 }));
        assert_eq!(v.get(b"/a"), Ok(Some(1)));
    }
}
