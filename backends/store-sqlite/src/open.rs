//! Opening a database: create the file safely, validate it before touching
//! it, set the connection pragmas, migrate.
//!
//! # Never through a planted file
//!
//! The state directory may be shared (a sticky `/tmp`, a group directory),
//! so the path given may hold something another user put there:
//!
//! * A new database is built in a temporary file of its own (exclusive
//!   create, mode 0600, beside the target), migrated there, synced, and
//!   only then given its name with a rename that never replaces anything
//!   (`renameat2(RENAME_NOREPLACE)` or `link`). A file at the path is
//!   therefore always a whole database, never an empty file that some
//!   process is about to fill; a racing creator that loses uses the
//!   winner's file. Nothing is ever created through a symbolic link.
//! * An existing file is used only if it is a regular, non-empty file; an
//!   empty file (which DiskTracker never leaves) or a SQLite database
//!   without DiskTracker's schema is refused, untouched.
//! * A symbolic link at the path is followed only when it is owned by the
//!   user running DiskTracker (or by root) and names an existing database:
//!   a link another user planted, or a dangling one, is refused.
//! * SQLite keeps `-wal` and `-shm` files beside the database; a symbolic
//!   link there is refused with a message naming it (SQLite itself opens
//!   them with `O_NOFOLLOW`, but would only say "unable to open").
//! * The database is opened by its resolved path with
//!   `SQLITE_OPEN_NOFOLLOW`, so a link swapped in after the checks fails
//!   the open instead of being followed.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind, Result, StoreOptions};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{self, Ctx};
use crate::schema::{LATEST, MIGRATIONS, REQUIRED_TABLES};
use crate::settings::Tuning;

/// Statements the store keeps prepared (it uses about forty distinct ones).
const STATEMENT_CACHE: usize = 64;

/// The page size of a new file (existing files keep theirs).
///
/// A snapshot row is about 300 bytes and a snapshot is written and read
/// as one contiguous run of rows, so bigger pages mean fewer page splits,
/// WAL frames and cache look-ups per row. Measured with the throughput
/// example (65,000 directories, on-CPU medians): the snapshot write took
/// 165 ms with 4 KiB pages, 150 ms with 8 KiB and 135 ms with 16 KiB, and
/// a whole-tree read 34-36, 31 and 28-29 ms; the file is 2% smaller.
pub(crate) const PAGE_SIZE: i64 = 16384;

/// An open database: the connection and the resolved path it was opened by
/// (no symbolic link in it), which other connections to it must use too.
pub(crate) struct Opened {
    pub conn: Connection,
    pub file: PathBuf,
}

/// Opens, validates, configures and (unless read-only) migrates the
/// database at `path`, creating it first when it does not exist.
pub(crate) fn open(path: &Path, opts: &StoreOptions, tuning: &Tuning) -> Result<Opened> {
    let file = locate(path, opts.read_only)?;
    check_sidecars(&file)?;
    // No SQLITE_OPEN_CREATE: the file exists by now; if it vanished
    // meanwhile, failing beats creating it with SQLite's defaults.
    let access = if opts.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(&file, flags).ctx(path, "opening database")?;
    conn.busy_timeout(tuning.busy_timeout)
        .ctx(path, "configuring database")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);

    let version = validate(&conn, path)?;

    if opts.read_only {
        if version < LATEST {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "{} uses schema version {version}, older than this disktracker's {LATEST}",
                    escape_path(path)
                ),
            )
            .with_hint("open it once without read-only to upgrade it; nothing was changed"));
        }
    } else if conn.is_readonly("main").ctx(path, "opening database")? {
        return Err(Error::new(
            ErrorKind::Permission,
            format!("cannot write {}: permission denied", escape_path(path)),
        )
        .with_hint(
            "make the file writable by you, open it read-only, or pass --db to use another file",
        ));
    }

    set_pragmas(&conn, path, opts.read_only, tuning)?;
    if !opts.read_only {
        migrate(&conn, path, version)?;
    }
    Ok(Opened { conn, file })
}

