//! PostgreSQL failures as one-line [`disktracker::Error`]s: what failed,
//! where (the redacted URL) and what to do. Nothing here ever prints a
//! password: messages name the location by [`disktracker::StoreLocation`]'s
//! redacted form and the server's own messages never carry one.

use disktracker::{Error, ErrorKind};

/// Hint for a database that is not ours or is damaged.
pub(crate) const CORRUPT_HINT: &str =
    "point --db at a database of its own for DiskTracker; nothing was changed";

/// The role set-up, for permission errors.
pub(crate) const ROLES_HINT: &str = "grant the role the privileges of disktracker_host (writers) \
     or disktracker_reader (read-only) with backends/store-postgres/sql/roles.sql, or run the \
     first open as the owner role, which creates and migrates the tables";

/// Whether the error happened while connecting (so the server is
/// unreachable) or on an established connection (so it was lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Connect,
    Session,
}

/// A database that fails validation.
pub(crate) fn corrupt(shown: &str, detail: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("{shown} is not a DiskTracker database or is damaged: {detail}"),
    )
    .with_hint(CORRUPT_HINT)
}

/// A write on a store opened read-only.
pub(crate) fn read_only(shown: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Database,
        format!("cannot {what}: {shown} is open read-only"),
    )
    .with_hint("open it without read-only to change it")
}

/// An unknown snapshot id.
pub(crate) fn no_snapshot(shown: &str, id: i64) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("snapshot {id} does not exist in {shown}"),
    )
    .with_hint("list the stored snapshots with `disktracker snapshots`")
}

/// One line from the server's error fields.
fn server_says(db: &postgres::error::DbError) -> String {
    let mut s = format!("{}: {}", db.severity(), db.message());
    if let Some(d) = db.detail() {
        s.push_str(" (");
        s.push_str(d);
        s.push(')');
    }
    s.replace('\n', " ")
}

/// The innermost cause's text (the I/O or TLS error under the driver's).
fn root_cause(err: &postgres::Error) -> String {
    let mut cur: &dyn std::error::Error = err;
    let mut text = err.to_string();
    while let Some(next) = cur.source() {
        text = next.to_string();
        cur = next;
    }
    text.replace('\n', " ")
}

/// Maps a driver error met while doing `what` (a verb phrase such as
/// "reading snapshots from") on the database `shown`.
pub(crate) fn pg(shown: &str, what: &str, phase: Phase, err: postgres::Error) -> Error {
    use postgres::error::SqlState;
    if let Some(db) = err.as_db_error() {
        let said = server_says(db);
        let code = db.code();
        let class = &code.code()[..2];
        let (kind, hint) = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            (
                ErrorKind::Auth,
                "check the user and password (in the URL, PGPASSWORD or ~/.pgpass) and the server's pg_hba.conf",
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            (
                ErrorKind::NotFound,
                "create the database first (createdb, or CREATE DATABASE as its owner), or name another one in the URL",
            )
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            (ErrorKind::Permission, ROLES_HINT)
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            (
                ErrorKind::NotFound,
                "a snapshot it refers to was deleted meanwhile; list them with `disktracker snapshots`",
            )
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::QUERY_CANCELED
        {
            (
                ErrorKind::Locked,
                "another client holds what this needs; try again (nothing was changed)",
            )
        } else if class == "08" || class == "57" || class == "53" {
            match phase {
                Phase::Connect => (
                    ErrorKind::Unreachable,
                    "check that the server is running and accepts connections, then try again",
                ),
                Phase::Session => (
                    ErrorKind::ConnectionLost,
                    "the server went away; nothing of this operation was stored; try again when it is back",
                ),
            }
        } else {
            (ErrorKind::Database, "nothing of this operation was stored")
        };
        return Error::new(
            kind,
            format!("{what} {shown}: {said} [SQLSTATE {}]", code.code()),
        )
        .with_hint(hint);
    }
    let top = err.to_string();
    let cause = root_cause(&err);
    let detail = if cause == top {
        top.clone()
    } else {
        format!("{top}: {cause}")
    };
    let (kind, hint) = if top.starts_with("error performing TLS handshake") {
        (
            ErrorKind::Unreachable,
            if cause.contains("does not support TLS") {
                "the server does not offer TLS: enable ssl on the server, or lower sslmode to prefer if the network is trusted"
            } else {
                "check sslmode and sslrootcert: the certificate must be signed by that CA and, with verify-full, name the host"
            },
        )
    } else if top.starts_with("authentication error") || cause.contains("password missing") {
        (
            ErrorKind::Auth,
            "the server wants a password: give it in the URL, PGPASSWORD or ~/.pgpass",
        )
    } else if top.starts_with("invalid connection string")
        || top.starts_with("invalid configuration")
    {
        (
            ErrorKind::Config,
            "use postgres://USER@HOST:PORT/DATABASE?sslmode=… or key=value pairs, as libpq takes them",
        )
    } else if phase == Phase::Connect {
        (
            ErrorKind::Unreachable,
            "check that the server is running, listens on that host and port, and that the network lets you through",
        )
    } else if err.is_closed()
        || top.starts_with("error communicating with the server")
        || top.starts_with("timeout")
        || top.starts_with("unexpected message")
    {
        (
            ErrorKind::ConnectionLost,
            "the connection to the server dropped; nothing of this operation was stored; try again",
        )
    } else {
        (ErrorKind::Database, "nothing of this operation was stored")
    };
    Error::new(kind, format!("{what} {shown}: {detail}")).with_hint(hint)
}

/// `Result` adapter: `.ctx(shown, "reading")?` for session errors.
pub(crate) trait Ctx<T> {
    fn ctx(self, shown: &str, what: &str) -> disktracker::Result<T>;
}

impl<T> Ctx<T> for Result<T, postgres::Error> {
    fn ctx(self, shown: &str, what: &str) -> disktracker::Result<T> {
        self.map_err(|e| pg(shown, what, Phase::Session, e))
    }
}
