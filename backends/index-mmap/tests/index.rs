//! Behaviour of the index on real files: round trips, overlay and tombstone
//! semantics, compaction against a model, bad files, and the registry.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use disktracker::{ErrorKind, IndexOptions};
use disktracker_index_mmap::{Load, MmapIndex, format, tmp_path_for};
use disktracker_testkit::rng::Rng;
use proptest::prelude::*;
use rstest::rstest;

fn opts(path: &Path) -> IndexOptions {
    IndexOptions::new(path)
}

fn index_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data.mmap")
}

/// Paths that stress the ordering and byte handling: `-` and `.` sort before
/// `/`, `0` right after it; non-UTF-8 bytes; very deep and very long paths.
fn tricky_paths() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"/"[..],
        b"/a",
        b"/a-b",
        b"/a.b",
        b"/a/b",
        b"/a/b/c",
        b"/a0",
        b"/a b",
        b"/\xff\xfe",
        b"/\xff\xfe/\x80x",
        b"/caf\xc3\xa9",
        b"/caf\xe9",
        b"/a/b-c",
        b"/a/b.c",
        b"/a/b/",
        b"/z\n\t",
    ]
    .iter()
    .map(|p| p.to_vec())
    .collect();
    let mut deep = b"/deep".to_vec();
    for i in 0..300 {
        deep.extend_from_slice(format!("/d{i}").as_bytes());
        v.push(deep.clone());
    }
    let mut long = b"/long/".to_vec();
    long.extend(std::iter::repeat_n(b'x', 8000));
    v.push(long);
    // A generated tree of a few thousand directories with shared prefixes.
    let mut rng = Rng::new(0x5eed);
    let names: [&[u8]; 8] = [
        b"src", b"src-old", b"src.bak", b"lib", b"l\xe9", b"0", b"a", b"a-",
    ];
    let mut frontier = vec![b"/t".to_vec()];
    while v.len() < 4000 {
        let parent = frontier[rng.below(frontier.len())].clone();
        let mut child = parent.clone();
        child.push(b'/');
        child.extend_from_slice(names[rng.below(names.len())]);
        child.extend_from_slice(format!("{}", rng.below(20)).as_bytes());
        frontier.push(child.clone());
        v.push(child);
    }
    v
}

/// Variants of a path that are absent unless they happen to be in the set.
fn near_misses(p: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut a = p.to_vec();
    a.push(b'/');
    out.push(a);
    let mut b = p.to_vec();
    b.push(b'-');
    out.push(b);
    let mut c = p.to_vec();
    c.push(0);
    out.push(c);
    if !p.is_empty() {
        out.push(p[..p.len() - 1].to_vec());
        let mut d = p.to_vec();
        let last = d.len() - 1;
        d[last] = d[last].wrapping_add(1);
        out.push(d);
    }
    out
}

