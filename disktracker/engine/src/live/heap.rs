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

/// Keeps every large block (128 KiB and more) in a mapping of its own, so
/// that freeing it gives its pages back at once (glibc; a no-op elsewhere).
///
/// glibc raises this threshold, up to 32 MiB, each time a mapped block is
/// freed; from then on such blocks come from the arenas. A walk's worker
/// threads then keep the segments of their arenas in their own malloc
/// arenas, and once freed those stay resident: `malloc_trim` does not shrink
/// the top of a thread's arena. On a scan of 260,000 directories that was
/// 10–20 MiB of the peak, varying with how many workers ran. Setting the
/// threshold (at glibc's default) turns the raising off.
pub fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers and changes a setting under the
    // main arena's lock; any thread may call it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
