//! The LSM overlay: live changes on top of the immutable base file.

use std::collections::HashMap;

use crate::format::{FormatError, IndexView};

/// One overlay entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The path's current recursive size.
    Size(u64),
    /// The path is gone (a tombstone hiding the base entry).
    Deleted,
}

/// Path bytes → [`Slot`]. Reads hash the borrowed `&[u8]` key directly
/// (`Box<[u8]>: Borrow<[u8]>`), so a lookup never allocates.
///
/// The std hasher (SipHash with random keys) is kept on purpose: paths are
/// chosen by whoever can create files, and a predictable hash would let them
/// degrade the watcher.
#[derive(Default)]
pub(crate) struct Overlay {
    map: HashMap<Box<[u8]>, Slot>,
}

/// The first path below `dir` must start with this: `dir/`, or `dir` itself
/// when it already ends in `/` (the root `/`).
pub(crate) fn subtree_prefix(dir: &[u8]) -> Vec<u8> {
    let mut prefix = dir.to_vec();
    if prefix.last() != Some(&b'/') {
        prefix.push(b'/');
    }
    prefix
}

impl Overlay {
    /// The overlay's word on `path`, if any.
    #[inline]
    pub(crate) fn get(&self, path: &[u8]) -> Option<Slot> {
        // hashbrown returns early on an empty table without hashing, so an
        // empty overlay costs nothing on the lookup path.
        self.map.get(path).copied()
    }

    /// Number of entries (sizes and tombstones).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there is nothing to compact.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Records `slot` for `path`, allocating the key only when it is new.
    fn put(&mut self, path: &[u8], slot: Slot) {
        match self.map.get_mut(path) {
            Some(s) => *s = slot,
            None => {
                self.map.insert(path.into(), slot);
            }
        }
    }

    /// Sets `path`'s size.
    pub(crate) fn set(&mut self, path: &[u8], total: u64) {
        self.put(path, Slot::Size(total));
    }

    /// Removes `dir` and every path below it, mapped or in the overlay.
    ///
    /// The subtree of `dir` is `dir` itself plus the paths starting with
    /// `dir/`. Bytewise, `dir-x` and `dir.x` sort *between* `dir` and `dir/…`
    /// (`-` and `.` are below `/`), so the subtree is not the range starting at
    /// `dir`: it is `dir` plus the contiguous range of the `dir/` prefix.
    ///
    /// Cost: O(overlay) plus O(log n + k) for the k base paths below `dir`,
    /// each of which gets a tombstone. Everything is looked up before
    /// anything changes, so a corrupt base (an error) leaves the overlay as
    /// it was.
    pub(crate) fn remove_subtree(
        &mut self,
        base: IndexView<'_>,
        dir: &[u8],
    ) -> Result<(), FormatError> {
        let prefix = subtree_prefix(dir);
        let inside = |p: &[u8]| p == dir || p.starts_with(&prefix);

        // Overlay paths: a tombstone only where the base has the path; a path
        // that exists only in the overlay can simply be forgotten.
        let mut forget = vec![];
        let mut hide: Vec<Box<[u8]>> = vec![];
        for path in self.map.keys().filter(|p| inside(p)) {
            if base.find(path)?.is_some() {
                hide.push(path.clone());
            } else {
                forget.push(path.clone());
            }
        }
        // Base paths: `dir` itself, then the `dir/` range. On sorted paths,
        // "below prefix" holds for a leading run, and "below prefix or
        // starting with it" for a longer one: the difference is the subtree
        // (anything starting with the prefix sorts after the prefix and
        // before every larger path that does not start with it).
        let dir_in_base = base.find(dir)?.is_some();
        let start = base.partition_point(|p| p < prefix.as_slice())?;
        let end = base.partition_point(|p| p < prefix.as_slice() || p.starts_with(&prefix))?;
        let below = (start..end)
            .map(|i| base.checked_path(i))
            .collect::<Result<Vec<_>, _>>()?;

        for path in forget {
            self.map.remove(&path);
        }
        for path in hide {
            self.map.insert(path, Slot::Deleted);
        }
        if dir_in_base {
            self.put(dir, Slot::Deleted);
        }
        for p in below {
            self.put(p, Slot::Deleted);
        }
        Ok(())
    }

    /// The overlay sorted by path, for merging with the base.
    pub(crate) fn sorted(&self) -> Vec<(&[u8], Slot)> {
        let mut v: Vec<(&[u8], Slot)> = self.map.iter().map(|(k, s)| (&**k, *s)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }
}

/// One step of merging base entries with a sorted overlay: the overlay wins
/// on equal paths and tombstones hide paths. `i` and `j` are the positions in
/// the base and the overlay. Yields paths in strictly increasing order when
/// the base is sorted (callers verify it first); base entries outside the
/// pool are skipped.
pub(crate) fn merge_step<'a>(
    base: IndexView<'a>,
    over: &[(&'a [u8], Slot)],
    i: &mut usize,
    j: &mut usize,
) -> Option<(&'a [u8], u64)> {
    use std::cmp::Ordering;
    loop {
        let b = if *i < base.len() {
            match base.entry(*i) {
                Some(e) => Some(e),
                None => {
                    *i += 1;
                    continue;
                }
            }
        } else {
            None
        };
        let o = over.get(*j).copied();
        let (path, slot) = match (b, o) {
            (None, None) => return None,
            (Some((bp, bv)), None) => {
                *i += 1;
                (bp, Slot::Size(bv))
            }
            (None, Some(o)) => {
                *j += 1;
                o
            }
            (Some((bp, bv)), Some((op, os))) => match bp.cmp(op) {
                Ordering::Less => {
                    *i += 1;
                    (bp, Slot::Size(bv))
                }
                Ordering::Greater => {
                    *j += 1;
                    (op, os)
                }
                Ordering::Equal => {
                    *i += 1;
                    *j += 1;
                    (op, os)
                }
            },
        };
        if let Slot::Size(v) = slot {
            return Some((path, v));
        }
    }
}

/// [`merge_step`] as a cheaply clonable iterator over a borrowed overlay
/// snapshot (the writer walks it three times).
#[derive(Clone)]
pub(crate) struct Merge<'a> {
    base: IndexView<'a>,
    over: &'a [(&'a [u8], Slot)],
    i: usize,
    j: usize,
}

impl<'a> Merge<'a> {
    pub(crate) fn new(base: IndexView<'a>, over: &'a [(&'a [u8], Slot)]) -> Self {
        Merge {
            base,
            over,
            i: 0,
            j: 0,
        }
    }
}

impl<'a> Iterator for Merge<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        merge_step(self.base, self.over, &mut self.i, &mut self.j)
    }
}
