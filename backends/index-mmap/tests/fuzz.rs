//! The reader against hostile bytes: arbitrary input, a valid header over
//! random entries, and random mutations of valid files, through both the pure
//! view and real files (mapped and read). Nothing may panic; whatever passes
//! `verify` must behave exactly like a valid index.
//!
//! This is the fuzzer CI always runs (stable toolchain, bounded by the case
//! counts below; raise them with `PROPTEST_CASES=N`). The coverage-guided
//! cargo-fuzz target in `fuzz/` drives the same checks (`check_bytes`) when
//! a nightly toolchain is at hand.

use std::collections::BTreeMap;

use disktracker::IndexOptions;
use disktracker_index_mmap::{IndexView, Load, MmapIndex, format};
use proptest::prelude::*;

/// Exercises every read path of the pure view over `bytes`.
fn check_bytes(bytes: &[u8], probes: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let Ok(view) = IndexView::parse(bytes) else {
        return Ok(());
    };
    for p in probes {
        let _ = view.get(p);
    }
    for i in 0..view.len() + 2 {
        let _ = view.entry(i);
    }
    let entries: Vec<(&[u8], u64)> = view.iter().collect();
    if view.verify().is_ok() {
        // A file that verifies is a real index: every entry is findable, and
        // re-encoding it gives back the same bytes.
        prop_assert_eq!(entries.len(), view.len());
        for (i, (p, n)) in entries.iter().enumerate() {
            prop_assert_eq!(view.get(p), Some(*n));
            prop_assert_eq!(view.find(p), Some(i));
        }
        let again = format::encode(entries.iter().copied()).unwrap();
        let reparsed = IndexView::parse(&again).unwrap();
        prop_assert_eq!(reparsed.iter().collect::<Vec<_>>(), entries);
    }
    Ok(())
}

/// The same bytes through a real file, both load paths, plus the overlay,
/// subtree deletes and compaction.
fn check_file(bytes: &[u8], probes: &[Vec<u8>], load: Load) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmap");
    std::fs::write(&path, bytes).unwrap();
    let opts = IndexOptions::new(path.clone());
    let Ok(mut ix) = MmapIndex::open_with(&opts, load) else {
        return Ok(()); // an error, not a panic: that is all we ask here
    };
    for p in probes {
        let _ = ix.lookup(p);
    }
    let _ = ix.root();
    let valid = ix.verify().is_ok();
    if let Some(p) = probes.first() {
        ix.remove_subtree(p);
        prop_assert_eq!(ix.lookup(p), None);
    }
    if let Some(p) = probes.last() {
        ix.set(p, 42);
        prop_assert_eq!(ix.lookup(p), Some(42));
    }
    let live: BTreeMap<Vec<u8>, u64> = ix.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    let compacted = ix.compact();
    // Compaction succeeds exactly when the base was valid (or there was
    // nothing to do), and then preserves every answer.
    prop_assert_eq!(compacted.is_ok(), valid || ix.overlay_len() == 0);
    if valid {
        ix.verify().unwrap();
        let after: BTreeMap<Vec<u8>, u64> = ix.iter().map(|(p, n)| (p.to_vec(), n)).collect();
        prop_assert_eq!(after, live);
    }
    Ok(())
}

fn probes() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..12),
            prop::sample::select(vec![
                b"/".to_vec(),
                b"/a".to_vec(),
                b"/a/b".to_vec(),
                b"/a-b".to_vec(),
                b"".to_vec(),
            ]),
        ],
        1..8,
    )
}

/// A valid header over `n` random entries and a random pool: bytes that get
/// past `parse` and reach the per-entry bounds checks.
fn hostile_index() -> impl Strategy<Value = Vec<u8>> {
    (0usize..24, prop::collection::vec(any::<u8>(), 0..64)).prop_flat_map(|(n, pool)| {
        let pool_len = pool.len() as u32;
        prop::collection::vec(
            (
                prop_oneof![0..=pool_len + 2, any::<u32>()],
                prop_oneof![0..=pool_len + 2, any::<u32>()],
                any::<u64>(),
            ),
            n,
        )
        .prop_map(move |entries| {
            let mut b = Vec::new();
            b.extend_from_slice(&format::MAGIC);
            b.extend_from_slice(&format::VERSION.to_le_bytes());
            b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            b.extend_from_slice(&pool_len.to_le_bytes());
            for (off, len, total) in entries {
                b.extend_from_slice(&off.to_le_bytes());
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(&total.to_le_bytes());
            }
            b.extend_from_slice(&pool);
            b
        })
    })
}

/// A valid index of random paths, then random byte edits, and sometimes a
/// truncation or extension.
fn mutated_index() -> impl Strategy<Value = Vec<u8>> {
    let paths = prop::collection::btree_map(
        prop::collection::vec(prop::sample::select(b"/ab-.\xff".to_vec()), 0..10),
        any::<u64>(),
        0..20,
    );
    (
        paths,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        prop_oneof![3 => Just(0i32), 1 => -20i32..20],
    )
        .prop_map(|(paths, edits, resize)| {
            let mut b = format::encode(paths.iter().map(|(p, n)| (p.as_slice(), *n))).unwrap();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            let new_len = (b.len() as i64 + i64::from(resize)).max(0) as usize;
            b.resize(new_len, 0xAB);
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), p in probes()) {
        check_bytes(&bytes, &p)?;
        // Mostly rejected at the magic; with it spliced on, the rest is reached.
        let mut spliced = format::MAGIC.to_vec();
        spliced.extend_from_slice(&format::VERSION.to_le_bytes());
        spliced.extend_from_slice(&bytes);
        check_bytes(&spliced, &p)?;
    }

    #[test]
    fn hostile_entries_never_panic(bytes in hostile_index(), p in probes()) {
        check_bytes(&bytes, &p)?;
    }

    #[test]
    fn mutated_files_never_panic(bytes in mutated_index(), p in probes()) {
        check_bytes(&bytes, &p)?;
    }
}

proptest! {
    // Real files: fewer cases, each writes a file and may compact (fsync).
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn hostile_and_mutated_files_never_panic(
        bytes in prop_oneof![hostile_index(), mutated_index()],
        p in probes(),
        load in prop_oneof![Just(Load::Map), Just(Load::Read)],
    ) {
        check_file(&bytes, &p, load)?;
    }
}
