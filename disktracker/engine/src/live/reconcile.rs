//! `reconcile`: fold the mutations logged since a root's cursor into the
//! store as a new snapshot derived from the last one.

use disktracker::path::is_within;
use disktracker::report::ReconcileLine;
use disktracker::{DerivedSnapshot, WatchState};
use disktracker::{DirRecord, Error, ErrorKind, Result, SnapshotMeta, SnapshotStore};

use super::fold::{Folded, fold};

/// Name recorded as a reconciled snapshot's walker.
pub const RECONCILE_WALKER: &str = "watch";

/// Folds everything logged for `root` since its cursor into a new snapshot,
/// recording the deltas and advancing the cursor in the same transaction;
/// then prunes the folded mutations. With nothing new it writes nothing.
pub fn reconcile_root(
    store: &mut dyn SnapshotStore,
    root: &[u8],
    now_ms: i64,
    host: &str,
) -> Result<ReconcileLine> {
    let mut line = ReconcileLine::new(root.to_vec());
    let Some(state) = store.watch_state(root)? else {
        return Ok(line);
    };
    let Some(base_id) = state.last_snapshot else {
        return Ok(line);
    };
    line.base = Some(base_id);
    let logged = store.mutations_after(state.mutation_cursor, Some(root), usize::MAX)?;
    if logged.is_empty() {
        return Ok(line);
    }
    let base = store.snapshot(base_id)?.ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "the live state of {} is based on snapshot {base_id}, which was deleted",
                disktracker::path::escape_bytes(root)
            ),
        )
        .with_hint("restart `disktracker watch` (it rescans), or scan the root again")
    })?;
    let folded = fold(&logged, now_ms);
    line.mutations = logged.len() as u64;
    let meta = derived_meta(&*store, &base.meta, base_id, &folded, now_ms, host)?;
    line.changed_dirs = folded.deltas.len() as u64;
    line.delta_bytes = i128::from(meta.total_bytes) - i128::from(base.meta.total_bytes);
    let next = WatchState {
        root: root.to_vec(),
        last_event_ms: state.last_event_ms,
        last_reconcile_ms: Some(now_ms),
        last_snapshot: Some(base_id),
        mutation_cursor: folded.last_id,
    };
    crate::hooks::step("reconcile-begin");
    let id = store.derive_snapshot(&DerivedSnapshot {
        base: base_id,
        meta: &meta,
        removed: &folded.removed,
        upserts: &folded.upserts,
        deltas: &folded.deltas,
        watch_state: Some(&next),
    })?;
    crate::hooks::step("reconcile-committed");
    line.snapshot = Some(id);
    // Already folded and behind the cursor: a failure here leaves rows that
    // the next reconcile skips and prunes.
    let _ = store.prune_mutations(folded.last_id, Some(root));
    Ok(line)
}

/// The description of `base` with `folded` applied: root totals from the
/// new root row, directory and error counts from a merge with the base.
fn derived_meta(
    store: &dyn SnapshotStore,
    base: &SnapshotMeta,
    base_id: i64,
    folded: &Folded,
    now_ms: i64,
    host: &str,
) -> Result<SnapshotMeta> {
    let mut upserts = folded.upserts.iter().peekable();
    let mut dirs = 0u64;
    let mut errors = 0u64;
    let mut root: Option<DirRecord> = None;
    let mut count = |r: &DirRecord| {
        dirs += 1;
        errors += r.stats.error_count;
        if r.depth == 0 {
            root = Some(r.clone());
        }
    };
    store.visit_tree(base_id, None, &mut |r| {
        while let Some(u) = upserts.next_if(|u| u.path < r.path) {
            count(u);
        }
        if let Some(u) = upserts.next_if(|u| u.path == r.path) {
            count(u);
        } else if !folded.removed.iter().any(|p| is_within(&r.path, p)) {
            count(r);
        }
        true
    })?;
    for u in upserts {
        count(u);
    }
    let root = root.ok_or_else(|| {
        Error::new(
            ErrorKind::Corrupt,
            "the folded mutations remove the watched root itself",
        )
    })?;
    Ok(SnapshotMeta {
        root: base.root.clone(),
        started_at_ms: now_ms,
        finished_at_ms: now_ms,
        host: host.to_owned(),
        total_files: root.stats.file_count,
        total_bytes: root.stats.total_bytes,
        total_apparent: root.stats.total_apparent,
        dir_count: dirs,
        error_count: errors,
        walker: RECONCILE_WALKER.to_owned(),
    })
}
