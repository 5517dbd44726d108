//! Opening a database: create the file safely, validate it before touching
//! it, set the connection pragmas, migrate.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind, Result, StoreOptions};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{self, Ctx};
use crate::schema::{LATEST, MIGRATIONS, SEED_TABLES};

/// How long a statement waits for another process's write lock before the
/// database counts as locked. Long enough to ride out another process's
/// snapshot commit or migration, short enough that a stuck peer is reported.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements the store keeps prepared (it uses about twenty distinct ones).
const STATEMENT_CACHE: usize = 32;

/// The page size of a new file (existing files keep theirs).
///
/// A snapshot row is about 300 bytes and a snapshot is written and read
/// as one contiguous run of rows, so bigger pages mean fewer page splits,
/// WAL frames and cache look-ups per row. Measured with the throughput
/// example (65,000 directories, on-CPU medians): the snapshot write took
/// 165 ms with 4 KiB pages, 150 ms with 8 KiB and 135 ms with 16 KiB, and
/// a whole-tree read 34-36, 31 and 28-29 ms; the file is 2% smaller.
pub(crate) const PAGE_SIZE: i64 = 16384;

/// Opens, validates, configures and (unless read-only) migrates the database.
pub(crate) fn open(path: &Path, opts: &StoreOptions) -> Result<Connection> {
    let shown = escape_path(path);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("{shown} is a directory, not a database file"),
            )
            .with_hint("pass --db with the path of a database file"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if opts.read_only {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no DiskTracker database at {shown}"),
                )
                .with_hint("run `disktracker scan` first to create it, or pass --db to name an existing database"));
            }
            create_file(path)?;
        }
        Err(e) => {
            return Err(Error::io("cannot open database", path, e).with_hint(
                "check the path and its permissions, or pass --db to use another file",
            ));
        }
    }

    // No SQLITE_OPEN_CREATE: the file exists by now (created above with mode
    // 0600); if it vanished meanwhile, failing beats recreating it 0644.
    let flags = if opts.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).ctx(path, "opening database")?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "configuring database")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);

    let version = validate(&conn, path)?;

    if opts.read_only {
        if version == 0 {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{shown} holds no DiskTracker data yet"),
            )
            .with_hint("run `disktracker scan` first to fill it"));
        }
        if version < LATEST {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "{shown} uses schema version {version}, older than this disktracker's {LATEST}"
                ),
            )
            .with_hint("open it once without read-only to upgrade it; nothing was changed"));
        }
    } else if conn.is_readonly("main").ctx(path, "opening database")? {
        return Err(Error::new(
            ErrorKind::Permission,
            format!("cannot write {shown}: permission denied"),
        )
        .with_hint(
            "make the file writable by you, open it read-only, or pass --db to use another file",
        ));
    }

    set_pragmas(&conn, path, opts.read_only, version == 0)?;
    if !opts.read_only {
        migrate(&conn, path, version)?;
    }
    Ok(conn)
}

/// Creates the database file with mode 0600, and its missing parent
/// directories with mode 0700: snapshots list every directory name under the
/// scanned root, which other users should not read.
fn create_file(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| {
                Error::io("cannot create the state directory", parent, e).with_hint(
                    "check the permissions of its parent, or pass --db to use another file",
                )
            })?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process created it first; it is validated like any file.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("cannot create database", path, e).with_hint(
            "check that its directory is writable by you, or pass --db to use another file",
        )),
    }
}

