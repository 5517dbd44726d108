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
/// A database server could not be reached (refused, unreachable, timed
/// out, or TLS could not be set up as required).
pub const UNREACHABLE: u8 = 9;
/// A database server refused the credentials.
pub const AUTH: u8 = 10;
/// The connection to a database server dropped mid-operation (nothing of
/// it was stored).
pub const CONNECTION_LOST: u8 = 11;
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
        ErrorKind::Unreachable => UNREACHABLE,
        ErrorKind::Auth => AUTH,
        ErrorKind::ConnectionLost => CONNECTION_LOST,
        _ => FAILURE,
    }
}
