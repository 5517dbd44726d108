//! The [`Walker`] plugin trait: traverse one root and report per-directory records.

use std::os::fd::BorrowedFd;
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
    /// Worker threads to start with (at least 1).
    pub threads: usize,
    /// Workers a walker may grow to while those it has wait on the disk
    /// rather than run (a cold cache, a slow or remote file system). At most
    /// `threads` means a fixed pool. Walkers that cannot grow use `threads`.
    pub max_threads: usize,
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
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        WalkOptions {
            threads: cores,
            max_threads: cores,
            one_file_system: false,
            exclude: Vec::new(),
        }
    }
}

impl WalkOptions {
    /// A fixed pool of `threads` workers (at least 1), nothing excluded,
    /// crossing file systems.
    pub fn with_threads(threads: usize) -> Self {
        WalkOptions {
            threads: threads.max(1),
            max_threads: threads.max(1),
            ..Self::default()
        }
    }

    /// `threads` workers to start with, growing up to `max_threads` while
    /// they wait on the disk.
    pub fn growing(threads: usize, max_threads: usize) -> Self {
        WalkOptions {
            threads: threads.max(1),
            max_threads: max_threads.max(threads.max(1)),
            ..Self::default()
        }
    }
}

/// Called with a directory's absolute path before a walk reads its entries:
/// an [`EventSource`](crate::EventSource) watching a tree as it is walked
/// (see [`EventSource::watch_as_walked`](crate::EventSource::watch_as_walked)).
/// Walkers that open the directory first pass its descriptor too
/// ([`DirHook::call_with_fd`]), so that the hook need not look the path up
/// again.
#[derive(Clone)]
pub struct DirHook(Arc<DirHookFn>);

/// What a [`DirHook`] calls: the directory's path, and its descriptor when
/// the walker has it open.
type DirHookFn = dyn Fn(&Path, Option<BorrowedFd<'_>>) + Send + Sync;

impl DirHook {
    /// A hook calling `f` with the directory's path.
    pub fn new(f: impl Fn(&Path) + Send + Sync + 'static) -> Self {
        DirHook(Arc::new(move |dir: &Path, _: Option<BorrowedFd<'_>>| {
            f(dir);
        }))
    }

    /// A hook calling `f` with the directory's path and, when the walker
    /// has it, the directory opened for reading (not read yet).
    pub fn with_fd(f: impl Fn(&Path, Option<BorrowedFd<'_>>) + Send + Sync + 'static) -> Self {
        DirHook(Arc::new(f))
    }

    /// Calls the hook for `dir`.
    #[inline]
    pub fn call(&self, dir: &Path) {
        (self.0)(dir, None);
    }

    /// Calls the hook for `dir`, open as `fd` and not read yet.
    #[inline]
    pub fn call_with_fd(&self, dir: &Path, fd: BorrowedFd<'_>) {
        (self.0)(dir, Some(fd));
    }
}

impl std::fmt::Debug for DirHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirHook")
    }
}

