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
pub trait EventSource: Send {
    /// Starts watching `root` recursively, sending events to `sink` until
    /// [`EventSource::stop`] or drop. Running out of OS watch resources is an
    /// error naming the limit to raise.
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()>;

    /// Stops watching.
    fn stop(&mut self) -> Result<()>;
}
