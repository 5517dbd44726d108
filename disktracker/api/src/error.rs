//! The one error type every plugin and the host use.
//!
//! An [`Error`] renders as a single line: what failed, where, and (when there is
//! one) what to do about it. Its [`ErrorKind`] decides the process exit code.

use std::fmt;
use std::io;

use crate::path::neutralize;

/// Result alias using [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What class of failure an [`Error`] is; the command line exits with the
/// code given for each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad command-line usage: unknown plugin name, bad flag value (exit 2).
    Usage,
    /// A path, snapshot or other named thing does not exist (exit 3).
    NotFound,
    /// A configuration file, variable or plugin setting is invalid (exit 6).
    Config,
    /// The database could not be opened, read or written (exit 8).
    Database,
    /// The database is locked by another process (exit 5).
    Locked,
    /// A stored file (database or index) is corrupt or of an unknown format (exit 4).
    Corrupt,
    /// Permission was denied on a file the tool needs (exit 7).
    Permission,
    /// The operation was cancelled (Ctrl-C; exit 130).
    Cancelled,
    /// Any other I/O failure (exit 1).
    Io,
    /// A plugin failed or two plugins conflict (exit 1).
    Plugin,
    /// A database server could not be reached: refused, unreachable, timed
    /// out, or no usable TLS (exit 9).
    Unreachable,
    /// A database server refused the credentials (exit 10).
    Auth,
    /// The connection to a database server dropped mid-operation; nothing
    /// of the operation was stored (exit 11).
    ConnectionLost,
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

/// One line, safe on a terminal: whatever a message, cause or hint holds
/// (an OS message, a configuration value, a name with a bidi override), its
/// control and bidi characters are printed escaped, as
/// [`escape_bytes`](crate::path::escape_bytes) would; paths escaped by the
/// caller are not escaped twice.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&neutralize(&self.message))?;
        if let Some(src) = &self.source {
            // Keep it on one line whatever the cause prints.
            let s = src.to_string().replace('\n', " ");
            write!(f, ": {}", neutralize(&s))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({})", neutralize(hint))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_without_control_or_bidi_characters() {
        let path = std::path::Path::new("/srv/evil\u{202e}txt.exe\nx");
        let os = io::Error::other("disk \u{1b}[31mfull\nreally");
        let e = Error::io("cannot read", path, os).with_hint("free space in \u{2067}/srv\u{2069}");
        assert_eq!(
            e.to_string(),
            "cannot read /srv/evil\\u{202e}txt.exe\\x0ax: disk \\x1b[31mfull really \
             (free space in \\u{2067}/srv\\u{2069})"
        );
        // A message built from raw text is made safe too.
        let raw = Error::new(ErrorKind::Config, "bad value \"\u{202e}\u{7f}\" in C:\\x");
        assert_eq!(raw.to_string(), "bad value \"\\u{202e}\\x7f\" in C:\\x");
    }
}
