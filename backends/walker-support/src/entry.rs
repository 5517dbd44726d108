//! Per-entry accounting: the one place that decides what an entry found
//! in a directory adds to that directory's record, so that every walker
//! counts the same bytes and computes the same fingerprints.

use std::os::unix::fs::MetadataExt;

use disktracker::{DirCold, DirHot, DirId, LinkedFile};

use crate::Fingerprint;

/// What a walker keeps of one entry's metadata, from a `stat` that does not
/// follow symlinks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryStat {
    /// A directory (`S_ISDIR`); symlinks to directories are not.
    pub is_dir: bool,
    /// Hard links (`st_nlink`).
    pub nlink: u64,
    /// Device (`st_dev`).
    pub dev: u64,
    /// Inode (`st_ino`).
    pub ino: u64,
    /// Apparent size (`st_size`).
    pub size: u64,
    /// 512-byte blocks allocated (`st_blocks`).
    pub blocks: u64,
    /// Modification time, ns since the epoch (see [`mtime_ns`]).
    pub mtime_ns: i64,
}

impl EntryStat {
    /// Disk usage in bytes, as `du` counts it: `st_blocks × 512`.
    #[inline]
    pub fn disk_bytes(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }

    /// From `std`'s metadata (`symlink_metadata` for entries).
    pub fn from_metadata(m: &std::fs::Metadata) -> Self {
        EntryStat {
            is_dir: m.is_dir(),
            nlink: m.nlink(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            blocks: m.blocks(),
            mtime_ns: mtime_ns(m.mtime(), m.mtime_nsec()),
        }
    }
}

/// Nanoseconds since the epoch from `st_mtime` and `st_mtime_nsec`;
/// wrapping, never panicking, on absurd timestamps.
#[inline]
pub fn mtime_ns(sec: i64, nsec: i64) -> i64 {
    sec.wrapping_mul(1_000_000_000).wrapping_add(nsec)
}

/// What [`account_entry`] made of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a directory entry must be recorded as a directory of its own"]
pub enum Counted {
    /// A subdirectory: counted in `child_dirs`; the walker records it as a
    /// directory of its own (with [`dir_hot`] and [`dir_cold`]) and reads it.
    Directory,
    /// A non-directory with more than one link: pushed to the links for the
    /// engine's first-path rule, not in the direct totals.
    Linked,
    /// Any other non-directory (file, symlink, device, FIFO, socket): in the
    /// direct totals.
    Direct,
}

/// The record of a directory before its entries: its own inode counts in
/// its own direct totals.
#[inline]
pub fn dir_hot(id: u32, parent: u32, own: &EntryStat) -> DirHot {
    DirHot {
        id,
        parent,
        direct_bytes: own.disk_bytes(),
        direct_apparent: own.size,
        ..DirHot::default()
    }
}

/// A directory's identity, from its own metadata, and its entries' fingerprint.
#[inline]
pub fn dir_cold(own: &EntryStat, fingerprint: Fingerprint) -> DirCold {
    DirCold::new(own.mtime_ns, own.dev, own.ino, fingerprint.value())
}

/// Accounts for the entry `name` (stat'ed as `st`) of the directory `dir`:
/// adds it to the directory's fingerprint, and then a subdirectory to
/// `child_dirs`, a hard-linked non-directory (`nlink > 1`) to `links`, and
/// any other entry to the direct totals.
///
/// Call it for every entry the walk keeps — not for excluded entries,
/// entries on another device under `one_file_system`, or entries whose stat
/// failed — and for a directory only once the walker is sure to record it.
#[inline]
pub fn account_entry(
    dir: &mut DirHot,
    fingerprint: &mut Fingerprint,
    links: &mut Vec<LinkedFile>,
    name: &[u8],
    st: &EntryStat,
) -> Counted {
    fingerprint.add(name, st.ino, st.size, st.blocks, st.mtime_ns);
    if st.is_dir {
        dir.child_dirs += 1;
        Counted::Directory
    } else if st.nlink > 1 {
        links.push(LinkedFile {
            dir: DirId(dir.id),
            name: name.into(),
            dev: st.dev,
            ino: st.ino,
            bytes: st.disk_bytes(),
            apparent: st.size,
        });
        Counted::Linked
    } else {
        dir.direct_bytes += st.disk_bytes();
        dir.direct_apparent += st.size;
        dir.direct_files += 1;
        Counted::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(is_dir: bool, nlink: u64, size: u64, blocks: u64) -> EntryStat {
        EntryStat {
            is_dir,
            nlink,
            dev: 7,
            ino: size + 1,
            size,
            blocks,
            mtime_ns: 1,
        }
    }

    #[test]
    fn each_kind_of_entry_goes_to_its_place() {
        let own = stat(true, 2, 4096, 8);
        let mut hot = dir_hot(3, 1, &own);
        assert_eq!(
            (hot.direct_bytes, hot.direct_apparent, hot.direct_files),
            (4096, 4096, 0)
        );
        let (mut fp, mut links) = (Fingerprint::default(), Vec::new());
        let mut add = |name: &[u8], st| account_entry(&mut hot, &mut fp, &mut links, name, &st);
        assert_eq!(add(b"sub", stat(true, 5, 4096, 8)), Counted::Directory);
        assert_eq!(add(b"f", stat(false, 1, 100, 8)), Counted::Direct);
        assert_eq!(add(b"sparse", stat(false, 1, 1 << 30, 0)), Counted::Direct);
        assert_eq!(add(b"h", stat(false, 2, 700, 16)), Counted::Linked);
        assert_eq!(
            (hot.child_dirs, hot.direct_files),
            (1, 2),
            "a subdirectory is a child, not a file"
        );
        assert_eq!(hot.direct_bytes, 4096 + 8 * 512);
        assert_eq!(hot.direct_apparent, 4096 + 100 + (1 << 30));
        assert_eq!(
            links,
            [LinkedFile {
                dir: DirId(3),
                name: (*b"h").into(),
                dev: 7,
                ino: 701,
                bytes: 8192,
                apparent: 700,
            }]
        );
        // Every kept entry is in the fingerprint, the linked one too.
        let mut want = Fingerprint::default();
        for (name, st) in [
            (&b"h"[..], stat(false, 2, 700, 16)),
            (b"sparse", stat(false, 1, 1 << 30, 0)),
            (b"sub", stat(true, 5, 4096, 8)),
            (b"f", stat(false, 1, 100, 8)),
        ] {
            want.add(name, st.ino, st.size, st.blocks, st.mtime_ns);
        }
        assert_eq!(fp, want);
        let cold = dir_cold(&own, fp);
        assert_eq!((cold.dev, cold.ino, cold.mtime_ns), (7, 4097, 1));
        assert_eq!(cold.fingerprint, want.value());
    }

    #[test]
    fn mtime_never_panics() {
        assert_eq!(mtime_ns(2, 5), 2_000_000_005);
        assert_eq!(mtime_ns(-1, 999_999_999), -1);
        let _ = mtime_ns(i64::MAX, i64::MAX);
        let _ = mtime_ns(i64::MIN, -1);
        assert_eq!(stat(false, 1, 0, u64::MAX).disk_bytes(), u64::MAX);
    }

    #[test]
    fn from_metadata_reads_lstat() {
        let dir = std::env::temp_dir();
        let m = std::fs::symlink_metadata(&dir).unwrap();
        let st = EntryStat::from_metadata(&m);
        assert!(st.is_dir);
        assert_eq!((st.dev, st.ino, st.size), (m.dev(), m.ino(), m.size()));
        assert_eq!(st.disk_bytes(), m.blocks() * 512);
        assert_eq!(
            st.mtime_ns as i128,
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
        );
    }
}
