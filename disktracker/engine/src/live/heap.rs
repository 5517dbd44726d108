//! Giving the heap back after a walk. A catch-up or rescan builds a second
//! model of the tree and drops the first; glibc keeps the freed pages in its
//! arenas, so a long-running watcher would hold the peak of its last walk
//! for good. `malloc_trim` returns them.
#![allow(unsafe_code)]

/// Returns free heap pages to the OS (glibc; a no-op elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own
    // arenas under their locks; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