/// Checks, with reads only, that the file is an SQLite database holding
/// DiskTracker's schema (or nothing at all) at a version this build knows.
/// Returns that version. Nothing is written before this passes.
fn validate(conn: &Connection, path: &Path) -> Result<i64> {
    // Both reads in one read transaction: another process may be creating
    // the schema right now, and the version and the tables must agree.
    // The first read checks the SQLite header: a file that is not SQLite
    // fails with SQLITE_NOTADB, mapped to ErrorKind::Corrupt.
    conn.execute_batch("BEGIN DEFERRED").ctx(path, "reading")?;
    let read = || -> rusqlite::Result<(i64, Vec<(String, String)>)> {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mut stmt = conn.prepare("SELECT type, name FROM sqlite_schema")?;
        let objects = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((version, objects))
    };
    let read = read();
    // Ends the read transaction (nothing was written); after a failed read
    // SQLite may have ended it already.
    let _ = conn.execute_batch("COMMIT");
    let (version, objects) = read.ctx(path, "reading")?;

    if version < 0 {
        return Err(error::corrupt(path, format!("schema version {version}")));
    }
    if version > LATEST {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "{} was written by a newer DiskTracker: schema version {version}, this one knows up to {LATEST}",
                escape_path(path)
            ),
        )
        .with_hint("upgrade disktracker, or pass --db to use another file; nothing was changed"));
    }
    if version == 0 {
        // A new (empty) database is ours to initialise; any other content
        // belongs to something else.
        return match objects.first() {
            None => Ok(0),
            Some((kind, name)) => Err(error::corrupt(
                path,
                format!(
                    "it is an SQLite database of something else: it has {kind} {name:?} but no DiskTracker schema version"
                ),
            )),
        };
    }
    let has_table = |t: &str| objects.iter().any(|(k, n)| k == "table" && n == t);
    let diff_sets = (version >= 3).then_some("diff_cache_sets");
    if let Some(missing) = SEED_TABLES
        .iter()
        .copied()
        .chain(diff_sets)
        .find(|t| !has_table(t))
    {
        return Err(error::corrupt(
            path,
            format!("schema version {version} but table {missing} is missing"),
        ));
    }
    Ok(version)
}

/// The connection settings of the specification (seed `001`), plus, on a
/// new file, [`PAGE_SIZE`] and `auto_vacuum = INCREMENTAL` (so
/// [`reclaim_space`] can give pages back without rewriting the database).
///
/// [`reclaim_space`]: disktracker::SnapshotStore::reclaim_space
fn set_pragmas(conn: &Connection, path: &Path, read_only: bool, fresh: bool) -> Result<()> {
    let what = "configuring database";
    if !read_only {
        if fresh {
            // Both only take effect before the first table exists, and
            // page_size must come first: setting auto_vacuum reads the
            // (empty) file, which fixes the page size.
            conn.pragma_update(None, "page_size", PAGE_SIZE)
                .ctx(path, what)?;
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .ctx(path, what)?;
        }
        // journal_mode is persistent in the file; a read-only connection
        // cannot (and need not) set it.
        // Switching a new file to WAL needs an exclusive lock, and SQLite
        // reports a conflict with another process opening the same new file
        // at once as busy without waiting (to avoid a deadlock), so wait here.
        let mode: String =
            retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
                .ctx(path, what)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "cannot switch {} to WAL journaling (it stays {mode})",
                    escape_path(path)
                ),
            )
            .with_hint(
                "put the database on a local file system, or pass --db to use another file",
            ));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx(path, what)?;
        crate::checkpoint::configure(conn, path)?;
    }
    conn.pragma_update(None, "cache_size", -65536)
        .ctx(path, what)?;
    // Returns the size in effect; the statement form ignores that row.
    conn.query_row("PRAGMA mmap_size = 268435456", [], |_| Ok(()))
        .ctx(path, what)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .ctx(path, what)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx(path, what)?;
    Ok(())
}

/// Runs `f` again while it fails because the database is busy, for up to
/// [`BUSY_TIMEOUT`], for statements SQLite does not wait on by itself.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Applies every migration above `from`, each in its own transaction.
///
/// Another process may be migrating the same file at the same time:
/// `BEGIN IMMEDIATE` serialises them and the version is re-read inside the
/// transaction, so each step runs exactly once.
fn migrate(conn: &Connection, path: &Path, from: i64) -> Result<()> {
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let what = format!("applying schema migration {} ({}) to", m.version, m.summary);
        conn.execute_batch("BEGIN IMMEDIATE").ctx(path, &what)?;
        let step = || -> rusqlite::Result<bool> {
            let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if current >= m.version {
                return Ok(false);
            }
            conn.execute_batch(m.sql)?;
            conn.pragma_update(None, "user_version", m.version)?;
            Ok(true)
        };
        match step() {
            Ok(_) => conn.execute_batch("COMMIT").ctx(path, &what)?,
            Err(e) => {
                // The step failed: undo it so the file stays at the last
                // good version. A failed ROLLBACK means SQLite already did.
                let _ = conn.execute_batch("ROLLBACK");
                return Err(error::sql(path, &what, e));
            }
        }
    }
    Ok(())
}
