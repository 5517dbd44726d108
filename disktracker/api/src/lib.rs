//! The DiskTracker plugin API.
//!
//! This crate is all a plugin needs: the five plugin traits ([`Walker`],
//! [`SnapshotStore`], [`LiveIndex`], [`EventSource`], [`Reporter`]), the data
//! model they exchange, the [`Error`] type, and the link-time registries.
//!
//! Implementations register themselves with the `register_*!` macros; the
//! registrations are collected at link time by [`inventory`]. A crate that
//! nothing references is not linked and its registrations vanish, so a binary
//! must name every plugin crate it wants (`use my_plugin as _;`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arena;
pub mod error;
pub mod events;
pub mod human;
pub mod index;
pub mod live;
pub mod model;
pub mod path;
pub mod registry;
pub mod report;
pub mod settings;
pub mod store;
pub mod walker;

pub use arena::{DirArena, DirCold, DirHot, DirId, LinkedFile, SegVec, WalkIssue};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventSource, FsEvent, FsEventKind};
pub use index::{FileIdentity, IndexAccess, IndexOptions, LiveIndex, ReadAdvice};
pub use live::{
    DerivedSnapshot, DirDelta, IndexProvenance, JournalEvent, JournalKind, JournalQuery, LiveBatch,
    LoggedMutation, Mutation, WatchState,
};
pub use model::{DiffEntry, DirRecord, DirStats, SizeKind, SnapshotId, SnapshotInfo, SnapshotMeta};
pub use registry::{
    EventSourcePlugin, IndexPlugin, PluginInfo, PluginKind, Registry, ReporterPlugin, StorePlugin,
    WalkerPlugin,
};
pub use report::{ChangeStatus, RenderOptions, Report, ReportKind, Reporter};
pub use settings::{PluginSettings, SettingSpec};
pub use store::{
    RootFilter, SnapshotQuery, SnapshotStore, SnapshotWriter, StoreLocation, StoreOptions,
};
pub use walker::{CancelToken, ScanProgress, WalkContext, WalkOptions, WalkOutput, Walker};

/// Re-exported so plugin crates can register without depending on `inventory` directly.
pub use inventory;
