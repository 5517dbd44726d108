//! DiskTracker's default [`EventSource`] on Linux (`inotify`): one inotify
//! instance per root, read by one thread, translated into [`FsEvent`]s that
//! say where to look.
//!
//! # Decisions
//!
//! * **Watched as walked.** [`EventSource::watch_as_walked`] watches the root
//!   and hands back a hook that the watcher's validation walk calls for
//!   every directory before reading it, so the tree is traversed once (not
//!   once to watch and once to validate) and nothing falls between the walk
//!   and the events. Every later walk (a rescan after lost events) calls it
//!   again, which re-watches directories whose creation was lost with the
//!   events and refreshes every watch's path. Given the walker's open
//!   directory, the watch goes through it instead of the path (see
//!   `at_fd`). [`EventSource::watch`] walks the directories itself
//!   (listing only, no `stat`).
//! * **Only what changes sizes.** The mask is create, delete, modify,
//!   attribute change (a hard link's count), both halves of a move and the
//!   watched directory's own removal or move. Opens, reads and closes are
//!   not asked for: they only fill the kernel's queue
//!   (`fs.inotify.max_queued_events`) — including with the watcher's own
//!   walks.
//! * **Renames.** The two halves of a rename are queued together by the
//!   kernel, so they are paired by cookie once the queue is drained: a pair
//!   is reported as both halves and then [`FsEventKind::Renamed`], and a
//!   renamed directory's watches take its new path. A directory moved out
//!   (no pair) loses its watches; one moved in is watched, with everything
//!   below it, before it is reported.
//! * **Lost events.** A queue overflow is [`FsEventKind::RescanNeeded`] of
//!   the root; a directory that cannot be watched because
//!   `fs.inotify.max_user_watches` ran out is [`FsEventKind::Unwatched`]
//!   (for the first such directory only: every one reached after it fails
//!   too, and the consumer rescans the root). Both name the sysctl to raise.
//! * **Symlinks** are never followed (`IN_DONT_FOLLOW`, `IN_ONLYDIR`, and
//!   listings judged by their entries' own type).
//! * **Stopping** wakes the reader through an eventfd, drops the sink and
//!   joins the thread.
#![deny(unsafe_code)]

mod at_fd;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use disktracker::path::escape_path;
use disktracker::{DirHook, Error, ErrorKind, EventSource, FsEvent, FsEventKind, Result};
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd, poll};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, Reader, WatchFlags};
use rustix::io::Errno;

disktracker::register_event_source!(disktracker::registry::EventSourcePlugin::new(
    "inotify",
    "Linux inotify, each directory watched as the watcher's walk reaches it (default)",
    |_| Ok(Box::new(InotifySource::default()))
));

/// What every directory is watched for.
const MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DONT_FOLLOW)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::EXCL_UNLINK);

/// The reader's buffer: a few thousand events per `read`.
const READ_BUF: usize = 256 * 1024;

/// The `inotify` event source. Watches one root at a time.
#[derive(Debug, Default)]
pub struct InotifySource {
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    shared: Arc<Shared>,
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

/// What the reader thread and the walk hook share.
#[derive(Debug)]
struct Shared {
    fd: OwnedFd,
    root: PathBuf,
    /// Each watch's directory, by watch descriptor.
    watches: Mutex<HashMap<i32, PathBuf>>,
    /// Running out of watches was reported (once: every directory after
    /// the first that failed fails too, until the limit is raised).
    out_of_watches: AtomicBool,
    sink: Mutex<Option<Sender<FsEvent>>>,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere left it poisoned; the data is still consistent
    // (every critical section is a single map operation).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventSource for InotifySource {
    /// Watches `root` (an existing directory) and every directory below it.
    /// Watching again replaces the previous watch.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()> {
        let shared = self.start(root, sink)?;
        shared.watch_tree(root, true)
    }

