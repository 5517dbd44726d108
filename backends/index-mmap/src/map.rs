//! The index bytes: a guarded read-only memory map, or the file read into
//! memory; and cache-prefetch hints.
//!
//! This is the only module of the crate allowed to use `unsafe`: creating
//! the mapping, the SIGBUS guard that keeps a mapping of a file truncated by
//! another program from killing the process, and the x86-64 prefetch
//! intrinsic (not callable without `unsafe` on this toolchain).
//!
//! # The SIGBUS guard
//!
//! Reading a page of a mapping that lies past the end of its file raises
//! SIGBUS, whose default action ends the process: that is what happens to a
//! mapped reader when another program truncates the file (`cp` over it,
//! `rsync --inplace`, restoring a backup). Every mapping made here is
//! registered in a fixed table, and a process-wide SIGBUS handler (installed
//! once, chaining to the previous one) checks the faulting address: inside a
//! registered mapping, it maps a page of zeros over the faulting page, counts
//! the fault on that mapping, and returns, so the read completes (with
//! zeros). The index checks the count after each lookup and reports the file
//! as changed instead of answering. Any other SIGBUS goes to the previous
//! handler (Rust's stack-overflow handler, or the default action), as if the
//! guard were not there.
// `unsafe_code` is allowed for this module only, at its `mod` item in lib.rs.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use disktracker::ReadAdvice;
use memmap2::{Advice, Mmap, MmapOptions};

/// Where the index bytes live.
pub(crate) enum Data {
    /// A read-only shared mapping of the file, guarded against truncation.
    Mapped(GuardedMap),
    /// The file's contents on the heap (mapping failed, or was not wanted).
    Heap(Box<[u8]>),
    /// Nothing in memory: lookups read the file with positioned reads.
    Pread,
}

impl Data {
    /// The index bytes, when they are in memory.
    #[inline]
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Data::Mapped(m) => Some(m.bytes()),
            Data::Heap(b) => Some(b),
            Data::Pread => None,
        }
    }

    /// True for a memory map.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Data::Mapped(_))
    }

    /// True once a read of a mapping faulted because the file shrank under
    /// it: the bytes read since are not the file's.
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        match self {
            Data::Mapped(m) => m.faulted(),
            Data::Heap(_) | Data::Pread => false,
        }
    }
}

/// A read-only mapping registered with the SIGBUS guard.
pub(crate) struct GuardedMap {
    // Declared first so it is dropped first: the slot is released before
    // the range is unmapped.
    slot: SlotLease,
    map: Mmap,
}

impl GuardedMap {
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    #[inline]
    fn faulted(&self) -> bool {
        self.slot.0.faults.load(Ordering::Acquire) != 0
    }
}

/// One registered mapping: `[start, start + len)`, and the faults in it.
struct Slot {
    in_use: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    faults: AtomicUsize,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            in_use: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            faults: AtomicUsize::new(0),
        }
    }
}

/// More mappings than any DiskTracker process holds at once (one index,
/// briefly two during compaction); a mapping that finds no free slot is not
/// made, and the file is read into memory instead.
const SLOTS: usize = 128;

