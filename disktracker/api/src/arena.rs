//! What a walker produces: segmented per-directory arenas.
//!
//! Per-directory state is split into *hot* data (parent, direct sizes and
//! counts; what aggregation touches) and *cold* data (name, mtime, identity;
//! what only storage touches). Every directory gets a [`DirId`] when it is
//! discovered, and a child is always discovered after its parent, so children
//! have higher ids than their parents and one reverse pass over the ids
//! aggregates recursive totals. Parallel walkers keep one arena per worker;
//! the engine merges them by id.

use crate::model::DirStats;

/// Identifier of a directory within one walk. The root is `DirId(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirId(pub u32);

impl DirId {
    /// The scan root.
    pub const ROOT: DirId = DirId(0);
    /// "No parent" (the root's parent).
    pub const NONE: DirId = DirId(u32::MAX);

    /// As an array index.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

const SEGMENT: usize = 4096;

/// An append-only vector stored in fixed-size segments: growing never moves or
/// copies what is already stored.
#[derive(Clone, Debug)]
pub(crate) struct SegVec<T> {
    segments: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for SegVec<T> {
    fn default() -> Self {
        SegVec {
            segments: Vec::new(),
            len: 0,
        }
    }
}

impl<T> SegVec<T> {
    /// Appends one item and returns its index.
    pub(crate) fn push(&mut self, item: T) -> usize {
        if self.segments.last().is_none_or(|s| s.len() == SEGMENT) {
            self.segments.push(Vec::with_capacity(SEGMENT));
        }
        // The branch above guarantees a segment with room.
        if let Some(seg) = self.segments.last_mut() {
            seg.push(item);
        }
        self.len += 1;
        self.len - 1
    }

    /// The item at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.segments.get(i / SEGMENT)?.get(i % SEGMENT)
    }

    /// The item at `i`, mutably.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.segments.get_mut(i / SEGMENT)?.get_mut(i % SEGMENT)
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segments, in order, each freed once the caller is done with it.
    pub(crate) fn into_segments(self) -> std::vec::IntoIter<Vec<T>> {
        self.segments.into_iter()
    }
}

/// Hot per-directory data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirHot {
    /// This directory.
    pub id: u32,
    /// Its parent ([`DirId::NONE`] for the root).
    pub parent: u32,
    /// Own inode plus non-directory entries (hard-linked files excluded: see [`LinkedFile`]), disk usage.
    pub direct_bytes: u64,
    /// Same, apparent size.
    pub direct_apparent: u64,
    /// Non-directory entries counted here (hard-linked files excluded).
    pub direct_files: u64,
    /// Immediate subdirectories that were walked.
    pub child_dirs: u32,
    /// Errors while reading this directory or stat'ing its entries.
    pub errors: u32,
}

/// Cold per-directory data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCold {
    name_start: u32,
    name_len: u32,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Digest of the direct entries.
    pub fingerprint: u128,
}

impl DirCold {
    /// Cold data with the given identity; the name is set by [`DirArena::push`].
    pub fn new(mtime_ns: i64, dev: u64, ino: u64, fingerprint: u128) -> Self {
        DirCold {
            name_start: 0,
            name_len: 0,
            mtime_ns,
            dev,
            ino,
            fingerprint,
        }
    }
}

/// A non-directory entry with more than one link, left for the engine to
/// attribute by the first-path rule; it is not in its directory's direct totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedFile {
    /// Directory holding this link.
    pub dir: DirId,
    /// Entry name inside it.
    pub name: Box<[u8]>,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Disk usage.
    pub bytes: u64,
    /// Apparent size.
    pub apparent: u64,
}

/// A problem met during a walk; counted, reported, never fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkIssue {
    /// Directory the problem is attributed to.
    pub dir: DirId,
    /// Absolute path of the entry concerned.
    pub path: Vec<u8>,
    /// What was being done ("read directory", "stat", "open directory").
    pub op: &'static str,
    /// The OS error, as text.
    pub message: String,
}

/// One worker's share of a walk.
#[derive(Clone, Debug, Default)]
pub struct DirArena {
    hot: SegVec<DirHot>,
    cold: SegVec<DirCold>,
    names: Vec<u8>,
    /// Hard-linked files found by this worker.
    pub links: Vec<LinkedFile>,
    /// Problems found by this worker.
    pub issues: Vec<WalkIssue>,
}

impl DirArena {
    /// Records a directory. `name` is relative to the parent (the absolute path for the root).
    pub fn push(&mut self, hot: DirHot, name: &[u8], cold: DirCold) -> usize {
        let start = self.names.len() as u32;
        self.names.extend_from_slice(name);
        let cold = DirCold {
            name_start: start,
            name_len: name.len() as u32,
            ..cold
        };
        self.cold.push(cold);
        self.hot.push(hot)
    }

