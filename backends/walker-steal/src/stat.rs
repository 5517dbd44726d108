//! One `statx` per entry, relative to the open directory, into a small copyable record.

use std::ffi::CStr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, Stat, Statx, StatxFlags, makedev, statat, statx};
use rustix::io::Errno;

/// What the walker keeps of one entry's metadata.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EntryStat {
    pub is_dir: bool,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    /// Apparent size (st_size).
    pub size: u64,
    /// 512-byte blocks allocated (st_blocks).
    pub blocks: u64,
    pub mtime_ns: i64,
}

impl EntryStat {
    /// Disk usage in bytes, as `du` counts it.
    #[inline]
    pub fn disk_bytes(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }
}

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

/// Nanoseconds since the epoch; wrapping, never panicking, on absurd timestamps.
/// Must match the jwalk walker's computation so fingerprints agree.
#[inline]
fn ns(sec: i64, nsec: i64) -> i64 {
    sec.wrapping_mul(1_000_000_000).wrapping_add(nsec)
}

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
        mtime_ns: ns(x.stx_mtime.tv_sec, i64::from(x.stx_mtime.tv_nsec)),
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
        mtime_ns: ns(s.st_mtime as i64, s.st_mtime_nsec as i64),
    }
}
