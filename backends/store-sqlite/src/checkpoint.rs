//! When the write-ahead log is copied into the database file.
//!
//! By default SQLite checkpoints when a commit leaves more than 1,000 pages
//! in the log and again when the last connection closes, so every `scan`
//! copied its own snapshot into the file (and synced the log and the file)
//! before exiting: about 40 ms of wall time (20 ms on a CPU) for 65,000
//! directories, inside the scan's wall time.
//!
//! Instead, a writable store:
//!
//! * never checkpoints on close ([`configure`]), and auto-checkpoints only
//!   once the log passes [`WAL_LIMIT`] bytes, which one ordinary snapshot
//!   does not reach;
//! * copies the log that earlier processes left ([`Background`]) on a
//!   thread with its own connection, started when the store opens, so it
//!   overlaps whatever the caller does before writing (a scan walks the
//!   tree then). Every write waits for it first: the log is then fully
//!   copied, so the write starts the log over from its beginning and the
//!   log holds at most what this process writes;
//! * checkpoints on close after all when the log file has grown past
//!   [`WAL_LIMIT`] ([`at_close`]), so no sequence of processes lets it grow
//!   without bound.
//!
//! Nothing changes for crashes: a killed process leaves committed
//! transactions in the log, which the next connection reads back (SQLite
//! recovery), and a checkpoint cut short is redone from the log. What
//! changes is when a finished scan reaches the disk: with the seed's
//! `synchronous = NORMAL`, a WAL commit is synced at the next checkpoint, so
//! after a power loss (not a killed process) the newest snapshots can be
//! missing until the next writable open copied them (as `synchronous =
//! NORMAL` allows; the file stays consistent).
//!
//! The cost moves to readers of a log left uncopied: the first connection of
//! a process rebuilds the log index by reading the whole log (about 5 ms for
//! one 65,000-directory snapshot), and pages still in the log are read with
//! `pread` instead of through the memory map (a whole tree of 65,000
//! directories in ~40 ms instead of ~29 ms). Once a checkpoint copied the
//! log, new readers read the file again.
//!
//! Rejected: checkpointing at open on the opening thread, or on close only
//! when the log passes a limit. The copy costs the same wherever it runs
//! (measured: ~30 ms at open for one snapshot's log, ~155 ms for four), and
//! readers pay the log's size meanwhile.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::Ctx;

/// The log size (bytes) beyond which a writable connection checkpoints
/// anyway: at commit (`wal_autocheckpoint`) and at close ([`at_close`]).
///
/// One snapshot of 65,000 directories logs about 19 MiB; a larger limit only
/// makes readers rebuild a larger log index (about 0.3 ms per MiB, measured)
/// and lets the log file keep a larger size on disk.
pub(crate) const WAL_LIMIT: u64 = 64 << 20;

/// The write-ahead log beside the database `path`.
pub(crate) fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The size of the log file, 0 when there is none.
fn wal_len(path: &Path) -> u64 {
    std::fs::metadata(wal_path(path)).map_or(0, |m| m.len())
}

/// Checkpoint settings of a writable connection (see the module docs).
pub(crate) fn configure(conn: &Connection, path: &Path) -> disktracker::Result<()> {
    let what = "configuring database";
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .ctx(path, what)?;
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .ctx(path, what)?;
    let limit = i64::try_from(WAL_LIMIT).unwrap_or(i64::MAX);
    conn.pragma_update(None, "wal_autocheckpoint", limit / page.max(512))
        .ctx(path, what)?;
    // When a write starts the log over, SQLite truncates a log file larger
    // than this (after one unusually large transaction, say) back to it.
    conn.query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |_| {
        Ok(())
    })
    .ctx(path, what)
}

/// A checkpoint running on its own thread and connection.
#[derive(Debug, Default)]
pub(crate) struct Background(Option<JoinHandle<()>>);

impl Background {
    /// Starts copying the log into `path` when there is a log.
    ///
    /// Best effort: if the thread or the connection cannot be had, or the
    /// checkpoint fails, the log simply stays for a later checkpoint (which
    /// [`at_close`] forces once it is large).
    pub(crate) fn start(path: &Path) -> Self {
        if wal_len(path) == 0 {
            return Background(None);
        }
        let path = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let Ok(conn) = Connection::open_with_flags(&path, flags) else {
                    return;
                };
                // This connection must not checkpoint again when it closes:
                // it may close last, after the store wrote a snapshot.
                if conn
                    .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                    .is_err()
                {
                    return;
                }
                // PASSIVE waits for no one: it copies what no reader still
                // needs from the log and returns.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            });
        Background(handle.ok())
    }

    /// Waits for the checkpoint, if one is running.
    pub(crate) fn finish(&mut self) {
        if let Some(h) = self.0.take() {
            // A panic in the thread (there is no panicking code in it)
            // would only mean the log was not copied.
            let _ = h.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Before a writable connection closes: checkpoint now if the log file has
/// grown past `limit` ([`WAL_LIMIT`] but in tests). Errors are ignored (a
/// later open retries).
pub(crate) fn at_close(conn: &Connection, path: &Path, limit: u64) {
    if wal_len(path) > limit {
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}