#[rstest]
fn round_trip_finds_every_path_and_misses_the_rest(
    #[values(Load::Map, Load::Read)] load: Load,
    #[values(false, true)] preload: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let paths = tricky_paths();

    // Input in shuffled order, with some paths repeated: the last value wins.
    let mut input: Vec<(Vec<u8>, u64)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), (i as u64) << 20 | 7))
        .collect();
    let mut rng = Rng::new(42);
    for i in (1..input.len()).rev() {
        input.swap(i, rng.below(i + 1));
    }
    for i in 0..50 {
        let p = input[i * 7].0.clone();
        input.push((p, u64::MAX - i as u64));
    }
    let mut model = BTreeMap::new();
    for (p, n) in &input {
        model.insert(p.clone(), *n);
    }

    let mut o = opts(&path);
    o.preload = preload;
    drop(MmapIndex::create(&o, input.clone()).unwrap());
    let index = MmapIndex::open_with(&o, load).unwrap();
    assert_eq!(index.is_mapped(), load == Load::Map);
    assert!(index.map_fallback().is_none());
    index.verify().unwrap();
    assert_eq!(index.len(), model.len());
    assert_eq!(index.root(), Some(&b"/"[..]));

    for (p, n) in &model {
        assert_eq!(
            index.lookup(p),
            Some(*n),
            "{:?}",
            String::from_utf8_lossy(p)
        );
        for miss in near_misses(p) {
            assert_eq!(index.lookup(&miss), model.get(&miss).copied(), "{miss:?}");
        }
    }
    for miss in [&b""[..], b"\x00", b"\xff\xff\xff", b"/zzzz", b"relative"] {
        assert_eq!(index.lookup(miss), None);
    }
    let all: Vec<(Vec<u8>, u64)> = index.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    let want: Vec<(Vec<u8>, u64)> = model.into_iter().collect();
    assert_eq!(all, want);
    // File size is exactly header + entries + pool.
    let pool: usize = want.iter().map(|(p, _)| p.len()).sum();
    assert_eq!(
        fs::metadata(&path).unwrap().len() as usize,
        20 + 16 * want.len() + pool
    );
    assert!(!tmp_path_for(&path).exists());
}

#[rstest]
fn empty_index_round_trips(#[values(Load::Map, Load::Read)] load: Load) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), Vec::<(Vec<u8>, u64)>::new()).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 20);
    let mut index = MmapIndex::open_with(&opts(&path), load).unwrap();
    assert!(index.is_empty());
    assert_eq!(index.root(), None);
    assert_eq!(index.lookup(b"/"), None);
    index.remove_subtree(b"/");
    index.set(b"/x", 1);
    index.compact().unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.lookup(b"/x"), Some(1));
}

/// Base: the P-x trap around `/r/a`. `-` (0x2d) and `.` (0x2e) sort between
/// `/r/a` and `/r/a/…` (`/` is 0x2f), and `0` (0x30) right after them.
fn trap_base() -> Vec<(&'static [u8], u64)> {
    vec![
        (b"/r", 100),
        (b"/r/a", 50),
        (b"/r/a-x", 1),
        (b"/r/a.b", 2),
        (b"/r/a/b", 30),
        (b"/r/a/b/c", 10),
        (b"/r/a/z", 5),
        (b"/r/a0", 3),
        (b"/r/b", 4),
    ]
}

#[rstest]
fn overlay_wins_and_subtree_delete_covers_map_and_overlay(
    #[values(Load::Map, Load::Read)] load: Load,
    #[values(false, true)] compact_between: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let mut ix = MmapIndex::open_with(&opts(&path), load).unwrap();

    // Overlay: update a mapped path, add new ones inside and beside the subtree.
    ix.set(b"/r/a/b", 31);
    ix.set(b"/r/a/new", 7);
    ix.set(b"/r/a/new/deeper", 6);
    ix.set(b"/r/a-y", 8);
    assert_eq!(ix.lookup(b"/r/a/b"), Some(31));
    assert_eq!(ix.lookup(b"/r/a/new"), Some(7));
    assert_eq!(ix.overlay_len(), 4);
    if compact_between {
        ix.compact().unwrap();
        assert_eq!(ix.overlay_len(), 0);
    }

    ix.remove_subtree(b"/r/a");
    for gone in [
        &b"/r/a"[..],
        b"/r/a/b",
        b"/r/a/b/c",
        b"/r/a/z",
        b"/r/a/new",
        b"/r/a/new/deeper",
    ] {
        assert_eq!(ix.lookup(gone), None, "{}", String::from_utf8_lossy(gone));
    }
    for (kept, n) in [
        (&b"/r"[..], 100),
        (b"/r/a-x", 1),
        (b"/r/a-y", 8),
        (b"/r/a.b", 2),
        (b"/r/a0", 3),
        (b"/r/b", 4),
    ] {
        assert_eq!(
            ix.lookup(kept),
            Some(n),
            "{}",
            String::from_utf8_lossy(kept)
        );
    }

    // A later set inside the deleted subtree revives that path only.
    ix.set(b"/r/a/b", 9);
    assert_eq!(ix.lookup(b"/r/a/b"), Some(9));
    assert_eq!(ix.lookup(b"/r/a"), None);
    assert_eq!(ix.lookup(b"/r/a/b/c"), None);

    let live: Vec<(Vec<u8>, u64)> = ix.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    let want: Vec<(Vec<u8>, u64)> = [
        (&b"/r"[..], 100),
        (b"/r/a-x", 1),
        (b"/r/a-y", 8),
        (b"/r/a.b", 2),
        (b"/r/a/b", 9),
        (b"/r/a0", 3),
        (b"/r/b", 4),
    ]
    .iter()
    .map(|(p, n)| (p.to_vec(), *n))
    .collect();
    assert_eq!(live, want);

    ix.compact().unwrap();
    assert_eq!(ix.overlay_len(), 0);
    ix.verify().unwrap();
    let after: Vec<(Vec<u8>, u64)> = ix.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    assert_eq!(after, want);
    drop(ix);
    let reopened = MmapIndex::open(&opts(&path)).unwrap();
    let persisted: Vec<(Vec<u8>, u64)> = reopened.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    assert_eq!(persisted, want);
}

