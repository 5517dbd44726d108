//! The [`SnapshotStore`] plugin trait: durable snapshots and everything derived from them.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::{DiffEntry, DirRecord, DirStats, SnapshotId, SnapshotInfo, SnapshotMeta};

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The store's own file (for SQLite the `--db` path; other stores use a
    /// sibling with their own extension, see [`crate::StorePlugin::extension`]).
    pub path: PathBuf,
    /// Open without creating or migrating anything; writes fail.
    pub read_only: bool,
}

/// An open transaction writing one snapshot. Dropping it without [`commit`]
/// rolls everything back: a snapshot is stored whole or not at all.
///
/// [`commit`]: SnapshotWriter::commit
pub trait SnapshotWriter {
    /// Writes one directory. Rows arrive in strictly increasing bytewise path
    /// order; stores may rely on it (e.g. for path-ordered reads by row id).
    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()>;

    /// Makes the snapshot durable and visible; returns its id.
    fn commit(self: Box<Self>) -> Result<SnapshotId>;
}

/// A snapshot database.
///
/// Every implementation must pass the conformance suite in
/// `disktracker-testkit`. Errors name the store file and say what to do
/// (a corrupt file is [`crate::ErrorKind::Corrupt`], a busy one
/// [`crate::ErrorKind::Locked`]).
///
/// Contract details the suite checks: snapshot ids increase and are never
/// reused; an unknown snapshot is `None` from [`snapshot`](Self::snapshot)
/// and [`dir`](Self::dir) but [`crate::ErrorKind::NotFound`] from
/// [`visit_tree`](Self::visit_tree) and [`children`](Self::children); the
/// subtree of `/` is everything; a trailing `/` on a path is not part of it.
pub trait SnapshotStore: Send {
    /// The file this store lives in.
    fn path(&self) -> &Path;

    /// Starts writing a snapshot described by `meta`.
    fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>>;

    /// All snapshots, oldest (lowest id) first.
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>>;

    /// One snapshot, if it exists.
    fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>>;

    /// Deletes snapshots and every row that depends on them (directories,
    /// cached diffs, deltas) in one transaction; returns how many existed.
    fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize>;

    /// Calls `visit` for every directory of snapshot `id` in bytewise path
    /// order, restricted to `under` and its descendants when given. `visit`
    /// returns `false` to stop early.
    fn visit_tree(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()>;

    /// One directory of a snapshot.
    fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>>;

    /// The immediate subdirectories of `path` in snapshot `id`, in path order.
    fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>>;

    /// A previously stored diff of `a` → `b` (every changed directory), if any.
    fn cached_diff(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>>;

    /// Stores the diff `a` → `b` (only changed directories), replacing any earlier one.
    fn store_diff(&mut self, a: SnapshotId, b: SnapshotId, entries: &[DiffEntry]) -> Result<()>;

    /// Returns free space to the file system after deletions, following the
    /// store's documented policy (checkpoint, vacuum, compaction).
    fn reclaim_space(&mut self) -> Result<()>;

    /// Gives back memory held for reads (caches, file mappings) after a large
    /// read, so a scan's peak memory does not include a whole previous
    /// snapshot. Later reads work as before. The default does nothing.
    fn release_memory(&mut self) {}

    /// Every directory of a snapshot (or of one subtree), in path order.
    fn read_tree(&self, id: SnapshotId, under: Option<&[u8]>) -> Result<Vec<DirRecord>> {
        let mut out = Vec::new();
        self.visit_tree(id, under, &mut |r| {
            out.push(r.clone());
            true
        })?;
        Ok(out)
    }
}
