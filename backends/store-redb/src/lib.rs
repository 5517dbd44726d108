//! A [`SnapshotStore`] on [redb](https://www.redb.org), registered as `redb`.
//!
//! The store lives in its own file beside the SQLite database, with the
//! extension `redb` (`--db ~/.disktracker/data.db` → `~/.disktracker/data.redb`),
//! and has the same duties and answers as the SQLite store: the shared
//! conformance suite in `disktracker-testkit` runs over both.
//!
//! # Layout (store format 2)
//!
//! | table                   | key                                  | value |
//! |-------------------------|--------------------------------------|-------|
//! | `disktracker.meta`      | `&str` name                          | `u64`: `format_version`, `next_snapshot_id`, `next_mutation_id`, `next_journal_seq`, `next_delta_seq`, `rows_removed_since_reclaim` |
//! | `disktracker.snapshots` | `u64` snapshot id                    | encoded [`SnapshotMeta`] |
//! | `disktracker.roots`     | `(&[u8] root, u64 snapshot id)`      | `()`: the index of snapshots by root |
//! | `disktracker.dirs`      | `&[u8]`: snapshot id (8 bytes, big-endian) ++ path bytes | `[u8; 108]`: depth and every [`DirStats`] field, little-endian |
//! | `disktracker.diffs`     | `(u64 a, u64 b, u64 seq)`            | encoded [`DiffEntry`] |
//! | `disktracker.diff_sets` | `(u64 a, u64 b)`                     | `u64` number of entries |
//! | `disktracker.mutations` | `u64` mutation id                    | encoded [`Mutation`](disktracker::Mutation) |
//! | `disktracker.journal`   | `(i64 time in ms, u64 seq)`          | encoded [`JournalEvent`] (without its time) |
//! | `disktracker.dir_deltas`| `(u64 snapshot id, &[u8] path, u64 seq)` | encoded [`DirDelta`] (previous, current, recorded at) |
//! | `disktracker.watch_state` | `&[u8]` root                       | encoded [`WatchState`] |
//! | `disktracker.index_provenance` | `&str` `"current"`            | encoded [`IndexProvenance`] |
//!
//! The directory key is one byte string rather than a redb tuple so that
//! redb compares keys with a plain `memcmp` and builds them without an
//! allocation; big-endian ids make one snapshot's rows a single contiguous,
//! bytewise path-ordered key range. A subtree `P` is `P` itself followed,
//! after any siblings such as `P-x` that sort between, by the contiguous range
//! of keys starting with `P/`. Cached diffs keep the caller's entry order
//! (`seq`), and `diff_sets` records which pairs are cached at all, so an empty
//! diff is distinguishable from none and a deleted snapshot's diffs are found
//! without scanning the entries. The encodings are described in `codec.rs`.
//!
//! `roots` answers every snapshot selection ([`SnapshotStore::find_snapshots`],
//! [`SnapshotStore::latest_per_root`]) with range reads: the snapshots of
//! one root are one key range in id order, the roots covering a path are
//! its ancestors (one range each), and the newest snapshot of every root is
//! one seek per root. Mutation ids, journal and delta sequence numbers come
//! from counters in `meta`, so they increase and are never reused. Deleting
//! a snapshot deletes its directories, its index entry, its cached diffs and
//! its recorded deltas in the same transaction.
//!
//! [`SnapshotStore::derive_snapshot`] copies the base's directory rows as
//! stored, key and value bytes, never decoded: the base's key range minus
//! each removed subtree (`P` and `[P/, P0)`), merged in path order with the
//! upserts, appended after every existing key like a new snapshot's rows.
//!
//! Ids come from the `next_snapshot_id` counter, so they increase and are never
//! reused, even after the newest snapshot is deleted (like SQLite's
//! `AUTOINCREMENT`). A file whose `format_version` is newer than
//! [`FORMAT_VERSION`] is refused; a redb file without the meta table that
//! already holds other tables is not ours and is refused too.
//!
//! # Migrations
//!
//! Format 1 (before the live tables) had the first five tables above. The
//! first writable open of a format 1 file creates the new tables, builds
//! `roots` from the stored snapshots and sets `format_version` to 2, in one
//! transaction: a crash leaves the file in format 1, intact. A read-only open
//! of a format 1 file migrates nothing and reads it as it is: snapshots,
//! directories and diffs as before, snapshot selection by reading the
//! snapshot records (there is no `roots` yet), and the live tables empty.
//! Read commands thus keep working without write access (issue 9's rule).
//!
//! # Durability
//!
//! Every write transaction commits with [`redb::Durability::Immediate`]
//! (`fsync` before `commit` returns) and quick-repair: a committed snapshot
//! survives a crash or power loss, and the allocator state saved with each
//! commit lets the next writable open recover from a crash without redb's
//! full-file repair (which reads every page). It costs a second `fsync` per
//! commit; a snapshot is one commit, so that is a few milliseconds per scan.
//! A snapshot is written in one write transaction: dropping the writer
//! without committing, or a crash before the commit, leaves nothing behind.
//! So is everything else that belongs together: a snapshot and the
//! retention deletes given to [`SnapshotWriter::delete_with`]; a derived
//! snapshot with its deltas and watch state; a watcher batch's mutations,
//! journal entries and watch state.
//!
//! redb flags a file while a writer has it open, and a reader may not
//! recover a file whose writer was killed. So a read-only open of such a
//! file first runs redb's crash recovery through a brief writable open (as
//! SQLite's readers roll back a hot journal): the only write a read-only open
//! ever makes, and it changes no stored data. Without write access to the
//! file, the error says to run a writing command once instead.
//!
//! # Opening, locking and settings
//!
//! `[plugins.redb]` takes [`SETTINGS`]: `cache_size` and `lock_timeout`.
//! Empty settings (as from [`StoreOptions::file`]) mean every default.
//!
//! redb locks the file: one writable handle, or any number of read-only
//! ones, across processes and within one. An open that finds the file held
//! retries, with growing pauses, for up to `lock_timeout` (5 s by default,
//! like SQLite's busy timeout) before giving up with [`ErrorKind::Locked`]
//! ("another disktracker is using …"). There is no queue: readers that keep
//! overlapping one another with no gap at all for longer than `lock_timeout`
//! keep a writer out (commands run one after another leave gaps).
//!
//! A new store is built, with all its tables, in a temporary file beside
//! the path (`.NAME.new-XXXXXX.tmp`, mode 0600; missing parents are created
//! 0700) and then linked to the path only if nothing is there yet: creation
//! never follows a symlink, never takes over an existing file, and never
//! leaves an empty or half-made store at the path (a crash leaves at most the
//! temporary file). So an existing file must be a redb database; an empty
//! one is refused as someone else's. An existing store may be opened through
//! a symlink only if the link belongs to the user running disktracker: in a
//! shared directory another user's link is refused. Devices, FIFOs, sockets
//! and directories are refused.
//!
//! # Memory
//!
//! redb's page cache (read cache plus write buffer) is capped at
//! `cache_size`, by default [`CACHE_SIZE`], enough to hold one
//! 65k-directory snapshot; rows are handed
//! to redb in chunks of [`WRITE_CHUNK`], so a snapshot of any size is written
//! in bounded memory.
//!
//! # Reclaiming space
//!
//! Deleting snapshots frees their pages inside the file, and later snapshots
//! reuse them, so a steady retention policy keeps the file near its peak
//! live size even without compaction. The file never shrinks by itself,
//! though. [`SnapshotStore::reclaim_space`] does nothing unless rows were
//! deleted since its last run (measuring free space walks every page); then,
//! when the free space is at least a quarter of the file and at least
//! [`RECLAIM_MIN_FREE`], it compacts the file (redb's `compact`: live pages
//! move down, the tail is truncated). Afterwards the file holds at most
//! `max(4/3 × live pages, live pages + 4 MiB)`, so pruning snapshots and
//! reclaiming bounds it. Compaction's own commits record no allocator state:
//! a crash between a compaction and the next commit costs the next writable
//! open a full repair, and loses nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod errors;
mod live;
mod open;
mod schema;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use disktracker::model::DiffEntry;
use disktracker::path::{descendant_prefix, escape_path, prefix_end, trim_slashes};
use disktracker::registry::StorePlugin;
use disktracker::{
    DerivedSnapshot, DirDelta, DirRecord, DirStats, Error, ErrorKind, IndexProvenance,
    JournalEvent, JournalQuery, LiveBatch, LoggedMutation, Result, SnapshotId, SnapshotInfo,
    SnapshotMeta, SnapshotQuery, SnapshotStore, SnapshotWriter, StoreLocation, StoreOptions,
    WatchState,
};
use redb::{
    Database, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, TableError, WriteTransaction,
};

