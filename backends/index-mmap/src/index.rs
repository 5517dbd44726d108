//! [`MmapIndex`]: the base file, the overlay, and atomic replacement.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind, IndexOptions, LiveIndex, ReadAdvice, Result};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::format::{self, FormatError, HEADER_LEN, IndexView};
use crate::map::{self, Data};
use crate::overlay::{Merge, Overlay, Slot, merge_step};
use crate::probe::ProbeTable;

/// What to do about a corrupt index (the fallback the CLI takes anyway).
const CORRUPT_HINT: &str = "it will be rebuilt by the next `disktracker scan`, or delete it";

/// How to bring the index bytes into memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Load {
    /// Memory-map the file, falling back to [`Load::Read`] if mapping fails
    /// (see [`MmapIndex::map_fallback`]). The default.
    #[default]
    Map,
    /// Read the whole file into memory. For filesystems where mapping is
    /// unavailable or unwise (a network filesystem can turn a server-side
    /// change into SIGBUS for a mapped reader).
    Read,
}

/// The live index: an immutable, sorted, memory-mapped base file plus an
/// in-memory overlay of changes, merged into a new base by [`compact`].
///
/// * [`lookup`] checks the overlay, then binary-searches the mapped bytes;
///   it never allocates.
/// * [`set`] and [`remove_subtree`] change only the overlay.
/// * [`compact`] and [`rebuild`] write `<file>.tmp`, `sync_all` it, rename it
///   over the index, `fsync` the directory and map the new file. The index
///   file is never modified in place, so every reader, in any process, sees
///   either the old file or the new one, whole.
///
/// Only one process should change a given index at a time (the watcher holds
/// the database lock); any number may read it.
///
/// [`lookup`]: MmapIndex::lookup
/// [`set`]: MmapIndex::set
/// [`remove_subtree`]: MmapIndex::remove_subtree
/// [`compact`]: MmapIndex::compact
/// [`rebuild`]: MmapIndex::rebuild
pub struct MmapIndex {
    path: PathBuf,
    advice: ReadAdvice,
    preload: bool,
    load: Load,
    data: Data,
    /// Why the file is read into memory rather than mapped, when it is.
    map_error: Option<Error>,
    overlay: Overlay,
    /// The hash table over the base, built lazily (see
    /// [`MmapIndex::lookup`]); `Some(None)` when not worth building.
    probes: OnceLock<Option<ProbeTable>>,
    /// Whether the options allow a probe table at all.
    allow_probes: bool,
    /// Base lookups answered without a probe table, counting toward building one.
    lookups: AtomicU32,
}

/// Base lookups on one open index after which [`MmapIndex::lookup`] builds
/// the probe table (see there).
pub const PROBE_TABLE_AFTER_LOOKUPS: u32 = 1 << 16;

impl std::fmt::Debug for MmapIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapIndex")
            .field("path", &self.path)
            .field("base_len", &self.len())
            .field("overlay_len", &self.overlay.len())
            .field("mapped", &self.data.is_mapped())
            .finish()
    }
}

/// The index file that belongs beside a database: `data.mmap` for `data.db`.
pub fn index_path_for(db: &Path) -> PathBuf {
    db.with_extension("mmap")
}

/// The temporary file compaction writes before renaming: `<index>.tmp`.
/// A leftover one (from a crash mid-compaction) is never read, and is
/// replaced by the next compaction.
pub fn tmp_path_for(index: &Path) -> PathBuf {
    let mut s = OsString::from(index.as_os_str());
    s.push(".tmp");
    PathBuf::from(s)
}

/// "index /x/data.mmap is corrupt: <problem>" with the what-to-do hint.
fn corrupt(path: &Path, problem: &FormatError) -> Error {
    let what = match problem {
        FormatError::UnsupportedVersion { .. } => "has an unsupported format",
        _ => "is corrupt",
    };
    Error::new(
        ErrorKind::Corrupt,
        format!("index {} {what}: {problem}", escape_path(path)),
    )
    .with_hint(CORRUPT_HINT)
}

