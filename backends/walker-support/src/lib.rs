//! What every DiskTracker walker shares, so that all walkers skip the same
//! entries, count the same bytes and compute the same fingerprints: exclude
//! globs ([`Exclude`]), directory fingerprints ([`Fingerprint`]), the
//! per-entry accounting ([`account_entry`], on an [`EntryStat`] from
//! [`stat::stat_at`]), and the reading of one directory ([`read_listing`])
//! that the watcher uses to re-read a changed directory as a walker reads it.
//!
//! Walkers depend on this crate; the plugin API (`disktracker`) does not,
//! so a reporter or a store compiles no glob engine and no hash.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod entry;
mod exclude;
mod fingerprint;
pub mod listing;
pub mod stat;

pub use entry::{Counted, EntryStat, account_entry, dir_cold, dir_hot, mtime_ns};
pub use exclude::Exclude;
pub use fingerprint::Fingerprint;
pub use listing::{ListOptions, Listing, read_listing};
