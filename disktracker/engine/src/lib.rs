//! Store-agnostic DiskTracker logic over the plugin traits, behind one
//! facade, [`Tracker`]: opening the store and the live index, scanning and
//! storing (aggregation with the hard-link first-path rule, retention),
//! choosing snapshots, diff and explain, and keeping the index trustworthy.
// `unsafe` is denied (workspace lints) and allowed in `live::heap` alone.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod diff;
pub mod explain;
pub mod folded;
pub mod hooks;
pub mod live;
pub mod location;
pub mod ncdu;
pub mod provenance;
pub mod retention;
pub mod scan;
pub mod select;
#[cfg(test)]
mod synthetic;
pub mod top;
pub mod tracker;
pub mod tree;

pub use bench::BenchOptions;
pub use diff::{DiffFilter, changed_dirs, merge_trees, select};
pub use explain::{explain, explain_records};
pub use scan::{
    Beside, OpenReader, ScanBy, ScanOutcome, ScanRetention, WalkOrigin, resolve_root, run_scan,
    store_walk_beside, walk_to_store,
};
pub use top::top_dirs;
pub use tracker::{
    DiffOptions, Hosts, IndexConfig, Listing, Observer, PluginChoice, Prune, ScanConfig,
    SettingsMap, Silent, SizeResult, Tracker, TrackerConfig, WatchConfig, plugins,
};
pub use tree::ScanTree;
