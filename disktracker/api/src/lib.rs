//! The DiskTracker plugin API: everything a plugin compiles against.
//!
//! DiskTracker keeps a history of disk usage. Five kinds of plugin do its
//! work, each a trait here; the host (the `disktracker` command line and its
//! engine) picks one of each by name and drives it:
//!
//! | trait | does | chosen with | example |
//! |---|---|---|---|
//! | [`Walker`] | walks a directory tree into per-directory records ([`WalkOutput`]) | `--walker` | [`Walker`]'s docs |
//! | [`SnapshotStore`] | keeps snapshots, diffs and the live tables durably | `--backend` | [`SnapshotStore`]'s docs |
//! | [`LiveIndex`] | answers "how big is this directory" in microseconds | (one: `mmap`) | [`LiveIndex`]'s docs |
//! | [`EventSource`] | says where to look after the file system changed | (one: `notify`) | [`EventSource`]'s docs |
//! | [`Reporter`] | renders typed reports ([`Report`]) as bytes | `--format` | [`Reporter`]'s docs |
//!
//! A reporter needs only [`Reporter`], [`report`], [`model`], [`human`] and
//! [`path`]; the rest is for the other kinds.
//!
//! # Registering a plugin
//!
//! A plugin crate builds a descriptor ([`registry::ReporterPlugin::new`],
//! [`registry::WalkerPlugin::new`], …: a unique name, a one-line summary, a
//! factory, and what it declares — the report kinds a reporter renders, the
//! magic bytes and URL schemes of a store, its settings) and submits it
//! with the matching macro: [`register_reporter!`], [`register_walker!`],
//! [`register_store!`], [`register_index!`], [`register_event_source!`]. The
//! host finds it by name in [`registry::reporters`] and its siblings, which
//! refuse two plugins of one kind with the same name.
//!
//! ## The linking pitfall
//!
//! Registrations are collected at link time (by [`inventory`]), and the
//! linker drops a crate that nothing references — with its registrations.
//! A binary must therefore *name* every plugin crate it wants, even when it
//! calls nothing in it:
//!
//! ```text
//! use my_reporter as _; // links it, and so registers `--format mine`
//! fn main() -> std::process::ExitCode { disktracker_defaults::main() }
//! ```
//!
//! The same holds for a test binary: a test that looks a plugin up by name
//! `use`s its crate. Depend on one copy of this crate: two copies (a path and
//! a git dependency, or two commits) are two registries, and plugins
//! registered in one are invisible to a host built on the other.
//!
//! # Settings
//!
//! A plugin declares the keys of its own configuration table,
//! `[plugins.NAME]`, as [`SettingSpec`]s (key, default in TOML syntax, one
//! line of documentation) in its descriptor. The host rejects any other key
//! there (naming the key and the file), shows every key with its value and
//! origin in `disktracker config`, and hands the factory the effective
//! values as [`PluginSettings`], read with typed getters whose errors name
//! the key and where its value came from. See [`settings`].
//!
//! # Paths are bytes
//!
//! On Unix a path is any sequence of bytes but NUL: not necessarily UTF-8,
//! and free to hold newlines, tabs, terminal escape sequences or
//! bidirectional overrides (`U+202E` makes `exe.txt` print as `txt.exe`).
//! Every path in this API is therefore `Vec<u8>` / `&[u8]` (absolute, no
//! trailing slash), compared bytewise. Print a path with
//! [`path::escape_bytes`] — one line, safe on a terminal, reversible with
//! [`path::unescape`] — and any other text that came from outside (a host
//! name, an OS message, a configuration value) with [`path::escape_text`];
//! or carry the bytes losslessly. Never `unwrap` a UTF-8 conversion.
//! [`path`] also has the subtree helpers every store and index uses
//! ([`path::is_within`], [`path::descendant_prefix`], [`path::prefix_end`]).
//!
//! # Errors and exit codes
//!
//! Plugins return [`Error`]: one line saying what failed and where, an
//! optional hint saying what to do, an optional cause. Its [`ErrorKind`]
//! decides the exit code of the command:
//!
//! | [`ErrorKind`] | exit |
//! |---|---|
//! | `Usage` | 2 |
//! | `NotFound` | 3 |
//! | `Corrupt` | 4 |
//! | `Locked` | 5 |
//! | `Config` | 6 |
//! | `Permission` | 7 |
//! | `Database` | 8 |
//! | `Cancelled` | 130 |
//! | `Io`, `Plugin` | 1 |
//!
//! [`Error::io`] picks `NotFound` or `Permission` from the OS error. A
//! plugin never panics on bad input and never exits the process; the host
//! prints the error (with control and bidi characters escaped) and exits.
//! Reporters are the exception to the error type: they write to an
//! [`std::io::Write`] and return its [`std::io::Error`]s as they come.
//!
//! # Stability
//!
//! The report structs, options and enums that may grow are
//! `#[non_exhaustive]`: build them with their `new` constructors or
//! [`Default`], and give every `match` on an enum of this crate a `_` arm.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arena;
mod error;
mod events;
pub mod human;
mod index;
mod live;
pub mod model;
pub mod path;
pub mod registry;
pub mod report;
pub mod settings;
pub mod store;
mod walker;

pub use arena::{DirArena, DirCold, DirHot, DirId, LinkedFile, WalkIssue};
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
pub use walker::{
    CancelToken, DirHook, ScanProgress, WalkContext, WalkOptions, WalkOutput, Walker,
};

/// Re-exported so plugin crates can register without depending on `inventory` directly.
pub use inventory;
