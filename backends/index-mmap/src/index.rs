//! [`MmapIndex`]: the base file, the overlay, and atomic replacement.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use disktracker::path::escape_path;
use disktracker::{
    Error, ErrorKind, FileIdentity, IndexAccess, IndexOptions, LiveIndex, ReadAdvice, Result,
};

use crate::format::{self, FormatError, HEADER_LEN, IndexView};
use crate::map::{self, Data};
use crate::overlay::{Merge, Overlay, Slot, merge_step};
use crate::pread::{PreadSource, ReadError};
use crate::probe::ProbeTable;
use crate::write;

/// What happens to a corrupt or changed index (the fallback callers take).
const REBUILD_HINT: &str = "it will be rebuilt from the database; deleting it is safe";

/// How to read the index file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Load {
    /// Positioned reads (`pread`) per lookup, nothing mapped or loaded:
    /// open + one lookup in tens of microseconds, and no signal whatever
    /// happens to the file. For [`IndexAccess::OneShot`] (the default).
    #[default]
    Pread,
    /// Memory-map the file, guarded against truncation (see the crate docs),
    /// falling back to [`Load::Read`] if mapping fails (see
    /// [`MmapIndex::map_fallback`]). For [`IndexAccess::LongRunning`].
    Map,
    /// Read the whole file into memory. For filesystems where mapping is
    /// unavailable or unwise (a network filesystem).
    Read,
}

impl Load {
    /// The way to read for an access pattern.
    pub fn for_access(access: IndexAccess) -> Load {
        match access {
            IndexAccess::OneShot => Load::Pread,
            IndexAccess::LongRunning => Load::Map,
        }
    }
}

/// The open file's status: its identity plus what changes when it is
/// written in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    identity: FileIdentity,
    ctime_ns: i64,
    nlink: u64,
}

impl Stamp {
    /// Whether the file's contents may differ from when `self` was taken.
    ///
    /// A write in place changes the length or the modification time, and
    /// always the status-change time (which, unlike the others, no one can
    /// set back). But the status-change time also moves when the file is
    /// unlinked, which is what a writer's rename over the name does to the
    /// file an open index still reads: that file is whole and unchanged. So
    /// a changed status-change time counts only while the link count has
    /// not dropped.
    fn differs(&self, now: &Stamp) -> bool {
        self.identity != now.identity || (self.ctime_ns != now.ctime_ns && now.nlink >= self.nlink)
    }
}

fn stamp(file: &File) -> io::Result<Stamp> {
    let st = rustix::fs::fstat(file)?;
    let ns = |s: i64, n: u64| s.saturating_mul(1_000_000_000).saturating_add(n as i64);
    Ok(Stamp {
        identity: FileIdentity {
            len: st.st_size as u64,
            dev: st.st_dev,
            ino: st.st_ino,
            mtime_ns: ns(st.st_mtime, st.st_mtime_nsec as u64),
        },
        ctime_ns: ns(st.st_ctime, st.st_ctime_nsec as u64),
        nlink: st.st_nlink,
    })
}

/// The live index: an immutable, sorted base file plus an in-memory overlay
/// of changes, merged into a new base by [`compact`].
///
/// * [`lookup`] checks the overlay, then searches the base file (by
///   positioned reads, or in the mapped or loaded bytes); it never
///   allocates, and reports what it finds wrong with the file as an error.
/// * [`set`] and [`remove_subtree`] change only the overlay.
/// * [`compact`] and [`rebuild`] take the index's writer lock, write a new
///   file under a unique temporary name, `sync_all` it, rename it over the
///   index, `fsync` the directory and read from the new file. The index file
///   is never modified in place, so every reader, in any process, sees
///   either the old file or the new one, whole.
///
/// [`lookup`]: MmapIndex::lookup
/// [`set`]: MmapIndex::set
/// [`remove_subtree`]: MmapIndex::remove_subtree
/// [`compact`]: MmapIndex::compact
/// [`rebuild`]: MmapIndex::rebuild
pub struct MmapIndex {
    path: PathBuf,
    options: IndexOptions,
    load: Load,
    /// The file being read (also under a mapping: for its status).
    file: File,
    /// Its status when opened (or written).
    stamp: Stamp,
    /// Entry count and pool length, from the checked header.
    count: usize,
    pool_len: u64,
    /// Entry 0's path, checked at open.
    root: Box<[u8]>,
    data: Data,
    /// The whole file, read on demand in [`Load::Pread`] mode for work that
    /// needs all of it (iteration, verification, subtree removal, compaction).
    whole: OnceLock<Box<[u8]>>,
    /// Why the file is read into memory rather than mapped, when it is.
    map_error: Option<Error>,
    overlay: Overlay,
    /// The hash table over the base, built lazily (see
    /// [`MmapIndex::lookup`]): `Ok(None)` when not worth building, an error
    /// when building found the file corrupt.
    probes: OnceLock<std::result::Result<Option<ProbeTable>, FormatError>>,
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
            .field("load", &self.load)
            .field("base_len", &self.count)
            .field("overlay_len", &self.overlay.len())
            .field("mapped", &self.data.is_mapped())
            .finish()
    }
}

