//! The index bytes: a read-only memory map, or the file read into memory.
//!
//! This is the only module of the crate allowed to use `unsafe`: creating
//! the mapping, and the x86-64 prefetch intrinsic (not callable without
//! `unsafe` on this toolchain).
// `unsafe_code` is allowed for this module only, at its `mod` item in lib.rs.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::fs::File;
use std::io;

use disktracker::ReadAdvice;
use memmap2::{Advice, Mmap, MmapOptions};

/// Where the index bytes live. Both variants are read by the same code
/// through [`Data::bytes`].
pub(crate) enum Data {
    /// A read-only shared mapping of the file.
    Mapped(Mmap),
    /// The file's contents on the heap (mapping failed, or was not wanted).
    Heap(Box<[u8]>),
}

impl Data {
    /// The index bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Heap(b) => b,
        }
    }

    /// True for a memory map.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Data::Mapped(_))
    }
}

/// Maps `file` read-only and applies the read advice; with `preload`, faults
/// the whole file in up front (`MAP_POPULATE` where available, plus
/// `MADV_WILLNEED`).
///
/// Advice is a hint: failing to apply it is not an error.
pub(crate) fn map(file: &File, advice: ReadAdvice, preload: bool) -> io::Result<Mmap> {
    let mut opts = MmapOptions::new();
    if preload {
        opts.populate();
    }
    // SAFETY: `Mmap` hands out a `&[u8]` over the file, which is sound only
    // while no one modifies or truncates the file during the mapping's life.
    // DiskTracker never writes an index file in place: compaction, rebuild and
    // create write a *new* file (`<index>.tmp`, a fresh inode made with
    // `create_new`) and `rename` it over the old name, so an existing mapping
    // keeps the old, unchanging inode until it is dropped. The file is created
    // 0600 inside the 0700 state directory, so only the owner's processes can
    // touch it, and doing so in place is outside the documented contract (the
    // same contract as ripgrep's or redb's use of mmap). Even then, every read
    // of the bytes is bounds-checked by `IndexView`, so changed contents yield
    // wrong answers, not out-of-bounds reads; only truncation by another
    // process could fault (SIGBUS), which is why we never truncate.
    let mmap = unsafe { opts.map(file)? };
    let advice = match advice {
        ReadAdvice::Normal => Advice::Normal,
        ReadAdvice::Random => Advice::Random,
        ReadAdvice::Sequential => Advice::Sequential,
    };
    // Zero-length mappings have nothing to advise (and some kernels say EINVAL).
    if !mmap.is_empty() {
        let _ = mmap.advise(advice);
        if preload {
            let _ = mmap.advise(Advice::WillNeed);
        }
    }
    Ok(mmap)
}

/// Asks the CPU to start fetching the cache line holding `bytes[at]`, so a
/// binary search can overlap the next probe's memory access with this one's
/// comparison. A hint only: does nothing when `at` is out of range or on
/// targets without a stable prefetch instruction.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` is `unsafe` only because it is a
        // target-feature intrinsic; it needs SSE, which every x86-64 CPU has
        // (it is in the target's baseline feature set). A prefetch never
        // faults and reads nothing into the program, and the pointer comes
        // from a live, in-bounds reference in any case.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(b).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// [`prefetch`] of the cache line holding `*r`.
#[inline(always)]
pub(crate) fn prefetch_ref<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: as in `prefetch`: SSE is baseline on x86-64, a prefetch
        // never faults, and the pointer comes from a live reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(r).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
