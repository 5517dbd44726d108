//! The reader against hostile bytes: arbitrary input, a valid header over
//! random entries, and random mutations of valid files, through both the pure
//! view and real files (positioned reads, mapped, loaded). Nothing may panic;
//! no answer may be invented; whatever passes `verify` must behave exactly
//! like a valid index.
//!
//! This is the fuzzer CI always runs (stable toolchain, bounded by the case
//! counts below; raise them with `PROPTEST_CASES=N`). The coverage-guided
//! cargo-fuzz target in `fuzz/` drives the same checks (`check_bytes`) when
//! a nightly toolchain is at hand.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use disktracker::IndexOptions;
use disktracker_index_mmap::{IndexView, Load, MmapIndex, format};
use proptest::prelude::*;

/// Exercises every read path of the pure view over `bytes`.
///
/// Whatever the bytes: no panic, and a lookup that answers `Some(n)` found
/// an entry with exactly that path and size (it never invents one). Bytes
/// that pass `verify` are a real index: every entry is found with its size,
/// every probe not in it is absent, and re-encoding gives the same bytes.
fn check_bytes(bytes: &[u8], probes: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let Ok(view) = IndexView::parse(bytes) else {
        return Ok(());
    };
    let entries: Vec<(&[u8], u64)> = view.iter().collect();
    for p in probes {
        if let Ok(Some(n)) = view.get(p) {
            prop_assert!(
                entries.iter().any(|(q, m)| q == p && *m == n),
                "answered {n} for {p:?}, which no entry holds"
            );
        }
    }
    for i in 0..view.len() + 2 {
        let _ = view.entry(i);
    }
    if view.verify().is_ok() {
        prop_assert_eq!(entries.len(), view.len());
        for (i, (p, n)) in entries.iter().enumerate() {
            prop_assert_eq!(view.get(p), Ok(Some(*n)));
            prop_assert_eq!(view.find(p), Ok(Some(i)));
        }
        for p in probes {
            let want = entries.iter().find(|(q, _)| q == p).map(|(_, n)| *n);
            prop_assert_eq!(view.get(p), Ok(want));
        }
        let again = format::encode(entries.iter().copied()).unwrap();
        prop_assert_eq!(again.as_slice(), bytes);
    }
    Ok(())
}

/// The same bytes through a real file, in each way of reading it, plus the
/// overlay, subtree deletes and compaction. Errors are fine (they name the
/// file); panics and invented answers are not; a valid file answers exactly.
fn check_file(bytes: &[u8], probes: &[Vec<u8>], load: Load) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmap");
    std::fs::write(&path, bytes).unwrap();
    let opts = IndexOptions::new(path.clone());
    let Ok(mut ix) = MmapIndex::open_with(&opts, load) else {
        return Ok(()); // an error, not a panic: that is all we ask here
    };
    let valid = IndexView::parse(bytes).is_ok_and(|v| v.verify().is_ok());
    prop_assert_eq!(ix.verify().is_ok(), valid);
    // Every value the file holds for each path: an invalid file may name a
    // path twice, and a lookup may then find either entry (not invent one).
    let mut truth: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    if let Ok(v) = IndexView::parse(bytes) {
        for (p, n) in v.iter() {
            truth.entry(p.to_vec()).or_default().push(n);
        }
    }
    for p in probes.iter().chain(truth.keys().take(16)) {
        match ix.lookup(p) {
            Ok(got) if valid => {
                prop_assert_eq!(got, truth.get(p).map(|v| v[0]));
            }
            Ok(Some(n)) => prop_assert!(
                truth.get(p).is_some_and(|v| v.contains(&n)),
                "{} for a path the file holds as {:?}",
                n,
                truth.get(p)
            ),
            Ok(None) => {}
            Err(e) => {
                prop_assert!(!valid, "a valid file failed a lookup: {}", e);
                prop_assert!(e.to_string().contains("data.mmap"), "{}", e);
            }
        }
    }
    let _ = ix.root();
    if let Some(p) = probes.first() {
        match ix.remove_subtree(p) {
            Ok(()) => match ix.lookup(p) {
                Ok(got) => prop_assert_eq!(got, None),
                Err(e) => prop_assert!(!valid, "{}", e),
            },
            Err(e) => prop_assert!(!valid, "{}", e),
        }
    }
    if let Some(p) = probes.last() {
        ix.set(p, 42);
        prop_assert_eq!(ix.lookup(p).ok(), Some(Some(42)));
    }
    let Ok(iter) = ix.iter() else {
        prop_assert!(!valid);
        prop_assert!(ix.compact().is_err());
        return Ok(());
    };
    let live: BTreeMap<Vec<u8>, u64> = iter.map(|(p, n)| (p.to_vec(), n)).collect();
    let absolute = live.keys().all(|p| p.first() == Some(&b'/'));
    let compacted = ix.compact();
    // Compaction succeeds exactly when there is something (absolute) to
    // write, and then preserves every answer.
    prop_assert_eq!(
        compacted.is_ok(),
        ix.overlay_len() == 0 || (!live.is_empty() && absolute)
    );
    if compacted.is_ok() {
        ix.verify().unwrap();
        let after: BTreeMap<Vec<u8>, u64> =
            ix.iter().unwrap().map(|(p, n)| (p.to_vec(), n)).collect();
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
    // Pools mostly of path bytes, so entries often pass the root and
    // absolute-path checks and reach the deeper ones.
    let pool = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop::sample::select(b"//ab-.\xff".to_vec()), 1..64)
            .prop_map(|tail| [b"/".as_slice(), &tail].concat()),
    ];
    (0usize..24, pool).prop_flat_map(|(n, pool)| {
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
        prop::collection::vec(prop::sample::select(b"/ab-.\xff".to_vec()), 0..10)
            .prop_map(|tail| [b"/".as_slice(), &tail].concat()),
        any::<u64>(),
        1..20,
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
        load in prop_oneof![Just(Load::Pread), Just(Load::Map), Just(Load::Read)],
    ) {
        check_file(&bytes, &p, load)?;
    }
}
