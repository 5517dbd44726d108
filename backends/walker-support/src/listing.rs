//! Reading one directory the way every walker reads it: the watcher re-reads
//! a changed directory with this, so its totals equal a fresh scan's.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{CWD, Mode, OFlags, RawDir, fstat, openat};
use rustix::io::Errno;

use crate::stat::{from_stat, lstat, stat_at};
use crate::{Counted, EntryStat, Exclude, Fingerprint, account_entry, dir_hot};

/// A non-directory entry with more than one link: counted by the first-path
/// rule, not in its directory's direct totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedEntry {
    /// Entry name.
    pub name: Box<[u8]>,
    /// Its stat.
    pub stat: EntryStat,
}

/// A problem met while reading the directory (counted in its error count).
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

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn issue(path: Vec<u8>, op: &'static str, e: Errno) -> ListingIssue {
    ListingIssue {
        path,
        op,
        message: std::io::Error::from(e).to_string(),
    }
}

/// Reads the directory at `path` (absolute) and accounts for its direct
/// entries exactly as the walkers do, through [`account_entry`]: the own
/// inode counts toward the direct totals; subdirectories and entries with
/// several links are returned (not read, not totalled); excluded entries
/// and, with `root_dev`, entries on other devices are skipped.
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
        ..Listing::default()
    };
    let mut hot = dir_hot(0, 0, &own);
    let mut fingerprint = Fingerprint::default();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => read_entries(
            fd,
            path_bytes,
            &own,
            opts,
            &mut hot,
            &mut fingerprint,
            &mut out,
        )?,
        Err(e @ (Errno::NOENT | Errno::NOTDIR | Errno::LOOP)) => return Err(e),
        Err(e) => out
            .issues
            .push(issue(path_bytes.to_vec(), "open directory", e)),
    }
    out.direct_bytes = hot.direct_bytes;
    out.direct_apparent = hot.direct_apparent;
    out.direct_files = hot.direct_files;
    out.fingerprint = fingerprint.value();
    Ok(out)
}

fn read_entries(
    fd: OwnedFd,
    path: &[u8],
    own: &EntryStat,
    opts: &ListOptions<'_>,
    hot: &mut disktracker::DirHot,
    fingerprint: &mut Fingerprint,
    out: &mut Listing,
) -> Result<(), Errno> {
    // The directory at `path` may have been replaced between the stat and
    // the open: the open one is what would be listed, so it must be the one
    // described.
    if let Ok(st) = fstat(&fd) {
        let opened = from_stat(&st);
        if opened.ino != own.ino || opened.dev != own.dev {
            return Err(Errno::NOENT);
        }
    }
    let mut links = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut dir = RawDir::new(fd.as_fd(), buf.spare_capacity_mut());
    while let Some(entry) = dir.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.issues.push(issue(path.to_vec(), "read directory", e));
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
                out.issues.push(issue(join(path, bytes), "stat", e));
                continue;
            }
        };
        if opts.root_dev.is_some_and(|d| d != st.dev) {
            continue;
        }
        match account_entry(hot, fingerprint, &mut links, bytes, &st) {
            Counted::Directory => out.children.push((bytes.into(), st)),
            Counted::Linked => out.links.push(LinkedEntry {
                name: bytes.into(),
                stat: st,
            }),
            Counted::Direct => {}
        }
    }
    Ok(())
}
