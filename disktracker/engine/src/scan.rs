//! Scan orchestration: validate the root, walk, aggregate, store.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use disktracker::path::escape_path;
use disktracker::{
    Error, ErrorKind, Result, SnapshotInfo, SnapshotMeta, SnapshotStore, WalkContext, WalkOptions,
    Walker,
};

use crate::tree::ScanTree;

/// What a finished scan produced.
#[derive(Debug)]
pub struct ScanOutcome {
    /// The stored snapshot.
    pub snapshot: SnapshotInfo,
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
    let out = walker.walk(&root, opts, ctx)?;
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let tree = ScanTree::from_walk(out)?;
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
    let id = {
        let mut w = store.begin_snapshot(&meta)?;
        for (n, id) in tree.sorted_ids().into_iter().enumerate() {
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
    Ok(ScanOutcome {
        snapshot: SnapshotInfo { id, meta },
        tree,
        elapsed: start.elapsed(),
    })
}
