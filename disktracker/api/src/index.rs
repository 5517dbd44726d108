//! The [`LiveIndex`] plugin trait: recursive sizes answerable in microseconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// How a reader will use an index, so the plugin can pick how to read it.
///
/// Either way, a file changed under the reader (another program rewriting it
/// in place) gives an [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt)
/// error naming the file, never a crash by a signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndexAccess {
    /// A process that asks a few questions and exits (`disktracker size`):
    /// open must be cheap and nothing may outlive the answer. The default.
    #[default]
    OneShot,
    /// A long-running reader (the watcher) that asks many questions and
    /// changes the index: fastest lookups, worth a costlier open.
    LongRunning,
}

/// How to open an index.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexOptions {
    /// The index file (`data.mmap` beside `data.db`).
    pub path: PathBuf,
    /// One-shot or long-running reader.
    pub access: IndexAccess,
    /// Kernel read advice for the file.
    pub advice: ReadAdvice,
    /// Fault the whole file in at open (populate / will-need); long-running
    /// access only.
    pub preload: bool,
    /// Allow a long-running reader to build an in-memory lookup table (a
    /// hash from path to entry) once it has asked many questions, trading
    /// some memory for much faster point lookups; `false` keeps lookups a
    /// pure binary search over the file, with no memory of their own.
    pub probe_table: bool,
    /// How long a writer (create, rebuild, compact) waits for another
    /// process's write of the same index to finish before giving up with
    /// [`ErrorKind::Locked`](crate::ErrorKind::Locked); zero tries once.
    pub lock_wait: Duration,
    /// The index plugin's `[plugins.NAME]` settings.
    pub settings: crate::settings::PluginSettings,
}

impl IndexOptions {
    /// Options for the index at `path` with the defaults of
    /// `config/default.toml`: one-shot access, random read advice, no
    /// preload, probe table on, writers wait up to 30 s for each other.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        IndexOptions {
            path: path.into(),
            access: IndexAccess::OneShot,
            advice: ReadAdvice::Random,
            preload: false,
            probe_table: true,
            lock_wait: Duration::from_secs(30),
            settings: crate::settings::PluginSettings::default(),
        }
    }
}

/// The identity of the file an open index reads, from the open file itself
/// (`fstat`), so it describes exactly the bytes being served even if the
/// name has since been replaced. Compare it with the recorded
/// [`IndexProvenance`](crate::IndexProvenance) (same fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    /// File length in bytes.
    pub len: u64,
    /// Device of the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
}

/// A persistent map from directory path to recursive disk usage, with an
/// in-memory overlay of live changes on top of the persisted base.
///
/// The file is untrusted input. Whatever a lookup meets that cannot be in a
/// valid index (out-of-bounds entries, paths out of order, a file changed
/// while being read) is an [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt)
/// error naming the file, so the caller rebuilds it; never a wrong "not
/// indexed". What no structural check can see (a flipped bit in a size) is
/// caught by a checksum of the file's bytes, which is the caller's to
/// compute and record.
pub trait LiveIndex: Send {
    /// The index file.
    fn path(&self) -> &Path;

    /// Identity of the file as opened (or as last written by this index).
    fn identity(&self) -> FileIdentity;

    /// The indexed root (the first path in sort order).
    fn root(&self) -> Option<&[u8]>;

    /// Number of paths in the persisted base (not counting the overlay).
    fn base_len(&self) -> usize;

    /// Number of overlay entries (sizes and tombstones) not yet compacted.
    fn overlay_len(&self) -> usize;

    /// Recursive disk usage of `path`: the overlay wins, then the base.
    /// `Ok(None)` means not indexed. Must not allocate when it succeeds.
    fn lookup(&self, path: &[u8]) -> Result<Option<u64>>;

    /// Full structural check of the persisted base (every entry), O(n).
    fn verify(&self) -> Result<()>;

    /// Fails with `Corrupt` if the open file was changed in place since it
    /// was opened (its length or times differ); cheap (one `fstat`).
    fn check_unchanged(&self) -> Result<()>;

    /// Sets `path`'s recursive size in the overlay.
    fn set(&mut self, path: &[u8], total_bytes: u64);

    /// Removes `path` and every path below it.
    fn remove_subtree(&mut self, path: &[u8]) -> Result<()>;

    /// Merges the overlay into a new base file atomically and clears the overlay.
    fn compact(&mut self) -> Result<()>;

    /// Replaces the whole index with `entries` (any order) and persists it.
    fn rebuild(&mut self, entries: &mut crate::registry::IndexEntries<'_>) -> Result<()>;
}