use codec::DirValue;
use errors::{Ctx, bad_record, from_io, from_redb};
pub use open::SETTINGS;

/// The store format this build writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 2;

/// Default bytes of redb page cache (read cache and write buffer together):
/// the `cache_size` setting's default.
pub const CACHE_SIZE: usize = 16 << 20;

/// How long an open waits for another process holding the file by default:
/// the `lock_timeout` setting's default.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Directory rows buffered before they are handed to redb.
pub const WRITE_CHUNK: usize = 8192;

/// [`SnapshotStore::reclaim_space`] compacts only when at least this much of
/// the file (and at least a quarter of it) is free.
pub const RECLAIM_MIN_FREE: u64 = 4 << 20;

const META: TableDefinition<&str, u64> = TableDefinition::new("disktracker.meta");
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("disktracker.snapshots");
const DIRS: TableDefinition<&[u8], &DirValue> = TableDefinition::new("disktracker.dirs");
const DIFFS: TableDefinition<(u64, u64, u64), &[u8]> = TableDefinition::new("disktracker.diffs");
const DIFF_SETS: TableDefinition<(u64, u64), u64> = TableDefinition::new("disktracker.diff_sets");
// Format 2:
const ROOTS: TableDefinition<(&[u8], u64), ()> = TableDefinition::new("disktracker.roots");
const MUTATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("disktracker.mutations");
const JOURNAL: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("disktracker.journal");
const DELTAS: TableDefinition<(u64, &[u8], u64), &[u8]> =
    TableDefinition::new("disktracker.dir_deltas");
const WATCH: TableDefinition<&[u8], &[u8]> = TableDefinition::new("disktracker.watch_state");
const PROVENANCE: TableDefinition<&str, &[u8]> =
    TableDefinition::new("disktracker.index_provenance");

/// The directory table opened for reading.
type DirsTable = ReadOnlyTable<&'static [u8], &'static DirValue>;

