//! The DiskTracker command line with every first-party plugin linked in.
//!
//! A crate nothing references is not linked, and its link-time registrations
//! vanish with it; naming each plugin crate here keeps them. A third-party
//! binary adds its own plugins the same way and calls [`main`]:
//!
//! ```text
//! use my_reporter as _;
//! fn main() -> std::process::ExitCode { disktracker_defaults::main() }
//! ```
#![forbid(unsafe_code)]

use disktracker_events_inotify as _;
use disktracker_events_notify as _;
use disktracker_index_mmap as _;
use disktracker_reporter_csv as _;
use disktracker_reporter_html as _;
use disktracker_reporter_json as _;
use disktracker_reporter_prometheus as _;
use disktracker_reporter_table as _;
use disktracker_store_postgres as _;
use disktracker_store_redb as _;
use disktracker_store_sqlite as _;
use disktracker_walker_jwalk as _;
use disktracker_walker_steal as _;

/// Runs the command line with the default plugins plus whatever the calling binary links.
pub fn main() -> std::process::ExitCode {
    disktracker_cli::main()
}
