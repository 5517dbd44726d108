//! The [`EventSource`] plugin trait: where to look after the file system changed.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::walker::DirHook;

/// What happened (as far as the source knows; events only say where to look).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FsEventKind {
    /// An entry was created.
    Create,
    /// An entry's data or metadata changed.
    Modify,
    /// An entry was removed.
    Remove,
    /// An entry was renamed away from this path (the other side may be unknown).
    RenameFrom,
    /// An entry was renamed to this path (the other side may be unknown).
    RenameTo,
    /// An entry was renamed from [`FsEvent::from`] to [`FsEvent::path`], both
    /// known. Sources that report this also report the two halves before it.
    Renamed,
    /// The source lost events; everything under the path must be revalidated.
    RescanNeeded,
    /// The path could not be watched (for example the watch limit was
    /// reached): changes under it are not reported until it is rescanned.
    /// [`FsEvent::detail`] says why and what to do.
    Unwatched,
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FsEvent {
    /// What happened.
    pub kind: FsEventKind,
    /// Where.
    pub path: PathBuf,
    /// Whether the entry is a directory, when the source knows.
    pub is_dir: Option<bool>,
    /// The old path of a [`FsEventKind::Renamed`].
    pub from: Option<PathBuf>,
    /// A one-line explanation (for [`FsEventKind::Unwatched`] and
    /// [`FsEventKind::RescanNeeded`]), naming what to do.
    pub detail: Option<String>,
}

impl FsEvent {
    /// An event of `kind` at `path`.
    pub fn new(kind: FsEventKind, path: impl Into<PathBuf>, is_dir: Option<bool>) -> Self {
        FsEvent {
            kind,
            path: path.into(),
            is_dir,
            from: None,
            detail: None,
        }
    }

    /// A rename from `from` to `to`, both known.
    pub fn renamed(from: impl Into<PathBuf>, to: impl Into<PathBuf>, is_dir: Option<bool>) -> Self {
        FsEvent {
            from: Some(from.into()),
            ..FsEvent::new(FsEventKind::Renamed, to, is_dir)
        }
    }

    /// Adds an explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A source of file-system notifications for one root.
///
/// Events only say *where to look*: the watcher re-reads the directories
/// they name. A source must report every change under the root or, when it
/// cannot (a lost event, a full queue, a watch it could not add), say so with
/// [`FsEventKind::RescanNeeded`] or [`FsEventKind::Unwatched`] — never stay
/// silent. A new directory must be watched before its creation is reported,
/// so that anything created inside it afterwards is reported too. Every
/// source must pass the event-source conformance suite in
/// `disktracker-testkit`.
///
/// A whole source — it polls one directory's listing, where a real one
/// (`notify`) asks the OS for recursive notifications — registered and run:
///
/// ```
/// use std::path::{Path, PathBuf};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::mpsc::{self, Sender};
/// use std::sync::Arc;
/// use std::thread::JoinHandle;
/// use std::time::Duration;
///
/// use disktracker::registry::{event_sources, EventSourcePlugin};
/// use disktracker::{Error, EventSource, FsEvent, FsEventKind, PluginSettings, Result};
///
/// #[derive(Default)]
/// struct Poller {
///     stop: Arc<AtomicBool>,
///     thread: Option<JoinHandle<()>>,
/// }
///
/// fn names(dir: &Path) -> Vec<PathBuf> {
///     let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
///         .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
///         .unwrap_or_default();
///     v.sort();
///     v
/// }
///
/// impl EventSource for Poller {
///     fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()> {
///         let dir = root.to_path_buf();
///         // Read the starting state before returning, so no change made
///         // after `watch` returns can be missed.
///         let mut seen = names(&dir);
///         let stop = Arc::clone(&self.stop);
///         let thread = std::thread::Builder::new()
///             .name("poller".into())
///             .spawn(move || {
///                 while !stop.load(Ordering::Relaxed) {
///                     std::thread::sleep(Duration::from_millis(10));
///                     let now = names(&dir);
///                     for gone in seen.iter().filter(|p| !now.contains(p)) {
///                         let e = FsEvent::new(FsEventKind::Remove, gone.clone(), None);
///                         if sink.send(e).is_err() { return; } // the receiver is gone
///                     }
///                     for new in now.iter().filter(|p| !seen.contains(p)) {
///                         let e = FsEvent::new(FsEventKind::Create, new.clone(), Some(new.is_dir()));
///                         if sink.send(e).is_err() { return; }
///                     }
///                     seen = now;
///                 }
///             })
///             .map_err(|e| Error::io("cannot start a poller for", root, e))?;
///         self.thread = Some(thread);
///         Ok(())
///     }
///
///     fn stop(&mut self) -> Result<()> {
///         self.stop.store(true, Ordering::Relaxed);
///         if let Some(t) = self.thread.take() {
///             let _ = t.join();
///         }
///         Ok(())
///     }
/// }
///
/// impl Drop for Poller {
///     fn drop(&mut self) {
///         let _ = self.stop();
///     }
/// }
///
/// disktracker::register_event_source!(EventSourcePlugin::new(
///     "poller",
///     "polls one directory's listing (the API's example)",
///     |_settings| Ok(Box::new(Poller::default())),
/// ));
///
/// let root = std::env::temp_dir().join(format!("dt-events-example-{}", std::process::id()));
/// std::fs::create_dir_all(&root).unwrap();
/// let plugin = event_sources().unwrap().get("poller").unwrap();
/// let mut source = (plugin.create)(&PluginSettings::empty("poller")).unwrap();
/// let (tx, rx) = mpsc::channel();
/// source.watch(&root, tx).unwrap();
///
/// std::fs::create_dir(root.join("new")).unwrap();
/// let event = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
/// assert_eq!(event, FsEvent::new(FsEventKind::Create, root.join("new"), Some(true)));
///
/// source.stop().unwrap();
/// std::fs::remove_dir_all(&root).unwrap();
/// ```
pub trait EventSource: Send {
    /// Starts watching `root` recursively, sending events to `sink` until
    /// [`EventSource::stop`] or drop. Running out of OS watch resources is an
    /// error naming the limit to raise.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()>;

    /// Starts watching `root` like [`EventSource::watch`], except that the
    /// directories below it are watched by the returned hook, which the
    /// caller passes to a walk of the tree it is about to do
    /// ([`WalkContext::before_dir`](crate::WalkContext::before_dir)): each
    /// directory is then watched before it is read, so nothing changing
    /// during the walk falls between the walk and the events, and the tree
    /// is traversed once instead of twice. Calling the hook again for a
    /// watched directory (a later walk) is harmless and refreshes its path.
    ///
    /// A source that cannot do this watches recursively and returns `None`
    /// (the default).
    fn watch_as_walked(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<Option<DirHook>> {
        self.watch(root, sink).map(|()| None)
    }

    /// Stops watching.
    fn stop(&mut self) -> Result<()>;
}