#[test]
fn removing_the_root_or_an_absent_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut ix = MmapIndex::create(&opts(&path), trap_base()).unwrap();
    ix.remove_subtree(b"/nope");
    ix.remove_subtree(b"/r/a/b/c/d");
    assert_eq!(ix.overlay_len(), 0, "nothing to tombstone");
    // `/r/` with a trailing slash is not `/r`: only paths below it.
    ix.remove_subtree(b"/r/");
    assert_eq!(ix.lookup(b"/r"), Some(100));
    assert_eq!(ix.lookup(b"/r/a-x"), None);
    ix.set(b"/elsewhere", 1);
    ix.remove_subtree(b"/");
    assert_eq!(ix.iter().count(), 0);
    ix.compact().unwrap();
    assert!(ix.is_empty());
}

#[rstest]
fn rebuild_replaces_everything(#[values(Load::Map, Load::Read)] load: Load) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let mut ix = MmapIndex::open_with(&opts(&path), load).unwrap();
    ix.set(b"/pending", 1);
    ix.rebuild(vec![
        (b"/q/2".to_vec(), 2),
        (b"/q".to_vec(), 3),
        (b"/q/2".to_vec(), 4),
    ])
    .unwrap();
    assert_eq!(ix.overlay_len(), 0);
    assert_eq!(ix.lookup(b"/r"), None);
    assert_eq!(ix.lookup(b"/pending"), None);
    assert_eq!(ix.lookup(b"/q/2"), Some(4), "last duplicate wins");
    assert_eq!(ix.root(), Some(&b"/q"[..]));
    assert_eq!(MmapIndex::open(&opts(&path)).unwrap().len(), 2);
}

