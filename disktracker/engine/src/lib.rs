//! Store-agnostic DiskTracker logic over the plugin traits: scan orchestration,
//! aggregation with the hard-link first-path rule, top directories.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod scan;
pub mod top;
pub mod tree;

pub use scan::{ScanOutcome, resolve_root, run_scan};
pub use top::top_dirs;
pub use tree::ScanTree;