    fn watch_as_walked(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<Option<DirHook>> {
        let shared = self.start(root, sink)?;
        Ok(Some(DirHook::with_fd(move |dir, fd| {
            shared.watch_walked(dir, fd);
        })))
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(mut r) = self.running.take() {
            r.shared.stopped.store(true, Ordering::Relaxed);
            lock(&r.shared.sink).take();
            // The reader polls the eventfd; a failed write (impossible for a
            // counter far below its maximum) would leave it to notice the
            // dropped sink at its next event.
            let _ = rustix::io::write(r.wake.as_fd(), &1u64.to_ne_bytes());
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
        Ok(())
    }
}

impl Drop for InotifySource {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl InotifySource {
    /// Opens an inotify instance watching `root` alone and starts its reader.
    fn start(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<Arc<Shared>> {
        self.stop()?;
        let meta = std::fs::metadata(root).map_err(|e| Error::io("cannot watch", root, e))?;
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("cannot watch {}: not a directory", escape_path(root)),
            ));
        }
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| start_error(root, root, e))?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("cannot create an eventfd to watch", root, e.into()))?;
        let shared = Arc::new(Shared {
            fd,
            root: root.to_path_buf(),
            watches: Mutex::new(HashMap::new()),
            out_of_watches: AtomicBool::new(false),
            sink: Mutex::new(Some(sink)),
            stopped: AtomicBool::new(false),
        });
        shared.add(root).map_err(|e| start_error(root, root, e))?;
        let wake = Arc::new(wake);
        let thread = {
            let (shared, wake) = (Arc::clone(&shared), Arc::clone(&wake));
            std::thread::Builder::new()
                .name("dt-inotify".into())
                .spawn(move || read_loop(&shared, &wake))
                .map_err(|e| Error::io("cannot start the inotify reader for", root, e))?
        };
        self.running = Some(Running {
            shared: Arc::clone(&shared),
            wake,
            thread: Some(thread),
        });
        Ok(shared)
    }
}

/// A one-line error for a failure to start watching `root` at `at`, naming
/// the limit to raise where there is one.
fn start_error(root: &Path, at: &Path, e: Errno) -> Error {
    let (root_s, at_s) = (escape_path(root), escape_path(at));
    match e {
        Errno::NOSPC => Error::new(
            ErrorKind::Io,
            format!("cannot watch {root_s}: out of inotify watches at {at_s}"),
        )
        .with_hint(WATCHES_HINT),
        Errno::MFILE => Error::new(
            ErrorKind::Io,
            format!("cannot watch {root_s}: out of inotify instances"),
        )
        .with_hint(
            "raise fs.inotify.max_user_instances (sysctl -w fs.inotify.max_user_instances=1024) \
             or stop other watchers",
        ),
        Errno::NOENT => Error::new(
            ErrorKind::NotFound,
            format!("cannot watch {root_s}: {at_s} does not exist"),
        ),
        Errno::ACCESS | Errno::PERM => Error::new(
            ErrorKind::Permission,
            format!("cannot watch {root_s}: {at_s}: {}", std::io::Error::from(e)),
        ),
        _ => Error::new(
            ErrorKind::Io,
            format!("cannot watch {root_s}: {at_s}: {}", std::io::Error::from(e)),
        ),
    }
}

const WATCHES_HINT: &str = "raise fs.inotify.max_user_watches \
     (sysctl -w fs.inotify.max_user_watches=1048576), or watch a smaller tree";

impl Shared {
    /// Watches `dir` (not below it), recording its path.
    fn add(&self, dir: &Path) -> std::result::Result<(), Errno> {
        self.add_at(dir, None)
    }

    /// Watches `dir`, open as `fd` when given (see [`at_fd`]).
    fn add_at(&self, dir: &Path, fd: Option<BorrowedFd<'_>>) -> std::result::Result<(), Errno> {
        let wd = at_fd::add_watch(&self.fd, dir, fd, MASK)?;
        lock(&self.watches).insert(wd, dir.to_path_buf());
        Ok(())
    }

