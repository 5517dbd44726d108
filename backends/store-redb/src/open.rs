//! Opening the file: the plugin's settings, what may be at the path (never
//! a symlink when creating, never someone else's file), and waiting a
//! bounded time for another process that holds the file.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use disktracker::path::escape_path;
use disktracker::settings::{PluginSettings, SettingSpec};
use disktracker::{Error, ErrorKind, Result};
use redb::backends::FileBackend;
use redb::{Database, ReadOnlyDatabase};

use crate::errors::{CORRUPT_HINT, Ctx, from_io, from_redb};
use crate::shield;

/// The keys of `[plugins.redb]`.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec::new(
        "cache_size",
        "\"16MiB\"",
        "redb page cache (read cache and write buffer together), e.g. \"64MiB\".",
    ),
    SettingSpec::new(
        "lock_timeout",
        "\"5s\"",
        "How long to wait for another disktracker using the file before giving up, e.g. \"30s\".",
    ),
];

/// The effective `[plugins.redb]` values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    pub(crate) cache_size: usize,
    pub(crate) lock_timeout: Duration,
}

impl Tuning {
    /// The defaults overridden by every key in `given` (empty: all defaults).
    /// An unknown key or a bad value is a [`ErrorKind::Config`] error naming
    /// the key and where its value came from.
    pub(crate) fn from_settings(given: &PluginSettings) -> Result<Self> {
        let mut s = PluginSettings::defaults("redb", SETTINGS)?;
        for (key, setting) in given.iter() {
            s.set(key, setting.value.clone(), &setting.origin)?;
        }
        let cache = s.size("cache_size")?;
        let cache_size = usize::try_from(cache).map_err(|_| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "plugins.redb.cache_size = {cache} is larger than this machine can address"
                ),
            )
        })?;
        Ok(Tuning {
            cache_size,
            lock_timeout: s.duration("lock_timeout")?,
        })
    }

    fn builder(&self) -> redb::Builder {
        let mut b = redb::Builder::new();
        b.set_cache_size(self.cache_size);
        b
    }
}

/// How long a writer waits for an existing empty file to be initialized by
/// the process that just created it (it takes redb's lock a moment after
/// creating the file) before refusing the file as not a store.
const EMPTY_GRACE: Duration = Duration::from_secs(1);

/// First and longest pause between two tries to open a busy file.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// One try at opening the file.
enum Attempt<T> {
    Opened(T),
    /// Try again after a pause; give up with this error when time is up.
    Wait(Error),
}

/// Runs `attempt` until it opens the file or fails, pausing (with growing
/// pauses) while it says to wait, for at most `timeout`.
fn retry<T>(
    timeout: Duration,
    mut attempt: impl FnMut(Instant) -> Result<Attempt<T>>,
) -> Result<T> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt(start)? {
            Attempt::Opened(t) => return Ok(t),
            Attempt::Wait(err) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(err);
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// A `Locked` error from redb becomes a wait; anything else stands.
fn wait_if_locked<T>(r: Result<T>, path: &Path, timeout: Duration) -> Result<Attempt<T>> {
    match r {
        Ok(t) => Ok(Attempt::Opened(t)),
        Err(e) if e.kind() == ErrorKind::Locked => Ok(Attempt::Wait(gave_up(path, timeout))),
        Err(e) => Err(e),
    }
}

fn gave_up(path: &Path, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Locked,
        format!("another disktracker is using {}", escape_path(path)),
    )
    .with_hint(if timeout.is_zero() {
        "plugins.redb.lock_timeout is 0s, so nothing waited; wait for it to finish and try again, or pass --db".to_owned()
    } else {
        format!(
            "waited {timeout:?} (plugins.redb.lock_timeout); wait for it to finish and try again, or pass --db"
        )
    })
}

