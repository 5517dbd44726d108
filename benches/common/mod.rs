//! What more than one benchmark needs.

use std::path::Path;
use std::time::{Duration, Instant};

use disktracker::{
    DirRecord, SnapshotId, SnapshotMeta, SnapshotStore, WalkContext, WalkOptions, registry,
};
use disktracker_engine::ScanTree;

/// The directories of `tree` in path order, as a scan stores them (the
/// default walker, default options).
pub fn records(tree: &Path) -> Vec<DirRecord> {
    let walker = (registry::walkers().unwrap().get("steal").unwrap().create)(
        &disktracker::PluginSettings::empty("steal"),
    )
    .unwrap();
    let out = walker
        .walk(tree, &WalkOptions::default(), &WalkContext::default())
        .unwrap();
    let t = ScanTree::from_walk(out).unwrap();
    t.sorted_ids().iter().map(|&i| t.record(i)).collect()
}

/// Writes `rows` (in path order) as one snapshot of `root`; returns its id
/// and how long the write took, commit included.
pub fn write_snapshot(
    store: &mut dyn SnapshotStore,
    root: &[u8],
    rows: &[DirRecord],
) -> (SnapshotId, Duration) {
    let meta = SnapshotMeta {
        root: root.to_vec(),
        dir_count: rows.len() as u64,
        walker: "bench".into(),
        ..SnapshotMeta::default()
    };
    let t = Instant::now();
    let mut w = store.begin_snapshot(&meta).unwrap();
    for r in rows {
        w.write_dir(&r.path, r.depth, &r.stats).unwrap();
    }
    let id = w.commit().unwrap();
    (id, t.elapsed())
}
