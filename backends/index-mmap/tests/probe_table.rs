//! The probe table (a hash table built lazily for large indexes) must give
//! exactly the answers of the plain binary search: on hits, near misses and
//! junk, with an overlay, across compaction, and when built by the lookup
//! counter; and it must never be built over a file that is not sorted.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use disktracker::{ErrorKind, IndexAccess, IndexOptions};
use disktracker_index_mmap::{Load, MmapIndex, PROBE_TABLE_AFTER_LOOKUPS};
use disktracker_testkit::rng::Rng;

/// ~80k paths in a deep tree whose siblings share long prefixes, with names
/// around the `-` `.` `/` `0` ordering trap, non-UTF-8 bytes, and names
/// longer than a cache line.
fn tree(n: usize) -> Vec<Vec<u8>> {
    let long = "a-very-long-directory-name-that-outlasts-any-key-window-".repeat(2);
    let names: Vec<Vec<u8>> = [
        "src",
        "src-old",
        "src.bak",
        "a",
        "a-",
        "a.",
        "a0",
        "node_modules",
        "l\u{e9}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([b"\xff\xfe".to_vec(), long.clone().into_bytes()])
    .collect();
    let mut rng = Rng::new(0xFE11CE);
    let mut v: Vec<Vec<u8>> = vec![b"/r".to_vec()];
    let mut seen = std::collections::HashSet::new();
    while v.len() < n {
        let parent = v[rng.below(v.len())].clone();
        if parent.len() > 900 {
            continue;
        }
        let mut child = parent;
        child.push(b'/');
        child.extend_from_slice(&names[rng.below(names.len())]);
        if rng.below(3) == 0 {
            child.extend_from_slice(format!("{}", rng.below(12)).as_bytes());
        }
        if seen.insert(child.clone()) {
            v.push(child);
        }
    }
    v
}

fn probes(paths: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = vec![
        b"".to_vec(),
        b"/".to_vec(),
        b"/r".to_vec(),
        b"/q".to_vec(),
        b"/s".to_vec(),
        b"\x00".to_vec(),
        b"\xff\xff".to_vec(),
    ];
    for p in paths {
        out.push(p.clone());
        for tail in [&b"/"[..], b"-", b"~", b"\x00", b"/a"] {
            let mut m = p.clone();
            m.extend_from_slice(tail);
            out.push(m);
        }
        out.push(p[..p.len() - 1].to_vec());
        let mut d = p.clone();
        *d.last_mut().unwrap() ^= 1;
        out.push(d);
    }
    out
}

/// Long-running access: a one-shot (pread) reader never builds a table.
fn opts(dir: &tempfile::TempDir) -> IndexOptions {
    let mut o = IndexOptions::new(dir.path().join("data.mmap"));
    o.access = IndexAccess::LongRunning;
    o
}

#[test]
fn table_lookups_equal_plain_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(80_000);
    let o = opts(&dir);
    MmapIndex::create(&o, paths.iter().enumerate().map(|(i, p)| (p, i as u64))).unwrap();
    for load in [Load::Map, Load::Read] {
        let table = MmapIndex::open_with(&o, load).unwrap();
        assert!(table.prepare_probe_table());
        assert!(table.has_probe_table());
        let plain = MmapIndex::open_with(&o, load).unwrap();
        plain.disable_probe_table();
        let mut hits = 0;
        for q in probes(&paths) {
            let want = plain.lookup(&q).unwrap();
            assert_eq!(
                table.lookup(&q).unwrap(),
                want,
                "{:?}",
                String::from_utf8_lossy(&q)
            );
            hits += usize::from(want.is_some());
        }
        assert!(hits >= paths.len());
        assert!(!plain.has_probe_table());
    }
}

