//! DiskTracker's default [`Walker`]: work stealing over directories, every
//! entry stat'ed relative to its open directory.
//!
//! The floor for a disk-usage scan is one directory read per directory and
//! one `stat` per entry; this walker aims to add as little as possible:
//!
//! - **Per file:** one `statx(dirfd, name, AT_SYMLINK_NOFOLLOW)` on the name
//!   straight out of the `getdents64` buffer. No path is built, no heap
//!   allocation, no lock, no channel: the totals go into the directory's
//!   record on the worker that reads it. Stat'ing by name relative to the
//!   directory spares the kernel re-walking every path component for every
//!   file, which is what tools that stat by absolute path pay for.
//! - **Per directory:** one `openat(parent_fd, name, O_DIRECTORY|O_NOFOLLOW)`,
//!   `getdents64` calls into a buffer reused by the worker, one `close`. The
//!   directory's own inode comes from the `statx` made while its parent was
//!   read (the root's from `fstat`), so no directory is stat'ed twice.
//! - **Scheduling:** only directories are jobs (see [`sched`]); a worker
//!   pushes the subdirectories it finds onto its own LIFO deque and idle
//!   workers steal, then park. Nothing recurses on the thread stack.
//!
//! Semantics, following GNU `du`:
//!
//! - A directory's direct totals are its own inode plus its non-directory
//!   entries; files with more than one link go to [`DirArena::links`] for the
//!   engine's first-path rule. `disktracker-walker-support`'s
//!   [`account_entry`] decides this for every walker, fingerprint included.
//! - **Mount points** with `one_file_system`: an entry whose device differs
//!   from the root's is skipped entirely, its own inode included, and it is
//!   not in the fingerprint. GNU `du -x` (coreutils ≥ 8.x) does the same: it
//!   neither lists nor counts a mount point, nor a file bind-mounted from
//!   another device.
//! - **Errors** never abort the walk. A directory that cannot be opened or
//!   read keeps its own inode (from its parent's listing) and counts one
//!   error. An entry that cannot be stat'ed, including one that **vanished**
//!   between `getdents64` and `statx` (`ENOENT`), counts one error in its
//!   directory and contributes nothing else, not even to the fingerprint.
//! - **File descriptors:** a job carries an `Arc` of its parent's fd, so a
//!   directory's fd closes when its last subdirectory has been opened. Deep
//!   trees could pin many: above a budget (half the `RLIMIT_NOFILE` soft
//!   limit, which is first raised to the hard limit) new jobs are opened by
//!   absolute path instead, and `EMFILE` falls back the same way.
//!
//! Directory ids come from one shared counter at discovery, so a child's id
//! is always above its parent's; which id a directory gets depends on thread
//! timing, the totals never do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod grow;
mod node;
mod sched;

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{Scope, ScopedJoinHandle};

use crossbeam_deque::Worker;
use disktracker::registry::WalkerPlugin;
use disktracker::{
    DirArena, DirHot, DirId, Error, Result, WalkContext, WalkIssue, WalkOptions, WalkOutput, Walker,
};
use disktracker_walker_support::{
    Counted, EntryStat, Exclude, Fingerprint, account_entry, dir_cold, dir_hot,
};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, RawDir, fstat, openat, statat};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::node::PathNode;
use crate::sched::{Scheduler, StopOnPanic};
use disktracker_walker_support::stat::{from_stat, stat_at};

/// The work-stealing walker, registered as `steal` (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct StealWalker;

disktracker::register_walker!(WalkerPlugin::new(
    "steal",
    "work-stealing parallel walker, directory-relative statx (default)",
    |_| Ok(Box::new(StealWalker))
));

/// `getdents64` buffer per worker: big enough that most directories take
/// one call, small enough to stay in cache.
const DIRENT_BUF: usize = 64 * 1024;

/// Directory fds currently held by walkers in this process (fds are a
/// process-wide resource, so the count is too).
static LIVE_DIR_FDS: AtomicUsize = AtomicUsize::new(0);

/// An open directory shared with the jobs of its subdirectories.
struct DirFd(OwnedFd);

impl DirFd {
    fn new(fd: OwnedFd) -> Self {
        LIVE_DIR_FDS.fetch_add(1, Ordering::Relaxed);
        DirFd(fd)
    }
}