/// The index file that belongs beside a database: `data.mmap` for `data.db`.
pub fn index_path_for(db: &Path) -> PathBuf {
    db.with_extension("mmap")
}

/// "index /x/data.mmap is corrupt: <problem>", with what happens next.
fn corrupt(path: &Path, problem: &FormatError) -> Error {
    let what = match problem {
        FormatError::UnsupportedVersion { .. } => "has an unsupported format",
        _ => "is corrupt",
    };
    Error::new(
        ErrorKind::Corrupt,
        format!("index {} {what}: {problem}", escape_path(path)),
    )
    .with_hint(REBUILD_HINT)
}

/// The file changed under an open index: its answers cannot be trusted.
fn changed(path: &Path) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "index {} changed while it was being read (another program rewrote it in place)",
            escape_path(path)
        ),
    )
    .with_hint(REBUILD_HINT)
}

/// An I/O failure on the index, with advice where the OS error suggests a
/// limit to raise.
pub(crate) fn io_error(what: &str, path: &Path, err: io::Error) -> Error {
    let hint = match err.kind() {
        io::ErrorKind::NotFound if what.contains("open") => {
            Some("it is written by `disktracker scan`; run a scan to create it")
        }
        io::ErrorKind::StorageFull => Some("free some disk space"),
        io::ErrorKind::PermissionDenied => Some("check the file's and its directory's permissions"),
        _ if err.raw_os_error() == Some(libc::EMFILE) => {
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
    } else if err.raw_os_error() == Some(libc::ENODEV) {
        // The filesystem cannot map files (some FUSE and network filesystems).
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

/// Opens the index file for reading; it must be a regular file.
fn open_file(path: &Path) -> Result<File> {
    // O_NONBLOCK: opening a FIFO planted at the path must not block; it has
    // no effect on reads of a regular file.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_error("cannot open index", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error("cannot read the metadata of index", path, e))?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("index {} is not a regular file", escape_path(path)),
        )
        .with_hint("move it away; the next `disktracker scan` writes a new index"));
    }
    Ok(file)
}

