//! What every DiskTracker walker shares, so that all walkers skip the same
//! entries, count the same bytes and compute the same fingerprints: exclude
//! globs ([`Exclude`]) and directory fingerprints ([`Fingerprint`]).
//!
//! Walkers depend on this crate; the plugin API (`disktracker`) does not,
//! so a reporter or a store compiles no glob engine and no hash.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod exclude;
mod fingerprint;

pub use exclude::Exclude;
pub use fingerprint::Fingerprint;