/// Opens the store file for writing, creating it (mode 0600, missing parent
/// directories 0700) if nothing is at `path`. Creation never follows a
/// symlink and never takes over an existing file: an existing file must be
/// a redb database (or be initialized, within [`EMPTY_GRACE`], by whoever
/// just created it).
pub(crate) fn writable(path: &Path, t: &Tuning) -> Result<Database> {
    create_parent(path)?;
    // O_EXCL: fails on any existing entry, a symlink (even dangling) included.
    let created = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)
    {
        Ok(file) => {
            match redb_open(path, t, file) {
                Err(e) if e.kind() == ErrorKind::Locked => {}
                done => return done,
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(from_io(path, "cannot create", e)),
    };
    retry(t.lock_timeout, |start| {
        let file = existing(path, true)?;
        let empty = file
            .metadata()
            .map_err(|e| from_io(path, "cannot stat", e))?
            .len()
            == 0;
        if empty && !created {
            let err = empty_file(path);
            return if start.elapsed() < EMPTY_GRACE {
                Ok(Attempt::Wait(err))
            } else {
                Err(err)
            };
        }
        wait_if_locked(redb_open(path, t, file), path, t.lock_timeout)
    })
}

/// redb's writable open of `file` (which initializes it if it is empty).
fn redb_open(path: &Path, t: &Tuning, file: File) -> Result<Database> {
    // `create_with_backend` rather than `create_file`, which redb 4.5
    // deprecates: the same call on every redb 4 release.
    shield(path, || {
        t.builder()
            .create_with_backend(FileBackend::new(file).ctx(path, "cannot open")?)
            .ctx(path, "cannot open")
    })
}

/// Opens the existing store read-only. A missing or empty file is
/// [`ErrorKind::NotFound`] (an empty one is a store being created). A file
/// whose writer was killed is first recovered, see the crate docs.
pub(crate) fn read_only(path: &Path, t: &Tuning) -> Result<ReadOnlyDatabase> {
    let missing = || {
        Error::new(
            ErrorKind::NotFound,
            format!("no redb store at {}", escape_path(path)),
        )
        .with_hint("run `disktracker scan` first, or pass --db")
    };
    retry(t.lock_timeout, |_| {
        let file = match existing(path, false) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(missing()),
            r => r?,
        };
        if file
            .metadata()
            .map_err(|e| from_io(path, "cannot stat", e))?
            .len()
            == 0
        {
            return Err(missing());
        }
        drop(file);
        // redb 4.4 opens read-only by path only; the checks above ran on
        // the same path a moment before.
        match shield(path, || Ok(t.builder().open_read_only(path)))? {
            Ok(db) => Ok(Attempt::Opened(db)),
            // redb flags the file while a writer has it open, so a writer
            // that was killed leaves a file a reader may not open. Run
            // redb's crash recovery in a writable open first, as SQLite's
            // readers roll back a hot journal: the only write a read-only
            // open makes, and it changes no stored data.
            Err(redb::DatabaseError::RepairAborted) => {
                if let Attempt::Wait(e) = wait_if_locked(recover(path, t), path, t.lock_timeout)? {
                    return Ok(Attempt::Wait(e));
                }
                let again = shield(path, || Ok(t.builder().open_read_only(path)))?;
                wait_if_locked(again.ctx(path, "cannot open"), path, t.lock_timeout)
            }
            Err(e) => wait_if_locked(
                Err(from_redb(path, "cannot open", e.into())),
                path,
                t.lock_timeout,
            ),
        }
    })
}

/// Recovers a file left by a killed writer: a writable open runs redb's
/// repair, and closing it marks the file clean. Without write access the
/// file stays as it is and the error says how to recover it.
fn recover(path: &Path, t: &Tuning) -> Result<()> {
    let file = existing(path, true).map_err(|e| {
        if e.kind() == ErrorKind::Permission {
            from_redb(path, "cannot open", redb::Error::RepairAborted)
        } else {
            e
        }
    })?;
    drop(redb_open(path, t, file)?);
    Ok(())
}

fn nofollow() -> i32 {
    // Flag bits of open(2); they fit in the i32 std takes.
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Opens an existing regular file at `path`. A symlink is followed only if
/// it belongs to the user running us: in a shared directory (`/tmp`), a link
/// someone else planted must not redirect our writes or feed us their file.
fn existing(path: &Path, write: bool) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(write);
    // NONBLOCK: opening a FIFO someone put there must not hang; it is
    // refused below like any other file that is not a regular file.
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = match opts.custom_flags(nonblock | nofollow()).open(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            check_link_owner(path)?;
            opts.custom_flags(nonblock).open(path).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "{} is a symbolic link to a missing file; a store is never created through a symlink",
                            escape_path(path)
                        ),
                    )
                    .with_hint("pass --db with the path the link points to, or remove the link")
                } else {
                    from_io(path, "cannot open", e)
                }
            })?
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
            return Err(not_a_file(path, "a FIFO or socket"));
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::ISDIR.raw_os_error()) => {
            return Err(not_a_file(path, "a directory"));
        }
        Err(e) => return Err(from_io(path, "cannot open", e)),
    };
    let ft = file
        .metadata()
        .map_err(|e| from_io(path, "cannot stat", e))?
        .file_type();
    if !ft.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_block_device() || ft.is_char_device() {
            "a device"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(not_a_file(path, what));
    }
    Ok(file)
}

fn check_link_owner(path: &Path) -> Result<()> {
    let link = std::fs::symlink_metadata(path).map_err(|e| from_io(path, "cannot stat", e))?;
    let me = rustix::process::geteuid().as_raw();
    if link.file_type().is_symlink() && link.uid() != me {
        return Err(Error::new(
            ErrorKind::Permission,
            format!(
                "{} is a symbolic link owned by another user (uid {}); refusing to follow it",
                escape_path(path),
                link.uid()
            ),
        )
        .with_hint("pass --db with the real path of the store, or remove the link"));
    }
    Ok(())
}

fn not_a_file(path: &Path, what: &str) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!("{} is {what}, not a redb store file", escape_path(path)),
    )
    .with_hint("pass --db with the path of a store file")
}

fn empty_file(path: &Path) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "{} is an empty file, not a redb store; refusing to take it over",
            escape_path(path)
        ),
    )
    .with_hint(format!(
        "if it is yours (a store whose creation was interrupted), remove it and run the command again; {CORRUPT_HINT}"
    ))
}

/// Creates the missing parents of `file` with mode 0700 (the state directory
/// holds file names and sizes of everything scanned).
fn create_parent(file: &Path) -> Result<()> {
    let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| from_io(parent, "cannot create the directory", e))
}