impl Drop for DirFd {
    fn drop(&mut self) {
        LIVE_DIR_FDS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a job gets its directory open.
enum Opener {
    /// Already open (the root).
    Opened(OwnedFd),
    /// `openat` relative to the parent.
    At(Arc<DirFd>),
    /// By absolute path (fd budget exhausted).
    Path,
}

/// One directory to read.
struct Job {
    id: u32,
    parent: u32,
    /// The directory's own metadata, from its parent's listing.
    own: EntryStat,
    node: Arc<PathNode>,
    open: Opener,
}

/// State shared by the workers of one walk.
struct Walk<'o> {
    sched: Scheduler<Job>,
    /// Next directory id; 64-bit so it cannot wrap back onto used ids.
    next_id: AtomicU64,
    opts: &'o WalkOptions,
    exclude: Exclude,
    ctx: &'o WalkContext,
    root_dev: u64,
    /// Above this many live directory fds, new jobs reopen by path.
    fd_budget: AtomicUsize,
    /// Kernel thread ids of the workers, for the governor.
    worker_ids: grow::WorkerIds,
    cancelled: AtomicBool,
}

/// A worker's own arena and buffer.
struct WorkerState {
    arena: DirArena,
    /// Only its spare capacity is used, as `getdents64` scratch space.
    buf: Vec<u8>,
}

/// Running direct totals of the directory being read.
struct DirAcc {
    hot: DirHot,
    fingerprint: Fingerprint,
    entries: u64,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn issue(dir: u32, path: Vec<u8>, op: &'static str, err: Errno) -> WalkIssue {
    WalkIssue {
        dir: DirId(dir),
        path,
        op,
        message: std::io::Error::from(err).to_string(),
    }
}

impl Walk<'_> {
    /// Starts worker number `n` on `local`; `None` if the thread cannot be
    /// spawned (its deque never gets a job, so nothing is lost).
    fn spawn_worker<'scope>(
        &'scope self,
        s: &'scope Scope<'scope, '_>,
        n: usize,
        local: Worker<Job>,
    ) -> Option<ScopedJoinHandle<'scope, DirArena>> {
        std::thread::Builder::new()
            .name(format!("dt-walk-{n}"))
            .spawn_scoped(s, move || self.run(local, n))
            .ok()
    }

    /// The governor: doubles the pool while workers wait on the disk and
    /// directories wait in the deques (see [`grow`]), until the walk ends or
    /// `spare` runs out. Returns the workers it started.
    fn grow<'scope>(
        &'scope self,
        s: &'scope Scope<'scope, '_>,
        mut running: usize,
        spare: Vec<Worker<Job>>,
    ) -> Vec<ScopedJoinHandle<'scope, DirArena>> {
        let mut started = Vec::new();
        let mut spare = spare.into_iter().peekable();
        let mut governor = grow::Governor::default();
        while !self.sched.is_done() && spare.peek().is_some() {
            std::thread::park_timeout(grow::TICK);
            if self.sched.is_done() {
                break;
            }
            if governor.should_grow(&self.worker_ids, self.sched.has_waiting(running)) {
                // Doubling reaches the cap in a few ticks: a cold walk
                // blocks from its first directories on.
                let batch: Vec<Worker<Job>> = spare.by_ref().take(running).collect();
                for local in batch {
                    running += 1;
                    started.extend(self.spawn_worker(s, running, local));
                }
            }
        }
        started
    }

    /// Worker number `n`: take jobs until the walk is over.
    fn run(&self, local: Worker<Job>, n: usize) -> DirArena {
        let _stop = StopOnPanic(&self.sched);
        self.worker_ids.register(n);
        let mut state = WorkerState {
            arena: DirArena::default(),
            buf: Vec::with_capacity(DIRENT_BUF),
        };
        while let Some(job) = self.sched.next(&local) {
            if self.ctx.cancel.is_cancelled() {
                self.cancelled.store(true, Ordering::Relaxed);
                self.sched.stop();
                break;
            }
            self.process(job, &local, &mut state);
            self.sched.finish();
        }
        state.arena
    }

    /// Reads one directory and records it.
    fn process(&self, job: Job, local: &Worker<Job>, state: &mut WorkerState) {
        let Job {
            id,
            parent,
            own,
            node,
            open,
        } = job;
        let mut acc = DirAcc {
            hot: dir_hot(id, parent, &own),
            fingerprint: Fingerprint::default(),
            entries: 0,
        };
        // The hook runs once the directory is open and before it is read:
        // given the descriptor, a watcher need not resolve the path again.
        let hook = |fd: Option<BorrowedFd<'_>>| {
            if let Some(hook) = &self.ctx.before_dir {
                let path = node.absolute(None);
                let path = disktracker::path::bytes_path(&path);
                match fd {
                    Some(fd) => hook.call_with_fd(path, fd),
                    None => hook.call(path),
                }
            }
        };
        match self.open(open, &node) {
            Ok(fd) => {
                hook(Some(fd.as_fd()));
                self.read_dir(fd, &node, local, state, &mut acc);
            }
            Err(e) => {
                hook(None);
                acc.hot.errors += 1;
                let path = node.absolute(None);
                state
                    .arena
                    .issues
                    .push(issue(id, path, "open directory", e));
            }
        }
        let cold = dir_cold(&own, acc.fingerprint);
        self.ctx.progress.add_dir(acc.entries, acc.hot.direct_bytes);
        state.arena.push(acc.hot, node.name(), cold);
    }

    fn open(&self, open: Opener, node: &PathNode) -> Result<OwnedFd, Errno> {
        match open {
            Opener::Opened(fd) => Ok(fd),
            Opener::At(parent) => match openat(&parent.0, node.name(), DIR_FLAGS, Mode::empty()) {
                Err(Errno::MFILE | Errno::NFILE) => {
                    // Out of fds: pin fewer parents from now on, let go of
                    // ours, and go by path.
                    let live = LIVE_DIR_FDS.load(Ordering::Relaxed);
                    self.fd_budget.store(live / 2, Ordering::Relaxed);
                    drop(parent);
                    self.open_by_path(node)
                }
                r => r,
            },
            Opener::Path => self.open_by_path(node),
        }
    }

    fn open_by_path(&self, node: &PathNode) -> Result<OwnedFd, Errno> {
        // The root may be a symlink the caller resolved; below it, a name
        // that became a symlink since it was stat'ed must not be followed.
        let flags = if node.is_root() {
            DIR_FLAGS.difference(OFlags::NOFOLLOW)
        } else {
            DIR_FLAGS
        };
        openat(CWD, node.absolute(None).as_slice(), flags, Mode::empty())
    }

    /// Lists `fd` and stats each entry relative to it, in listing order.
    fn read_dir(
        &self,
        fd: OwnedFd,
        node: &Arc<PathNode>,
        local: &Worker<Job>,
        state: &mut WorkerState,
        acc: &mut DirAcc,
    ) {
        let WorkerState { arena, buf } = state;
        let fd = Arc::new(DirFd::new(fd));
        let dir_ctx = DirCtx {
            fd: &fd,
            node,
            local,
        };
        // Entries are stat'ed in listing order. Sorting each buffer-full by
        // inode (as GNU fts does for huge directories, for disk locality)
        // measured ~3% slower on a warm cache, so it is not done.
        let mut dir = RawDir::new(fd.0.as_fd(), buf.spare_capacity_mut());
        while let Some(entry) = dir.next() {
            match entry {
                Ok(entry) => self.entry(&dir_ctx, entry.file_name(), arena, acc),
                Err(e) => {
                    acc.hot.errors += 1;
                    let path = node.absolute(None);
                    arena
                        .issues
                        .push(issue(acc.hot.id, path, "read directory", e));
                    break;
                }
            }
        }
    }

    /// Stats one entry relative to its directory and accounts for it: the hot path.
    #[inline]
    fn entry(&self, d: &DirCtx<'_>, name: &CStr, arena: &mut DirArena, acc: &mut DirAcc) {
        let id = acc.hot.id;
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            return;
        }
        let exclude = &self.exclude;
        if !exclude.is_empty() && exclude.is_excluded(bytes, || d.node.relative(bytes)) {
            return;
        }
        let st = match stat_at(d.fd.0.as_fd(), name) {
            Ok(st) => st,
            Err(e) => {
                acc.hot.errors += 1;
                let path = d.node.absolute(Some(bytes));
                arena.issues.push(issue(id, path, "stat", e));
                return;
            }
        };
        if self.opts.one_file_system && st.dev != self.root_dev {
            return;
        }
        acc.entries += 1;
        // A directory gets its id before it is accounted for, so that one
        // that cannot be recorded is not counted either.
        let child = if st.is_dir {
            let next = self.next_id.fetch_add(1, Ordering::Relaxed);
            match u32::try_from(next).ok().filter(|&c| c != DirId::NONE.0) {
                Some(child) => child,
                None => {
                    acc.hot.errors += 1;
                    let path = d.node.absolute(Some(bytes));
                    arena.issues.push(WalkIssue {
                        dir: DirId(id),
                        path,
                        op: "open directory",
                        message: "more than 4 billion directories".into(),
                    });
                    return;
                }
            }
        } else {
            DirId::NONE.0
        };
        match account_entry(
            &mut acc.hot,
            &mut acc.fingerprint,
            &mut arena.links,
            bytes,
            &st,
        ) {
            Counted::Directory => {
                let open = if LIVE_DIR_FDS.load(Ordering::Relaxed)
                    < self.fd_budget.load(Ordering::Relaxed)
                {
                    Opener::At(Arc::clone(d.fd))
                } else {
                    Opener::Path
                };
                let job = Job {
                    id: child,
                    parent: id,
                    own: st,
                    node: PathNode::child(d.node, bytes),
                    open,
                };
                self.sched.push(d.local, job);
            }
            Counted::Linked | Counted::Direct => {}
        }
    }
}

