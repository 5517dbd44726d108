//! The [`Walker`] plugin trait: traverse one root and report per-directory records.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arena::DirArena;
use crate::error::Result;

/// Shared cancellation flag (set by Ctrl-C); cheap to clone and to poll.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, unset token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once cancellation was requested.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Live counters a walker bumps (per directory, not per file, to stay cheap)
/// and a progress display reads.
#[derive(Debug, Default)]
pub struct ScanProgress {
    /// Directories read.
    pub dirs: AtomicU64,
    /// Entries (files and directories) stat'ed.
    pub entries: AtomicU64,
    /// Disk usage seen so far.
    pub bytes: AtomicU64,
}

impl ScanProgress {
    /// Adds one directory's worth of counts.
    #[inline]
    pub fn add_dir(&self, entries: u64, bytes: u64) {
        self.dirs.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// How to walk.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WalkOptions {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Do not descend into directories on another device than the root's.
    pub one_file_system: bool,
    /// Glob patterns of entries to skip entirely. A pattern without `/`
    /// matches an entry's name at any depth (`*.o`); one with `/` matches the
    /// path relative to the root (`build/**/tmp`). The host has checked that
    /// they compile (with `disktracker-walker-support`'s `Exclude`).
    pub exclude: Vec<String>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            one_file_system: false,
            exclude: Vec::new(),
        }
    }
}

impl WalkOptions {
    /// `threads` workers (at least 1), nothing excluded, crossing file systems.
    pub fn with_threads(threads: usize) -> Self {
        WalkOptions {
            threads: threads.max(1),
            ..Self::default()
        }
    }
}

/// Shared state of one walk.
#[derive(Clone, Debug, Default)]
pub struct WalkContext {
    /// Polled at least once per directory.
    pub cancel: CancelToken,
    /// Bumped once per directory.
    pub progress: Arc<ScanProgress>,
}

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct WalkOutput {
    /// The absolute root that was walked.
    pub root: PathBuf,
    /// One arena per worker; together they hold every directory exactly once,
    /// with ids `0..n` and `DirId(0)` the root.
    pub arenas: Vec<DirArena>,
}

/// A directory-tree walker.
///
/// Contract: stat every entry without following symlinks; count every
/// non-directory entry (regular files, symlinks, devices, …) in its
/// directory's direct totals — except files with more than one link, which
/// go to [`DirArena::links`]; record every directory once, giving ids in
/// discovery order (children after parents); count each directory's own inode
/// in its own direct totals; skip excluded entries entirely; never descend
/// into another device when `one_file_system` is set; record problems as
/// [`crate::WalkIssue`]s and carry on; poll `ctx.cancel` at least once per
/// directory and return [`crate::Error::cancelled`] when set. Only directories
/// are units of work; never recurse on the thread stack. A walker that cannot
/// walk some part of a tree exactly (for example paths longer than
/// `PATH_MAX`) fails the walk with [`crate::ErrorKind::Plugin`] and a hint,
/// never returns partial totals.
pub trait Walker: Send + Sync {
    /// Walks `root`, which the caller has checked is an existing directory.
    fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput>;
}
