//! `reconcile`: fold the mutations logged since a root's cursor into the
//! store as a new snapshot derived from the last one.

use disktracker::report::ReconcileLine;
use disktracker::{DerivedSnapshot, WatchState};
use disktracker::{Error, ErrorKind, Result, SnapshotMeta, SnapshotStore};

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
    let meta = derived_meta(&base.meta, &folded, now_ms, host)?;
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
/// new root row when it changed, else the base's; the directory and error
/// counts are the store's to count (see [`DerivedSnapshot::meta`]), the
/// base's stand in here.
fn derived_meta(
    base: &SnapshotMeta,
    folded: &Folded,
    now_ms: i64,
    host: &str,
) -> Result<SnapshotMeta> {
    if folded
        .removed
        .iter()
        .any(|p| disktracker::path::trim_slashes(p) == disktracker::path::trim_slashes(&base.root))
    {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "the folded mutations remove the watched root itself",
        ));
    }
    let root = folded
        .upserts
        .iter()
        .find(|u| u.path == base.root)
        .map(|r| &r.stats);
    Ok(SnapshotMeta {
        root: base.root.clone(),
        started_at_ms: now_ms,
        finished_at_ms: now_ms,
        host: host.to_owned(),
        total_files: root.map_or(base.total_files, |r| r.file_count),
        total_bytes: root.map_or(base.total_bytes, |r| r.total_bytes),
        total_apparent: root.map_or(base.total_apparent, |r| r.total_apparent),
        dir_count: base.dir_count,
        error_count: base.error_count,
        walker: RECONCILE_WALKER.to_owned(),
    })
}
