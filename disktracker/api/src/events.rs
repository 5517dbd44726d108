//! The [`EventSource`] plugin trait: where to look after the file system changed.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

use crate::error::Result;

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
/// so that anything created inside it afterwards is reported too.
pub trait EventSource: Send {
    /// Starts watching `root` recursively, sending events to `sink` until
    /// [`EventSource::stop`] or drop. Running out of OS watch resources is an
    /// error naming the limit to raise.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()>;

    /// Stops watching.
    fn stop(&mut self) -> Result<()>;
}