#[test]
fn failed_compaction_keeps_file_and_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut ix = MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let before = fs::read(&path).unwrap();
    ix.set(b"/r/new", 1);
    // A directory where the temporary file must go makes the write fail
    // before any rename.
    let tmp = tmp_path_for(&path);
    fs::create_dir(&tmp).unwrap();
    fs::write(tmp.join("keep"), b"x").unwrap();
    let err = ix.compact().unwrap_err();
    assert!(err.to_string().contains("data.mmap.tmp"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(ix.overlay_len(), 1);
    assert_eq!(ix.lookup(b"/r/new"), Some(1));
    // Once the obstacle is gone, the same compaction succeeds.
    fs::remove_dir_all(&tmp).unwrap();
    ix.compact().unwrap();
    assert_eq!(
        MmapIndex::open(&opts(&path)).unwrap().lookup(b"/r/new"),
        Some(1)
    );
}

#[test]
fn leftover_tmp_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let tmp = tmp_path_for(&path);
    fs::write(&tmp, b"DSKTRKMM half a file").unwrap();
    let mut ix = MmapIndex::open(&opts(&path)).unwrap();
    assert_eq!(ix.lookup(b"/r"), Some(100));
    ix.set(b"/r", 101);
    ix.compact().unwrap();
    assert!(!tmp.exists());
    assert_eq!(
        MmapIndex::open(&opts(&path)).unwrap().lookup(b"/r"),
        Some(101)
    );
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut ix = MmapIndex::create(&opts(&path), trap_base()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    ix.set(b"/r", 1);
    ix.compact().unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

// ---------------------------------------------------------------- bad files

fn valid_bytes() -> Vec<u8> {
    let base = trap_base();
    format::encode(base.iter().map(|(p, n)| (*p, *n))).unwrap()
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[rstest]
#[case::empty(Vec::new(), "is empty")]
#[case::shorter_than_header(b"DSKTRKMM\x01\x00".to_vec(), "truncated: 10 bytes")]
#[case::wrong_magic({ let mut b = valid_bytes(); b[..8].copy_from_slice(b"SQLite f"); b }, "bad magic")]
#[case::wrong_version({ let mut b = valid_bytes(); put_u32(&mut b, 8, 2); b }, "unsupported format version 2")]
#[case::truncated({ let mut b = valid_bytes(); b.pop(); b }, "(truncated?)")]
#[case::trailing_garbage({ let mut b = valid_bytes(); b.push(0); b }, "length mismatch")]
#[case::count_too_large({ let mut b = valid_bytes(); put_u32(&mut b, 12, u32::MAX); b }, "length mismatch")]
#[case::pool_too_large({ let mut b = valid_bytes(); put_u32(&mut b, 16, u32::MAX); b }, "length mismatch")]
fn bad_files_are_corrupt_errors_naming_the_file(
    #[case] bytes: Vec<u8>,
    #[case] problem: &str,
    #[values(Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    fs::write(&path, &bytes).unwrap();
    let err = MmapIndex::open_with(&opts(&path), load).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
    assert!(msg.contains(problem), "{msg}");
    assert!(
        msg.contains("disktracker scan") && msg.contains("delete it"),
        "{msg}"
    );
}

#[rstest]
#[case::offset_past_pool(0, u32::MAX, None)]
#[case::length_past_pool(4, u32::MAX, None)]
#[case::offset_plus_length_overflows(0, u32::MAX - 1, Some(u32::MAX))]
fn out_of_bounds_entries_read_as_absent_and_block_compaction(
    #[case] field: usize,
    #[case] value: u32,
    #[case] len: Option<u32>,
    #[values(Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut bytes = valid_bytes();
    // Entry 6 ("/r/a/z"): searches for paths before "/r/a/b" (the first
    // probe, entry 4) never reach it; others may, and then miss.
    let e = 20 + 6 * 16;
    put_u32(&mut bytes, e + field, value);
    if let Some(l) = len {
        put_u32(&mut bytes, e + 4, l);
    }
    fs::write(&path, &bytes).unwrap();
    // Open is O(1) and accepts it; every access is bounded.
    let mut ix = MmapIndex::open_with(&opts(&path), load).unwrap();
    for (p, _) in trap_base() {
        let _ = ix.lookup(p); // answers or misses, never panics
    }
    assert_eq!(ix.lookup(b"/r/a/z"), None);
    assert_eq!(ix.lookup(b"/r/a-x"), Some(1));
    assert_eq!(ix.lookup(b"/r/a.b"), Some(2));
    let err = ix.verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(
        err.to_string()
            .contains("entry 6 points outside the path pool"),
        "{err}"
    );
    // Iteration skips it; a subtree delete whose binary search meets it falls
    // back to a linear scan and still hides every readable path below.
    assert_eq!(ix.iter().count(), trap_base().len() - 1);
    ix.remove_subtree(b"/r/a");
    for gone in [&b"/r/a"[..], b"/r/a/b", b"/r/a/b/c", b"/r/a/z"] {
        assert_eq!(ix.lookup(gone), None);
    }
    assert_eq!(ix.lookup(b"/r/a-x"), Some(1));
    assert_eq!(ix.iter().count(), trap_base().len() - 4);
    // Compaction refuses to copy a corrupt base; file and overlay untouched.
    let err = ix.compact().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("pending changes kept"), "{err}");
    assert!(ix.overlay_len() > 0);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(!tmp_path_for(&path).exists());
}

#[test]
fn unsorted_entries_miss_and_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut bytes = valid_bytes();
    // Swap entries 0 and 8 (first and last).
    let (a, b) = (20, 20 + 8 * 16);
    let first: Vec<u8> = bytes[a..a + 16].to_vec();
    bytes.copy_within(b..b + 16, a);
    bytes[b..b + 16].copy_from_slice(&first);
    fs::write(&path, &bytes).unwrap();
    let mut ix = MmapIndex::open(&opts(&path)).unwrap();
    for (p, _) in trap_base() {
        let _ = ix.lookup(p);
    }
    assert_eq!(
        ix.lookup(b"/r/a/b"),
        Some(30),
        "the untouched middle still works"
    );
    let err = ix.verify().unwrap_err();
    assert!(
        err.to_string()
            .contains("not in strictly increasing path order"),
        "{err}"
    );
    ix.set(b"/x", 1);
    assert_eq!(ix.compact().unwrap_err().kind(), ErrorKind::Corrupt);
}

#[test]
fn missing_file_is_not_found_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let err = MmapIndex::open(&opts(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.contains(&*path.to_string_lossy()) && msg.contains("disktracker scan"),
        "{msg}"
    );
}

#[test]
fn a_directory_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    fs::create_dir(&path).unwrap();
    let err = MmapIndex::open(&opts(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn non_utf8_file_names_are_escaped_in_errors() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"d\xffta.mmap"));
    fs::write(&path, b"garbage garbage garbage").unwrap();
    let err = MmapIndex::open(&opts(&path)).unwrap_err();
    assert!(err.to_string().contains("d\\xffta.mmap"), "{err}");
}

