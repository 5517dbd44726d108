//! DiskTracker's default [`EventSource`] (`notify`): recursive file-system
//! notifications through the `notify` crate (inotify on Linux), translated
//! into [`FsEvent`]s that say where to look.
//!
//! # Decisions
//!
//! * **Events are hints.** A consumer re-reads the directories they name, so
//!   the translation keeps the path and the kind and drops the rest: access
//!   events (opens, closes, reads) are not sent at all, and a rename whose
//!   direction the OS did not tell becomes a `Modify` of that path.
//! * **Lost events.** When the kernel queue overflows, notify flags a rescan;
//!   so does a failure after watching started (e.g. no watch could be added
//!   for a new subdirectory because `fs.inotify.max_user_watches` ran out).
//!   Both become [`FsEventKind::RescanNeeded`] for the paths concerned, or
//!   the root when none is named, and the consumer revalidates them.
//! * **Limits at start.** Running out of watches or inotify instances while
//!   the tree is being watched is an error naming the sysctl to raise
//!   (`fs.inotify.max_user_watches`, `fs.inotify.max_user_instances`).
//! * **New directories** are watched by notify as they appear; files created
//!   in one before its watch exists produce no event, so a consumer scans a
//!   created or moved-in directory once (DESIGN §5).
//! * **Stopping** drops the watcher; its thread ends and drops the sink, so
//!   the receiving side sees the channel disconnect.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use disktracker::{Error, ErrorKind, EventSource, FsEvent, FsEventKind, Result};
use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

disktracker::register_event_source!(disktracker::registry::EventSourcePlugin::new(
    "notify",
    "recursive OS file-system notifications (inotify on Linux) via the notify crate",
    |_| Ok(Box::new(NotifySource::default()))
));

/// The `notify` event source. Watches one root at a time.
#[derive(Default)]
pub struct NotifySource {
    watcher: Option<RecommendedWatcher>,
}

impl std::fmt::Debug for NotifySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySource")
            .field("watching", &self.watcher.is_some())
            .finish()
    }
}

impl EventSource for NotifySource {
    /// Watches `root` (an existing directory) recursively. Watching again
    /// replaces the previous watch.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()> {
        self.stop()?;
        let meta = std::fs::metadata(root).map_err(|e| Error::io("cannot watch", root, e))?;
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("cannot watch {}: not a directory", show(root)),
            ));
        }
        let owned_root = root.to_path_buf();
        // Symlinks are not followed: a link to an ancestor would watch the
        // tree again under other names, and the kernel keeps one watch per
        // directory, so its events would then carry the link's path.
        let config = notify::Config::default().with_follow_symlinks(false);
        let mut renamed = RecentRenames::default();
        let handler = move |res: notify::Result<notify::Event>| {
            let events = match res {
                Ok(event) => translate(event, &owned_root),
                Err(err) => translate_error(err, &owned_root),
            };
            for e in events {
                let e = renamed.follow(e);
                // The receiver is gone: nobody listens any more; the watcher
                // is dropped by its owner.
                if sink.send(e).is_err() {
                    return;
                }
            }
        };
        let mut watcher =
            RecommendedWatcher::new(handler, config).map_err(|e| watch_error(e, root))?;
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| watch_error(e, root))?;
        self.watcher = Some(watcher);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        self.watcher = None;
        Ok(())
    }
}

/// Directories renamed in the last moment. notify re-watches a renamed
/// directory when it handles the rename, so events from inside it that the
/// kernel queued in between still carry the old path; while the old path
/// is gone, such events are moved to the new one.
#[derive(Default)]
struct RecentRenames(Vec<(PathBuf, PathBuf, std::time::Instant)>);

impl RecentRenames {
    /// How long after a rename stale paths are expected.
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

    fn follow(&mut self, mut e: FsEvent) -> FsEvent {
        let now = std::time::Instant::now();
        self.0
            .retain(|(_, _, at)| now.duration_since(*at) < Self::WINDOW);
        if e.kind == FsEventKind::Renamed
            && let Some(from) = &e.from
        {
            self.0.push((from.clone(), e.path.clone(), now));
            return e;
        }
        for (from, to, _) in self.0.iter().rev() {
            if e.path != *from
                && let Ok(rest) = e.path.strip_prefix(from)
                && std::fs::symlink_metadata(from).is_err()
            {
                e.path = to.join(rest);
                break;
            }
        }
        e
    }
}

