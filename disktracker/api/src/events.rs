//! The [`EventSource`] plugin trait: where to look after the file system changed.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What happened (as far as the source knows; events only say where to look).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsEventKind {
    /// An entry was created.
    Create,
    /// An entry's data or metadata changed.
    Modify,
    /// An entry was removed.
    Remove,
    /// An entry was renamed away from this path.
    RenameFrom,
    /// An entry was renamed to this path.
    RenameTo,
    /// The source lost events; everything under the path must be revalidated.
    RescanNeeded,
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEvent {
    /// What happened.
    pub kind: FsEventKind,
    /// Where.
    pub path: PathBuf,
    /// Whether the entry is a directory, when the source knows.
    pub is_dir: Option<bool>,
}

/// A source of file-system notifications for one root.
///
/// Events say *where to look*, not what the sizes are: the watcher stats
/// what an event names and walks a subtree when told
/// [`FsEventKind::RescanNeeded`]. So a source may merge, repeat or coarsen
/// events, but must never lose one silently: when it cannot keep up (a
/// queue overflowed, the OS dropped events) it sends `RescanNeeded` for the
/// part it lost track of. Every source must pass the event-source
/// conformance suite in `disktracker-testkit`.
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
///                         let e = FsEvent { kind: FsEventKind::Remove, path: gone.clone(), is_dir: None };
///                         if sink.send(e).is_err() { return; } // the receiver is gone
///                     }
///                     for new in now.iter().filter(|p| !seen.contains(p)) {
///                         let e = FsEvent { kind: FsEventKind::Create, path: new.clone(), is_dir: Some(new.is_dir()) };
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
/// assert_eq!(event, FsEvent { kind: FsEventKind::Create, path: root.join("new"), is_dir: Some(true) });
///
/// source.stop().unwrap();
/// std::fs::remove_dir_all(&root).unwrap();
/// ```
pub trait EventSource: Send {
    /// Starts watching `root` recursively, sending events to `sink` until
    /// [`EventSource::stop`] or drop. Running out of OS watch resources is an
    /// error naming the limit to raise.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()>;

    /// Stops watching.
    fn stop(&mut self) -> Result<()>;
}