// ---------------------------------------------------------------- registry

#[test]
fn registered_as_mmap_and_usable_through_the_trait() {
    let reg = disktracker::registry::indexes().unwrap();
    assert_eq!(reg.names(), ["mmap"]);
    let plugin = reg.get("mmap").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut entries = vec![(&b"/b"[..], 2u64), (&b"/a"[..], 1)].into_iter();
    let mut ix = (plugin.create)(&opts(&path), &mut entries).unwrap();
    assert_eq!(ix.path(), path);
    assert_eq!(ix.root(), Some(&b"/a"[..]));
    assert_eq!(ix.base_len(), 2);
    ix.set(b"/c", 3);
    ix.remove_subtree(b"/a");
    assert_eq!(ix.overlay_len(), 2);
    ix.compact().unwrap();
    let ix = (plugin.open)(&opts(&path)).unwrap();
    assert_eq!(
        (ix.lookup(b"/a"), ix.lookup(b"/b"), ix.lookup(b"/c")),
        (None, Some(2), Some(3))
    );
    let err = (plugin.open)(&opts(&dir.path().join("absent")))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------- model test

/// Paths over a small alphabet chosen to collide on prefixes: `a`, `a-b`,
/// `a.b`, `a0` and a non-UTF-8 name, up to three levels under `/r`.
fn universe() -> Vec<Vec<u8>> {
    let names: [&[u8]; 5] = [b"a", b"a-b", b"a.b", b"a0", b"\xff"];
    let mut out = vec![b"/r".to_vec()];
    let mut level = vec![b"/r".to_vec()];
    for _ in 0..3 {
        let mut next = vec![];
        for p in &level {
            for n in names {
                let mut c = p.clone();
                c.push(b'/');
                c.extend_from_slice(n);
                next.push(c);
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    out // 1 + 5 + 25 + 125 paths
}

#[derive(Clone, Debug)]
enum Op {
    Set(usize, u64),
    RemoveSubtree(usize),
    Compact,
    CompactAndReopen,
}

fn op() -> impl Strategy<Value = Op> {
    let n = universe().len();
    prop_oneof![
        6 => (0..n, any::<u64>()).prop_map(|(i, v)| Op::Set(i, v)),
        3 => (0..n).prop_map(Op::RemoveSubtree),
        1 => Just(Op::Compact),
        1 => Just(Op::CompactAndReopen),
    ]
}

fn model_remove(model: &mut BTreeMap<Vec<u8>, u64>, dir: &[u8]) {
    model.retain(|p, _| {
        !(p.as_slice() == dir || (p.starts_with(dir) && p.get(dir.len()) == Some(&b'/')))
    });
}

fn check(
    ix: &MmapIndex,
    model: &BTreeMap<Vec<u8>, u64>,
    u: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    for p in u {
        prop_assert_eq!(
            ix.lookup(p),
            model.get(p).copied(),
            "path {:?}",
            String::from_utf8_lossy(p)
        );
    }
    let live: Vec<(Vec<u8>, u64)> = ix.iter().map(|(p, n)| (p.to_vec(), n)).collect();
    let want: Vec<(Vec<u8>, u64)> = model.iter().map(|(p, n)| (p.clone(), *n)).collect();
    prop_assert_eq!(live, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random sets and subtree deletes, with compactions and reopens at random
    /// points, always agree with a BTreeMap model; compaction empties the
    /// overlay and leaves a valid file.
    #[test]
    fn lookups_match_a_model_across_compactions(
        initial in proptest::collection::vec((0..156usize, any::<u64>()), 0..60),
        ops in proptest::collection::vec(op(), 1..60),
        load in prop_oneof![Just(Load::Map), Just(Load::Read)],
    ) {
        let u = universe();
        let dir = tempfile::tempdir().unwrap();
        let path = index_file(&dir);
        let mut model = BTreeMap::new();
        for (i, v) in &initial {
            model.insert(u[*i].clone(), *v);
        }
        let entries: Vec<(&[u8], u64)> = initial.iter().map(|(i, v)| (u[*i].as_slice(), *v)).collect();
        drop(MmapIndex::create(&opts(&path), entries).unwrap());
        let mut ix = MmapIndex::open_with(&opts(&path), load).unwrap();
        check(&ix, &model, &u)?;
        for op in ops {
            match op {
                Op::Set(i, v) => {
                    ix.set(&u[i], v);
                    model.insert(u[i].clone(), v);
                }
                Op::RemoveSubtree(i) => {
                    ix.remove_subtree(&u[i]);
                    model_remove(&mut model, &u[i]);
                }
                Op::Compact | Op::CompactAndReopen => {
                    let before: Vec<Option<u64>> = u.iter().map(|p| ix.lookup(p)).collect();
                    ix.compact().unwrap();
                    prop_assert_eq!(ix.overlay_len(), 0);
                    ix.verify().unwrap();
                    prop_assert_eq!(ix.len(), model.len());
                    let after: Vec<Option<u64>> = u.iter().map(|p| ix.lookup(p)).collect();
                    prop_assert_eq!(before, after);
                    if matches!(op, Op::CompactAndReopen) {
                        drop(ix);
                        ix = MmapIndex::open_with(&opts(&path), load).unwrap();
                    }
                }
            }
            check(&ix, &model, &u)?;
        }
        ix.compact().unwrap();
        drop(ix);
        let reopened = MmapIndex::open(&opts(&path)).unwrap();
        reopened.verify().unwrap();
        check(&reopened, &model, &u)?;
    }
}
