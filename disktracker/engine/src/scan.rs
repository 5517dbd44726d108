//! Scan orchestration: validate the root, walk, aggregate, store.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use disktracker::path::escape_path;
use disktracker::report::ChangeSummary;
use disktracker::{
    CancelToken, Error, ErrorKind, Result, SnapshotId, SnapshotInfo, SnapshotMeta, SnapshotQuery,
    SnapshotStore, WalkContext, WalkOptions, WalkOutput, Walker,
};

use crate::diff::{Merged, RowSource, SizeRow, StreamMerge};
use crate::provenance::{IndexBeside, StagedIndex};
use crate::retention::{self, Retention};
use crate::tree::{InOrder, ScanTree};

/// What a finished scan produced.
#[derive(Debug)]
pub struct ScanOutcome {
    /// The stored snapshot.
    pub snapshot: SnapshotInfo,
    /// Changes since the previous snapshot of the same root (a warm rescan).
    pub since: Option<ChangeSummary>,
    /// The aggregated tree (for reports and the live index).
    pub tree: ScanTree,
    /// Wall time of walk, aggregation and storage.
    pub elapsed: std::time::Duration,
    /// Snapshots of the same root that retention deleted with this one.
    pub pruned: Vec<SnapshotId>,
    /// The live index written beside the rows ([`store_walk_beside`]), its
    /// provenance not yet recorded; `None` when none was asked for.
    pub index: Option<Result<StagedIndex>>,
    /// Why there is no [`Self::since`] although the root had a snapshot: it
    /// was deleted (another process's `snapshots delete` or retention)
    /// before this scan read it. The new snapshot is stored all the same.
    pub since_lost: Option<Error>,
}

/// Retention applied with every scan, to the scanned root's snapshots only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanRetention {
    /// Keep the newest N snapshots of the root (the new one included); `None` keeps all.
    pub keep: Option<usize>,
    /// Delete snapshots of the root older than this; `None` keeps all.
    pub max_age: Option<std::time::Duration>,
}

impl ScanRetention {
    /// Whether any rule is set.
    pub fn is_active(&self) -> bool {
        self.keep.is_some() || self.max_age.is_some()
    }
}

/// Turns a user-given root into the absolute, symlink-free directory to scan.
///
/// A missing root is [`ErrorKind::NotFound`]; a root that is not a directory
/// is [`ErrorKind::Usage`]; a root that cannot be listed is
/// [`ErrorKind::Permission`] (or another I/O error).
pub fn resolve_root(root: &Path) -> Result<PathBuf> {
    let abs = std::fs::canonicalize(root).map_err(|e| {
        let kind = e.kind();
        let err = Error::io("cannot open scan root", root, e);
        if kind == std::io::ErrorKind::NotFound {
            err.with_hint("check the path")
        } else {
            err
        }
    })?;
    let meta = std::fs::metadata(&abs).map_err(|e| Error::io("cannot stat scan root", &abs, e))?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("scan root {} is not a directory", escape_path(root)),
        )
        .with_hint("give a directory to scan"));
    }
    // A root that cannot be listed would be stored as one empty directory.
    if let Err(e) = std::fs::read_dir(&abs) {
        let kind = e.kind();
        let err = Error::io("cannot read scan root", &abs, e);
        return Err(if kind == std::io::ErrorKind::PermissionDenied {
            err.with_hint("scan it as a user who can read it")
        } else {
            err
        });
    }
    Ok(abs)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Walks `root` (as returned by [`resolve_root`]: absolute, canonical, a
/// directory) with `walker`, aggregates, and stores the snapshot in one
/// transaction, together with the deletions `retention` asks for (so a crash
/// can never leave the new snapshot without them). Cancellation (through
/// `ctx.cancel`) before the commit stores nothing.
///
/// A warm rescan — the root has a previous snapshot — re-stats everything
/// (a file can grow in place without changing its directory's mtime, so
/// nothing can be skipped and stay exact), then streams the previous
/// snapshot against the new tree in path order, caches the diff between the
/// two, and reports what changed, including directories whose fingerprints
/// show rewritten contents behind unchanged sizes.
pub fn run_scan(
    walker: &dyn Walker,
    by: ScanBy<'_>,
    store: &mut dyn SnapshotStore,
    root: &Path,
    opts: &WalkOptions,
    ctx: &WalkContext,
    retention: ScanRetention,
) -> Result<ScanOutcome> {
    let (out, origin, start) = walk_to_store(walker, by, root, opts, ctx)?;
    store_walk_beside(
        store,
        out,
        &origin,
        &ctx.cancel,
        retention,
        start,
        &Beside::default(),
    )
}

/// The first half of [`run_scan`]: walks `root`; returns the walk, where it
/// came from and when the work began.
pub fn walk_to_store(
    walker: &dyn Walker,
    by: ScanBy<'_>,
    root: &Path,
    opts: &WalkOptions,
    ctx: &WalkContext,
) -> Result<(WalkOutput, WalkOrigin, Instant)> {
    let start = Instant::now();
    let started_at_ms = now_ms();
    // Before the walk, whose workers' arenas are freed once aggregated.
    crate::live::heap::keep_large_blocks_mapped();
    let out = walker.walk(root, opts, ctx)?;
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let origin = WalkOrigin {
        started_at_ms,
        finished_at_ms: None,
        host: by.host.to_owned(),
        walker: by.walker.to_owned(),
    };
    Ok((out, origin, start))
}

/// Who scans, as the snapshot records it.
#[derive(Clone, Copy, Debug)]
pub struct ScanBy<'a> {
    /// The walker plugin's name.
    pub walker: &'a str,
    /// The host the snapshot is stored as.
    pub host: &'a str,
}

