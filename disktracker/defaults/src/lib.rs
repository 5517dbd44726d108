//! The DiskTracker command line with every first-party plugin linked in.
//!
//! A third-party binary adds its own plugins and calls [`main`]:
//!
//! ```ignore
//! use my_reporter as _;
//! fn main() -> std::process::ExitCode { disktracker_defaults::main() }
//! ```

/// Runs the command line (with the default plugins plus whatever the calling binary links).
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