const KEY_FORMAT: &str = "format_version";
const KEY_NEXT_ID: &str = "next_snapshot_id";
const KEY_NEXT_MUTATION: &str = "next_mutation_id";
const KEY_NEXT_EVENT: &str = "next_journal_seq";
const KEY_NEXT_DELTA: &str = "next_delta_seq";
/// Rows removed since the last [`SnapshotStore::reclaim_space`]: whether
/// measuring the free space is worth a walk over the file.
const KEY_REMOVED: &str = "rows_removed_since_reclaim";
/// The one key of the provenance table.
const PROVENANCE_KEY: &str = "current";

/// Adds `n` to the count of removed rows, inside `txn`.
fn add_removed(txn: &WriteTransaction, file: &Path, n: u64) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut meta = txn.open_table(META).ctx(file, "cannot write to")?;
    let old = meta
        .get(KEY_REMOVED)
        .ctx(file, "cannot read")?
        .map_or(0, |v| v.value());
    meta.insert(KEY_REMOVED, old.saturating_add(n))
        .ctx(file, "cannot write to")?;
    Ok(())
}

/// Reads counter `key` of `meta` (1 when absent), stores it plus `n`, and
/// returns the value read: the first of `n` new ids.
fn take_ids(txn: &WriteTransaction, file: &Path, key: &str, n: u64) -> Result<u64> {
    let mut meta = txn.open_table(META).ctx(file, "cannot write to")?;
    let first = meta
        .get(key)
        .ctx(file, "cannot read")?
        .map_or(1, |v| v.value());
    let next = first
        .checked_add(n)
        .filter(|&v| i64::try_from(v).is_ok())
        .ok_or_else(|| bad_record(file, key))?;
    if n > 0 {
        meta.insert(key, next).ctx(file, "cannot write to")?;
    }
    Ok(first)
}

disktracker::register_store!(
    StorePlugin::new(
        "redb",
        "redb B-tree store in its own file beside the database (data.redb)",
        "redb",
        b"redb\x1a\x0a\xa9\x0d\x0a",
        open_store
    )
    .settings(SETTINGS)
);

fn open_store(opts: &StoreOptions) -> Result<Box<dyn SnapshotStore>> {
    Ok(Box::new(RedbStore::open(opts)?))
}

/// The open redb file, writable or not.
enum Handle {
    Rw(Database),
    Ro(ReadOnlyDatabase),
    /// Only while the store is being dropped.
    Closed,
}

/// A [`SnapshotStore`] in one redb file. See the crate docs for the layout.
pub struct RedbStore {
    path: PathBuf,
    location: StoreLocation,
    db: Handle,
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Closing writes redb's allocator state; after redb panicked on a
        // damaged page (caught by `shield`) its state is poisoned and closing
        // panics again. A damaged file must not bring the process down.
        let db = std::mem::replace(&mut self.db, Handle::Closed);
        let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("read_only", &matches!(self.db, Handle::Ro(_)))
            .finish()
    }
}

/// A panic raised by the caller's visitor, carried through [`shield`] untouched.
struct VisitorPanic(Box<dyn std::any::Any + Send>);

/// Runs `f`, turning a panic inside redb into a `Corrupt` error.
///
/// redb trusts the pages it reads (it checks checksums only when recovering),
/// so a damaged file can trip an overflow or bounds check deep inside it.
/// The file is untrusted input and must never bring the process down; a
/// write transaction that was open is rolled back as redb unwinds.
fn shield<T>(file: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => match payload.downcast::<VisitorPanic>() {
            Ok(visitor) => resume_unwind(visitor.0),
            Err(_) => Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{} is damaged: redb failed while reading it",
                    escape_path(file)
                ),
            )
            .with_hint(errors::CORRUPT_HINT)),
        },
    }
}

fn is_missing(err: &TableError) -> bool {
    matches!(err, TableError::TableDoesNotExist(_))
}

impl RedbStore {
    /// Opens the store at `opts.path` with `opts.settings` (see [`SETTINGS`];
    /// empty means every default). Unless `opts.read_only`, creates it (see
    /// the crate docs: never through a symlink, never over an existing file
    /// that is not a store) and migrates an older format; read-only, a
    /// missing file is [`ErrorKind::NotFound`] and every write fails.
    pub fn open(opts: &StoreOptions) -> Result<Self> {
        let path = opts.require_file("redb")?.to_path_buf();
        let tuning = open::Tuning::from_settings(&opts.settings)?;
        let db = if opts.read_only {
            Handle::Ro(open::read_only(&path, &tuning)?)
        } else {
            Handle::Rw(open::writable(&path, &tuning)?)
        };
        let store = RedbStore {
            location: StoreLocation::File(path.clone()),
            path,
            db,
        };
        shield(&store.path, || store.check_schema())?;
        Ok(store)
    }

    fn read(&self) -> Result<ReadTransaction> {
        let r = match &self.db {
            Handle::Rw(db) => db.begin_read(),
            Handle::Ro(db) => db.begin_read(),
            Handle::Closed => Err(redb::TransactionError::Storage(
                redb::StorageError::DatabaseClosed,
            )),
        };
        r.ctx(&self.path, "cannot read")
    }