#[test]
fn the_lookup_counter_builds_the_table_and_compaction_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(70_000);
    let o = opts(&dir);
    let mut ix =
        MmapIndex::create(&o, paths.iter().enumerate().map(|(i, p)| (p, i as u64))).unwrap();
    let mut model: BTreeMap<Vec<u8>, u64> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u64))
        .collect();
    for k in 0..PROBE_TABLE_AFTER_LOOKUPS as usize - 1 {
        let p = &paths[k % paths.len()];
        assert_eq!(ix.lookup(p).unwrap(), model.get(p).copied());
    }
    assert!(!ix.has_probe_table(), "built too early");
    assert_eq!(ix.lookup(&paths[0]).unwrap(), Some(0));
    assert!(ix.has_probe_table(), "not built at the threshold");

    // Overlay changes on top of the base with a table.
    let gone = paths[1234].clone();
    ix.remove_subtree(&gone).unwrap();
    let prefix = [gone.as_slice(), b"/"].concat();
    model.retain(|p, _| *p != gone && !p.starts_with(&prefix));
    for (k, p) in paths.iter().enumerate().step_by(97) {
        ix.set(p, 7 + k as u64);
        model.insert(p.clone(), 7 + k as u64);
    }
    ix.set(b"/r/new", 1);
    model.insert(b"/r/new".to_vec(), 1);
    let check = |ix: &MmapIndex| {
        for p in paths.iter().chain([&b"/r/new".to_vec()]) {
            assert_eq!(ix.lookup(p).unwrap(), model.get(p).copied(), "{p:?}");
        }
    };
    check(&ix);
    assert!(ix.has_probe_table());

    ix.compact().unwrap();
    assert!(
        !ix.has_probe_table(),
        "a table over the old file survived compaction"
    );
    check(&ix);
    assert!(ix.prepare_probe_table());
    check(&ix);
}

#[test]
fn the_option_off_keeps_the_binary_search() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(70_000);
    let mut o = opts(&dir);
    o.probe_table = false;
    let mut ix =
        MmapIndex::create(&o, paths.iter().enumerate().map(|(i, p)| (p, i as u64))).unwrap();
    for k in 0..PROBE_TABLE_AFTER_LOOKUPS as usize + 10 {
        assert_eq!(
            ix.lookup(&paths[k % paths.len()]).unwrap(),
            Some((k % paths.len()) as u64)
        );
    }
    assert!(!ix.has_probe_table(), "built although the option is off");
    assert!(!ix.prepare_probe_table());
    ix.set(b"/r/x", 1);
    ix.compact().unwrap();
    assert!(!ix.prepare_probe_table(), "compaction forgot the option");
    assert_eq!(ix.lookup(b"/r/x").unwrap(), Some(1));
}

#[test]
fn small_indexes_get_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(1000);
    let o = opts(&dir);
    let ix = MmapIndex::create(&o, paths.iter().map(|p| (p, 1u64))).unwrap();
    assert!(!ix.prepare_probe_table());
    for _ in 0..PROBE_TABLE_AFTER_LOOKUPS + 10 {
        assert_eq!(ix.lookup(&paths[5]).unwrap(), Some(1));
    }
    assert!(!ix.has_probe_table());
}

/// Scribbled files: a table is built exactly when the file passes the full
/// check (bounds, contiguity, strict order), and then answers as the binary
/// search; otherwise building it reports the corruption, and so does every
/// lookup after.
#[test]
fn a_table_is_built_only_over_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(70_000);
    let o = opts(&dir);
    MmapIndex::create(&o, paths.iter().map(|p| (p, 1u64))).unwrap();
    let clean = std::fs::read(&o.path).unwrap();
    let n = paths.len();
    let pool = 20 + 16 * n;
    let (mut built, mut refused) = (0, 0);
    for seed in 1..40u64 {
        let mut rng = Rng::new(seed);
        let mut bytes = clean.clone();
        // One pool byte (may or may not break the order), and on every
        // third seed one entry's offset or length (out of bounds or not).
        let at = pool + rng.below(bytes.len() - pool);
        bytes[at] = rng.next_u64() as u8;
        if seed % 3 == 0 {
            let at = 20 + 16 * rng.below(n) + rng.below(8);
            bytes[at] = rng.next_u64() as u8;
        }
        std::fs::write(&o.path, &bytes).unwrap();
        let table = match MmapIndex::open_with(&o, Load::Read) {
            Ok(ix) => ix,
            Err(e) => {
                // The root entry was hit: refused at open.
                assert_eq!(e.kind(), ErrorKind::Corrupt, "seed {seed}: {e}");
                refused += 1;
                continue;
            }
        };
        let valid = table.verify().is_ok();
        assert_eq!(table.prepare_probe_table(), valid, "seed {seed}");
        if !valid {
            refused += 1;
            let err = table.lookup(&paths[0]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "seed {seed}: {err}");
            continue;
        }
        built += 1;
        let plain = MmapIndex::open_with(&o, Load::Read).unwrap();
        plain.disable_probe_table();
        for q in probes(&paths[..3000]) {
            assert_eq!(
                table.lookup(&q).unwrap(),
                plain.lookup(&q).unwrap(),
                "seed {seed}: {q:?}"
            );
        }
    }
    assert!(built > 0 && refused > 0, "built {built}, refused {refused}");
}