/// An I/O failure on the index, with advice where the OS error suggests a
/// limit to raise.
fn io_error(what: &str, path: &Path, err: io::Error) -> Error {
    let hint = match err.kind() {
        io::ErrorKind::NotFound if what.contains("open") => {
            Some("it is written by `disktracker scan`; run a scan to create it")
        }
        io::ErrorKind::StorageFull => Some("free some disk space"),
        io::ErrorKind::PermissionDenied => Some("check the file's and its directory's permissions"),
        _ if err.raw_os_error() == Some(24) => {
            Some("too many open files: raise the limit (ulimit -n)")
        }
        _ => None,
    };
    let e = Error::io(what, path, err);
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// What to do about a failed mapping: which limit to raise, if it looks
/// like one.
fn map_hint(err: &io::Error) -> &'static str {
    if err.kind() == io::ErrorKind::OutOfMemory {
        // ENOMEM from mmap is nearly always a limit, not a lack of RAM.
        "the process ran out of address space or mappings: raise the address-space limit \
         (ulimit -v) or the number of mappings (sysctl vm.max_map_count)"
    } else if cfg!(target_os = "linux") && err.raw_os_error() == Some(19) {
        // ENODEV: the filesystem cannot map files (some FUSE and network filesystems).
        "the filesystem does not support memory mapping; the index is read into memory instead"
    } else if err.kind() == io::ErrorKind::PermissionDenied {
        "check the file's permissions and the filesystem's mount options"
    } else {
        "the index is read into memory instead"
    }
}

/// The error for a failed mapping: what failed, and which limit to raise.
pub(crate) fn map_error(path: &Path, len: u64, err: io::Error) -> Error {
    let hint = map_hint(&err);
    Error::new(
        ErrorKind::Io,
        format!(
            "cannot memory-map index {} ({len} bytes)",
            escape_path(path)
        ),
    )
    .with_source(err)
    .with_hint(hint)
}

/// Opens, maps (or reads) and validates the index file.
fn load(
    path: &Path,
    advice: ReadAdvice,
    preload: bool,
    how: Load,
) -> Result<(Data, Option<Error>)> {
    // Check the type first: opening a FIFO would block, and a directory opens fine on Linux.
    let meta = fs::metadata(path).map_err(|e| io_error("cannot open index", path, e))?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("index {} is not a regular file", escape_path(path)),
        )
        .with_hint("move it away; the next `disktracker scan` writes a new index"));
    }
    let mut file = File::open(path).map_err(|e| io_error("cannot open index", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error("cannot read the metadata of index", path, e))?
        .len();
    // A too-short file is reported as such without mapping it (a zero-length
    // mapping is an error on some systems, which would hide the real problem).
    if len < HEADER_LEN as u64 {
        return Err(corrupt(path, &FormatError::TooShort { len }));
    }
    let mut map_failure = None;
    if how == Load::Map {
        match map::map(&file, advice, preload) {
            Ok(m) => return Ok((Data::Mapped(m), None)),
            Err(e) => map_failure = Some(e),
        }
    }
    let data = read_all(&mut file, len).map_err(|e| match &map_failure {
        // Both ways failed: say so, with the mapping's advice on limits.
        Some(me) => Error::new(
            ErrorKind::Io,
            format!(
                "cannot memory-map index {} ({len} bytes): {me}; reading it into memory \
                 failed too: {e}",
                escape_path(path)
            ),
        )
        .with_hint(map_hint(me)),
        None => io_error("cannot read index", path, e),
    })?;
    let map_err = map_failure.map(|e| map_error(path, len, e));
    Ok((Data::Heap(data), map_err))
}

/// Reads the whole file; a failed allocation is an error, not an abort.
fn read_all(file: &mut File, len: u64) -> io::Result<Box<[u8]>> {
    let cap = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(cap)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    file.read_to_end(&mut buf)?;
    Ok(buf.into_boxed_slice())
}

/// Sorts entries by path and drops duplicates, keeping the *last* value given
/// for a path (like repeated `set`s, or inserts into a map).
fn sort_dedup_last<K: AsRef<[u8]>>(v: &mut Vec<(K, u64)>) {
    // Stable sort: equal paths stay in input order, so the last is the latest.
    if !v.is_sorted_by(|a, b| a.0.as_ref() < b.0.as_ref()) {
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    }
    // `dedup_by` keeps the first of a run and hands us (later, kept): move the
    // later value into the kept slot before the later one is dropped.
    v.dedup_by(|later, kept| {
        if later.0.as_ref() == kept.0.as_ref() {
            kept.1 = later.1;
            true
        } else {
            false
        }
    });
}