/// The [`FsEvent`]s that say where to look after `event`. `root` is named by
/// a rescan that names no path.
pub fn translate(event: notify::Event, root: &Path) -> Vec<FsEvent> {
    if event.need_rescan() {
        return rescan_for(event.paths, root);
    }
    let one = |kind, is_dir| -> Vec<FsEvent> {
        event
            .paths
            .iter()
            .map(|p| FsEvent::new(kind, p.clone(), is_dir))
            .collect()
    };
    match event.kind {
        EventKind::Access(_) => Vec::new(),
        EventKind::Create(k) => one(FsEventKind::Create, create_is_dir(k)),
        EventKind::Remove(k) => one(FsEventKind::Remove, remove_is_dir(k)),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => one(FsEventKind::RenameFrom, None),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => one(FsEventKind::RenameTo, None),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            // notify names the old path, then the new one, after it has
            // already reported each half on its own.
            match <[PathBuf; 2]>::try_from(event.paths) {
                Ok([from, to]) => vec![FsEvent::renamed(from, to, None)],
                Err(paths) => paths
                    .into_iter()
                    .map(|p| FsEvent::new(FsEventKind::Modify, p, None))
                    .collect(),
            }
        }
        EventKind::Modify(_) | EventKind::Any | EventKind::Other => one(FsEventKind::Modify, None),
    }
}

/// The events for an error notify reports after watching started: running
/// out of watches leaves the named subtree unwatched; anything else may have
/// lost events, so the named paths (or the root) must be rescanned.
pub fn translate_error(err: notify::Error, root: &Path) -> Vec<FsEvent> {
    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
        let detail =
            watch_error(notify::Error::new(notify::ErrorKind::MaxFilesWatch), root).to_string();
        let paths = if err.paths.is_empty() {
            vec![root.to_path_buf()]
        } else {
            err.paths
        };
        return paths
            .into_iter()
            .map(|p| {
                FsEvent::new(FsEventKind::Unwatched, p, Some(true)).with_detail(detail.clone())
            })
            .collect();
    }
    let detail = err.to_string();
    rescan_for(err.paths, root)
        .into_iter()
        .map(|e| e.with_detail(detail.clone()))
        .collect()
}

fn create_is_dir(k: CreateKind) -> Option<bool> {
    match k {
        CreateKind::Folder => Some(true),
        CreateKind::File => Some(false),
        CreateKind::Any | CreateKind::Other => None,
    }
}

fn remove_is_dir(k: RemoveKind) -> Option<bool> {
    match k {
        RemoveKind::Folder => Some(true),
        RemoveKind::File => Some(false),
        RemoveKind::Any | RemoveKind::Other => None,
    }
}

/// Rescan events for `paths`, or for `root` when there are none.
fn rescan_for(paths: Vec<PathBuf>, root: &Path) -> Vec<FsEvent> {
    let paths = if paths.is_empty() {
        vec![root.to_path_buf()]
    } else {
        paths
    };
    paths
        .into_iter()
        .map(|path| FsEvent::new(FsEventKind::RescanNeeded, path, None))
        .collect()
}

/// A one-line error for a failure to start watching `root`, naming the
/// limit to raise where there is one.
pub fn watch_error(err: notify::Error, root: &Path) -> Error {
    let whole = err.to_string();
    let at = err.paths.first().map_or_else(|| show(root), |p| show(p));
    match err.kind {
        notify::ErrorKind::MaxFilesWatch => Error::new(
            ErrorKind::Io,
            format!(
                "cannot watch {}: out of inotify watches at {at}",
                show(root)
            ),
        )
        .with_hint(
            "raise fs.inotify.max_user_watches (sysctl -w fs.inotify.max_user_watches=1048576), \
             or watch a smaller tree",
        ),
        notify::ErrorKind::PathNotFound => Error::new(
            ErrorKind::NotFound,
            format!("cannot watch {}: {at} does not exist", show(root)),
        ),
        notify::ErrorKind::Io(e) if e.raw_os_error() == Some(EMFILE) => Error::new(
            ErrorKind::Io,
            format!(
                "cannot watch {}: out of inotify instances ({e})",
                show(root)
            ),
        )
        .with_hint(
            "raise fs.inotify.max_user_instances (sysctl -w fs.inotify.max_user_instances=1024) \
             or stop other watchers",
        ),
        notify::ErrorKind::Io(e) => {
            let kind = if e.kind() == io::ErrorKind::PermissionDenied {
                ErrorKind::Permission
            } else {
                ErrorKind::Io
            };
            Error::new(kind, format!("cannot watch {}: {at}: {e}", show(root)))
        }
        notify::ErrorKind::Generic(msg) => {
            Error::new(ErrorKind::Io, format!("cannot watch {}: {msg}", show(root)))
        }
        notify::ErrorKind::WatchNotFound | notify::ErrorKind::InvalidConfig(_) => Error::new(
            ErrorKind::Plugin,
            format!("cannot watch {}: {whole}", show(root)),
        ),
    }
}

/// `EMFILE` on Linux: what `inotify_init` fails with at
/// `fs.inotify.max_user_instances` (std has no stable kind for it).
const EMFILE: i32 = 24;

fn show(p: &Path) -> String {
    disktracker::path::escape_path(p).into_owned()
}