/// The directory being read, as its entries need it.
struct DirCtx<'a> {
    fd: &'a Arc<DirFd>,
    node: &'a Arc<PathNode>,
    local: &'a Worker<Job>,
}

/// Raises the `RLIMIT_NOFILE` soft limit to the hard limit (once per
/// process) and returns how many directory fds walkers may pin: half the
/// soft limit, leaving the rest to the host (database, index, pipes).
fn fd_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        // The kernel refuses more than fs.nr_open (1 Mi by default) anyway.
        const CAP: u64 = 1 << 20;
        let lim = getrlimit(Resource::Nofile);
        let mut soft = lim.current.unwrap_or(CAP).min(CAP);
        let hard = lim.maximum.unwrap_or(CAP).min(CAP);
        if soft < hard
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(hard),
                    maximum: lim.maximum,
                },
            )
            .is_ok()
        {
            soft = hard;
        }
        usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
    })
}

impl Walker for StealWalker {
    fn calls_before_dir(&self) -> bool {
        true
    }

    fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput> {
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let budget = fd_budget();
        let root_bytes = root.as_os_str().as_bytes();
        // The root itself may be a symlink the caller resolved; follow it.
        let (open, own) = match openat(
            CWD,
            root,
            DIR_FLAGS.difference(OFlags::NOFOLLOW),
            Mode::empty(),
        ) {
            Ok(fd) => {
                let own =
                    fstat(&fd).map_err(|e| Error::io("cannot stat scan root", root, e.into()))?;
                (Opener::Opened(fd), from_stat(&own))
            }
            // Unreadable root: still count its own inode; the job's open
            // fails again and records the problem like any directory's.
            Err(_) => {
                let own = statat(CWD, root, AtFlags::empty())
                    .map_err(|e| Error::io("cannot stat scan root", root, e.into()))?;
                (Opener::Path, from_stat(&own))
            }
        };
        let exclude = Exclude::new(&opts.exclude)?;
        let threads = opts.threads.max(1);
        let max_threads = opts.max_threads.max(threads);
        let (sched, workers) = Scheduler::new(max_threads);
        let walk = Walk {
            sched,
            next_id: AtomicU64::new(1),
            opts,
            exclude,
            ctx,
            root_dev: own.dev,
            fd_budget: AtomicUsize::new(budget),
            worker_ids: grow::WorkerIds::new(max_threads),
            cancelled: AtomicBool::new(false),
        };
        walk.sched.inject(Job {
            id: DirId::ROOT.0,
            parent: DirId::NONE.0,
            own,
            node: PathNode::root(root_bytes),
            open,
        });
        let walk = &walk;
        let arenas = std::thread::scope(|s| {
            let mut workers = workers.into_iter();
            let mine = workers.next();
            let mut handles: Vec<_> = workers
                .by_ref()
                .take(threads - 1)
                .enumerate()
                .filter_map(|(i, local)| walk.spawn_worker(s, i + 1, local))
                .collect();
            // The rest of the deques go to the governor, which starts their
            // workers while the first ones wait on the disk.
            let spare: Vec<Worker<Job>> = workers.collect();
            let governor = (!spare.is_empty()).then(|| {
                std::thread::Builder::new()
                    .name("dt-walk-grow".to_owned())
                    .spawn_scoped(s, move || walk.grow(s, threads, spare))
                    .ok()
            });
            let mut arenas: Vec<DirArena> =
                mine.map(|local| walk.run(local, 0)).into_iter().collect();
            if let Some(Some(governor)) = governor {
                governor.thread().unpark();
                match governor.join() {
                    Ok(grown) => handles.extend(grown),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            for h in handles {
                match h.join() {
                    Ok(arena) => arenas.push(arena),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            arenas
        });
        if walk.cancelled.load(Ordering::Relaxed) {
            return Err(Error::cancelled());
        }
        Ok(WalkOutput {
            root: root.to_path_buf(),
            arenas,
        })
    }
}