/// Writes a complete index to `tmp` (a new inode, 0600) and syncs it.
/// Nothing is renamed here.
fn write_tmp<'e, I>(index: &Path, tmp: &Path, entries: I) -> Result<()>
where
    I: Iterator<Item = (&'e [u8], u64)> + Clone,
{
    // Unlink a leftover first, so the new file is a fresh inode: truncating
    // an inode that someone might have mapped is exactly what we never do.
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("cannot remove stale temporary index", tmp, e)),
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| io_error("cannot create temporary index", tmp, e))?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        format::write_sorted(&mut w, entries)?;
        w.flush()?;
        drop(w);
        file.sync_all()
    })();
    if let Err(e) = result {
        // Leave no half-written file behind; the old index is untouched.
        let _ = fs::remove_file(tmp);
        return Err(if e.kind() == io::ErrorKind::InvalidInput {
            Error::new(
                ErrorKind::Io,
                format!("cannot write index {}: {e}", escape_path(index)),
            )
        } else {
            io_error("cannot write temporary index", tmp, e)
        });
    }
    Ok(())
}

/// `fsync`s the directory holding `path`, so a rename in it is durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl MmapIndex {
    /// Opens an existing index: maps it (or reads it, if mapping fails),
    /// applies `options.advice` and `options.preload`, and validates the
    /// header, version and exact length. O(1) in the index size.
    ///
    /// Errors: [`ErrorKind::NotFound`] when the file does not exist,
    /// [`ErrorKind::Corrupt`] when it is not a valid index (the message names
    /// the file and the problem), [`ErrorKind::Io`]/[`ErrorKind::Permission`]
    /// otherwise.
    pub fn open(options: &IndexOptions) -> Result<Self> {
        Self::open_with(options, Load::Map)
    }

    /// [`MmapIndex::open`], choosing how the bytes are loaded.
    pub fn open_with(options: &IndexOptions, load: Load) -> Result<Self> {
        let (data, map_error) = self::load(&options.path, options.advice, options.preload, load)?;
        IndexView::parse(data.bytes()).map_err(|e| corrupt(&options.path, &e))?;
        Ok(MmapIndex {
            path: options.path.clone(),
            advice: options.advice,
            preload: options.preload,
            load,
            data,
            map_error,
            overlay: Overlay::default(),
            probes: OnceLock::new(),
            allow_probes: options.probe_table,
            lookups: AtomicU32::new(0),
        })
    }

    /// Writes a new index at `options.path` from `entries` (any order),
    /// atomically replacing any existing file, and opens it.
    ///
    /// Duplicate paths: the **last** value given wins, as with repeated
    /// [`set`](MmapIndex::set)s. Keys can be borrowed (`&[u8]`) to avoid
    /// copying a scan's paths.
    pub fn create<K, I>(options: &IndexOptions, entries: I) -> Result<Self>
    where
        K: AsRef<[u8]>,
        I: IntoIterator<Item = (K, u64)>,
    {
        let mut v: Vec<(K, u64)> = entries.into_iter().collect();
        sort_dedup_last(&mut v);
        let tmp = tmp_path_for(&options.path);
        write_tmp(&options.path, &tmp, v.iter().map(|(k, n)| (k.as_ref(), *n)))?;
        fs::rename(&tmp, &options.path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(
                "cannot rename the new index into place at",
                &options.path,
                e,
            )
        })?;
        sync_dir(&options.path)
            .map_err(|e| io_error("cannot sync the directory of index", &options.path, e))?;
        Self::open(options)
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The base file's bytes as a validated view (no overlay).
    #[inline]
    pub fn base(&self) -> IndexView<'_> {
        // Validated at load; re-parsing is a few loads and compares, and
        // keeps the struct free of self-references.
        IndexView::parse(self.data.bytes()).unwrap_or(IndexView::EMPTY)
    }

    /// The recursive disk usage of `path` (absolute path bytes, no trailing
    /// slash except for `/`): the overlay's value or tombstone if it has one,
    /// else the base file's. `None` when unknown or deleted.
    ///
    /// O(log n) by binary search, expected O(1) once the probe table is built;
    /// no heap allocation — except once, see below. A corrupt base
    /// entry met on the way makes the path read as absent (see
    /// [`MmapIndex::verify`]).
    ///
    /// # The probe table: faster lookups for long-running readers
    ///
    /// A plain binary search of a large file waits on a chain of dependent
    /// cache misses (~20 probes for 1M entries, each reading an entry and
    /// then its path). After [`PROBE_TABLE_AFTER_LOOKUPS`] base lookups on the
    /// same open index (a watcher, not a one-shot CLI call), the lookup that
    /// crosses the threshold builds an in-memory hash table from each path
    /// to its entry: about 15 bytes per entry (14 MB for 1M), built in
    /// ~40 ms by reading the file once. That one lookup allocates and is
    /// slow; every later one is allocation-free, reads one table line, then
    /// the entry and its path in a single round trip: 1M entries, random
    /// queries, warm page cache, 1.01 µs → 219 ns median (see the crate docs).
    /// Indexes under 65,536 entries never get one (they mostly fit in CPU
    /// caches), nor do files that are not strictly sorted (they keep the
    /// binary search, so answers never depend on the table), nor any index
    /// opened with [`IndexOptions::probe_table`] off (`[index] probe_table`
    /// in the config: lookups stay a pure binary search over the file).
    /// [`MmapIndex::prepare_probe_table`] builds it up front instead.
    /// [`compact`](Self::compact) and [`rebuild`](Self::rebuild) drop it (it
    /// describes the old file) and the count starts again; overlay changes
    /// leave it valid. Results always come from full comparisons with paths
    /// in the file.
    #[inline]
    pub fn lookup(&self, path: &[u8]) -> Option<u64> {
        match self.overlay.get(path) {
            Some(Slot::Size(n)) => Some(n),
            Some(Slot::Deleted) => None,
            None => {
                let base = self.base();
                let i = match self.probe_table() {
                    Some(t) => t.find(base, path),
                    None => base.find(path),
                }?;
                base.raw(i).map(|(_, _, total)| total)
            }
        }
    }

    /// The probe table, if built; counts a lookup toward building it otherwise.
    #[inline]
    fn probe_table(&self) -> Option<&ProbeTable> {
        if let Some(t) = self.probes.get() {
            return t.as_ref();
        }
        if !self.allow_probes
            || self.data.bytes().len() < crate::probe::MIN_ENTRIES * format::ENTRY_LEN
            || self.lookups.fetch_add(1, Ordering::Relaxed) + 1 < PROBE_TABLE_AFTER_LOOKUPS
        {
            return None;
        }
        self.build_probe_table()
    }

    /// Builds the probe table now if it is not built yet, rather than after
    /// [`PROBE_TABLE_AFTER_LOOKUPS`] lookups (see
    /// [`lookup`](MmapIndex::lookup)): for a reader that knows it will ask
    /// many questions. Allocates about 15 bytes per entry and reads the whole
    /// file once (~40 ms for 1M entries). Returns whether the index has a
    /// table (small or unsorted indexes get none and use the binary search,
    /// as do all when [`IndexOptions::probe_table`] is off).
    pub fn prepare_probe_table(&self) -> bool {
        self.build_probe_table().is_some()
    }

    /// True once a probe table is built (for tests and benchmarks).
    #[doc(hidden)]
    pub fn has_probe_table(&self) -> bool {
        self.probes.get().is_some_and(Option::is_some)
    }

    /// Never build a probe table on this open index (for measurements).
    #[doc(hidden)]
    pub fn disable_probe_table(&self) {
        let _ = self.probes.set(None);
    }

    fn build_probe_table(&self) -> Option<&ProbeTable> {
        self.probes
            .get_or_init(|| {
                self.allow_probes
                    .then(|| ProbeTable::build(self.base()))
                    .flatten()
            })
            .as_ref()
    }

    /// Sets `path`'s recursive size in the overlay. This also makes a path
    /// inside a removed subtree visible again (only that path).
    pub fn set(&mut self, path: &[u8], total_bytes: u64) {
        self.overlay.set(path, total_bytes);
    }

    /// Removes `path` and every path below it (those starting with `path/`),
    /// in the base and in the overlay, with tombstones in the overlay.
    pub fn remove_subtree(&mut self, path: &[u8]) {
        let base = IndexView::parse(self.data.bytes()).unwrap_or(IndexView::EMPTY);
        // (Not `self.base()`: that would borrow all of `self` while the
        // overlay is borrowed mutably.)
        self.overlay.remove_subtree(base, path);
    }

    /// Number of paths in the base file (the overlay not counted). After
    /// [`compact`](MmapIndex::compact) this is every live path.
    pub fn len(&self) -> usize {
        self.base().len()
    }

    /// True when the base file has no entries.
    pub fn is_empty(&self) -> bool {
        self.base().is_empty()
    }

    /// Number of overlay entries (sizes and tombstones) not yet compacted.
    pub fn overlay_len(&self) -> usize {
        self.overlay.len()
    }

    /// The first path of the base file in sort order: the scan root for an
    /// index written from a scan. `None` when empty (or that entry is corrupt).
    pub fn root(&self) -> Option<&[u8]> {
        self.base().path(0)
    }

    /// Every live path with its size, in path order: the base merged with the
    /// overlay, exactly what [`lookup`](MmapIndex::lookup) answers. Allocates
    /// a sorted copy of the overlay's keys (references, not bytes).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            base: self.base(),
            over: self.overlay.sorted(),
            i: 0,
            j: 0,
        }
    }

    /// Full O(n) validation of the base file: every entry inside the path
    /// pool, paths strictly increasing. [`open`](MmapIndex::open) checks only
    /// the header and length, to stay O(1); run this when you want certainty
    /// (compaction runs it before merging).
    pub fn verify(&self) -> Result<()> {
        self.base().verify().map_err(|e| corrupt(&self.path, &e))
    }

    /// True when the bytes are memory-mapped, false when read into memory.
    pub fn is_mapped(&self) -> bool {
        self.data.is_mapped()
    }

    /// Why the file was read into memory instead of mapped, if mapping was
    /// tried and failed: worth a warning, since it names the limit to raise.
    pub fn map_fallback(&self) -> Option<&Error> {
        self.map_error.as_ref()
    }

    /// Merges the overlay into a new base file and clears the overlay.
    ///
    /// Writes `<index>.tmp` completely, `sync_all`s it, renames it over the
    /// index, `fsync`s the directory, maps the new file and clears the
    /// overlay. If anything fails before the rename, the index file and the
    /// overlay are untouched. A corrupt base (see [`verify`](Self::verify))
    /// stops compaction with [`ErrorKind::Corrupt`] rather than copying it.
    /// An empty overlay makes this a no-op.
    pub fn compact(&mut self) -> Result<()> {
        if self.overlay.is_empty() {
            return Ok(());
        }
        self.verify().map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("{}; compaction stopped, pending changes kept", e.message()),
            )
            .with_hint(CORRUPT_HINT)
        })?;
        let tmp = tmp_path_for(&self.path);
        {
            let base = self.base();
            let over = self.overlay.sorted();
            write_tmp(&self.path, &tmp, Merge::new(base, &over))?;
        }
        self.replace_with(&tmp)
    }

    /// Replaces the whole index with `entries` (any order; the last value of
    /// a duplicated path wins), atomically as in [`compact`](Self::compact),
    /// and clears the overlay.
    pub fn rebuild<K, I>(&mut self, entries: I) -> Result<()>
    where
        K: AsRef<[u8]>,
        I: IntoIterator<Item = (K, u64)>,
    {
        let mut v: Vec<(K, u64)> = entries.into_iter().collect();
        sort_dedup_last(&mut v);
        let tmp = tmp_path_for(&self.path);
        write_tmp(&self.path, &tmp, v.iter().map(|(k, n)| (k.as_ref(), *n)))?;
        self.replace_with(&tmp)
    }

    /// Renames the synced `tmp` over the index and switches to it.
    ///
    /// The seed's order is: drop the map, rename, sync the directory, map.
    /// We keep the old map until the new file is mapped instead: on Unix,
    /// renaming over a mapped file is safe (the mapping keeps the old inode,
    /// which nobody writes), and holding it means that if mapping the new file
    /// fails we still answer correctly from the old map plus the overlay
    /// (which together equal the new file). Dropping first only matters on
    /// Windows, which this crate does not target (it is Unix-only throughout).
    fn replace_with(&mut self, tmp: &Path) -> Result<()> {
        if let Err(e) = fs::rename(tmp, &self.path) {
            let _ = fs::remove_file(tmp);
            return Err(io_error(
                "cannot rename the new index into place at",
                &self.path,
                e,
            ));
        }
        // The rename is visible from here on; remember a sync failure but
        // still switch to the new file so memory matches disk.
        let synced = sync_dir(&self.path);
        let (data, map_error) =
            load(&self.path, self.advice, self.preload, self.load).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{}; the index was written but could not be reopened",
                        e.message()
                    ),
                )
            })?;
        IndexView::parse(data.bytes()).map_err(|e| corrupt(&self.path, &e))?;
        self.data = data;
        self.map_error = map_error;
        // The probe table describes the old bytes.
        self.probes = OnceLock::new();
        self.lookups = AtomicU32::new(0);
        self.overlay.clear();
        synced.map_err(|e| io_error("cannot sync the directory of index", &self.path, e))
    }
}

