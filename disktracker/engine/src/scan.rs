//! Scan orchestration: validate the root, walk, aggregate, store.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use disktracker::path::escape_path;
use disktracker::report::ChangeSummary;
use disktracker::{
    Error, ErrorKind, Result, SnapshotId, SnapshotInfo, SnapshotMeta, SnapshotStore, WalkContext,
    WalkOptions, Walker,
};

use crate::diff::{SizeRow, merge_rows};

use crate::tree::ScanTree;

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
}

/// Turns a user-given root into the absolute, symlink-free directory to scan.
///
/// A missing root is [`ErrorKind::NotFound`]; a root that is not a directory
/// is [`ErrorKind::Usage`].
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
    Ok(abs)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Walks `root` with `walker`, aggregates, and stores the snapshot in one
/// transaction. Cancellation (through `ctx.cancel`) before the commit stores
/// nothing.
///
/// A warm rescan — the root has a previous snapshot — re-stats everything
/// (a file can grow in place without changing its directory's mtime, so
/// nothing can be skipped and stay exact), but reads the previous snapshot
/// while the walkers run, merges it with the new tree, caches the diff
/// between the two, and reports what changed, including directories whose
/// fingerprints show rewritten contents behind unchanged sizes.
pub fn run_scan(
    walker: &dyn Walker,
    walker_name: &str,
    store: &mut dyn SnapshotStore,
    root: &Path,
    opts: &WalkOptions,
    ctx: &WalkContext,
) -> Result<ScanOutcome> {
    let start = Instant::now();
    let started_at_ms = now_ms();
    let root = resolve_root(root)?;
    let root_bytes = disktracker::path::path_bytes(&root);
    let previous_id = store
        .snapshots()?
        .iter()
        .rev()
        .find(|s| s.meta.root == root_bytes)
        .map(|s| s.id);
    let (out, previous) = std::thread::scope(|scope| {
        let walk = scope.spawn(|| walker.walk(&root, opts, ctx));
        let previous = previous_id
            .map(|id| Previous::load(&*store, id))
            .transpose();
        let out = walk.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Plugin,
                format!("walker {walker_name} panicked"),
            ))
        });
        (out, previous)
    });
    let out = out?;
    let previous = previous?;
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let tree = ScanTree::from_walk(out)?;
    let order = tree.sorted_ids();
    let root_stats = *tree.stats(0);
    let meta = SnapshotMeta {
        root: tree.root().to_vec(),
        started_at_ms,
        finished_at_ms: now_ms(),
        host: host_name(),
        total_files: root_stats.file_count,
        total_bytes: root_stats.total_bytes,
        total_apparent: root_stats.total_apparent,
        dir_count: tree.len() as u64,
        error_count: tree.error_count(),
        walker: walker_name.to_owned(),
    };
    let merged = previous.as_ref().map(|p| {
        let new_rows = order.iter().map(|&i| {
            let s = tree.stats(i);
            SizeRow {
                path: tree.path(i),
                bytes: s.total_bytes,
                apparent: s.total_apparent,
                fingerprint: s.fingerprint,
            }
        });
        (p.id, p.root_totals(), merge_rows(p.rows(), new_rows))
    });
    drop(previous);
    let id = {
        let mut w = store.begin_snapshot(&meta)?;
        for (n, &id) in order.iter().enumerate() {
            if n % 4096 == 0 && ctx.cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            w.write_dir(tree.path(id), tree.depth(id), tree.stats(id))?;
        }
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        w.commit()?
    };
    let since = merged.map(|(prev_id, (prev_bytes, prev_apparent), m)| {
        // Best effort: `diff` recomputes what is not cached.
        let _ = store.store_diff(prev_id, id, &m.changed);
        let count = |f: fn(&disktracker::DiffEntry) -> bool| {
            m.changed.iter().filter(|e| f(e)).count() as u64
        };
        ChangeSummary {
            previous: prev_id,
            changed_dirs: count(|e| e.bytes_a.is_some() && e.bytes_b.is_some()),
            added_dirs: count(|e| e.bytes_a.is_none()),
            removed_dirs: count(|e| e.bytes_b.is_none()),
            rewritten_dirs: m.rewritten,
            delta_bytes: i128::from(meta.total_bytes) - i128::from(prev_bytes),
            delta_apparent: i128::from(meta.total_apparent) - i128::from(prev_apparent),
        }
    });
    Ok(ScanOutcome {
        snapshot: SnapshotInfo { id, meta },
        since,
        tree,
        elapsed: start.elapsed(),
    })
}

/// The previous snapshot of a root, kept compactly (paths in one pool) for
/// merging with a new scan.
struct Previous {
    id: SnapshotId,
    pool: Vec<u8>,
    rows: Vec<(u32, u32, u64, u64, u128)>,
    root: (u64, u64),
}

impl Previous {
    fn load(store: &dyn SnapshotStore, id: SnapshotId) -> Result<Previous> {
        let mut p = Previous {
            id,
            pool: Vec::new(),
            rows: Vec::new(),
            root: (0, 0),
        };
        let mut first = true;
        store.visit_tree(id, None, &mut |r| {
            if r.depth == 0 && first {
                p.root = (r.stats.total_bytes, r.stats.total_apparent);
                first = false;
            }
            let start = p.pool.len() as u32;
            p.pool.extend_from_slice(&r.path);
            p.rows.push((
                start,
                r.path.len() as u32,
                r.stats.total_bytes,
                r.stats.total_apparent,
                r.stats.fingerprint,
            ));
            true
        })?;
        Ok(p)
    }

    fn rows(&self) -> impl Iterator<Item = SizeRow<'_>> {
        self.rows
            .iter()
            .map(|&(start, len, bytes, apparent, fingerprint)| SizeRow {
                path: &self.pool[start as usize..(start + len) as usize],
                bytes,
                apparent,
                fingerprint,
            })
    }

    fn root_totals(&self) -> (u64, u64) {
        self.root
    }
}
