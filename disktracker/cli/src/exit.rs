//! Exit codes (documented in the README; keep them in sync).

use disktracker::ErrorKind;

/// Success.
pub const OK: u8 = 0;
/// An I/O or plugin failure not covered below.
pub const FAILURE: u8 = 1;
/// Bad usage: unknown option, plugin name or argument value.
pub const USAGE: u8 = 2;
/// Something named does not exist: scan root, snapshot, path, database.
pub const NOT_FOUND: u8 = 3;
/// A database or index file is corrupt, or from a newer DiskTracker; or an
/// imported ncdu export is malformed, truncated or of an unsupported version.
pub const CORRUPT: u8 = 4;
/// The database is locked by another process.
pub const LOCKED: u8 = 5;
/// A configuration file or `DISKTRACKER_*` variable is invalid.
pub const CONFIG: u8 = 6;
/// Permission denied (database location, index, scan root).
pub const PERMISSION: u8 = 7;
/// Another database error.
pub const DATABASE: u8 = 8;
/// Interrupted by Ctrl-C; nothing was stored.
pub const INTERRUPTED: u8 = 130;

/// The exit code for an error of `kind`.
pub fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage => USAGE,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Corrupt => CORRUPT,
        ErrorKind::Locked => LOCKED,
        ErrorKind::Config => CONFIG,
        ErrorKind::Permission => PERMISSION,
        ErrorKind::Database => DATABASE,
        ErrorKind::Cancelled => INTERRUPTED,
        _ => FAILURE,
    }
}
