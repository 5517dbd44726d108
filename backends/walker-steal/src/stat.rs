//! One `statx` per entry, relative to the open directory, into the shared
//! [`EntryStat`] record.

use std::ffi::CStr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};

use disktracker_walker_support::{EntryStat, mtime_ns};
use rustix::fs::{AtFlags, Stat, Statx, StatxFlags, makedev, statat, statx};
use rustix::io::Errno;

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;

/// Only what the walker uses: asking for less lets some file systems
/// (network, FUSE) answer without fetching the rest.
const MASK: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::MODE)
    .union(StatxFlags::NLINK)
    .union(StatxFlags::INO)
    .union(StatxFlags::SIZE)
    .union(StatxFlags::BLOCKS)
    .union(StatxFlags::MTIME);

/// Set once `statx` turned out to be unavailable (Linux < 4.11, old seccomp
/// filters), so the rest of the process goes straight to `fstatat`.
static NO_STATX: AtomicBool = AtomicBool::new(false);

/// Stats `name` inside the directory `dir` without following a symlink.
#[inline]
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<EntryStat, Errno> {
    if !NO_STATX.load(Ordering::Relaxed) {
        match statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, MASK) {
            Ok(x) => return Ok(from_statx(&x)),
            Err(Errno::NOSYS) => NO_STATX.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|s| from_stat(&s))
}

#[inline]
fn from_statx(x: &Statx) -> EntryStat {
    EntryStat {
        is_dir: u32::from(x.stx_mode) & S_IFMT == S_IFDIR,
        nlink: u64::from(x.stx_nlink),
        dev: makedev(x.stx_dev_major, x.stx_dev_minor),
        ino: x.stx_ino,
        size: x.stx_size,
        blocks: x.stx_blocks,
        mtime_ns: mtime_ns(x.stx_mtime.tv_sec, i64::from(x.stx_mtime.tv_nsec)),
    }
}

/// `struct stat` field types differ between architectures, hence the casts.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn from_stat(s: &Stat) -> EntryStat {
    EntryStat {
        is_dir: (s.st_mode as u32) & S_IFMT == S_IFDIR,
        nlink: s.st_nlink as u64,
        dev: s.st_dev as u64,
        ino: s.st_ino as u64,
        size: s.st_size as u64,
        blocks: s.st_blocks as u64,
        mtime_ns: mtime_ns(s.st_mtime as i64, s.st_mtime_nsec as i64),
    }
}
