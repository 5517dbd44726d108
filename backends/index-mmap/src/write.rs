//! Publishing a new index file: one writer at a time, a unique temporary
//! file, and an atomic rename.
//!
//! Every writer (create, rebuild, compact; any process) does, in order:
//!
//! 1. take the writer lock: an exclusive `flock` on `<index>.lock` beside the
//!    index (created 0600, never deleted, never followed if a symlink),
//!    waiting at most [`IndexOptions::lock_wait`] for another writer;
//! 2. remove leftovers of writers that were killed: files in the directory
//!    named like this crate's temporary files *for this index*. Safe because
//!    we hold the lock: a live writer would hold it, so any such file
//!    belongs to a dead one;
//! 3. write the new file under a unique name (`<index>.<10 random
//!    alphanumerics>.tmp`, created exclusively, 0600, by `tempfile`) in the
//!    same directory, and `sync_all` it;
//! 4. rename it over the index, then `fsync` the directory;
//! 5. release the lock (dropping it; the kernel also releases it when a
//!    writer dies, so a killed writer never blocks the next one).
//!
//! Readers take no lock: the rename makes them see the old file or the new
//! one, whole.
//!
//! [`IndexOptions::lock_wait`]: disktracker::IndexOptions::lock_wait

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind, Result};
use rustix::fs::{FlockOperation, flock};

use crate::format;
use crate::index::io_error;

/// Random characters in a temporary file's name.
const RANDOM_LEN: usize = 10;

/// The writer lock file of an index: `<index>.lock` (`data.mmap.lock`).
pub fn lock_path_for(index: &Path) -> PathBuf {
    let mut s = OsString::from(index.as_os_str());
    s.push(".lock");
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// True when `name` is a temporary file of a writer of the index named
/// `index_name`: `<index_name>.<10 alphanumerics>.tmp`, or the fixed
/// `<index_name>.tmp` of earlier versions.
pub(crate) fn is_temp_name(index_name: &[u8], name: &[u8]) -> bool {
    let Some(rest) = name
        .strip_prefix(index_name)
        .and_then(|r| r.strip_prefix(b"."))
    else {
        return false;
    };
    if rest == b"tmp" {
        return true;
    }
    match rest.strip_suffix(b".tmp") {
        Some(random) => random.len() == RANDOM_LEN && random.iter().all(u8::is_ascii_alphanumeric),
        None => false,
    }
}

/// The exclusive writer lock of one index, held until dropped.
pub(crate) struct WriteLock {
    _file: File,
}

/// Takes the writer lock of `index`, waiting at most `wait` for another writer.
pub(crate) fn lock(index: &Path, wait: Duration) -> Result<WriteLock> {
    let path = lock_path_for(index);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::new(
                    ErrorKind::Permission,
                    format!(
                        "index lock file {} is a symbolic link; refusing to follow it",
                        escape_path(&path)
                    ),
                )
                .with_hint("remove the link; DiskTracker creates the lock file itself")
            } else {
                io_error("cannot open the index lock file", &path, e)
            }
        })?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(WriteLock { _file: file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(Error::new(
                        ErrorKind::Locked,
                        format!(
                            "another process is writing index {} (its lock {} is still held \
                             after {:.1} s)",
                            escape_path(index),
                            escape_path(&path),
                            waited.as_secs_f64()
                        ),
                    )
                    .with_hint("try again when that scan or rebuild has finished"));
                }
                std::thread::sleep(pause.min(wait - waited));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(io_error(
                    "cannot lock the index lock file",
                    &path,
                    io::Error::from(e),
                ));
            }
        }
    }
}

/// Removes temporary files of dead writers of `index`. Call with the lock
/// held. Best effort: a leftover that cannot be removed is left for the
/// next writer and does not stop this one.
pub(crate) fn remove_leftovers(_lock: &WriteLock, index: &Path) {
    let Some(name) = index.file_name() else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir_of(index)) else {
        return;
    };
    for entry in entries.flatten() {
        if is_temp_name(name.as_bytes(), entry.file_name().as_bytes())
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `entries` (sorted, strictly increasing, absolute, at least one) to
/// a new temporary file beside `index` and syncs it. Call with the lock
/// held. Dropping the result removes the file; [`persist`] publishes it.
pub(crate) fn write_temp<'e, I>(
    lock: &WriteLock,
    index: &Path,
    entries: I,
) -> Result<tempfile::NamedTempFile>
where
    I: Iterator<Item = (&'e [u8], u64)> + Clone,
{
    write_temp_visited(lock, index, &mut |f| {
        for (path, total) in entries.clone() {
            f(path, total)?;
        }
        Ok(())
    })
}

/// [`write_temp`] with the entries given by a visit (see
/// [`format::write_visited`]).
pub(crate) fn write_temp_visited(
    _lock: &WriteLock,
    index: &Path,
    visit: &mut format::Visit<'_>,
) -> Result<tempfile::NamedTempFile> {
    let dir = dir_of(index);
    let mut prefix = index.file_name().unwrap_or_default().to_owned();
    prefix.push(".");
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(RANDOM_LEN)
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| io_error("cannot create a temporary index in", dir, e))?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        format::write_visited(&mut w, visit)?;
        w.flush()?;
        drop(w);
        tmp.as_file().sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        // Dropping `tmp` (on return) removes it; the index is untouched.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(Error::new(
            ErrorKind::Io,
            format!("cannot write index {}: {e}", escape_path(index)),
        )),
        Err(e) => Err(io_error("cannot write temporary index", tmp.path(), e)),
    }
}

/// Renames a file from [`write_temp`] over `index` and syncs the directory.
/// Returns the published file, open: the caller reads exactly what was
/// written, even if the name is replaced again at once.
pub(crate) fn persist(
    _lock: &WriteLock,
    tmp: tempfile::NamedTempFile,
    index: &Path,
) -> Result<File> {
    let file = tmp.persist(index).map_err(|e| {
        // Dropping the error's file handle removes the temporary file.
        io_error("cannot rename the new index into place at", index, e.error)
    })?;
    File::open(dir_of(index))
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync the directory of index", index, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_match_only_this_index() {
        let ix = b"data.mmap";
        assert!(is_temp_name(ix, b"data.mmap.Ab3dE9fGh1.tmp"));
        assert!(is_temp_name(ix, b"data.mmap.tmp"));
        for other in [
            &b"data.mmap"[..],
            b"data.mmap.lock",
            b"data.mmap.Ab3dE9fGh.tmp",
            b"data.mmap.Ab3dE9fGh12.tmp",
            b"data.mmap.Ab3dE9f-h1.tmp",
            b"data.mmap.Ab3dE9fGh1.tmp~",
            b"other.mmap.Ab3dE9fGh1.tmp",
            b"data.mmapX.Ab3dE9fGh1.tmp",
            b"data.db",
        ] {
            assert!(
                !is_temp_name(ix, other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn lock_paths_sit_beside_the_index() {
        assert_eq!(
            lock_path_for(Path::new("/s/data.mmap")),
            Path::new("/s/data.mmap.lock")
        );
    }
}