    /// Sends `e`; false once nobody listens.
    fn send(&self, e: FsEvent) -> bool {
        lock(&self.sink).as_ref().is_some_and(|s| s.send(e).is_ok())
    }

    /// The walk hook: watches `dir`. Running out of watches is reported as
    /// [`FsEventKind::Unwatched`], once; a directory that
    /// vanished or cannot be read is the walk's business.
    fn watch_walked(&self, dir: &Path, fd: Option<BorrowedFd<'_>>) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        if let Err(Errno::NOSPC) = self.add_at(dir, fd) {
            self.report_unwatched(dir);
        }
    }

    fn report_unwatched(&self, dir: &Path) {
        if self.out_of_watches.swap(true, Ordering::Relaxed) {
            return;
        }
        let detail = format!(
            "out of inotify watches at {} (and at directories reached after it); {WATCHES_HINT}",
            escape_path(dir)
        );
        self.send(FsEvent::new(FsEventKind::Unwatched, dir, Some(true)).with_detail(detail));
    }

    /// Watches `top` and every directory below it, each before listing it.
    /// With `strict`, running out of watches is an error (at start);
    /// otherwise it is reported as unwatched and the walk goes on.
    fn watch_tree(&self, top: &Path, strict: bool) -> Result<()> {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.stopped.load(Ordering::Relaxed) {
                break;
            }
            match self.add(&dir) {
                Ok(()) => {}
                Err(Errno::NOSPC) if strict => {
                    return Err(start_error(&self.root, &dir, Errno::NOSPC));
                }
                Err(Errno::NOSPC) => {
                    self.report_unwatched(&dir);
                    continue;
                }
                // Gone, replaced by a file or a symlink, or unreadable: no
                // events to miss below it.
                Err(_) => continue,
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // The entry's own type (d_type): a symlink is not a directory.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Forgets the watches of `top` and everything below it (moved out).
    fn unwatch_tree(&self, top: &Path) {
        let gone: Vec<i32> = {
            let mut w = lock(&self.watches);
            let gone: Vec<i32> = w
                .iter()
                .filter(|(_, p)| p.starts_with(top))
                .map(|(&wd, _)| wd)
                .collect();
            for wd in &gone {
                w.remove(wd);
            }
            gone
        };
        for wd in gone {
            // Already removed by the kernel (deleted since): nothing to do.
            let _ = inotify::remove_watch(&self.fd, wd);
        }
    }

    /// Gives the watches of `from` and everything below it the paths under `to`.
    fn rename_tree(&self, from: &Path, to: &Path) {
        let mut w = lock(&self.watches);
        for p in w.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }
}

/// The reader thread: drains the queue, translates, and sleeps in `poll`
/// until the queue or the stop eventfd is readable.
fn read_loop(shared: &Shared, wake: &OwnedFd) {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); READ_BUF];
    let mut reader = Reader::new(&shared.fd, &mut buf);
    let mut moves: Vec<Move> = Vec::new();
    loop {
        if shared.stopped.load(Ordering::Relaxed) {
            return;
        }
        let raw = match reader.next() {
            Ok(e) => RawEvent {
                wd: e.wd(),
                mask: e.events(),
                cookie: e.cookie(),
                name: e.file_name().map(|n| n.to_bytes().to_vec()),
            },
            Err(Errno::AGAIN) => {
                // Drained: the halves of every rename queued so far are in.
                for m in moves.drain(..) {
                    if m.is_dir {
                        shared.unwatch_tree(&m.from);
                    }
                }
                let mut fds = [
                    PollFd::new(&shared.fd, PollFlags::IN),
                    PollFd::new(wake, PollFlags::IN),
                ];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => {
                        report_failure(shared, e);
                        return;
                    }
                }
                if !fds[1].revents().is_empty() {
                    return;
                }
                continue;
            }
            Err(Errno::INTR) => continue,
            Err(e) => {
                report_failure(shared, e);
                return;
            }
        };
        if !translate(shared, &raw, &mut moves) {
            return;
        }
    }
}