/// Shared state of one walk.
#[derive(Clone, Debug, Default)]
pub struct WalkContext {
    /// Polled at least once per directory.
    pub cancel: CancelToken,
    /// Bumped once per directory.
    pub progress: Arc<ScanProgress>,
    /// Called for every directory before its entries are read, by walkers
    /// whose [`Walker::calls_before_dir`] is true.
    pub before_dir: Option<DirHook>,
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
///
/// Every walker must pass the walker conformance suite in
/// `disktracker-testkit`, which compares its output with an independent
/// oracle on awkward trees. `disktracker-walker-support` has the pieces the
/// first-party walkers share: the exclude globs, the per-directory
/// fingerprint and the per-entry accounting.
///
/// A whole walker — one thread, breadth first, without excludes and
/// fingerprints for brevity — registered and run on a small tree:
///
/// ```
/// use std::collections::VecDeque;
/// use std::fs::Metadata;
/// use std::os::unix::fs::MetadataExt;
/// use std::path::{Path, PathBuf};
///
/// use disktracker::path::path_bytes;
/// use disktracker::registry::{WalkerPlugin, walkers};
/// use disktracker::{
///     DirArena, DirCold, DirHot, DirId, Error, LinkedFile, PluginSettings, Result, WalkContext,
///     WalkIssue, WalkOptions, WalkOutput, Walker,
/// };
///
/// struct BreadthFirst;
///
/// impl Walker for BreadthFirst {
///     fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput> {
///         let root_meta = std::fs::symlink_metadata(root).map_err(|e| Error::io("cannot stat", root, e))?;
///         let mut arena = DirArena::default();
///         // A queue of directories, not recursion: ids follow discovery
///         // order, so every child gets a higher id than its parent.
///         let mut queue: VecDeque<(PathBuf, DirId, Metadata)> =
///             VecDeque::from([(root.to_path_buf(), DirId::NONE, root_meta.clone())]);
///         while let Some((dir, parent, meta)) = queue.pop_front() {
///             if ctx.cancel.is_cancelled() {
///                 return Err(Error::cancelled());
///             }
///             let id = DirId(arena.len() as u32);
///             // The directory's own inode counts in its own direct totals.
///             let mut hot = DirHot {
///                 id: id.0,
///                 parent: parent.0,
///                 direct_bytes: meta.blocks() * 512,
///                 direct_apparent: meta.len(),
///                 ..DirHot::default()
///             };
///             let mut entries = 0;
///             let mut issue = |op: &'static str, path: &Path, e: std::io::Error, hot: &mut DirHot| {
///                 hot.errors += 1;
///                 arena.issues.push(WalkIssue { dir: id, path: path_bytes(path).to_vec(), op, message: e.to_string() });
///             };
///             match std::fs::read_dir(&dir) {
///                 Err(e) => issue("read directory", &dir, e, &mut hot),
///                 Ok(list) => {
///                     for entry in list {
///                         let entry = match entry {
///                             Ok(entry) => entry,
///                             Err(e) => { issue("read directory", &dir, e, &mut hot); continue; }
///                         };
///                         // Never follow a symlink: stat the link itself.
///                         let m = match entry.metadata() {
///                             Ok(m) => m,
///                             Err(e) => { issue("stat", &entry.path(), e, &mut hot); continue; }
///                         };
///                         entries += 1;
///                         if m.is_dir() {
///                             if opts.one_file_system && m.dev() != root_meta.dev() {
///                                 continue;
///                             }
///                             hot.child_dirs += 1;
///                             queue.push_back((entry.path(), id, m));
///                         } else if m.nlink() > 1 {
///                             // The engine attributes hard links by the first-path rule.
///                             arena.links.push(LinkedFile {
///                                 dir: id,
///                                 name: path_bytes(Path::new(&entry.file_name())).into(),
///                                 dev: m.dev(),
///                                 ino: m.ino(),
///                                 bytes: m.blocks() * 512,
///                                 apparent: m.len(),
///                             });
///                         } else {
///                             hot.direct_bytes += m.blocks() * 512;
///                             hot.direct_apparent += m.len();
///                             hot.direct_files += 1;
///                         }
///                     }
///                 }
///             }
///             ctx.progress.add_dir(entries, hot.direct_bytes);
///             // The root is recorded by its absolute path, the rest by name.
///             let name = match parent {
///                 DirId::NONE => path_bytes(&dir).to_vec(),
///                 _ => path_bytes(Path::new(dir.file_name().unwrap_or_default())).to_vec(),
///             };
///             let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
///             // 0: a real walker computes the fingerprint with disktracker-walker-support.
///             arena.push(hot, &name, DirCold::new(mtime_ns, meta.dev(), meta.ino(), 0));
///         }
///         Ok(WalkOutput { root: root.to_path_buf(), arenas: vec![arena] })
///     }
/// }
///
/// disktracker::register_walker!(WalkerPlugin::new(
///     "breadth-first",
///     "one thread, breadth first (the API's example)",
///     |_settings| Ok(Box::new(BreadthFirst)),
/// ));
///
/// // A tree: root/{a/{b/}, f (3 bytes)}.
/// let root = std::env::temp_dir().join(format!("dt-walker-example-{}", std::process::id()));
/// std::fs::create_dir_all(root.join("a/b")).unwrap();
/// std::fs::write(root.join("f"), b"abc").unwrap();
///
/// let plugin = walkers().unwrap().get("breadth-first").unwrap();
/// let walker = (plugin.create)(&PluginSettings::empty("breadth-first")).unwrap();
/// let out = walker.walk(&root, &WalkOptions::with_threads(1), &WalkContext::default()).unwrap();
/// std::fs::remove_dir_all(&root).unwrap();
///
/// let arena = &out.arenas[0];
/// assert_eq!(arena.len(), 3);
/// assert_eq!(arena.name(0), path_bytes(&root));
/// assert_eq!((arena.name(1), arena.name(2)), (&b"a"[..], &b"b"[..]));
/// assert_eq!(arena.hot(0).direct_files, 1);
/// assert_eq!(arena.hot(0).child_dirs, 1);
/// assert_eq!(arena.hot(2).parent, 1);
/// assert!(arena.issues.is_empty());
/// ```
pub trait Walker: Send + Sync {
    /// Walks `root`, which the caller has checked is an existing directory.
    fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput>;

    /// Whether this walker calls [`WalkContext::before_dir`] for every
    /// directory it reads (including the root), before reading it. A watcher
    /// then adds its watches during its validation walk instead of in a
    /// separate pass over the tree.
    fn calls_before_dir(&self) -> bool {
        false
    }
}