/// Where a walk's output came from, as its snapshot records it.
#[derive(Clone, Debug)]
pub struct WalkOrigin {
    /// When the walk started, ms since the epoch.
    pub started_at_ms: i64,
    /// When it finished; `None`: now, once aggregated.
    pub finished_at_ms: Option<i64>,
    /// The host walked.
    pub host: String,
    /// The walker (or the program whose export was imported).
    pub walker: String,
}

/// What [`store_walk_beside`] does on threads of its own while the new
/// snapshot's rows are written.
#[derive(Default)]
pub struct Beside<'a> {
    /// Writes the live index.
    pub index: Option<IndexBeside<'a>>,
    /// Opens a second, read-only handle on the store: a warm rescan then
    /// streams the previous snapshot against the new tree through it, beside
    /// the write, instead of before it. `None`, or a handle that cannot be
    /// opened (a store that allows one handle per process), reads it first.
    pub reader: Option<Box<OpenReader<'a>>>,
}

/// Opens a read-only handle on a store (see [`Beside::reader`]).
pub type OpenReader<'a> = dyn Fn() -> Result<Box<dyn SnapshotStore>> + Sync + 'a;

/// Aggregates walker output `out` (with the hard-link first-path rule) and
/// stores it as a snapshot in one transaction, with the deletions
/// `retention` asks for — the second half of [`run_scan`], shared with
/// imports. On a warm rescan (the root has a previous snapshot) it streams
/// the previous snapshot against the new tree, caches the diff and reports
/// what changed. `start` is when the work began (for the elapsed time).
///
/// What `beside` asks for runs on threads of its own while the rows are
/// written: the live index (its result is [`ScanOutcome::index`]; recording
/// its provenance is left to the caller, after the commit) and the read of
/// the previous snapshot through a second handle.
pub fn store_walk_beside(
    store: &mut dyn SnapshotStore,
    out: WalkOutput,
    origin: &WalkOrigin,
    cancel: &CancelToken,
    retention: ScanRetention,
    start: Instant,
    beside: &Beside<'_>,
) -> Result<ScanOutcome> {
    let tree = ScanTree::from_walk(out)?;
    // The walk's arenas are freed; give their pages back before the store
    // write and the index add theirs.
    crate::live::heap::release_free_memory();
    // One query: the root's history, newest first (only the newest unless
    // retention needs the rest).
    // Retention and the warm comparison are per host and root.
    let mut query = SnapshotQuery::of_root(tree.root()).host(Some(&origin.host));
    if !retention.is_active() {
        query = query.limit(1);
    }
    let history = store.find_snapshots(&query)?;
    let previous_id = history.first().map(|s| s.id);
    let root_stats = *tree.stats(0);
    let meta = SnapshotMeta {
        root: tree.root().to_vec(),
        started_at_ms: origin.started_at_ms,
        finished_at_ms: origin.finished_at_ms.unwrap_or_else(now_ms),
        host: origin.host.clone(),
        total_files: root_stats.file_count,
        total_bytes: root_stats.total_bytes,
        total_apparent: root_stats.total_apparent,
        dir_count: tree.len() as u64,
        error_count: tree.error_count(),
        walker: origin.walker.clone(),
    };
    // A second handle reads the previous snapshot while the rows are written.
    let mut reader = match (previous_id, &beside.reader) {
        (Some(_), Some(open)) => open().ok(),
        _ => None,
    };
    let mut since_lost = None;
    let mut merged = match (previous_id, &reader) {
        (Some(prev), None) => unless_gone(merge_previous(store, prev, &tree), &mut since_lost)?,
        _ => None,
    };
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let pruned = retention_plan(&history, &meta, retention);
    // Read before the write holds the store; a failure costs the index, not the scan.
    let index_job = beside
        .index
        .as_ref()
        .map(|i| i.prepare(&*store, &tree, &meta))
        .transpose();
    let (id, index, merged_beside) = std::thread::scope(|s| {
        let index = match index_job {
            Ok(Some(Some(job))) => Some(Ok(s.spawn(move || job.run()))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        };
        let tree = &tree;
        let merging = previous_id
            .zip(reader.as_mut())
            .map(|(prev, r)| s.spawn(move || merge_previous(&mut **r, prev, tree)));
        let id = write_snapshot(store, tree, &meta, &pruned, cancel);
        let index = index.map(|job| job.and_then(|h| joined(h, "the index writer")));
        let merged = merging.map(|h| joined(h, "the reader of the previous snapshot"));
        (id, index, merged)
    });
    let id = id?;
    drop(reader);
    if let (Some(beside), Some(prev)) = (merged_beside, previous_id) {
        merged = match beside {
            Ok(m) => Some(m),
            // The second handle failed while reading: the store reads it.
            Err(_) => unless_gone(merge_previous(store, prev, &tree), &mut since_lost)?,
        };
    }
    crate::hooks::step("snapshot-committed");
    if !pruned.is_empty() {
        store.reclaim_space()?;
    }
    let since = merged.map(|(prev_id, (prev_bytes, prev_apparent), m)| {
        // Best effort: `diff` recomputes what is not cached.
        let _ = store.store_diff(prev_id, id, &m.changed);
        let count = |f: fn(&disktracker::DiffEntry) -> bool| {
            m.changed.iter().filter(|e| f(e)).count() as u64
        };
        let mut summary = ChangeSummary::default();
        summary.previous = prev_id;
        summary.changed_dirs = count(|e| e.bytes_a.is_some() && e.bytes_b.is_some());
        summary.added_dirs = count(|e| e.bytes_a.is_none());
        summary.removed_dirs = count(|e| e.bytes_b.is_none());
        summary.rewritten_dirs = m.rewritten;
        summary.delta_bytes = i128::from(meta.total_bytes) - i128::from(prev_bytes);
        summary.delta_apparent = i128::from(meta.total_apparent) - i128::from(prev_apparent);
        summary
    });
    // The pages the writes went through are of no use to what follows (the
    // live index is built from the tree), and would add to its peak.
    store.release_memory();
    crate::live::heap::release_free_memory();
    Ok(ScanOutcome {
        snapshot: SnapshotInfo { id, meta },
        since,
        tree,
        elapsed: start.elapsed(),
        pruned,
        index,
        since_lost,
    })
}

/// The previous snapshot's merge, or `None` when that snapshot no longer
/// exists (its error goes to `lost`): a snapshot deleted while the scan ran
/// costs the change summary, never the scan.
fn unless_gone<T>(read: Result<T>, lost: &mut Option<Error>) -> Result<Option<T>> {
    match read {
        Ok(merged) => Ok(Some(merged)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            *lost = Some(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Streams snapshot `prev` against the new `tree` (path order on both
/// sides, so the previous snapshot is never copied: a warm rescan costs one
/// read of it, not its size in memory); returns it with its root's totals
/// and the merge.
fn merge_previous(
    store: &mut dyn SnapshotStore,
    prev: SnapshotId,
    tree: &ScanTree,
) -> Result<(SnapshotId, (u64, u64), Merged)> {
    let mut m = StreamMerge::new(TreeRows::new(tree));
    let mut prev_root = (0, 0);
    store.visit_tree(prev, None, &mut |r| {
        if r.depth == 0 {
            prev_root = (r.stats.total_bytes, r.stats.total_apparent);
        }
        m.push_a(SizeRow::from(r));
        true
    })?;
    store.release_memory();
    Ok((prev, prev_root, m.finish()))
}

/// The result of a scoped thread; its panic as an error.
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>, what: &str) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(Error::new(ErrorKind::Plugin, format!("{what} panicked"))))
}

/// Writes `tree` as the snapshot `meta` in one transaction, deleting
/// `pruned` in it; returns the new snapshot's id.
fn write_snapshot(
    store: &mut dyn SnapshotStore,
    tree: &ScanTree,
    meta: &SnapshotMeta,
    pruned: &[SnapshotId],
    cancel: &CancelToken,
) -> Result<SnapshotId> {
    let mut w = store.begin_snapshot(meta)?;
    crate::hooks::step("snapshot-begin");
    // Paths are built as the rows go out, in path order, never all at once.
    let mut rows = tree.in_order();
    let mut n = 0usize;
    while let Some((id, path)) = rows.current() {
        if n.is_multiple_of(4096) && cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        w.write_dir(path, tree.depth(id), tree.stats(id))?;
        rows.advance();
        n += 1;
    }
    if !pruned.is_empty() {
        w.delete_with(pruned)?;
    }
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    crate::hooks::step("snapshot-rows-written");
    w.commit()
}

/// The snapshots of the root (`history`, newest first) that `retention`
/// deletes once the snapshot described by `meta` is stored. The new snapshot
/// counts toward `keep` and is never deleted itself.
fn retention_plan(
    history: &[SnapshotInfo],
    meta: &SnapshotMeta,
    retention: ScanRetention,
) -> Vec<SnapshotId> {
    if !retention.is_active() {
        return Vec::new();
    }
    const NEW: SnapshotId = SnapshotId::MAX;
    let mut snaps = history.to_vec();
    snaps.push(SnapshotInfo {
        id: NEW,
        meta: meta.clone(),
    });
    let policy = Retention {
        keep: retention.keep,
        older_than_ms: retention.max_age.map(|d| {
            meta.finished_at_ms
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }),
        root: Some(&meta.root),
    };
    let mut ids = retention::plan(&snaps, &policy);
    ids.retain(|&id| id != NEW);
    ids
}

/// The new tree as side B of the warm comparison, its paths built as the
/// merge reaches them.
struct TreeRows<'t> {
    tree: &'t ScanTree,
    rows: InOrder<'t>,
}

impl<'t> TreeRows<'t> {
    fn new(tree: &'t ScanTree) -> Self {
        TreeRows {
            tree,
            rows: tree.in_order(),
        }
    }
}

impl RowSource for TreeRows<'_> {
    fn peek(&mut self) -> Option<SizeRow<'_>> {
        let (id, path) = self.rows.current()?;
        let s = self.tree.stats(id);
        Some(SizeRow {
            path,
            bytes: s.total_bytes,
            apparent: s.total_apparent,
            fingerprint: s.fingerprint,
        })
    }

    fn advance(&mut self) {
        self.rows.advance();
    }
}