/// The reader cannot go on: everything from now on may be missed.
fn report_failure(shared: &Shared, e: Errno) {
    let detail = format!(
        "reading inotify events failed ({}); restart the watcher",
        std::io::Error::from(e)
    );
    shared.send(
        FsEvent::new(FsEventKind::RescanNeeded, &shared.root, Some(true)).with_detail(detail),
    );
}

/// One event, copied out of the read buffer.
struct RawEvent {
    wd: i32,
    mask: ReadFlags,
    cookie: u32,
    name: Option<Vec<u8>>,
}

/// The first half of a rename, waiting for its second.
struct Move {
    cookie: u32,
    from: PathBuf,
    is_dir: bool,
}

/// Sends the events that say where to look after `raw`; false once nobody
/// listens.
fn translate(shared: &Shared, raw: &RawEvent, moves: &mut Vec<Move>) -> bool {
    let mask = raw.mask;
    if mask.contains(ReadFlags::QUEUE_OVERFLOW) {
        let detail = "the kernel's inotify queue overflowed and events were lost; \
                      raise fs.inotify.max_queued_events if this recurs";
        return shared.send(
            FsEvent::new(FsEventKind::RescanNeeded, &shared.root, Some(true)).with_detail(detail),
        );
    }
    let dir = {
        let mut w = lock(&shared.watches);
        if mask.contains(ReadFlags::IGNORED) {
            w.remove(&raw.wd);
            return true;
        }
        match w.get(&raw.wd) {
            Some(d) => d.clone(),
            // A watch forgotten since (moved out): its events are not ours.
            None => return true,
        }
    };
    let is_dir = mask.contains(ReadFlags::ISDIR);
    let Some(name) = &raw.name else {
        // The watched directory itself. Below the root its parent reports
        // the same change with a name; the root has no watched parent.
        if dir == shared.root && mask.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
            return shared.send(FsEvent::new(FsEventKind::Remove, dir, Some(true)));
        }
        return true;
    };
    let path = dir.join(OsStr::from_bytes(name));
    let mut ok = true;
    if mask.contains(ReadFlags::CREATE) {
        if is_dir {
            // Before it is reported, so that what is created in it next is.
            let _ = shared.watch_tree(&path, false);
        }
        ok &= shared.send(FsEvent::new(
            FsEventKind::Create,
            path.clone(),
            Some(is_dir),
        ));
    }
    if mask.intersects(ReadFlags::MODIFY | ReadFlags::ATTRIB) {
        ok &= shared.send(FsEvent::new(
            FsEventKind::Modify,
            path.clone(),
            Some(is_dir),
        ));
    }
    if mask.contains(ReadFlags::DELETE) {
        ok &= shared.send(FsEvent::new(
            FsEventKind::Remove,
            path.clone(),
            Some(is_dir),
        ));
    }
    if mask.contains(ReadFlags::MOVED_FROM) {
        moves.push(Move {
            cookie: raw.cookie,
            from: path.clone(),
            is_dir,
        });
        ok &= shared.send(FsEvent::new(
            FsEventKind::RenameFrom,
            path.clone(),
            Some(is_dir),
        ));
    }
    if mask.contains(ReadFlags::MOVED_TO) {
        let from = moves
            .iter()
            .position(|m| m.cookie == raw.cookie)
            .map(|i| moves.swap_remove(i).from);
        match &from {
            Some(from) if is_dir => shared.rename_tree(from, &path),
            Some(_) => {}
            // Moved in: watched, with everything below it, before reported.
            None if is_dir => {
                let _ = shared.watch_tree(&path, false);
            }
            None => {}
        }
        ok &= shared.send(FsEvent::new(
            FsEventKind::RenameTo,
            path.clone(),
            Some(is_dir),
        ));
        if let Some(from) = from {
            ok &= shared.send(FsEvent::renamed(from, path, Some(is_dir)));
        }
    }
    ok
}
