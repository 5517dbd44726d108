//! Lookups never touch the heap: proved with a counting global allocator.
//!
//! This file is its own test binary, so the allocator affects nothing else.
//! Counting is per thread and switched on only around the measured calls, so
//! the test harness's own allocations on other threads cannot interfere.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use disktracker::IndexOptions;
use disktracker_index_mmap::{Load, MmapIndex};
use rstest::rstest;

struct Counting;

thread_local! {
    // `const` initialisation with no destructor: reading it never allocates
    // or registers anything, so it is usable from inside the allocator.
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

#[allow(unsafe_code)] // a global allocator can only be implemented unsafely
// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// const-initialised thread-locals, which neither allocate nor reenter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    ON.with(|on| on.set(true));
    f();
    ON.with(|on| on.set(false));
    COUNT.with(std::cell::Cell::get)
}

#[test]
fn the_counter_sees_allocations() {
    // Without this the main test could pass by counting nothing.
    let n = allocations(|| {
        black_box(Vec::<u8>::with_capacity(black_box(16)));
    });
    assert_eq!(n, 1);
}

#[rstest]
fn lookups_do_not_allocate(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
    #[values(false, true)] with_overlay: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let opts = IndexOptions::new(dir.path().join("data.mmap"));
    let paths: Vec<Vec<u8>> = (0..5000u32)
        .map(|i| format!("/root/d{}/e{}/f{i}", i % 17, i % 101).into_bytes())
        .collect();
    MmapIndex::create(&opts, paths.iter().map(|p| (p.as_slice(), 1u64))).unwrap();
    let mut ix = MmapIndex::open_with(&opts, load).unwrap();
    let mut overlay_hits: Vec<Vec<u8>> = vec![];
    let mut tombstoned: Vec<Vec<u8>> = vec![];
    if with_overlay {
        for p in paths.iter().step_by(7) {
            ix.set(p, 2);
            overlay_hits.push(p.clone());
        }
        for i in 0..50 {
            let p = format!("/root/new/{i}").into_bytes();
            ix.set(&p, 3);
            overlay_hits.push(p);
        }
        ix.remove_subtree(b"/root/d3").unwrap();
        tombstoned.extend(
            paths
                .iter()
                .filter(|p| p.starts_with(b"/root/d3/"))
                .cloned(),
        );
        overlay_hits.retain(|p| !p.starts_with(b"/root/d3/"));
        assert!(ix.overlay_len() > 0 && !tombstoned.is_empty());
    }
    let misses: Vec<Vec<u8>> = paths
        .iter()
        .take(500)
        .map(|p| {
            let mut m = p.clone();
            m.push(b'x');
            m
        })
        .chain([b"".to_vec(), b"/".to_vec(), b"\xff".to_vec()])
        .collect();

    // Pread mode reads the whole file for a view (outside the measurement);
    // lookups there keep using positioned reads only if no view was taken.
    let view = if load == Load::Pread {
        Err(())
    } else {
        Ok(ix.view().unwrap())
    };
    let mut found = 0usize;
    let n = allocations(|| {
        for p in &paths {
            found += usize::from(black_box(ix.lookup(black_box(p))).unwrap().is_some());
        }
        for p in &misses {
            assert!(black_box(ix.lookup(black_box(p))).unwrap().is_none());
        }
        for p in &overlay_hits {
            assert!(black_box(ix.lookup(black_box(p))).unwrap().is_some());
        }
        for p in &tombstoned {
            assert!(black_box(ix.lookup(black_box(p))).unwrap().is_none());
        }
        // The pure view too.
        if let Ok(base) = &view {
            for p in paths.iter().take(100) {
                found += usize::from(black_box(base.get(black_box(p))).unwrap().is_some());
            }
        }
    });
    assert_eq!(n, 0, "lookups allocated {n} times");
    let view_hits = if view.is_ok() { 100 } else { 0 };
    assert_eq!(found, paths.len() - tombstoned.len() + view_hits);
}

#[test]
fn probe_table_lookups_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IndexOptions::new(dir.path().join("data.mmap"));
    opts.access = disktracker::IndexAccess::LongRunning;
    let paths: Vec<Vec<u8>> = (0..70_000u32)
        .map(|i| format!("/root/d{}/e{}/f{i}", i % 17, i % 101).into_bytes())
        .collect();
    MmapIndex::create(&opts, paths.iter().map(|p| (p.as_slice(), 1u64))).unwrap();
    let ix = MmapIndex::open(&opts).unwrap();
    // Building the table allocates (once); the lookups after it must not.
    assert!(ix.prepare_probe_table());
    let mut found = 0usize;
    let n = allocations(|| {
        for p in &paths {
            found += usize::from(black_box(ix.lookup(black_box(p))).unwrap().is_some());
            let mut miss = [0u8; 64];
            miss[..p.len()].copy_from_slice(p);
            miss[p.len()] = b'x';
            assert!(
                black_box(ix.lookup(black_box(&miss[..=p.len()])))
                    .unwrap()
                    .is_none()
            );
        }
    });
    assert_eq!(n, 0, "lookups through the probe table allocated {n} times");
    assert_eq!(found, paths.len());
}
