//! Turning redb's errors into one-line [`disktracker::Error`]s that name the
//! file and say what to do.

use std::io;
use std::path::Path;

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind};

/// What a user can do about a damaged or foreign file. Said once here so every
/// `Corrupt` error gives the same advice.
pub(crate) const CORRUPT_HINT: &str = "move the file aside (or pass --db) and scan again";

/// Maps a redb error met while doing `what` (e.g. "cannot read") on `file`.
pub(crate) fn from_redb(file: &Path, what: &str, err: redb::Error) -> Error {
    let f = escape_path(file);
    match err {
        redb::Error::DatabaseAlreadyOpen => {
            Error::new(ErrorKind::Locked, format!("another disktracker is using {f}"))
                .with_hint("wait for it or pass --db")
        }
        redb::Error::Corrupted(msg) => Error::new(ErrorKind::Corrupt, format!("{f} is damaged: {msg}"))
            .with_hint(CORRUPT_HINT),
        redb::Error::UpgradeRequired(v) => Error::new(
            ErrorKind::Corrupt,
            format!("{f} uses redb file format {v}, which this build cannot read"),
        )
        .with_hint(CORRUPT_HINT),
        // Only a read-only open aborts a repair (redb flags the header while
        // a writer has the file open), and the store first tries to recover
        // the file; this is what is left when it may not write to it.
        redb::Error::RepairAborted => Error::new(
            ErrorKind::Database,
            format!("{f} was not closed cleanly (a disktracker using it was killed?), and a read-only open cannot recover it"),
        )
        .with_hint("run a command that writes, e.g. `disktracker scan`, once as a user who may write the file"),
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. } => Error::new(
            ErrorKind::Corrupt,
            format!("{f} is a redb database, but not a disktracker store this build can read"),
        )
        .with_source(err)
        .with_hint(CORRUPT_HINT),
        redb::Error::Io(e) => from_io(file, what, e),
        other => Error::new(ErrorKind::Database, format!("{what} {f}")).with_source(other),
    }
}

/// Maps an I/O error met while doing `what` on `file`.
pub(crate) fn from_io(file: &Path, what: &str, err: io::Error) -> Error {
    let f = escape_path(file);
    match err.kind() {
        // redb reports a file without its magic number (or an empty one it was
        // not asked to initialize) as invalid data, before writing anything.
        io::ErrorKind::InvalidData => {
            Error::new(ErrorKind::Corrupt, format!("{f} is not a redb database"))
                .with_source(err)
                .with_hint(CORRUPT_HINT)
        }
        io::ErrorKind::PermissionDenied => Error::new(
            ErrorKind::Permission,
            format!("{what} {f}: permission denied"),
        )
        .with_hint("check the owner and mode of the file and its directory, or pass --db"),
        io::ErrorKind::ReadOnlyFilesystem => Error::new(
            ErrorKind::Permission,
            format!("{what} {f}: the file system is read-only"),
        )
        .with_hint("pass --db with a path on a writable file system"),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            Error::new(ErrorKind::Database, format!("{what} {f}"))
                .with_source(err)
                .with_hint(
                    // Not "delete old snapshots": a delete is a write too, and needs
                    // room for its new pages (issue 9, finding 9).
                    "free some space on that file system and try again; nothing was stored",
                )
        }
        io::ErrorKind::NotFound => Error::new(ErrorKind::NotFound, format!("{what} {f}"))
            .with_source(err)
            .with_hint("check the path, or pass --db"),
        _ => Error::new(ErrorKind::Io, format!("{what} {f}")).with_source(err),
    }
}

/// A stored record that does not decode.
pub(crate) fn bad_record(file: &Path, what: &str) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("{} is damaged: {what} does not decode", escape_path(file)),
    )
    .with_hint(CORRUPT_HINT)
}

/// Adds file context to any redb result.
pub(crate) trait Ctx<T> {
    /// Maps the error with [`from_redb`].
    fn ctx(self, file: &Path, what: &str) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> Ctx<T> for Result<T, E> {
    #[inline]
    fn ctx(self, file: &Path, what: &str) -> Result<T, Error> {
        self.map_err(|e| from_redb(file, what, e.into()))
    }
}
