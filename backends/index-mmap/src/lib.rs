//! DiskTracker's default live index (`mmap`): a sorted file of directory
//! paths and recursive sizes, read by positioned reads or a guarded memory
//! map, an in-memory overlay of live changes on top, and atomic,
//! double-buffered compaction.
//!
//! The file (`data.mmap` beside `data.db`) is the format of the seed
//! specification, little-endian: a 20-byte header (`DSKTRKMM`, version 1,
//! entry count, path-pool length), 16-byte entries (pool offset, path length,
//! total bytes) sorted bytewise by path, then the path pool, paths packed in
//! entry order. See [`format`](mod@format).
//!
//! # Using it
//!
//! ```no_run
//! use disktracker::{IndexAccess, IndexOptions};
//! use disktracker_index_mmap::{MmapIndex, index_path_for};
//! # fn main() -> disktracker::Result<()> {
//! let mut opts = IndexOptions::new(index_path_for("/home/me/.disktracker/data.db".as_ref()));
//! // After a scan: write the index (any order; last duplicate wins).
//! let scanned: Vec<(&[u8], u64)> = vec![(b"/data", 4096), (b"/data/a", 1024)];
//! MmapIndex::create(&opts, scanned)?;
//!
//! // `disktracker size PATH`: a one-shot reader (the default access).
//! let index = MmapIndex::open(&opts)?; // NotFound / Corrupt errors name the file
//! let root = index.root(); // first path: the scanned root
//! match index.lookup(b"/data/a") {
//!     Ok(size) => println!("{size:?}"), // None: not indexed
//!     Err(e) => eprintln!("{e}"), // Corrupt: damaged or changed; rebuild it
//! }
//!
//! // The watcher: a long-running reader that also changes the index.
//! opts.access = IndexAccess::LongRunning;
//! let mut live = MmapIndex::open(&opts)?;
//! if let Some(warning) = live.map_fallback() {
//!     eprintln!("warning: {warning}"); // read into memory; names the limit to raise
//! }
//! live.set(b"/data/a", 2048);
//! live.compact()?; // takes the writer lock; readers see old or new, whole
//! # let _ = root;
//! # Ok(()) }
//! ```
//!
//! Through the plugin registry the same type is reachable by name: the crate
//! registers an [`IndexPlugin`](disktracker::IndexPlugin) called `"mmap"`
//! whose `open` and `create` return it as a `Box<dyn LiveIndex>`. As with
//! every plugin, the binary must reference this crate (`use
//! disktracker_index_mmap as _;`) or the registration is not linked.
//!
//! # Access modes
//!
//! [`IndexOptions::access`](disktracker::IndexOptions::access) says what
//! kind of reader is opening; [`MmapIndex::open_with`] can force a [`Load`].
//!
//! | access | reads by | open | + 1 lookup, 1M entries | later lookups |
//! |---|---|---|---|---|
//! | `OneShot` (default; `size`) | [`Load::Pread`]: `pread` per probe, nothing mapped | 9.9 µs | 66 µs | 52 µs each (~20 `pread`s and an `fstat`) |
//! | `LongRunning` (the watcher) | [`Load::Map`]: guarded memory map | 43 µs | 157 µs | 3.0 µs (binary search), then 0.61 µs with the probe table |
//! | (forced, or mapping failed) | [`Load::Read`]: the whole file on the heap | ~the file's read time | | as mapped |
//!
//! Figures: `benches/index_lookup.rs`, criterion medians, 1,000,000 paths
//! (142 MB), warm page cache, 2-core shared VM (see "Performance").
//!
//! A one-shot reader maps nothing, so nothing another program does to the
//! file can raise a signal in it. A mapped reader is guarded: every mapping
//! is registered with a process-wide SIGBUS handler (installed on the first
//! mapping, chaining to the previous disposition) which, for a fault inside
//! a registered mapping — a read past the end of a file another program
//! truncated — maps a page of zeros over the faulting page, counts the
//! fault, and lets the read complete; the lookup sees the count and fails
//! instead of answering, as does every later one. Faults elsewhere go to the
//! previous handler as if the guard were not there. Either way the caller
//! gets an [`ErrorKind::Corrupt`](disktracker::ErrorKind::Corrupt) error
//! naming the file and saying it will be rebuilt, never a signal.
//!
//! # What a reader detects, and what it cannot
//!
//! Every error names the file; `Corrupt` means "rebuild it".
//!
//! * **At open (O(1)):** not a regular file; shorter than the header; bad
//!   magic or version; a length other than the header's; no entries (an
//!   index is written from a snapshot, which always holds its root, so an
//!   empty index is damage: writers refuse to write one); entry 0 (the root)
//!   outside the pool, not at offset 0, or not an absolute path.
//! * **During a lookup (no extra memory access):** every entry the binary
//!   search probes must lie inside the pool, be non-empty and absolute, and
//!   have an offset between those of the probes below and above the key
//!   (offsets grow with the entry index, so a shuffled or reversed entry
//!   table shows at the first probes); the entry found and its two
//!   neighbours must be contiguous in the pool and strictly ordered around
//!   the key. Each of the damages of issue 9 (offsets `0xfffffff0`, lengths
//!   `0xffffffff`, reversed or shuffled entries, a zeroed pool, random
//!   bytes) is reported by open or by the lookups that meet it, in every
//!   access mode (`tests/index.rs`).
//! * **A file changed while read:** one-shot, the file's `fstat` (length,
//!   modification and status-change times) is compared with the one at open
//!   after every lookup, and a short read means it shrank; mapped, a read
//!   past the end of a truncated file is caught by the guard, and
//!   [`MmapIndex::check_unchanged`] (one `fstat`) is the same comparison on
//!   demand, for the watcher to call per batch. A rename over the name (how
//!   DiskTracker replaces the file) is not a change: the reader keeps the old
//!   file, whole.
//! * **[`MmapIndex::verify`], O(n):** every entry in bounds, absolute,
//!   contiguous, strictly increasing, the pool filled exactly.
//!
//! Not detectable by structure:
//!
//! * a changed size (a flipped bit in a `u64` is a valid size): only a
//!   checksum of the file's bytes sees it. The engine records an XXH3 of the
//!   file when it publishes it and compares it when the file's identity
//!   ([`MmapIndex::identity`], taken from the open file, not the name)
//!   differs from the recorded one;
//! * disorder or changed paths far from a lookup's probes (say, two
//!   equal-length paths swapped in the pool): the lookup can answer "not
//!   indexed" for them; `verify` and the checksum see it;
//! * a mapped reader sees a same-length rewrite in place as the new bytes,
//!   until `check_unchanged`;
//! * a rewrite in place that keeps the length and both times. The
//!   status-change time cannot be set by any program; since Linux 6.13
//!   (multigrain timestamps, on ext4, XFS, Btrfs and tmpfs) a change right
//!   after an `fstat` gets a fine-grained one, so it always moves. Before
//!   6.13, or on other filesystems, times are coarse (one clock tick,
//!   1–4 ms): a rewrite keeping the length within the tick of the previous
//!   write can pass unseen (the structural checks still see torn bytes
//!   where the search meets them);
//! * a SIGBUS handler that other code installs after ours replaces the guard.
//!
//! # Writers
//!
//! [`MmapIndex::create`], [`MmapIndex::rebuild`] and [`MmapIndex::compact`],
//! in any process: take an exclusive `flock` on `<index>.lock` ([`lock_path_for`];
//! 0600, never followed if a symlink, never deleted) waiting at most
//! [`IndexOptions::lock_wait`](disktracker::IndexOptions::lock_wait) (then
//! [`ErrorKind::Locked`](disktracker::ErrorKind::Locked)); remove files
//! named like a temporary file of this index (`<index>.<10 alphanumerics>.tmp`,
//! or the `<index>.tmp` of earlier versions) — under the lock, so they can
//! only be a dead writer's; write the new file under a unique name (`tempfile`:
//! same directory, 0600, exclusive create), `sync_all` it, (compaction:
//! check the base did not change), rename it over the index, `fsync` the
//! directory, release the lock. The index is never written in place, so
//! readers see the old file or the new one, whole. A killed writer's lock
//! dies with it; its temporary file goes at the next write.
//!
//! # Decisions
//!
//! * **Duplicates** given to [`MmapIndex::create`] / [`MmapIndex::rebuild`]:
//!   the last value wins, as with repeated `set`s.
//! * **Subtrees.** The subtree of `P` is `P` plus the paths starting with
//!   `P/` (bytewise, `P-x` and `P.x` sort between `P` and `P/…`, so it is not
//!   "the range from `P`"). [`MmapIndex::remove_subtree`] tombstones every
//!   base path in that range and every overlay path in it (overlay-only
//!   paths are simply dropped); a later `set` inside revives only that path.
//! * **Whole-file work in one-shot mode.** Iteration, verification, subtree
//!   removal and compaction need the whole base: a pread-mode index reads
//!   the file into memory once for them (checking it did not change
//!   meanwhile), and answers lookups from that copy afterwards.
//! * **Map lifetime during compaction.** The seed drops the old map before the
//!   rename (a Windows need). Here the old map is kept until the new file is
//!   read: on Unix renaming over a mapped file is safe (the map keeps the
//!   old, never-written inode), and if reading the new file fails the index
//!   still answers from the old map plus the overlay, which equal the new
//!   file. The crate is Unix-only, like the rest of DiskTracker.
//! * **Fallback.** If mapping fails, the file is read into memory and served
//!   by the same code ([`MmapIndex::map_fallback`] says why, naming the limit
//!   to raise: `ulimit -v`, `vm.max_map_count`).
//! * **`unsafe`** appears only in the private `map` module: the call that
//!   creates the mapping, the SIGBUS guard, and cache-prefetch hints.
//! * **Sharing.** [`MmapIndex`] is `Send + Sync`: lookups through `&self` can
//!   run on many threads; changes need `&mut self`.
//!
//! # Performance
//!
//! `benches/index_lookup.rs` on 1,000,000 generated paths (mean 133 bytes,
//! a 142 MB file), random queries (half misses), page cache warm; criterion
//! medians of one run on the project's 2-core VM on 2026-11-30, next to the
//! code before the SIGBUS guard and the per-probe checks, built and run on
//! the same machine minutes apart (the machine was about 2× slower that day
//! than in earlier figures: the `HashMap` reference took 848 and 892 ns):
//!
//! | median | before | now |
//! |---|---|---|
//! | lookup, steady state (probe table) | 539 ns | 607 ns |
//! | lookup, binary search (first 65,535) | 2.67 µs | 2.99 µs |
//! | lookup, hot 1k set | 154 ns | 152 ns |
//! | `HashMap` lookup (reference) | 848 ns | 892 ns |
//! | open + validate, mapped | 32 µs | 43 µs |
//! | open + validate, one-shot (`pread`) | — | 9.9 µs |
//!
//! The per-probe checks cost about 8% of a random lookup once the
//! reference's drift (+5%) is taken out; the mapped open pays 11 µs for the
//! guard's registration. A one-shot reader (`size`) opens and answers in
//! 66 µs; the whole `disktracker size` process takes 4.7 ms (median of 100,
//! `hyperfine -N`) on a 1,010,101-directory index.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod format;
mod index;
// The one module allowed `unsafe`: the mapping and its SIGBUS guard.
#[allow(unsafe_code)]
mod map;
mod overlay;
mod pread;
mod probe;
mod write;

use disktracker::{IndexOptions, LiveIndex, Result};

pub use format::{FormatError, IndexView};
pub use index::{Iter, Load, MmapIndex, PROBE_TABLE_AFTER_LOOKUPS, index_path_for};
pub use write::lock_path_for;

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

fn create_sorted_plugin(
    options: &IndexOptions,
    entries: &dyn disktracker::registry::SortedIndexEntries,
) -> Result<Box<dyn LiveIndex>> {
    Ok(Box::new(MmapIndex::create_sorted(options, entries)?))
}

disktracker::register_index!(
    disktracker::registry::IndexPlugin::new(
        "mmap",
        "memory-mapped sorted path index with an in-memory overlay and atomic compaction (default)",
        open_plugin,
        create_plugin,
    )
    .create_sorted(create_sorted_plugin)
);

// Lookups from many threads through `&MmapIndex`; the watcher moves it across
// threads. Keep both true.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<MmapIndex>();
};
