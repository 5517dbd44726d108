//! Fuzzes `IndexView::parse` and every read path over arbitrary bytes.
//!
//! Input layout: byte 0 = length `k` of a probe area, the next `k` bytes are
//! probe paths separated by NUL, the rest is the index file. The same
//! properties as the proptest in `tests/fuzz.rs`: nothing panics, no answer
//! is invented (an answer is an entry with exactly that path and size), and
//! bytes that pass `verify` behave exactly like a valid index.
#![no_main]
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    let entries: Vec<(&[u8], u64)> = view.iter().collect();
    let valid = view.verify().is_ok();
    for probe in probe_area.split(|&b| b == 0) {
        match view.get(probe) {
            Ok(Some(n)) => assert!(entries.iter().any(|(p, m)| *p == probe && *m == n)),
            Ok(None) if valid => assert!(entries.iter().all(|(p, _)| *p != probe)),
            Ok(None) => {}
            Err(e) => assert!(!valid, "a valid file failed a lookup: {e}"),
        }
        let _ = view.find(probe);
    }
    for i in 0..view.len().saturating_add(2) {
        let _ = view.entry(i);
    }
    if valid {
        assert_eq!(entries.len(), view.len());
        for (i, (p, n)) in entries.iter().enumerate() {
            assert_eq!(view.get(p), Ok(Some(*n)));
            assert_eq!(view.find(p), Ok(Some(i)));
        }
        let again = format::encode(entries.iter().copied()).expect("valid entries re-encode");
        assert_eq!(again, bytes, "a valid file is the canonical encoding of its entries");
    }
});
