//! What more than one benchmark needs.

use std::path::Path;

use disktracker::{DirRecord, WalkContext, WalkOptions, registry};
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
