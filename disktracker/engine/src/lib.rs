//! Store-agnostic DiskTracker logic over the plugin traits: scan orchestration,
//! aggregation with the hard-link first-path rule, top directories.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod diff;
pub mod explain;
pub mod live;
pub mod retention;
pub mod scan;
pub mod top;
pub mod tree;

pub use diff::{DiffFilter, changed_dirs, merge_trees, select, snapshot_pair};
pub use explain::explain;
pub use scan::{ScanOutcome, resolve_root, run_scan};
pub use top::top_dirs;
pub use tree::ScanTree;