/// The file to open for `path`: its resolved path once it is known to be
/// an existing, regular, non-empty file reached through no link another
/// user controls. Creates the database when nothing is at `path` and the
/// store is writable.
fn locate(path: &Path, read_only: bool) -> Result<PathBuf> {
    let shown = escape_path(path);
    // Twice at most: after losing a race to create the file, the winner's
    // file is checked like any other.
    for _ in 0..2 {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if read_only {
                    return Err(no_database(path));
                }
                check_parent(path)?;
                create(path)?;
                continue;
            }
            Err(e) => return Err(unusable_parent(path, e)),
        };
        if meta.file_type().is_symlink() {
            return follow_link(path, &meta, read_only);
        }
        check_is_database_file(path, &meta, None)?;
        return resolve(path);
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("{shown} keeps appearing and disappearing"),
    )
    .with_hint("check what else writes to that directory, or pass --db to use another file"))
}

fn no_database(path: &Path) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no DiskTracker database at {}", escape_path(path)),
    )
    .with_hint(
        "run `disktracker scan` first to create it, or pass --db to name an existing database",
    )
}

/// The checks an existing regular file must pass (`target`: where the link
/// at `path` led, for the message).
fn check_is_database_file(
    path: &Path,
    meta: &std::fs::Metadata,
    target: Option<&Path>,
) -> Result<()> {
    let shown = match target {
        Some(t) => format!("{} (a link to {})", escape_path(path), escape_path(t)),
        None => escape_path(path).into_owned(),
    };
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("{shown} is a directory, not a database file"),
        )
        .with_hint("pass --db with the path of a database file"));
    }
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("{shown} is not a regular file (a device, FIFO or socket), so it cannot hold a database"),
        )
        .with_hint("pass --db with the path of a database file"));
    }
    if meta.len() == 0 {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "{shown} is an empty file, not a DiskTracker database (DiskTracker never leaves an empty database file)"
            ),
        )
        .with_hint("remove it if it is not needed, or pass --db to use another file; nothing was changed"));
    }
    Ok(())
}

/// A symbolic link at the database path: followed only when its owner is
/// this user or root and it leads to an existing database file.
fn follow_link(path: &Path, link: &std::fs::Metadata, read_only: bool) -> Result<PathBuf> {
    let shown = escape_path(path);
    let target = std::fs::read_link(path).unwrap_or_default();
    let me = rustix::process::geteuid().as_raw();
    if link.uid() != me && link.uid() != 0 {
        return Err(Error::new(
            ErrorKind::Permission,
            format!(
                "{shown} is a symbolic link to {} owned by another user (uid {}), so it is not followed",
                escape_path(&target),
                link.uid()
            ),
        )
        .with_hint(
            "someone else may have planted it: remove it, or pass --db with the path of the database itself",
        ));
    }
    match std::fs::metadata(path) {
        Ok(meta) => {
            check_is_database_file(path, &meta, Some(&target))?;
            resolve(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && read_only => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no DiskTracker database at {shown}: it is a symbolic link to {}, which does not exist",
                escape_path(&target)
            ),
        )
        .with_hint("remove the link, or pass --db to name an existing database")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::new(
            ErrorKind::Permission,
            format!(
                "{shown} is a symbolic link to {}, which does not exist; a new database is never created through a link",
                escape_path(&target)
            ),
        )
        .with_hint("remove the link to create the database there, or pass --db with the path where it should be")),
        Err(e) => Err(Error::io("cannot follow the symbolic link", path, e)
            .with_hint("remove the link, or pass --db with the path of the database itself")),
    }
}

/// The path without symbolic links, as SQLite (opened with NOFOLLOW) needs it.
fn resolve(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| {
        Error::io("cannot resolve the database path", path, e)
            .with_hint("check the path and its permissions, or pass --db to use another file")
    })
}