    /// Opens a table for reading; `None` when a read-only open found a file
    /// without tables (see [`Self::check_schema`]).
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<Option<ReadOnlyTable<K, V>>> {
        match txn.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(from_redb(&self.path, "cannot read", e.into())),
        }
    }

    fn writable(&self) -> Result<&Database> {
        match &self.db {
            Handle::Rw(db) => Ok(db),
            Handle::Ro(_) | Handle::Closed => Err(self.read_only_error()),
        }
    }

    fn read_only_error(&self) -> Error {
        Error::new(
            ErrorKind::Database,
            format!(
                "cannot write to {}: it was opened read-only",
                escape_path(&self.path)
            ),
        )
        .with_hint("open it without read-only to change it")
    }

    /// Begins a write transaction with the durability described in the crate docs.
    fn write_txn(&self, db: &Database) -> Result<WriteTransaction> {
        let mut txn = db.begin_write().ctx(&self.path, "cannot write to")?;
        txn.set_durability(Durability::Immediate)
            .ctx(&self.path, "cannot write to")?;
        txn.set_quick_repair(true);
        Ok(txn)
    }

    fn snapshot_exists(&self, txn: &WriteTransaction, id: u64) -> Result<bool> {
        let snaps = txn.open_table(SNAPSHOTS).ctx(&self.path, "cannot read")?;
        Ok(snaps.get(id).ctx(&self.path, "cannot read")?.is_some())
    }

    fn no_snapshot(&self, id: SnapshotId) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "snapshot {id} does not exist in {}",
                escape_path(&self.path)
            ),
        )
        .with_hint("list the stored snapshots with `disktracker snapshots`")
    }

    /// The stored id of snapshot `id` and its directory table, or
    /// [`ErrorKind::NotFound`] if there is no such snapshot. The table is
    /// `None` only in a read-only open of a file without tables.
    fn snapshot_dirs(
        &self,
        txn: &ReadTransaction,
        id: SnapshotId,
    ) -> Result<(u64, Option<DirsTable>)> {
        let snaps = self.table(txn, SNAPSHOTS)?;
        let exists = match (codec::stored_id(id), &snaps) {
            (Some(u), Some(t)) => t.get(u).ctx(&self.path, "cannot read")?.is_some(),
            _ => false,
        };
        match codec::stored_id(id) {
            Some(u) if exists => Ok((u, self.table(txn, DIRS)?)),
            _ => Err(self.no_snapshot(id)),
        }
    }

    /// Bytes the file occupies and bytes of it that hold live pages.
    fn space(&self, db: &Database) -> Result<(u64, u64)> {
        let file_len = std::fs::metadata(&self.path)
            .map_err(|e| from_io(&self.path, "cannot stat", e))?
            .len();
        let txn = db.begin_write().ctx(&self.path, "cannot read")?;
        let stats = txn.stats().ctx(&self.path, "cannot read")?;
        txn.abort().ctx(&self.path, "cannot read")?;
        let used = stats
            .allocated_pages()
            .saturating_mul(stats.page_size() as u64);
        Ok((file_len, used))
    }

    /// Bytes the file occupies and bytes of it holding live pages — what
    /// [`SnapshotStore::reclaim_space`] decides on. For tests and benchmarks.
    pub fn space_usage(&self) -> Result<(u64, u64)> {
        self.space(self.writable()?)
    }

    /// Decodes one directory row into `rec`, reusing its path buffer.
    fn fill(&self, rec: &mut DirRecord, key: &[u8], value: &DirValue) -> Result<()> {
        let path =
            codec::dir_key_path(key).ok_or_else(|| bad_record(&self.path, "a directory key"))?;
        rec.path.clear();
        rec.path.extend_from_slice(path);
        (rec.depth, rec.stats) = codec::decode_dir(value);
        Ok(())
    }

    /// Visits the keys in `[lo, hi)` of the dirs table; stops when `visit` says so.
    /// Returns `false` if stopped.
    fn visit_range(
        &self,
        dirs: &DirsTable,
        lo: &[u8],
        hi: &[u8],
        rec: &mut DirRecord,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<bool> {
        for item in dirs.range::<&[u8]>(lo..hi).ctx(&self.path, "cannot read")? {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            self.fill(rec, k.value(), v.value())?;
            if !visit(rec) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

// The trait methods, unguarded; `impl SnapshotStore` below runs each under `shield`.
impl RedbStore {
    fn begin_snapshot_impl(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>> {
        let db = self.writable()?;
        let encoded = encode_meta(meta)?;
        let txn = self.write_txn(db)?;
        let id = self.next_snapshot_id(&txn)?;
        Ok(Box::new(RedbWriter::new(
            &self.path,
            txn,
            id,
            encoded,
            meta.root.clone(),
        )))
    }

    /// The id the next snapshot gets (the counter is advanced by its commit).
    fn next_snapshot_id(&self, txn: &WriteTransaction) -> Result<u64> {
        let m = txn.open_table(META).ctx(&self.path, "cannot read")?;
        let next = m.get(KEY_NEXT_ID).ctx(&self.path, "cannot read")?;
        let id = next.map(|v| v.value()).unwrap_or(1);
        // Ids are SnapshotId (i64) to callers; refuse rather than wrap.
        if i64::try_from(id).is_err() || id == 0 {
            return Err(bad_record(&self.path, "the next snapshot id"));
        }
        Ok(id)
    }

    fn snapshots_impl(&self) -> Result<Vec<SnapshotInfo>> {
        let txn = self.read()?;
        let Some(snaps) = self.table(&txn, SNAPSHOTS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in snaps.iter().ctx(&self.path, "cannot read")? {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            out.push(self.info(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn snapshot_impl(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>> {
        let Some(u) = codec::stored_id(id) else {
            return Ok(None);
        };
        let txn = self.read()?;
        let Some(snaps) = self.table(&txn, SNAPSHOTS)? else {
            return Ok(None);
        };
        match snaps.get(u).ctx(&self.path, "cannot read")? {
            Some(v) => Ok(Some(self.info(u, v.value())?)),
            None => Ok(None),
        }
    }

    fn delete_snapshots_impl(&mut self, ids: &[SnapshotId]) -> Result<usize> {
        let db = self.writable()?;
        let txn = self.write_txn(db)?;
        let deleted = delete_in(&self.path, &txn, ids)?;
        txn.commit()
            .ctx(&self.path, "cannot delete snapshots from")?;
        Ok(deleted)
    }

    fn visit_tree_impl(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()> {
        let txn = self.read()?;
        let (u, Some(dirs)) = self.snapshot_dirs(&txn, id)? else {
            return Ok(());
        };
        let mut rec = DirRecord::default();
        match under.map(trim_slashes) {
            None => {
                let lo = codec::id_prefix(u);
                let hi = codec::id_prefix(u + 1);
                self.visit_range(&dirs, &lo, &hi, &mut rec, visit)?;
            }
            Some(p) => {
                // `P` itself first: it sorts before everything below it, but
                // siblings like `P-x` and `P.x` sort between it and `P/…`,
                // so the subtree is the point `P` plus the range `[P/, P0)`.
                // (The root `/` is the start of its own range.)
                if !p.ends_with(b"/")
                    && let Some(v) = dirs
                        .get(codec::dir_key(u, p).as_slice())
                        .ctx(&self.path, "cannot read")?
                {
                    rec.path.clear();
                    rec.path.extend_from_slice(p);
                    (rec.depth, rec.stats) = codec::decode_dir(v.value());
                    if !visit(&rec) {
                        return Ok(());
                    }
                }
                let prefix = descendant_prefix(p);
                let lo = codec::dir_key(u, &prefix);
                let hi = codec::dir_key(u, &prefix_end(&prefix));
                self.visit_range(&dirs, &lo, &hi, &mut rec, visit)?;
            }
        }
        Ok(())
    }

    fn dir_impl(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
        let Some(u) = codec::stored_id(id) else {
            return Ok(None);
        };
        let path = trim_slashes(path);
        let txn = self.read()?;
        let Some(dirs) = self.table(&txn, DIRS)? else {
            return Ok(None);
        };
        let found = dirs
            .get(codec::dir_key(u, path).as_slice())
            .ctx(&self.path, "cannot read")?;
        Ok(found.map(|v| {
            let (depth, stats) = codec::decode_dir(v.value());
            DirRecord {
                path: path.to_vec(),
                depth,
                stats,
            }
        }))
    }

    fn children_impl(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
        let txn = self.read()?;
        let (u, Some(dirs)) = self.snapshot_dirs(&txn, id)? else {
            return Ok(Vec::new());
        };
        let prefix = descendant_prefix(path);
        let hi = codec::dir_key(u, &prefix_end(&prefix));
        let mut lo = codec::dir_key(u, &prefix);
        let mut out = Vec::new();
        // Walk `[P/, P0)`, and on meeting a grandchild `P/c/…` jump past the
        // whole `P/c/` range to `P/c0`: the cost is one seek per child that
        // has subdirectories, not one step per descendant.
        'seek: loop {
            for item in dirs
                .range::<&[u8]>(lo.as_slice()..hi.as_slice())
                .ctx(&self.path, "cannot read")?
            {
                let (k, v) = item.ctx(&self.path, "cannot read")?;
                let key = k.value();
                let Some(rest) = key.get(codec::ID_LEN + prefix.len()..) else {
                    return Err(bad_record(&self.path, "a directory key"));
                };
                match rest.iter().position(|&c| c == b'/') {
                    None if rest.is_empty() => {}
                    None => {
                        let mut rec = DirRecord::default();
                        self.fill(&mut rec, key, v.value())?;
                        out.push(rec);
                    }
                    Some(slash) => {
                        let child_end = codec::ID_LEN + prefix.len() + slash;
                        let mut next = key[..=child_end].to_vec();
                        next[child_end] = b'/' + 1;
                        lo = next;
                        continue 'seek;
                    }
                }
            }
            break;
        }
        Ok(out)
    }

    fn cached_diff_impl(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>> {
        let (Some(a), Some(b)) = (codec::stored_id(a), codec::stored_id(b)) else {
            return Ok(None);
        };
        let txn = self.read()?;
        let (Some(sets), Some(diffs)) = (self.table(&txn, DIFF_SETS)?, self.table(&txn, DIFFS)?)
        else {
            return Ok(None);
        };
        let Some(count) = sets.get((a, b)).ctx(&self.path, "cannot read")? else {
            return Ok(None);
        };
        let count = count.value();
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 20));
        for item in diffs
            .range((a, b, 0)..=(a, b, u64::MAX))
            .ctx(&self.path, "cannot read")?
        {
            let (_, v) = item.ctx(&self.path, "cannot read")?;
            out.push(
                codec::decode_diff(v.value())
                    .ok_or_else(|| bad_record(&self.path, "a cached diff entry"))?,
            );
        }
        if out.len() as u64 != count {
            return Err(bad_record(&self.path, "a cached diff"));
        }
        Ok(Some(out))
    }

    fn store_diff_impl(
        &mut self,
        a: SnapshotId,
        b: SnapshotId,
        entries: &[DiffEntry],
    ) -> Result<()> {
        let db = self.writable()?;
        let what = "cannot store a diff in";
        let txn = self.write_txn(db)?;
        let mut ids = [0u64; 2];
        for (slot, id) in ids.iter_mut().zip([a, b]) {
            match codec::stored_id(id) {
                Some(u) if self.snapshot_exists(&txn, u)? => *slot = u,
                _ => return Err(self.no_snapshot(id)),
            }
        }
        let [ua, ub] = ids;
        {
            let mut diffs = txn.open_table(DIFFS).ctx(&self.path, what)?;
            let mut removed = 0u64;
            diffs
                .retain_in((ua, ub, 0)..=(ua, ub, u64::MAX), |_, _| {
                    removed += 1;
                    false
                })
                .ctx(&self.path, what)?;
            add_removed(&txn, &self.path, removed)?;
            for (seq, e) in (0u64..).zip(entries) {
                diffs
                    .insert((ua, ub, seq), codec::encode_diff(e).as_slice())
                    .ctx(&self.path, what)?;
            }
            let mut sets = txn.open_table(DIFF_SETS).ctx(&self.path, what)?;
            sets.insert((ua, ub), entries.len() as u64)
                .ctx(&self.path, what)?;
        }
        txn.commit().ctx(&self.path, what)
    }

    fn reclaim_space_impl(&mut self) -> Result<()> {
        let db = self.writable()?;
        // Measuring the free space walks every page, so it is done only when
        // rows were removed since the last time: nothing else frees pages.
        let removed = {
            let txn = self.read()?;
            match self.table(&txn, META)? {
                Some(m) => m
                    .get(KEY_REMOVED)
                    .ctx(&self.path, "cannot read")?
                    .map_or(0, |v| v.value()),
                None => 0,
            }
        };
        if removed == 0 {
            return Ok(());
        }
        let (file_len, used) = self.space(db)?;
        // Reset the count first: a commit after the compaction would have
        // to grow the freshly trimmed file again to write its pages.
        let txn = self.write_txn(db)?;
        txn.open_table(META)
            .ctx(&self.path, "cannot write to")?
            .insert(KEY_REMOVED, 0)
            .ctx(&self.path, "cannot write to")?;
        txn.commit().ctx(&self.path, "cannot write to")?;
        let free = file_len.saturating_sub(used);
        if free >= RECLAIM_MIN_FREE && free >= file_len / 4 {
            let path = self.path.clone();
            let Handle::Rw(db) = &mut self.db else {
                return Err(self.read_only_error());
            };
            // Compaction's commits record no allocator state, so a crash
            // before the next commit or close costs the next writable open
            // a full repair (slow, but it recovers everything committed).
            db.compact().ctx(&path, "cannot compact")?;
        }
        Ok(())
    }
}

impl SnapshotStore for RedbStore {
    fn location(&self) -> &StoreLocation {
        &self.location
    }

    fn find_snapshots(&self, query: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>> {
        shield(&self.path, || self.find_snapshots_impl(query))
    }

    fn latest_per_root(&self, host: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        shield(&self.path, || self.latest_per_root_impl(host))
    }

    fn append_batch(&mut self, batch: &LiveBatch<'_>) -> Result<i64> {
        let path = self.path.clone();
        shield(&path, || self.append_batch_impl(batch))
    }

    fn mutations_after(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>> {
        shield(&self.path, || {
            self.mutations_after_impl(cursor, under, limit)
        })
    }

    fn prune_mutations(&mut self, through: i64, under: Option<&[u8]>) -> Result<usize> {
        let path = self.path.clone();
        shield(&path, || self.prune_mutations_impl(through, under))
    }

    fn journal(&self, query: &JournalQuery) -> Result<Vec<JournalEvent>> {
        shield(&self.path, || self.journal_impl(query))
    }

    fn prune_journal(&mut self, before_ms: i64) -> Result<usize> {
        let path = self.path.clone();
        shield(&path, || self.prune_journal_impl(before_ms))
    }

    fn record_dir_deltas(&mut self, deltas: &[DirDelta]) -> Result<()> {
        let path = self.path.clone();
        shield(&path, || self.record_dir_deltas_impl(deltas))
    }

    fn dir_deltas(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
        shield(&self.path, || self.dir_deltas_impl(snapshot))
    }

    fn watch_state(&self, root: &[u8]) -> Result<Option<WatchState>> {
        shield(&self.path, || self.watch_state_impl(root))
    }

    fn watch_states(&self) -> Result<Vec<WatchState>> {
        shield(&self.path, || self.watch_states_impl())
    }

    fn set_watch_state(&mut self, state: &WatchState) -> Result<()> {
        let path = self.path.clone();
        shield(&path, || self.set_watch_state_impl(state))
    }

    fn derive_snapshot(&mut self, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
        let path = self.path.clone();
        shield(&path, || self.derive_snapshot_impl(d))
    }

    fn index_provenance(&self) -> Result<Option<IndexProvenance>> {
        shield(&self.path, || self.index_provenance_impl())
    }

    fn set_index_provenance(&mut self, p: &IndexProvenance) -> Result<()> {
        let path = self.path.clone();
        shield(&path, || self.set_index_provenance_impl(p))
    }

    fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>> {
        let path = self.path.clone();
        shield(&path, || self.begin_snapshot_impl(meta))
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        shield(&self.path, || self.snapshots_impl())
    }

    fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>> {
        shield(&self.path, || self.snapshot_impl(id))
    }

    fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize> {
        let path = self.path.clone();
        shield(&path, || self.delete_snapshots_impl(ids))
    }

    fn visit_tree(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()> {
        // The caller's panics are theirs: pass them through untouched
        // instead of reporting them as a damaged file.
        let mut guarded = |r: &DirRecord| match catch_unwind(AssertUnwindSafe(|| visit(r))) {
            Ok(go_on) => go_on,
            Err(payload) => resume_unwind(Box::new(VisitorPanic(payload))),
        };
        shield(&self.path, || self.visit_tree_impl(id, under, &mut guarded))
    }

    fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
        shield(&self.path, || self.dir_impl(id, path))
    }

    fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
        shield(&self.path, || self.children_impl(id, path))
    }

    fn cached_diff(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>> {
        shield(&self.path, || self.cached_diff_impl(a, b))
    }

    fn store_diff(&mut self, a: SnapshotId, b: SnapshotId, entries: &[DiffEntry]) -> Result<()> {
        let path = self.path.clone();
        shield(&path, || self.store_diff_impl(a, b, entries))
    }

    fn reclaim_space(&mut self) -> Result<()> {
        let path = self.path.clone();
        shield(&path, || self.reclaim_space_impl())
    }
}

impl RedbStore {
    fn info(&self, id: u64, value: &[u8]) -> Result<SnapshotInfo> {
        let meta =
            codec::decode_meta(value).ok_or_else(|| bad_record(&self.path, "a snapshot record"))?;
        let id = i64::try_from(id).map_err(|_| bad_record(&self.path, "a snapshot id"))?;
        Ok(SnapshotInfo { id, meta })
    }
}

/// A snapshot description encoded for the snapshots table.
fn encode_meta(meta: &SnapshotMeta) -> Result<Vec<u8>> {
    codec::encode_meta(meta).ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            "a snapshot's root, host or walker name is over 4 GiB",
        )
    })
}

/// Deletes snapshots `ids` and every row that depends on them — directories,
/// root index entries, cached diffs, recorded deltas — inside `txn`; returns
/// how many existed. Unknown ids are ignored.
fn delete_in(file: &Path, txn: &WriteTransaction, ids: &[SnapshotId]) -> Result<usize> {
    let what = "cannot delete snapshots from";
    let mut deleted = BTreeSet::new();
    let mut removed = 0u64;
    {
        let mut snaps = txn.open_table(SNAPSHOTS).ctx(file, what)?;
        let mut dirs = txn.open_table(DIRS).ctx(file, what)?;
        let mut roots = txn.open_table(ROOTS).ctx(file, what)?;
        let mut deltas = txn.open_table(DELTAS).ctx(file, what)?;
        for &id in ids {
            let Some(u) = codec::stored_id(id) else {
                continue;
            };
            let root = match snaps.remove(u).ctx(file, what)? {
                None => continue,
                Some(v) => codec::decode_meta(v.value()).map(|m| m.root),
            };
            deleted.insert(u);
            match root {
                Some(root) => {
                    roots.remove((root.as_slice(), u)).ctx(file, what)?;
                }
                // A record that does not decode: find its index entry by id.
                None => roots.retain(|(_, i), ()| i != u).ctx(file, what)?,
            }
            let lo = codec::id_prefix(u);
            let hi = codec::id_prefix(u + 1);
            dirs.retain_in::<&[u8], _>(&lo[..]..&hi[..], |_, _| {
                removed += 1;
                false
            })
            .ctx(file, what)?;
            let none: &[u8] = &[];
            deltas
                .retain_in((u, none, 0)..(u + 1, none, 0), |_, _| {
                    removed += 1;
                    false
                })
                .ctx(file, what)?;
        }
        if !deleted.is_empty() {
            // Cached diffs involving a deleted snapshot, found through the
            // small per-pair table rather than by scanning entries.
            let mut sets = txn.open_table(DIFF_SETS).ctx(file, what)?;
            let mut diffs = txn.open_table(DIFFS).ctx(file, what)?;
            let mut pairs = Vec::new();
            for item in sets.iter().ctx(file, what)? {
                let (k, _) = item.ctx(file, what)?;
                let (a, b) = k.value();
                if deleted.contains(&a) || deleted.contains(&b) {
                    pairs.push((a, b));
                }
            }
            for (a, b) in pairs {
                sets.remove((a, b)).ctx(file, what)?;
                diffs
                    .retain_in((a, b, 0)..=(a, b, u64::MAX), |_, _| {
                        removed += 1;
                        false
                    })
                    .ctx(file, what)?;
            }
        }
    }
    add_removed(txn, file, removed)?;
    Ok(deleted.len())
}

/// One snapshot being written: an open write transaction plus a chunk of
/// encoded rows not yet handed to redb.
struct RedbWriter<'s> {
    file: &'s Path,
    /// `None` once finished.
    txn: Option<WriteTransaction>,
    id: u64,
    meta: Vec<u8>,
    root: Vec<u8>,
    /// Keys of the buffered rows, concatenated; `ends[i]` is where key `i` ends.
    keys: Vec<u8>,
    ends: Vec<usize>,
    values: Vec<DirValue>,
    /// The last path written, to enforce strictly increasing order.
    last: Vec<u8>,
    rows: u64,
}

fn finished(file: &Path) -> Error {
    Error::new(
        ErrorKind::Database,
        format!(
            "a snapshot of {} was used after its commit",
            escape_path(file)
        ),
    )
}

impl Drop for RedbWriter<'_> {
    fn drop(&mut self) {
        // Rolls back an uncommitted snapshot; see `Drop for RedbStore` on why
        // redb's panics are caught here.
        if let Some(txn) = self.txn.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(txn)));
        }
    }
}

impl<'s> RedbWriter<'s> {
    fn txn(&self) -> Result<&WriteTransaction> {
        self.txn.as_ref().ok_or_else(|| finished(self.file))
    }

    fn new(file: &'s Path, txn: WriteTransaction, id: u64, meta: Vec<u8>, root: Vec<u8>) -> Self {
        RedbWriter {
            file,
            txn: Some(txn),
            id,
            meta,
            root,
            keys: Vec::with_capacity(WRITE_CHUNK * 96),
            ends: Vec::with_capacity(WRITE_CHUNK),
            values: Vec::with_capacity(WRITE_CHUNK),
            last: Vec::new(),
            rows: 0,
        }
    }

    /// Appends the buffered rows at the end of the dirs table. The snapshot's
    /// id is above every stored one, so its rows go after all existing keys,
    /// and a cursor at the end takes them as one sorted run instead of a
    /// root-to-leaf search per row.
    fn flush(&mut self) -> Result<()> {
        if self.ends.is_empty() {
            return Ok(());
        }
        let what = "cannot write a snapshot to";
        {
            let mut dirs = self.txn()?.open_table(DIRS).ctx(self.file, what)?;
            let mut cursor = dirs
                .upper_bound_mut(Bound::<&[u8]>::Unbounded)
                .ctx(self.file, what)?;
            let mut start = 0;
            for (&end, value) in self.ends.iter().zip(&self.values) {
                cursor
                    .insert_before(&self.keys[start..end], value)
                    .ctx(self.file, what)?;
                start = end;
            }
            cursor.close().ctx(self.file, what)?;
        }
        self.keys.clear();
        self.ends.clear();
        self.values.clear();
        Ok(())
    }

    /// Buffers one row; paths must strictly increase.
    fn push(&mut self, path: &[u8], value: &DirValue) -> Result<()> {
        if self.rows > 0 && path <= self.last.as_slice() {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "directory {} written out of order to {} (paths must strictly increase)",
                    disktracker::path::escape_bytes(path),
                    escape_path(self.file)
                ),
            ));
        }
        self.last.clear();
        self.last.extend_from_slice(path);
        self.rows += 1;
        codec::push_dir_key(&mut self.keys, self.id, path);
        self.ends.push(self.keys.len());
        self.values.push(*value);
        if self.ends.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the last rows, the snapshot record and its index entry, and
    /// advances the id counter; returns the still open transaction.
    fn finish(mut self) -> Result<(WriteTransaction, u64)> {
        self.flush()?;
        let what = "cannot commit a snapshot to";
        {
            let txn = self.txn()?;
            let mut snaps = txn.open_table(SNAPSHOTS).ctx(self.file, what)?;
            snaps
                .insert(self.id, self.meta.as_slice())
                .ctx(self.file, what)?;
            let mut roots = txn.open_table(ROOTS).ctx(self.file, what)?;
            roots
                .insert((self.root.as_slice(), self.id), ())
                .ctx(self.file, what)?;
            let mut meta = txn.open_table(META).ctx(self.file, what)?;
            meta.insert(KEY_NEXT_ID, self.id + 1).ctx(self.file, what)?;
        }
        let txn = self.txn.take().ok_or_else(|| finished(self.file))?;
        Ok((txn, self.id))
    }
}

impl SnapshotWriter for RedbWriter<'_> {
    fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()> {
        let file = self.file;
        shield(file, || delete_in(file, self.txn()?, ids).map(drop))
    }

    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()> {
        let file = self.file;
        shield(file, || self.push(path, &codec::encode_dir(depth, stats)))
    }

    fn commit(self: Box<Self>) -> Result<SnapshotId> {
        let file = self.file;
        shield(file, || {
            let (txn, id) = self.finish()?;
            txn.commit().ctx(file, "cannot commit a snapshot to")?;
            // begin_snapshot checked that the id fits.
            i64::try_from(id).map_err(|_| bad_record(file, "the next snapshot id"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_are_the_documented_constants() {
        let t = open::Tuning::from_settings(&disktracker::PluginSettings::default()).unwrap();
        assert_eq!(t.cache_size, CACHE_SIZE);
        assert_eq!(t.lock_timeout, LOCK_TIMEOUT);
        assert_eq!(codec::DIR_VALUE_LEN, 108);
    }
}