/// The table the handler searches; fixed, so the handler never allocates or locks.
static GUARDED: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// A claimed slot, released on drop.
struct SlotLease(&'static Slot);

impl SlotLease {
    fn claim(start: usize, len: usize) -> Option<SlotLease> {
        let slot = GUARDED.iter().find(|s| {
            s.in_use
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        slot.faults.store(0, Ordering::Relaxed);
        slot.len.store(len, Ordering::Relaxed);
        // `start` last: the handler treats a non-zero start as a live entry.
        slot.start.store(start, Ordering::Release);
        Some(SlotLease(slot))
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        self.0.start.store(0, Ordering::Release);
        self.0.len.store(0, Ordering::Relaxed);
        self.0.in_use.store(false, Ordering::Release);
    }
}

/// The SIGBUS disposition before ours, for faults that are not ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
/// The page size, for the handler (which must not call into libc to ask).
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Installs the SIGBUS handler once per process.
fn install_guard() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = *INSTALLED.get_or_init(|| {
        PAGE.store(rustix::param::page_size(), Ordering::Relaxed);
        // SAFETY: all-zero bytes are a valid `sigaction` (a null handler, an
        // empty mask, no flags, no restorer), and the kernel overwrites it.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` with a null new action only reads the current
        // one into `previous`, a valid, writable struct.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &raw mut previous) } != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        // Recorded before ours is installed, so the handler always finds it.
        let _ = PREVIOUS.set(previous);
        // SAFETY: as above, all-zero is a valid `sigaction` to fill in.
        let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
        ours.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `ours.sa_mask` is a valid sigset to initialise; `on_sigbus`
        // has the three-argument signature SA_SIGINFO requires and does only
        // async-signal-safe work (atomics, mmap, sigaction, raise).
        let rc = unsafe {
            libc::sigemptyset(&raw mut ours.sa_mask);
            libc::sigaction(libc::SIGBUS, &raw const ours, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        Ok(())
    });
    result.map_err(io::Error::from_raw_os_error)
}

/// The SIGBUS handler: patch a fault inside a guarded mapping, pass on the rest.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid `siginfo_t`; for
    // SIGBUS `si_addr` is the faulting address (or unused by a sent signal,
    // which then matches no mapping but by chance, and is passed on below).
    let addr = unsafe { (*info).si_addr() } as usize;
    if patch(addr) {
        return;
    }
    chain(sig, info, ctx);
}

/// Maps a page of zeros over the page holding `addr` if it lies in a guarded
/// mapping, and counts the fault; false if it does not (or mapping failed).
fn patch(addr: usize) -> bool {
    let page = PAGE.load(Ordering::Relaxed);
    if page == 0 {
        return false;
    }
    for slot in &GUARDED {
        let start = slot.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= slot.len.load(Ordering::Relaxed) {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: `at..at + page` lies inside a live mapping made by this
        // module (registered until just before it is unmapped, and a fault
        // can only come from a read through it, which borrows it). Replacing
        // that page with a private anonymous read-only page keeps the range
        // mapped and readable, as the `&[u8]` over it requires; the page is
        // unmapped with the rest when the `Mmap` drops. `mmap` is a plain
        // system call, safe to make in a signal handler.
        let p = unsafe {
            libc::mmap(
                at as *mut c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        slot.faults.fetch_add(1, Ordering::AcqRel);
        return true;
    }
    false
}

/// Hands a SIGBUS that is not ours to the disposition before ours.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_IGN {
        return;
    }
    if handler == libc::SIG_DFL {
        // SAFETY: restores the recorded default disposition, then raises the
        // signal again; it stays blocked until this handler returns and then
        // takes the default action (a fault would also repeat on return).
        // Both calls are async-signal-safe.
        unsafe {
            libc::sigaction(sig, previous, std::ptr::null_mut());
            libc::raise(sig);
        }
        return;
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: a handler installed with SA_SIGINFO has this signature;
        // it gets the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

/// Maps `file` read-only, registers the mapping with the SIGBUS guard and
/// applies the read advice; with `preload`, faults the whole file in up front
/// (`MAP_POPULATE` where available, plus `MADV_WILLNEED`).
///
/// Advice is a hint: failing to apply it is not an error. Failing to guard
/// the mapping is: an unguarded mapping is what this module exists to avoid.
pub(crate) fn map(file: &File, advice: ReadAdvice, preload: bool) -> io::Result<GuardedMap> {
    install_guard()?;
    let mut opts = MmapOptions::new();
    if preload {
        opts.populate();
    }
    // SAFETY: `Mmap` hands out a `&[u8]` over the file, which assumes the
    // bytes do not change while borrowed. DiskTracker never writes an index
    // file in place (every writer writes a new temporary file and renames it
    // over the index), but another program can. What that can do here:
    // truncation makes reads past the new end fault, which the guard turns
    // into reads of zeros plus a recorded fault (so the answer is refused);
    // rewritten bytes are read as whatever they are at that moment. Every
    // field read from the mapping is copied into a local before it is
    // bounds-checked and used, so changed bytes can only make a lookup see
    // wrong values (which its checks and the fault count report), never read
    // outside the mapping.
    let mmap = unsafe { opts.map(file)? };
    let slot = SlotLease::claim(mmap.as_ptr() as usize, mmap.len()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            "no free slot to guard another mapping",
        )
    })?;
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
    Ok(GuardedMap { slot, map: mmap })
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