/// An error from looking at `path` itself, usually because a directory on
/// the way is a file.
fn unusable_parent(path: &Path, e: io::Error) -> Error {
    if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
        && let Some(file) = file_ancestor(path)
    {
        return not_a_directory(path, file);
    }
    Error::io("cannot open database", path, e)
        .with_hint("check the path and its permissions, or pass --db to use another file")
}

/// The nearest existing ancestor of `path`, when it is not a directory.
fn file_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| match std::fs::metadata(a) {
            Ok(m) if !m.is_dir() => Some(Some(a)),
            Ok(_) => Some(None),
            Err(_) => None,
        })
        .flatten()
}

fn not_a_directory(path: &Path, file: &Path) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!(
            "cannot put a database at {}: {} is a file, not a directory",
            escape_path(path),
            escape_path(file)
        ),
    )
    .with_hint("pass --db with a path inside a directory")
}

/// Creates the missing parent directories (mode 0700) of a new database.
fn check_parent(path: &Path) -> Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if let Some(file) = file_ancestor(path) {
        return Err(not_a_directory(path, file));
    }
    if parent.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| {
            Error::io("cannot create the state directory", parent, e)
                .with_hint("check the permissions of its parent, or pass --db to use another file")
        })
}

/// Creates the database at `path`: built and migrated in a temporary file
/// (exclusive create, 0600) beside it, synced, then renamed into place
/// without replacing anything. Snapshots list every directory name under
/// the scanned root, which other users should not read. Returns quietly
/// when another process created the file first.
fn create(path: &Path) -> Result<()> {
    refuse_orphaned_log(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cannot = |e: io::Error| {
        Error::io("cannot create database", path, e).with_hint(
            "check that its directory is writable by you, or pass --db to use another file",
        )
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".new")
        .tempfile_in(dir)
        .map_err(cannot)?;
    initialise(tmp.path(), path)?;
    tmp.as_file().sync_all().map_err(cannot)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            // The new name survives a power loss too (best effort).
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        // Another process created it first (the temporary file is removed).
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot(e.error)),
    }
}

/// A write-ahead log left beside a database that is gone (deleted without
/// it) would be replayed into a new file of the same name: its old
/// snapshots would come back, or the new file would be corrupt. Refused:
/// the log may be all that is left of the user's data.
fn refuse_orphaned_log(path: &Path) -> Result<()> {
    let log = crate::checkpoint::wal_path(path);
    match std::fs::symlink_metadata(&log) {
        // Unless another process has just created the database and written
        // to it: then there is nothing to create.
        Ok(m) if m.len() > 0 && std::fs::symlink_metadata(path).is_err() => Err(Error::new(
            ErrorKind::Database,
            format!(
                "cannot create database {}: its write-ahead log {} is still there without it",
                escape_path(path),
                escape_path(&log),
            ),
        )
        .with_hint(
            "restore the database file beside it, or remove the log (and its -shm file) to start a new database",
        )),
        _ => Ok(()),
    }
}

/// Gives the empty temporary file at `tmp` the whole schema, new-file
/// pragmas and WAL journaling, then closes it (leaving no log beside it).
fn initialise(tmp: &Path, path: &Path) -> Result<()> {
    let what = "creating database";
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(tmp, flags).ctx(path, what)?;
    // page_size must come first: setting auto_vacuum reads the (empty)
    // file, which fixes the page size. Both only take effect before the
    // first table exists.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .ctx(path, what)?;
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .ctx(path, what)?;
    // No file has this name yet, so nothing needs a sync before the one
    // sync of the whole file that precedes the rename.
    conn.pragma_update(None, "synchronous", "OFF")
        .ctx(path, what)?;
    migrate(&conn, path, 0)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .ctx(path, what)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "cannot switch {} to WAL journaling (it stays {mode})",
                escape_path(path)
            ),
        )
        .with_hint("put the database on a local file system, or pass --db to use another file"));
    }
    // The last connection to close removes the (empty) log files.
    conn.close().map_err(|(_, e)| error::sql(path, what, e))
}

