//! DiskTracker's default live index (`mmap`): a memory-mapped, sorted file of
//! directory paths and recursive sizes, an in-memory overlay of live changes
//! on top, and atomic, double-buffered compaction.
//!
//! The file (`data.mmap` beside `data.db`) is the format of the seed
//! specification, little-endian: a 20-byte header (`DSKTRKMM`, version 1,
//! entry count, path-pool length), 16-byte entries (pool offset, path length,
//! total bytes) sorted bytewise by path, then the path pool. See [`format`].
//!
//! # Using it from the CLI
//!
//! ```no_run
//! use disktracker::{IndexOptions, ReadAdvice};
//! use disktracker_index_mmap::{MmapIndex, index_path_for};
//! # fn main() -> disktracker::Result<()> {
//! let opts = IndexOptions {
//!     path: index_path_for("/home/me/.disktracker/data.db".as_ref()),
//!     advice: ReadAdvice::Random,
//!     preload: false,
//! };
//! // After a scan: write the index (any order; last duplicate wins).
//! let scanned: Vec<(&[u8], u64)> = vec![(b"/data", 4096), (b"/data/a", 1024)];
//! MmapIndex::create(&opts, scanned)?;
//!
//! // `disktracker size PATH`: open (O(1): header, version, length) and look up.
//! let index = MmapIndex::open(&opts)?; // NotFound / Corrupt errors name the file
//! if let Some(warning) = index.map_fallback() {
//!     eprintln!("warning: {warning}"); // read into memory; names the limit to raise
//! }
//! let root = index.root(); // first path: the scanned root
//! let size = index.lookup(b"/data/a"); // O(log n), no allocation
//! # let _ = (root, size);
//! # Ok(()) }
//! ```
//!
//! Through the plugin registry the same type is reachable by name: the crate
//! registers an [`IndexPlugin`](disktracker::IndexPlugin) called `"mmap"`
//! whose `open` and `create` return it as a `Box<dyn LiveIndex>`. As with
//! every plugin, the binary must reference this crate (`use
//! disktracker_index_mmap as _;`) or the registration is not linked.
//!
//! # Decisions
//!
//! * **Corruption.** Opening checks the header, version and exact length only
//!   (O(1), well inside a 1 ms budget for a million entries); every entry
//!   access is bounds-checked, and a corrupt entry reads as absent. Binary
//!   search over unsorted entries can miss but never fault. The full O(n)
//!   check is [`MmapIndex::verify`]; [`MmapIndex::compact`] runs it first and
//!   refuses (with [`ErrorKind::Corrupt`](disktracker::ErrorKind::Corrupt)) to
//!   merge a corrupt base.
//! * **Duplicates** given to [`MmapIndex::create`] / [`MmapIndex::rebuild`]:
//!   the last value wins, as with repeated `set`s.
//! * **Atomicity.** The index file is never written in place. New contents go
//!   to `<index>.tmp` (a fresh inode), are synced, and are renamed over the
//!   index; the directory is then synced. Readers in any process see the old
//!   file or the new one. A leftover `.tmp` from a crash is ignored by
//!   `open` and replaced by the next compaction.
//! * **`unsafe`** appears only in the private `map` module, around the one
//!   call that creates the mapping.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod format;
mod index;
// The one module allowed `unsafe`: creating the mapping.
#[allow(unsafe_code)]
mod map;
mod overlay;

use disktracker::{IndexOptions, LiveIndex, Result};

pub use format::{FormatError, IndexView};
pub use index::{Iter, Load, MmapIndex, index_path_for, tmp_path_for};

/// Registered name of this index.
pub const NAME: &str = "mmap";

fn open_plugin(options: &IndexOptions) -> Result<Box<dyn LiveIndex>> {
    Ok(Box::new(MmapIndex::open(options)?))
}

fn create_plugin(
    options: &IndexOptions,
    entries: &mut disktracker::registry::IndexEntries<'_>,
) -> Result<Box<dyn LiveIndex>> {
    Ok(Box::new(MmapIndex::create(options, entries)?))
}

disktracker::register_index!(
    "mmap",
    "memory-mapped sorted path index with an in-memory overlay and atomic compaction (default)",
    open_plugin,
    create_plugin,
);