/// Reads the whole file (`len` bytes); a failed allocation is an error, not
/// an abort, and a file shorter than `len` is `UnexpectedEof`.
fn read_all(file: &File, len: u64) -> io::Result<Box<[u8]>> {
    let cap = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(cap)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    buf.resize(cap, 0);
    file.read_exact_at(&mut buf, 0)?;
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

/// The bytes in memory, if any: the mapping or heap copy, or the whole file
/// read on demand in pread mode. A free function so callers can borrow the
/// overlay mutably at the same time.
#[inline]
fn bytes_of<'a>(data: &'a Data, whole: &'a OnceLock<Box<[u8]>>) -> Option<&'a [u8]> {
    data.bytes().or_else(|| whole.get().map(|b| &**b))
}

impl MmapIndex {
    /// Opens an existing index, read as `options.access` asks (see
    /// [`Load::for_access`]), and checks the header, version, exact length
    /// and root entry. O(1) in the index size.
    ///
    /// Errors: [`ErrorKind::NotFound`] when the file does not exist,
    /// [`ErrorKind::Corrupt`] when it is not a valid index (the message names
    /// the file and the problem), [`ErrorKind::Io`]/[`ErrorKind::Permission`]
    /// otherwise.
    pub fn open(options: &IndexOptions) -> Result<Self> {
        Self::open_with(options, Load::for_access(options.access))
    }

    /// [`MmapIndex::open`], choosing how the bytes are read.
    pub fn open_with(options: &IndexOptions, load: Load) -> Result<Self> {
        let file = open_file(&options.path)?;
        Self::from_file(options, load, file)
    }

    /// Reads an index from an open file (just opened, or just written).
    fn from_file(options: &IndexOptions, load: Load, file: File) -> Result<Self> {
        let path = &options.path;
        let stamp =
            stamp(&file).map_err(|e| io_error("cannot read the metadata of index", path, e))?;
        let len = stamp.identity.len;
        // A too-short file is reported as such without mapping it (a zero-length
        // mapping is an error on some systems, which would hide the real problem).
        if len < HEADER_LEN as u64 {
            return Err(corrupt(path, &FormatError::TooShort { len }));
        }
        let mut map_failure = None;
        let data = match load {
            Load::Pread => Data::Pread,
            Load::Map => match map::map(&file, options.advice, options.preload) {
                Ok(m) => Data::Mapped(m),
                Err(e) => {
                    map_failure = Some(e);
                    Data::Heap(Self::read_heap(path, &file, len, map_failure.as_ref())?)
                }
            },
            Load::Read => Data::Heap(Self::read_heap(path, &file, len, None)?),
        };
        let (count, pool_len, root) = match data.bytes() {
            Some(bytes) => {
                let view = IndexView::parse(bytes).map_err(|e| corrupt(path, &e))?;
                let root = view.root().map_err(|e| corrupt(path, &e))?;
                (view.len(), view.pool_len() as u64, Box::from(root))
            }
            None => Self::pread_header(path, &file, len, options.advice)?,
        };
        let map_error = map_failure.map(|e| map_error(path, len, e));
        Ok(MmapIndex {
            path: path.clone(),
            options: options.clone(),
            load,
            file,
            stamp,
            count,
            pool_len,
            root,
            data,
            whole: OnceLock::new(),
            map_error,
            overlay: Overlay::default(),
            probes: OnceLock::new(),
            lookups: AtomicU32::new(0),
        })
    }

    /// The file read into memory; `map_failure` is why it is not mapped.
    fn read_heap(
        path: &Path,
        file: &File,
        len: u64,
        map_failure: Option<&io::Error>,
    ) -> Result<Box<[u8]>> {
        read_all(file, len).map_err(|e| match map_failure {
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
            None if e.kind() == io::ErrorKind::UnexpectedEof => changed(path),
            None => io_error("cannot read index", path, e),
        })
    }

    /// Checks the header and root entry by positioned reads; returns the
    /// entry count, pool length and root path.
    fn pread_header(
        path: &Path,
        file: &File,
        len: u64,
        advice: ReadAdvice,
    ) -> Result<(usize, u64, Box<[u8]>)> {
        let fail = |e: ReadError| match e {
            ReadError::Format(f) => corrupt(path, &f),
            ReadError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => changed(path),
            ReadError::Io(e) => io_error("cannot read index", path, e),
        };
        let mut h = [0u8; HEADER_LEN];
        file.read_exact_at(&mut h, 0)
            .map_err(|e| fail(ReadError::Io(e)))?;
        let header = format::header(&h).ok_or(FormatError::TooShort { len });
        let (count, pool_len) = header
            .and_then(|h| format::check_header(h, len))
            .map_err(|e| corrupt(path, &e))?;
        // A binary search reads one small piece per probe: readahead around
        // each would only fetch pages it never uses (on a cold cache).
        let advice = match advice {
            ReadAdvice::Normal => rustix::fs::Advice::Normal,
            ReadAdvice::Random => rustix::fs::Advice::Random,
            ReadAdvice::Sequential => rustix::fs::Advice::Sequential,
        };
        let _ = rustix::fs::fadvise(file, 0, None, advice);
        let src = PreadSource {
            file,
            count,
            pool_len,
        };
        let (off, len) = format::root_entry(&src).map_err(fail)?;
        let root = src.path_to_vec(off, len).map_err(fail)?;
        Ok((count, pool_len, root.into_boxed_slice()))
    }

    /// Writes a new index at `options.path` from `entries` (any order),
    /// atomically replacing any existing file, and opens it as
    /// `options.access` asks. Waits for the writer lock (see the crate docs).
    ///
    /// Duplicate paths: the **last** value given wins, as with repeated
    /// [`set`](MmapIndex::set)s. Keys can be borrowed (`&[u8]`) to avoid
    /// copying a scan's paths. Paths must be absolute and there must be at
    /// least one (an index always holds its root).
    pub fn create<K, I>(options: &IndexOptions, entries: I) -> Result<Self>
    where
        K: AsRef<[u8]>,
        I: IntoIterator<Item = (K, u64)>,
    {
        let mut v: Vec<(K, u64)> = entries.into_iter().collect();
        sort_dedup_last(&mut v);
        let path = &options.path;
        let lock = write::lock(path, options.lock_wait)?;
        write::remove_leftovers(&lock, path);
        let tmp = write::write_temp(&lock, path, v.iter().map(|(k, n)| (k.as_ref(), *n)))?;
        let file = write::persist(&lock, tmp, path)?;
        drop(lock);
        Self::from_file(options, Load::for_access(options.access), file)
    }

    /// Like [`MmapIndex::create`], from entries in strictly increasing path
    /// order, each needed only while it is written: the file is written in
    /// three passes over them (sizes, entry table, path pool), so no path
    /// is kept. Entries out of order are an error and nothing is replaced.
    pub fn create_sorted(
        options: &IndexOptions,
        entries: &dyn disktracker::registry::SortedIndexEntries,
    ) -> Result<Self> {
        let path = &options.path;
        let lock = write::lock(path, options.lock_wait)?;
        write::remove_leftovers(&lock, path);
        let tmp = write::write_temp_visited(&lock, path, &mut |f| entries.visit(f))?;
        let file = write::persist(&lock, tmp, path)?;
        drop(lock);
        Self::from_file(options, Load::for_access(options.access), file)
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file is read.
    pub fn load(&self) -> Load {
        self.load
    }

    /// Identity of the file being read, from the open file (not the name).
    pub fn identity(&self) -> FileIdentity {
        self.stamp.identity
    }

    /// Reads the whole file into memory in pread mode (once); checks that
    /// it did not change meanwhile.
    fn materialize(&self) -> Result<()> {
        if self.data.bytes().is_some() || self.whole.get().is_some() {
            return Ok(());
        }
        let bytes = Self::read_heap(&self.path, &self.file, self.stamp.identity.len, None)?;
        self.check_unchanged()?;
        let _ = self.whole.set(bytes);
        Ok(())
    }

    /// The base file's bytes as a view (no overlay), reading the whole file
    /// into memory first in pread mode.
    pub fn view(&self) -> Result<IndexView<'_>> {
        self.materialize()?;
        let bytes = bytes_of(&self.data, &self.whole).unwrap_or_default();
        // Checked at open; re-parsing is a few loads and compares.
        IndexView::parse(bytes).map_err(|e| corrupt(&self.path, &e))
    }

    /// The recursive disk usage of `path` (absolute path bytes, no trailing
    /// slash except for `/`): the overlay's value or tombstone if it has one,
    /// else the base file's. `Ok(None)` when unknown or deleted.
    ///
    /// O(log n) by binary search, expected O(1) once the probe table is built;
    /// no heap allocation on success — except once, see below.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Corrupt`], naming the file, when the search meets an
    /// entry that cannot be in a valid index (see [`format`](mod@crate::format):
    /// out of the pool, not absolute, out of order around the probes), and
    /// when the file changed while being read: in pread mode its status is
    /// compared after every lookup; in mapped mode a read past the end of a
    /// file truncated by another program is caught (no SIGBUS) and every
    /// later lookup fails. [`ErrorKind::Io`] when a read fails.
    ///
    /// # The probe table: faster lookups for long-running readers
    ///
    /// A plain binary search of a large file waits on a chain of dependent
    /// cache misses (~20 probes for 1M entries, each reading an entry and
    /// then its path). After [`PROBE_TABLE_AFTER_LOOKUPS`] base lookups on the
    /// same open, mapped (or loaded) index (a watcher, not a one-shot CLI
    /// call), the lookup that crosses the threshold builds an in-memory hash
    /// table from each path to its entry: about 15 bytes per entry (14 MB
    /// for 1M), built in ~40 ms by reading the file once. That one lookup
    /// allocates and is slow; every later one is allocation-free, reads one
    /// table line, then the entry and its path in a single round trip.
    /// Building it checks every entry as [`verify`](Self::verify) does: a
    /// file that fails gets no table, and that lookup and every later one
    /// report the corruption. Indexes under 65,536 entries never get one
    /// (they mostly fit in CPU caches), nor do pread-mode indexes, nor any
    /// index opened with [`IndexOptions::probe_table`] off (`[index]
    /// probe_table` in the config). [`MmapIndex::prepare_probe_table`]
    /// builds it up front instead. [`compact`](Self::compact) and
    /// [`rebuild`](Self::rebuild) drop it (it describes the old file) and the
    /// count starts again; overlay changes leave it valid. Results always
    /// come from full comparisons with paths in the file.
    #[inline]
    pub fn lookup(&self, path: &[u8]) -> Result<Option<u64>> {
        match self.overlay.get(path) {
            Some(Slot::Size(n)) => Ok(Some(n)),
            Some(Slot::Deleted) => Ok(None),
            None => self.lookup_base(path),
        }
    }

    #[inline]
    fn lookup_base(&self, path: &[u8]) -> Result<Option<u64>> {
        let Some(bytes) = bytes_of(&self.data, &self.whole) else {
            return self.lookup_pread(path);
        };
        let base = IndexView::split(bytes, self.count);
        let found = match self.probe_table() {
            Ok(Some(t)) => t
                .find(base, path)
                .map(|i| i.and_then(|i| base.raw(i)).map(|e| e.2)),
            Ok(None) => format::search(&base, path).map(|f| f.map(|(_, total)| total)),
            Err(e) => Err(e),
        };
        // A fault means some bytes just read were zeros, not the file's.
        if self.data.faulted() {
            return Err(changed(&self.path));
        }
        found.map_err(|e| corrupt(&self.path, &e))
    }

    fn lookup_pread(&self, path: &[u8]) -> Result<Option<u64>> {
        let src = PreadSource {
            file: &self.file,
            count: self.count,
            pool_len: self.pool_len,
        };
        let found = format::search(&src, path);
        // Bytes read from a file being rewritten can be anything; only an
        // unchanged status afterwards makes them the file's (see the crate
        // docs for what this cannot see).
        self.check_unchanged()?;
        match found {
            Ok(f) => Ok(f.map(|(_, total)| total)),
            Err(ReadError::Format(e)) => Err(corrupt(&self.path, &e)),
            Err(ReadError::Io(e)) => Err(io_error("cannot read index", &self.path, e)),
        }
    }

    /// Fails with [`ErrorKind::Corrupt`] if the file was changed in place
    /// since it was opened: its length, modification or status-change time
    /// differ, or (mapped) a read faulted past its end. One `fstat`.
    pub fn check_unchanged(&self) -> Result<()> {
        if self.data.faulted() {
            return Err(changed(&self.path));
        }
        let now = stamp(&self.file)
            .map_err(|e| io_error("cannot read the metadata of index", &self.path, e))?;
        if self.stamp.differs(&now) {
            return Err(changed(&self.path));
        }
        Ok(())
    }

    /// The probe table, if built; counts a lookup toward building it otherwise.
    #[inline]
    fn probe_table(&self) -> std::result::Result<Option<&ProbeTable>, FormatError> {
        if let Some(t) = self.probes.get() {
            return match t {
                Ok(t) => Ok(t.as_ref()),
                Err(e) => Err(e.clone()),
            };
        }
        if !self.options.probe_table
            || self.count < crate::probe::MIN_ENTRIES
            || self.data.bytes().is_none()
            || self.lookups.fetch_add(1, Ordering::Relaxed) + 1 < PROBE_TABLE_AFTER_LOOKUPS
        {
            return Ok(None);
        }
        self.build_probe_table()
    }

    /// Builds the probe table now if it is not built yet, rather than after
    /// [`PROBE_TABLE_AFTER_LOOKUPS`] lookups (see
    /// [`lookup`](MmapIndex::lookup)): for a reader that knows it will ask
    /// many questions. Allocates about 15 bytes per entry and reads the whole
    /// file once (~40 ms for 1M entries). Returns whether the index has a
    /// table (small, pread-mode or corrupt indexes get none, as do all when
    /// [`IndexOptions::probe_table`] is off).
    pub fn prepare_probe_table(&self) -> bool {
        matches!(self.build_probe_table(), Ok(Some(_)))
    }

    /// True once a probe table is built (for tests and benchmarks).
    #[doc(hidden)]
    pub fn has_probe_table(&self) -> bool {
        matches!(self.probes.get(), Some(Ok(Some(_))))
    }

    /// Never build a probe table on this open index (for measurements).
    #[doc(hidden)]
    pub fn disable_probe_table(&self) {
        let _ = self.probes.set(Ok(None));
    }

    fn build_probe_table(&self) -> std::result::Result<Option<&ProbeTable>, FormatError> {
        let built = self.probes.get_or_init(|| match self.data.bytes() {
            Some(bytes) if self.options.probe_table => {
                ProbeTable::build(IndexView::split(bytes, self.count))
            }
            _ => Ok(None),
        });
        match built {
            Ok(t) => Ok(t.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Sets `path`'s recursive size in the overlay. This also makes a path
    /// inside a removed subtree visible again (only that path).
    pub fn set(&mut self, path: &[u8], total_bytes: u64) {
        self.overlay.set(path, total_bytes);
    }

    /// Removes `path` and every path below it (those starting with `path/`),
    /// in the base and in the overlay, with tombstones in the overlay.
    ///
    /// Reads the whole file into memory first in pread mode. Fails with
    /// [`ErrorKind::Corrupt`] on a base entry that cannot be valid, leaving
    /// the overlay as it was.
    pub fn remove_subtree(&mut self, path: &[u8]) -> Result<()> {
        self.materialize()?;
        let bytes = bytes_of(&self.data, &self.whole).unwrap_or_default();
        let base = IndexView::split(bytes, self.count);
        let removed = self.overlay.remove_subtree(base, path);
        if self.data.faulted() {
            return Err(changed(&self.path));
        }
        removed.map_err(|e| corrupt(&self.path, &e))
    }

    /// Number of paths in the base file (the overlay not counted). After
    /// [`compact`](MmapIndex::compact) this is every live path.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the base file has no entries (never: a valid index holds
    /// at least its root).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of overlay entries (sizes and tombstones) not yet compacted.
    pub fn overlay_len(&self) -> usize {
        self.overlay.len()
    }

    /// The first path of the base file in sort order: the scan root for an
    /// index written from one scan. Checked at open.
    pub fn root(&self) -> &[u8] {
        &self.root
    }

    /// Every live path with its size, in path order: the base merged with the
    /// overlay, exactly what [`lookup`](MmapIndex::lookup) answers. Verifies
    /// the base first ([`verify`](MmapIndex::verify)), and reads the whole
    /// file into memory in pread mode. Allocates a sorted copy of the
    /// overlay's keys (references, not bytes).
    pub fn iter(&self) -> Result<Iter<'_>> {
        self.verify()?;
        let bytes = bytes_of(&self.data, &self.whole).unwrap_or_default();
        Ok(Iter {
            base: IndexView::split(bytes, self.count),
            over: self.overlay.sorted(),
            i: 0,
            j: 0,
        })
    }

    /// Full O(n) validation of the base file: every entry inside the path
    /// pool, absolute, contiguous and strictly increasing (see
    /// [`IndexView::verify`]). [`open`](MmapIndex::open) checks only the
    /// header, length and root, to stay O(1); lookups check what they meet.
    /// Compaction runs this before merging. A changed size field is valid
    /// structure: only a checksum of the file's bytes catches it.
    pub fn verify(&self) -> Result<()> {
        let checked = self.view()?.verify();
        self.check_unchanged()?;
        checked.map_err(|e| corrupt(&self.path, &e))
    }

    /// True when the bytes are memory-mapped.
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
    /// Takes the writer lock, removes leftovers of dead writers, verifies
    /// the base, writes a temporary file completely and `sync_all`s it,
    /// checks the base did not change meanwhile, renames the file over the
    /// index, `fsync`s the directory, reads from the new file and clears the
    /// overlay. If anything fails before the rename, the index file and the
    /// overlay are untouched. A corrupt base stops compaction with
    /// [`ErrorKind::Corrupt`] rather than copying it. An empty overlay makes
    /// this a no-op; an overlay that deletes every path is refused (an index
    /// always holds its root).
    pub fn compact(&mut self) -> Result<()> {
        if self.overlay.is_empty() {
            return Ok(());
        }
        let lock = write::lock(&self.path, self.options.lock_wait)?;
        write::remove_leftovers(&lock, &self.path);
        self.verify().map_err(|e| {
            Error::new(
                e.kind(),
                format!("{}; compaction stopped, pending changes kept", e.message()),
            )
            .with_hint(REBUILD_HINT)
        })?;
        let tmp = {
            let bytes = bytes_of(&self.data, &self.whole).unwrap_or_default();
            let base = IndexView::split(bytes, self.count);
            let over = self.overlay.sorted();
            write::write_temp(&lock, &self.path, Merge::new(base, &over))?
        };
        // What was merged must be what was verified.
        self.check_unchanged()?;
        let file = write::persist(&lock, tmp, &self.path)?;
        drop(lock);
        self.switch_to(file)
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
        let lock = write::lock(&self.path, self.options.lock_wait)?;
        write::remove_leftovers(&lock, &self.path);
        let tmp = write::write_temp(&lock, &self.path, v.iter().map(|(k, n)| (k.as_ref(), *n)))?;
        let file = write::persist(&lock, tmp, &self.path)?;
        drop(lock);
        self.switch_to(file)
    }

    /// Reads from the just-published `file` from now on, clearing the overlay.
    ///
    /// The seed's order is: drop the map, rename, sync the directory, map.
    /// We keep the old map until the new file is read instead: on Unix,
    /// renaming over a mapped file is safe (the mapping keeps the old inode,
    /// which nobody writes), and holding it means that if reading the new
    /// file fails we still answer correctly from the old map plus the
    /// overlay (which together equal the new file).
    fn switch_to(&mut self, file: File) -> Result<()> {
        let fresh = Self::from_file(&self.options, self.load, file).map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{}; the index was written but could not be reopened",
                    e.message()
                ),
            )
        })?;
        *self = fresh;
        Ok(())
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

    fn identity(&self) -> FileIdentity {
        MmapIndex::identity(self)
    }

    fn root(&self) -> Option<&[u8]> {
        Some(MmapIndex::root(self))
    }

    fn base_len(&self) -> usize {
        self.len()
    }

    fn overlay_len(&self) -> usize {
        MmapIndex::overlay_len(self)
    }

    fn lookup(&self, path: &[u8]) -> Result<Option<u64>> {
        MmapIndex::lookup(self, path)
    }

    fn verify(&self) -> Result<()> {
        MmapIndex::verify(self)
    }

    fn check_unchanged(&self) -> Result<()> {
        MmapIndex::check_unchanged(self)
    }

    fn set(&mut self, path: &[u8], total_bytes: u64) {
        MmapIndex::set(self, path, total_bytes);
    }

    fn remove_subtree(&mut self, path: &[u8]) -> Result<()> {
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
            io::Error::from_raw_os_error(libc::ENOMEM),
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
            io::Error::from_raw_os_error(libc::ENODEV),
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
    }
}
