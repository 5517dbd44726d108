//! Fuzzes `IndexView::parse` and every read path over arbitrary bytes.
//!
//! Input layout: byte 0 = length `k` of a probe area, the next `k` bytes are
//! probe paths separated by NUL, the rest is the index file. The same
//! properties as the proptest in `tests/fuzz.rs`: nothing panics, and bytes
//! that pass `verify` behave like a valid index.
#![no_main]

use disktracker_index_mmap::{IndexView, format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let (probe_area, bytes) = rest.split_at((k as usize).min(rest.len()));
    let Ok(view) = IndexView::parse(bytes) else {
        return;
    };
    for probe in probe_area.split(|&b| b == 0) {
        let _ = view.get(probe);
        let _ = view.find(probe);
    }
    for i in 0..view.len().saturating_add(2) {
        let _ = view.entry(i);
    }
    let entries: Vec<(&[u8], u64)> = view.iter().collect();
    if view.verify().is_ok() {
        assert_eq!(entries.len(), view.len());
        for (i, (p, n)) in entries.iter().enumerate() {
            assert_eq!(view.get(p), Some(*n));
            assert_eq!(view.find(p), Some(i));
        }
        let again = format::encode(entries.iter().copied()).expect("valid entries re-encode");
        let reparsed = IndexView::parse(&again).expect("re-encoded bytes parse");
        assert!(reparsed.iter().eq(entries.iter().copied()));
    }
});
