//! The [`LiveIndex`] plugin trait: recursive sizes answerable in microseconds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Access-pattern advice given to the kernel for a mapped index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadAdvice {
    /// No advice.
    Normal,
    /// Random access (binary-search lookups): the default.
    #[default]
    Random,
    /// Sequential access.
    Sequential,
}

/// How to open an index.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexOptions {
    /// The index file (`data.mmap` beside `data.db`).
    pub path: PathBuf,
    /// Kernel read advice for the mapping.
    pub advice: ReadAdvice,
    /// Fault the whole file in at open (populate / will-need).
    pub preload: bool,
    /// Allow a long-running reader to build an in-memory lookup table (a
    /// hash from path to entry) once it has asked many questions, trading
    /// some memory for much faster point lookups; `false` keeps lookups a
    /// pure binary search over the file, with no memory of their own.
    pub probe_table: bool,
    /// The index plugin's `[plugins.NAME]` settings.
    pub settings: crate::settings::PluginSettings,
}

impl IndexOptions {
    /// Options for the index at `path` with the defaults of
    /// `config/default.toml`: random read advice, no preload, probe table on.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        IndexOptions {
            path: path.into(),
            advice: ReadAdvice::Random,
            preload: false,
            probe_table: true,
            settings: crate::settings::PluginSettings::default(),
        }
    }
}

/// A persistent map from directory path to recursive disk usage, with an
/// in-memory overlay of live changes on top of the persisted base.
pub trait LiveIndex: Send {
    /// The index file.
    fn path(&self) -> &Path;

    /// The indexed root (the first path in sort order), if the index has entries.
    fn root(&self) -> Option<&[u8]>;

    /// Number of paths in the persisted base (not counting the overlay).
    fn base_len(&self) -> usize;

    /// Number of overlay entries (sizes and tombstones) not yet compacted.
    fn overlay_len(&self) -> usize;

    /// Recursive disk usage of `path`: the overlay wins, then the base.
    /// Must not allocate.
    fn lookup(&self, path: &[u8]) -> Option<u64>;

    /// Sets `path`'s recursive size in the overlay.
    fn set(&mut self, path: &[u8], total_bytes: u64);

    /// Removes `path` and every path below it.
    fn remove_subtree(&mut self, path: &[u8]);

    /// Merges the overlay into a new base file atomically and clears the overlay.
    fn compact(&mut self) -> Result<()>;

    /// Replaces the whole index with `entries` (any order) and persists it.
    fn rebuild(&mut self, entries: &mut crate::registry::IndexEntries<'_>) -> Result<()>;
}
