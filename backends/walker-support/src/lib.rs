//! What every DiskTracker walker shares, so that all walkers skip the same
//! entries, count the same bytes and compute the same fingerprints: exclude
//! globs ([`Exclude`]), directory fingerprints ([`Fingerprint`]) and the
//! per-entry accounting ([`account_entry`], on an [`EntryStat`]).
//!
//! Walkers depend on this crate; the plugin API (`disktracker`) does not,
//! so a reporter or a store compiles no glob engine and no hash.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod entry;
mod exclude;
mod fingerprint;

pub use entry::{Counted, EntryStat, account_entry, dir_cold, dir_hot, mtime_ns};
pub use exclude::Exclude;
pub use fingerprint::Fingerprint;