/// Refuses a `-wal` or `-shm` file beside the database that is a symbolic
/// link or not a regular file: SQLite would refuse it too, saying only
/// "unable to open database file".
fn check_sidecars(file: &Path) -> Result<()> {
    for suffix in ["-wal", "-shm"] {
        let mut side = file.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        let Ok(meta) = std::fs::symlink_metadata(&side) else {
            continue;
        };
        let shown = escape_path(&side);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&side).unwrap_or_default();
            return Err(Error::new(
                ErrorKind::Permission,
                format!(
                    "{shown} is a symbolic link to {}; SQLite's {} file beside the database must be a file of its own",
                    escape_path(&target),
                    &suffix[1..]
                ),
            )
            .with_hint(format!(
                "remove {shown} (SQLite creates it again) and check who put it there"
            )));
        }
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{shown} is not a regular file; SQLite keeps its {} file there",
                    &suffix[1..]
                ),
            )
            .with_hint(format!(
                "move {shown} aside, or pass --db to use another file"
            )));
        }
    }
    Ok(())
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
        // DiskTracker gives a file its name only once the schema is in it
        // (see `create`), so this is someone else's database.
        let detail = match objects.first() {
            None => "it is an empty SQLite database that DiskTracker did not create".to_owned(),
            Some((kind, name)) => format!(
                "it is an SQLite database of something else: it has {kind} {name:?} but no DiskTracker schema version"
            ),
        };
        return Err(error::corrupt(path, detail));
    }
    let has_table = |t: &str| objects.iter().any(|(k, n)| k == "table" && n == t);
    if let Some((_, missing)) = REQUIRED_TABLES
        .iter()
        .find(|(since, t)| version >= *since && !has_table(t))
    {
        return Err(error::corrupt(
            path,
            format!("schema version {version} but table {missing} is missing"),
        ));
    }
    Ok(version)
}

/// The connection settings of the specification (seed `001`), with the
/// cache and memory-map sizes of `[plugins.sqlite]`. (A new file's page
/// size and `auto_vacuum = INCREMENTAL`, so that [`reclaim_space`] can give
/// pages back without rewriting the database, are set by `initialise`.)
///
/// [`reclaim_space`]: disktracker::SnapshotStore::reclaim_space
fn set_pragmas(conn: &Connection, path: &Path, read_only: bool, tuning: &Tuning) -> Result<()> {
    let what = "configuring database";
    if !read_only {
        // journal_mode is persistent in the file (set when it was created)
        // and a read-only connection cannot set it; asking again upgrades
        // a file made by an older DiskTracker or another program. Switching
        // a file to WAL needs an exclusive lock, and SQLite reports a
        // conflict with another process opening the file at once as busy
        // without waiting (to avoid a deadlock), so wait here.
        let mode: String = retry_busy(tuning.busy_timeout, || {
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })
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
    conn.pragma_update(None, "cache_size", -tuning.cache_kib)
        .ctx(path, what)?;
    set_mmap_size(conn, tuning.mmap_bytes).ctx(path, what)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .ctx(path, what)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx(path, what)?;
    Ok(())
}

/// `PRAGMA mmap_size = bytes` (it returns the size in effect, which the
/// statement form would refuse as an unexpected row).
pub(crate) fn set_mmap_size(conn: &Connection, bytes: i64) -> rusqlite::Result<()> {
    conn.query_row(&format!("PRAGMA mmap_size = {bytes}"), [], |_| Ok(()))
}

/// Runs `f` again while it fails because the database is busy, for up to
/// `timeout`, for statements SQLite does not wait on by itself.
fn retry_busy<T>(
    timeout: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && start.elapsed() < timeout =>
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
pub(crate) fn migrate(conn: &Connection, path: &Path, from: i64) -> Result<()> {
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
