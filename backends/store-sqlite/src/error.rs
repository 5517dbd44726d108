//! Turning SQLite failures into one-line [`disktracker::Error`]s that name the
//! database file and say what to do.

use std::path::Path;

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind};
use rusqlite::ErrorCode;

/// Hint for a file that is not ours or is damaged.
pub(crate) const CORRUPT_HINT: &str =
    "move it aside or pass --db to use another file; nothing was changed";

/// A database that fails validation (not SQLite, not DiskTracker's, damaged).
pub(crate) fn corrupt(path: &Path, detail: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "{} is not a DiskTracker database or is damaged: {detail}",
            escape_path(path)
        ),
    )
    .with_hint(CORRUPT_HINT)
}

/// A write attempted on a store opened read-only.
pub(crate) fn read_only(path: &Path, what: &str) -> Error {
    Error::new(
        ErrorKind::Database,
        format!("cannot {what}: {} is open read-only", escape_path(path)),
    )
    .with_hint("open it without read-only to change it")
}

/// An unknown snapshot id.
pub(crate) fn no_snapshot(path: &Path, id: i64) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("snapshot {id} does not exist in {}", escape_path(path)),
    )
    .with_hint("list the stored snapshots with `disktracker snapshots`")
}

/// Maps a rusqlite error met while doing `what` (a verb phrase such as
/// "reading snapshot 3 from") on the database at `path`.
pub(crate) fn sql(path: &Path, what: &str, err: rusqlite::Error) -> Error {
    let shown = escape_path(path);
    let Some(code) = err.sqlite_error_code() else {
        // Not an SQLite result code: a value of the wrong type or out of
        // range. Our own writes never produce that, so the file was damaged
        // or written by something else.
        return match err {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => {
                corrupt(path, format!("unexpected value ({err})"))
            }
            _ => Error::new(ErrorKind::Database, format!("{what} {shown}")).with_source(err),
        };
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::new(
            ErrorKind::Locked,
            format!("{what} {shown}: another disktracker is using this database"),
        )
        .with_hint("wait for it to finish and try again, or pass --db to use another file"),
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => corrupt(path, err),
        ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::AuthorizationForStatementDenied => {
            Error::new(ErrorKind::Permission, format!("{what} {shown}: permission denied"))
                .with_source(err)
                .with_hint(
                    "check that the file and its directory are writable by you, or pass --db to use another file",
                )
        }
        ErrorCode::CannotOpen => Error::new(ErrorKind::Permission, format!("{what} {shown}"))
            .with_source(err)
            .with_hint(
                "check that its directory exists and is writable by you, or pass --db to use another file",
            ),
        // Deleting snapshots is no way out: SQLite writes every change to
        // its log first, so a delete needs free space as well.
        ErrorCode::DiskFull => Error::new(ErrorKind::Database, format!("{what} {shown}"))
            .with_source(err)
            .with_hint(
                "free some space on the file system that holds it and try again; deleting \
                 snapshots cannot help until then, since SQLite needs free space to log any \
                 change; nothing was changed",
            ),
        ErrorCode::SystemIoFailure => Error::new(ErrorKind::Io, format!("{what} {shown}"))
            .with_source(err)
            .with_hint("check the disk and file system holding it"),
        _ => Error::new(ErrorKind::Database, format!("{what} {shown}")).with_source(err),
    }
}

/// `Result` adapter: `.ctx(path, "reading")?`.
pub(crate) trait Ctx<T> {
    /// Maps the error with [`sql`].
    fn ctx(self, path: &Path, what: &str) -> disktracker::Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path, what: &str) -> disktracker::Result<T> {
        self.map_err(|e| sql(path, what, e))
    }
}
