//! Reading one directory the way every walker reads it: the watcher re-reads
//! a changed directory with this, so its totals equal a fresh scan's.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Mode, OFlags, RawDir, Statx, StatxFlags, fstat, openat, statx};
use rustix::io::Errno;

use crate::{Exclude, Fingerprint};

/// What a walker keeps of one entry's metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryStat {
    /// A directory.
    pub is_dir: bool,
    /// Hard links.
    pub nlink: u64,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Apparent size (`st_size`).
    pub size: u64,
    /// 512-byte blocks allocated (`st_blocks`).
    pub blocks: u64,
    /// Modification time, ns since the epoch (wrapping on absurd values).
    pub mtime_ns: i64,
}

impl EntryStat {
    /// Disk usage in bytes, as `du` counts it.
    #[inline]
    pub fn disk_bytes(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }
}

/// A non-directory entry with more than one link: counted by the first-path
/// rule, not in its directory's direct totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedEntry {
    /// Entry name.
    pub name: Box<[u8]>,
    /// Its stat.
    pub stat: EntryStat,
}

/// A problem met while reading the directory (counted in `errors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingIssue {
    /// Absolute path concerned.
    pub path: Vec<u8>,
    /// What was being done.
    pub op: &'static str,
    /// The OS error.
    pub message: String,
}

/// One directory's direct entries, accounted as a walker accounts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The directory's own metadata.
    pub own: EntryStat,
    /// Own inode plus every non-directory entry with one link, disk usage.
    pub direct_bytes: u64,
    /// Same, apparent size.
    pub direct_apparent: u64,
    /// Non-directory entries with one link.
    pub direct_files: u64,
    /// Digest of every kept entry (see [`Fingerprint`]).
    pub fingerprint: u128,
    /// Subdirectories kept, in listing order.
    pub children: Vec<(Box<[u8]>, EntryStat)>,
    /// Entries with several links.
    pub links: Vec<LinkedEntry>,
    /// Problems, each counted once in the directory's error count.
    pub issues: Vec<ListingIssue>,
}

/// How to read.
#[derive(Clone, Copy, Debug)]
pub struct ListOptions<'a> {
    /// Entries to skip.
    pub exclude: &'a Exclude,
    /// The directory's path relative to the scan root (empty for the root),
    /// for path patterns.
    pub relative: &'a [u8],
    /// With `--one-file-system`, the root's device: entries on others are skipped.
    pub root_dev: Option<u64>,
}

/// Only what a walker uses: asking for less lets some file systems (network,
/// FUSE) answer without fetching the rest.
const MASK: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::MODE)
    .union(StatxFlags::NLINK)
    .union(StatxFlags::INO)
    .union(StatxFlags::SIZE)
    .union(StatxFlags::BLOCKS)
    .union(StatxFlags::MTIME);

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;

fn ns(sec: i64, nsec: i64) -> i64 {
    sec.wrapping_mul(1_000_000_000).wrapping_add(nsec)
}

fn from_statx(x: &Statx) -> EntryStat {
    EntryStat {
        is_dir: u32::from(x.stx_mode) & S_IFMT == S_IFDIR,
        nlink: u64::from(x.stx_nlink),
        dev: rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor),
        ino: x.stx_ino,
        size: x.stx_size,
        blocks: x.stx_blocks,
        mtime_ns: ns(x.stx_mtime.tv_sec, i64::from(x.stx_mtime.tv_nsec)),
    }
}

/// `struct stat` field types differ between architectures, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn from_stat(s: &rustix::fs::Stat) -> EntryStat {
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

/// Stats `name` inside `dir` without following a symlink.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<EntryStat, Errno> {
    match statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, MASK) {
        Ok(x) => Ok(from_statx(&x)),
        Err(Errno::NOSYS) => {
            rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|s| from_stat(&s))
        }
        Err(e) => Err(e),
    }
}

/// Stats `path` without following a final symlink.
pub fn lstat(path: &Path) -> Result<EntryStat, Errno> {
    match statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, MASK) {
        Ok(x) => Ok(from_statx(&x)),
        Err(Errno::NOSYS) => rustix::fs::lstat(path).map(|s| from_stat(&s)),
        Err(e) => Err(e),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

/// Reads the directory at `path` (absolute) and accounts for its direct
/// entries exactly as the walkers do: the own inode counts toward the direct
/// totals; every non-directory entry with one link counts once; entries with
/// several links are returned for the first-path rule; subdirectories are
/// returned (not read); excluded entries and, with `root_dev`, entries on
/// other devices are skipped; every entry kept feeds the fingerprint.
///
/// `Err` means the directory itself is gone or is no longer a directory
/// (`ENOENT`, `ENOTDIR`, `ELOOP` for a symlink now at its place). A
/// directory that cannot be listed (permission) is `Ok` with its own inode
/// and one issue, as a walker records it.
pub fn read_listing(path: &Path, opts: &ListOptions<'_>) -> Result<Listing, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let own = lstat(path)?;
    if !own.is_dir {
        return Err(Errno::NOTDIR);
    }
    let path_bytes = path.as_os_str().as_bytes();
    let mut out = Listing {
        own,
        direct_bytes: own.disk_bytes(),
        direct_apparent: own.size,
        ..Listing::default()
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd: OwnedFd = match openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e @ (Errno::NOENT | Errno::NOTDIR | Errno::LOOP)) => return Err(e),
        Err(e) => {
            out.issues.push(ListingIssue {
                path: path_bytes.to_vec(),
                op: "open directory",
                message: std::io::Error::from(e).to_string(),
            });
            return Ok(out);
        }
    };
    // The directory at `path` may have been replaced between the two calls:
    // the open one is what we list, so it is what we describe.
    if let Ok(st) = fstat(&fd) {
        let opened = from_stat(&st);
        if opened.ino != own.ino || opened.dev != own.dev {
            return Err(Errno::NOENT);
        }
    }
    let mut fingerprint = Fingerprint::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut dir = RawDir::new(fd.as_fd(), buf.spare_capacity_mut());
    while let Some(entry) = dir.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.issues.push(ListingIssue {
                    path: path_bytes.to_vec(),
                    op: "read directory",
                    message: std::io::Error::from(e).to_string(),
                });
                break;
            }
        };
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        if !opts.exclude.is_empty()
            && opts.exclude.is_excluded(bytes, || {
                if opts.relative.is_empty() {
                    bytes.to_vec()
                } else {
                    join(opts.relative, bytes)
                }
            })
        {
            continue;
        }
        let st = match stat_at(fd.as_fd(), name) {
            Ok(st) => st,
            Err(e) => {
                out.issues.push(ListingIssue {
                    path: join(path_bytes, bytes),
                    op: "stat",
                    message: std::io::Error::from(e).to_string(),
                });
                continue;
            }
        };
        if opts.root_dev.is_some_and(|d| d != st.dev) {
            continue;
        }
        fingerprint.add(bytes, st.ino, st.size, st.blocks, st.mtime_ns);
        if st.is_dir {
            out.children.push((bytes.into(), st));
        } else if st.nlink > 1 {
            out.links.push(LinkedEntry {
                name: bytes.into(),
                stat: st,
            });
        } else {
            out.direct_bytes += st.disk_bytes();
            out.direct_apparent += st.size;
            out.direct_files += 1;
        }
    }
    out.fingerprint = fingerprint.value();
    Ok(out)
}