    /// Number of directories recorded.
    pub fn len(&self) -> usize {
        self.hot.len()
    }

    /// True when no directory was recorded.
    pub fn is_empty(&self) -> bool {
        self.hot.is_empty()
    }

    /// Hot data of the `i`th recorded directory. Panics when `i` is out of
    /// range, like slice indexing: ids come from this arena.
    #[allow(clippy::expect_used)] // a documented panic, as `[]` has
    pub fn hot(&self, i: usize) -> &DirHot {
        self.hot.get(i).expect("arena index in range")
    }

    /// Hot data, mutably (a walker fills direct totals after reading the
    /// directory). Panics when `i` is out of range.
    #[allow(clippy::expect_used)] // a documented panic, as `[]` has
    pub fn hot_mut(&mut self, i: usize) -> &mut DirHot {
        self.hot.get_mut(i).expect("arena index in range")
    }

    /// Cold data of the `i`th recorded directory. Panics when `i` is out of
    /// range.
    #[allow(clippy::expect_used)] // a documented panic, as `[]` has
    pub fn cold(&self, i: usize) -> &DirCold {
        self.cold.get(i).expect("arena index in range")
    }

    /// Cold data, mutably. Panics when `i` is out of range.
    #[allow(clippy::expect_used)] // a documented panic, as `[]` has
    pub fn cold_mut(&mut self, i: usize) -> &mut DirCold {
        self.cold.get_mut(i).expect("arena index in range")
    }

    /// Name of the `i`th recorded directory, relative to its parent.
    pub fn name(&self, i: usize) -> &[u8] {
        let c = self.cold(i);
        &self.names[c.name_start as usize..(c.name_start + c.name_len) as usize]
    }

    /// Total length of the names of every recorded directory.
    pub fn names_len(&self) -> usize {
        self.names.len()
    }

    /// Hands every recorded directory to `f` in the order recorded (hot
    /// data, cold data, name), freeing the arena's memory as it goes, so
    /// that whatever `f` copies it into and the arena are never both whole
    /// in memory. [`DirArena::links`] and [`DirArena::issues`] are dropped:
    /// take them first. Stops at the first error `f` returns.
    pub fn drain<E>(
        self,
        mut f: impl FnMut(&DirHot, &DirCold, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let DirArena {
            hot, cold, names, ..
        } = self;
        let name =
            |c: &DirCold| &names[c.name_start as usize..(c.name_start + c.name_len) as usize];
        // Both were pushed together, so their segments match.
        for (hot, cold) in hot.into_segments().zip(cold.into_segments()) {
            for (h, c) in hot.iter().zip(&cold) {
                f(h, c, name(c))?;
            }
        }
        Ok(())
    }
}

/// Builds a [`DirStats`] with only the direct parts filled from arena data.
pub fn direct_stats(hot: &DirHot, cold: &DirCold) -> DirStats {
    DirStats {
        direct_bytes: hot.direct_bytes,
        direct_apparent: hot.direct_apparent,
        direct_files: hot.direct_files,
        child_count: u64::from(hot.child_dirs),
        error_count: u64::from(hot.errors),
        mtime_ns: cold.mtime_ns,
        dev: cold.dev,
        ino: cold.ino,
        fingerprint: cold.fingerprint,
        ..DirStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segvec_spans_segments() {
        let mut v = SegVec::default();
        for i in 0..(SEGMENT * 2 + 3) {
            assert_eq!(v.push(i), i);
        }
        assert_eq!(v.len(), SEGMENT * 2 + 3);
        assert_eq!(v.get(SEGMENT + 1), Some(&(SEGMENT + 1)));
        assert!((0..v.len()).all(|i| v.get(i) == Some(&i)));
        assert_eq!(v.get(v.len()), None);
    }

    #[test]
    fn drain_hands_out_every_directory_in_order() {
        let mut a = DirArena::default();
        for i in 0..(SEGMENT + 5) as u32 {
            let name = format!("d{i}");
            a.push(
                DirHot {
                    id: i,
                    ..DirHot::default()
                },
                name.as_bytes(),
                DirCold::new(i64::from(i), 0, 0, 0),
            );
        }
        let mut seen = Vec::new();
        a.drain(|h, c, name| {
            assert_eq!(c.mtime_ns, i64::from(h.id));
            seen.push((h.id, name.to_vec()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen.len(), SEGMENT + 5);
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, (id, name))| *id == i as u32 && *name == format!("d{i}").as_bytes())
        );
    }

    #[test]
    fn arena_keeps_names() {
        let mut a = DirArena::default();
        a.push(DirHot::default(), b"/root", DirCold::default());
        a.push(DirHot::default(), b"caf\xe9", DirCold::default());
        assert_eq!(a.name(0), b"/root");
        assert_eq!(a.name(1), b"caf\xe9");
    }
}
