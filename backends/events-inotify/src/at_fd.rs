//! Watching a directory through the descriptor the walk opened it with.
//!
//! `inotify_add_watch` takes only a path, and resolving a deep absolute path
//! again costs a dentry lookup per component, for every directory of the
//! tree. A thread with a working directory of its own (`unshare(CLONE_FS)`)
//! can instead `fchdir` to the open directory and watch `.`, then go back to
//! `/` so that it pins no directory of the tree. The process's main thread
//! shares its working directory with everything else and always goes by
//! path, as does any thread where this fails.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::inotify::{self, WatchFlags};
use rustix::io::Errno;
use rustix::thread::UnshareFlags;

thread_local! {
    /// Whether this thread has its own working directory (`None`: not tried yet).
    static OWN_CWD: Cell<Option<bool>> = const { Cell::new(None) };
}

fn own_cwd() -> bool {
    OWN_CWD.with(|own| {
        if let Some(known) = own.get() {
            return known;
        }
        let is_main =
            rustix::thread::gettid().as_raw_nonzero() == rustix::process::getpid().as_raw_nonzero();
        // SAFETY: `unshare` is unsafe because of `CLONE_FILES`, which would
        // leave this thread without descriptors other threads still use.
        // `CLONE_FS` gives the thread a private copy of its working
        // directory, root and umask and changes nothing any other thread
        // sees.
        let mine = !is_main && unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }.is_ok();
        own.set(Some(mine));
        mine
    })
}

/// `inotify_add_watch` of `dir`, open as `fd` when given.
pub(crate) fn add_watch(
    inotify: &OwnedFd,
    dir: &Path,
    fd: Option<BorrowedFd<'_>>,
    mask: WatchFlags,
) -> Result<i32, Errno> {
    if let Some(fd) = fd
        && own_cwd()
        && rustix::process::fchdir(fd).is_ok()
    {
        let watched = inotify::add_watch(inotify, ".", mask);
        // A failure leaves the thread in `dir`, which is still there and
        // only the walk's.
        let _ = rustix::process::chdir("/");
        return watched;
    }
    inotify::add_watch(inotify, dir, mask)
}
