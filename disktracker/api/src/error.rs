//! The one error type every plugin and the host use.
//!
//! An [`Error`] renders as a single line: what failed, where, and (when there is
//! one) what to do about it. Its [`ErrorKind`] decides the process exit code.

use std::fmt;
use std::io;

/// Result alias using [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What class of failure an [`Error`] is; the CLI maps each kind to an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad command-line usage: unknown plugin name, bad flag value.
    Usage,
    /// A path, snapshot or other named thing does not exist.
    NotFound,
    /// A configuration file or variable is invalid.
    Config,
    /// The database could not be opened, read or written.
    Database,
    /// The database is locked by another process.
    Locked,
    /// A stored file (database or index) is corrupt or of an unknown format.
    Corrupt,
    /// Permission was denied on a file the tool needs.
    Permission,
    /// The operation was cancelled (Ctrl-C).
    Cancelled,
    /// Any other I/O failure.
    Io,
    /// A plugin failed or two plugins conflict.
    Plugin,
}

/// A one-line, contextual error.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` saying `message` (what failed and where).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// An I/O error on `path` while doing `what`; the kind follows the OS error.
    pub fn io(what: impl fmt::Display, path: impl AsRef<std::path::Path>, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Permission,
            _ => ErrorKind::Io,
        };
        Error::new(
            kind,
            format!("{what} {}", crate::path::escape_path(path.as_ref())),
        )
        .with_source(err)
    }

    /// Adds what the user can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches the underlying cause (rendered after the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Changes the kind (for callers that know better, e.g. a locked database).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without cause or hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the user can do, if known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Shorthand for a cancelled operation.
    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "interrupted")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(src) = &self.source {
            // Keep it on one line whatever the cause prints.
            let s = src.to_string();
            write!(f, ": {}", s.replace('\n', " "))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