/// Iterator over an index's live paths and sizes, in path order; see
/// [`MmapIndex::iter`].
pub struct Iter<'a> {
    base: IndexView<'a>,
    over: Vec<(&'a [u8], Slot)>,
    i: usize,
    j: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        merge_step(self.base, &self.over, &mut self.i, &mut self.j)
    }
}

impl LiveIndex for MmapIndex {
    fn path(&self) -> &Path {
        MmapIndex::path(self)
    }

    fn root(&self) -> Option<&[u8]> {
        MmapIndex::root(self)
    }

    fn base_len(&self) -> usize {
        self.len()
    }

    fn overlay_len(&self) -> usize {
        MmapIndex::overlay_len(self)
    }

    fn lookup(&self, path: &[u8]) -> Option<u64> {
        MmapIndex::lookup(self, path)
    }

    fn set(&mut self, path: &[u8], total_bytes: u64) {
        MmapIndex::set(self, path, total_bytes)
    }

    fn remove_subtree(&mut self, path: &[u8]) {
        MmapIndex::remove_subtree(self, path)
    }

    fn compact(&mut self) -> Result<()> {
        MmapIndex::compact(self)
    }

    fn rebuild(&mut self, entries: &mut disktracker::registry::IndexEntries<'_>) -> Result<()> {
        MmapIndex::rebuild(self, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_the_last_value() {
        let mut v = vec![
            (b"/b".to_vec(), 1),
            (b"/a".to_vec(), 2),
            (b"/b".to_vec(), 3),
            (b"/b".to_vec(), 4),
        ];
        sort_dedup_last(&mut v);
        assert_eq!(v, [(b"/a".to_vec(), 2), (b"/b".to_vec(), 4)]);
    }

    #[test]
    fn map_errors_name_the_limits() {
        let e = map_error(
            Path::new("/x/data.mmap"),
            10,
            io::Error::from_raw_os_error(12),
        );
        let s = e.to_string();
        assert!(s.contains("/x/data.mmap"), "{s}");
        assert!(
            s.contains("vm.max_map_count") && s.contains("ulimit -v"),
            "{s}"
        );
        let e = map_error(
            Path::new("/x/data.mmap"),
            10,
            io::Error::from_raw_os_error(19),
        );
        assert!(
            e.to_string().contains("does not support memory mapping"),
            "{e}"
        );
    }

    #[test]
    fn paths_beside_the_database() {
        assert_eq!(
            index_path_for(Path::new("/s/data.db")),
            Path::new("/s/data.mmap")
        );
        assert_eq!(
            tmp_path_for(Path::new("/s/data.mmap")),
            Path::new("/s/data.mmap.tmp")
        );
    }
}
