//! Behaviour of the index on real files, in each way of reading them
//! (positioned reads, mapped, loaded): round trips, overlay and tombstone
//! semantics, compaction against a model, bad files, and the registry.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use disktracker::{ErrorKind, IndexOptions};
use disktracker_index_mmap::{Load, MmapIndex, format, lock_path_for};
use disktracker_testkit::rng::Rng;
use proptest::prelude::*;
use rstest::rstest;

fn opts(path: &Path) -> IndexOptions {
    IndexOptions::new(path)
}

fn index_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data.mmap")
}

/// The names in the index's directory: after any write, exactly the index
/// and its lock file (no temporary file left behind).
fn dir_names(dir: &tempfile::TempDir) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const ONLY_INDEX_AND_LOCK: [&str; 2] = ["data.mmap", "data.mmap.lock"];

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
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
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
    assert_eq!(index.load(), load);
    index.verify().unwrap();
    assert_eq!(index.len(), model.len());
    assert_eq!(index.root(), b"/");

    for (p, n) in &model {
        assert_eq!(
            index.lookup(p).unwrap(),
            Some(*n),
            "{:?}",
            String::from_utf8_lossy(p)
        );
        for miss in near_misses(p) {
            assert_eq!(
                index.lookup(&miss).unwrap(),
                model.get(&miss).copied(),
                "{miss:?}"
            );
        }
    }
    for miss in [&b""[..], b"\x00", b"\xff\xff\xff", b"/zzzz", b"relative"] {
        assert_eq!(index.lookup(miss).unwrap(), None);
    }
    let all: Vec<(Vec<u8>, u64)> = index
        .iter()
        .unwrap()
        .map(|(p, n)| (p.to_vec(), n))
        .collect();
    let want: Vec<(Vec<u8>, u64)> = model.into_iter().collect();
    assert_eq!(all, want);
    // File size is exactly header + entries + pool.
    let pool: usize = want.iter().map(|(p, _)| p.len()).sum();
    assert_eq!(
        fs::metadata(&path).unwrap().len() as usize,
        20 + 16 * want.len() + pool
    );
    assert_eq!(dir_names(&dir), ONLY_INDEX_AND_LOCK);
}

/// An index is written from a snapshot, which always holds its root: an
/// index with no entries is never written, and a file claiming none is
/// corrupt (before, it opened and answered "not indexed" for everything).
#[rstest]
fn an_index_without_entries_is_never_written_nor_accepted(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let err = MmapIndex::create(&opts(&path), Vec::<(Vec<u8>, u64)>::new()).unwrap_err();
    assert!(err.to_string().contains("at least one path"), "{err}");
    assert!(!path.exists());
    assert_eq!(dir_names(&dir), ["data.mmap.lock"]);

    let mut bytes = format::MAGIC.to_vec();
    bytes.extend_from_slice(&format::VERSION.to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    fs::write(&path, &bytes).unwrap();
    let err = MmapIndex::open_with(&opts(&path), load).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("no entries"), "{err}");

    // Removing every path leaves nothing to write: compaction refuses and
    // keeps the pending changes; the file is untouched.
    MmapIndex::create(&opts(&path), [(b"/r", 1u64)]).unwrap();
    let mut ix = MmapIndex::open_with(&opts(&path), load).unwrap();
    ix.remove_subtree(b"/r").unwrap();
    assert_eq!(ix.lookup(b"/r").unwrap(), None);
    let err = ix.compact().unwrap_err();
    assert!(err.to_string().contains("at least one path"), "{err}");
    assert_eq!(ix.overlay_len(), 1);
    assert_eq!(
        MmapIndex::open(&opts(&path))
            .unwrap()
            .lookup(b"/r")
            .unwrap(),
        Some(1)
    );
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
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
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
    assert_eq!(ix.lookup(b"/r/a/b").unwrap(), Some(31));
    assert_eq!(ix.lookup(b"/r/a/new").unwrap(), Some(7));
    assert_eq!(ix.overlay_len(), 4);
    if compact_between {
        ix.compact().unwrap();
        assert_eq!(ix.overlay_len(), 0);
    }

    ix.remove_subtree(b"/r/a").unwrap();
    for gone in [
        &b"/r/a"[..],
        b"/r/a/b",
        b"/r/a/b/c",
        b"/r/a/z",
        b"/r/a/new",
        b"/r/a/new/deeper",
    ] {
        assert_eq!(
            ix.lookup(gone).unwrap(),
            None,
            "{}",
            String::from_utf8_lossy(gone)
        );
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
            ix.lookup(kept).unwrap(),
            Some(n),
            "{}",
            String::from_utf8_lossy(kept)
        );
    }

    // A later set inside the deleted subtree revives that path only.
    ix.set(b"/r/a/b", 9);
    assert_eq!(ix.lookup(b"/r/a/b").unwrap(), Some(9));
    assert_eq!(ix.lookup(b"/r/a").unwrap(), None);
    assert_eq!(ix.lookup(b"/r/a/b/c").unwrap(), None);

    let live: Vec<(Vec<u8>, u64)> = ix.iter().unwrap().map(|(p, n)| (p.to_vec(), n)).collect();
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
    let after: Vec<(Vec<u8>, u64)> = ix.iter().unwrap().map(|(p, n)| (p.to_vec(), n)).collect();
    assert_eq!(after, want);
    drop(ix);
    let reopened = MmapIndex::open(&opts(&path)).unwrap();
    let persisted: Vec<(Vec<u8>, u64)> = reopened
        .iter()
        .unwrap()
        .map(|(p, n)| (p.to_vec(), n))
        .collect();
    assert_eq!(persisted, want);
}

#[test]
fn removing_the_root_or_an_absent_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mut ix = MmapIndex::create(&opts(&path), trap_base()).unwrap();
    ix.remove_subtree(b"/nope").unwrap();
    ix.remove_subtree(b"/r/a/b/c/d").unwrap();
    assert_eq!(ix.overlay_len(), 0, "nothing to tombstone");
    // `/r/` with a trailing slash is not `/r`: only paths below it.
    ix.remove_subtree(b"/r/").unwrap();
    assert_eq!(ix.lookup(b"/r").unwrap(), Some(100));
    assert_eq!(ix.lookup(b"/r/a-x").unwrap(), None);
    ix.set(b"/elsewhere", 1);
    ix.remove_subtree(b"/").unwrap();
    assert_eq!(ix.iter().unwrap().count(), 0);
    // Nothing left to write: an index always holds its root.
    assert!(ix.compact().is_err());
    ix.set(b"/elsewhere", 2);
    ix.compact().unwrap();
    assert_eq!(ix.len(), 1);
    assert_eq!(ix.root(), b"/elsewhere");
}

#[rstest]
fn rebuild_replaces_everything(#[values(Load::Pread, Load::Map, Load::Read)] load: Load) {
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
    assert_eq!(ix.lookup(b"/r").unwrap(), None);
    assert_eq!(ix.lookup(b"/pending").unwrap(), None);
    assert_eq!(ix.lookup(b"/q/2").unwrap(), Some(4), "last duplicate wins");
    assert_eq!(ix.root(), b"/q");
    assert_eq!(MmapIndex::open(&opts(&path)).unwrap().len(), 2);
}

#[rstest]
fn failed_compaction_keeps_file_and_overlay(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let mut o = opts(&path);
    o.lock_wait = std::time::Duration::from_millis(200);
    let mut ix = MmapIndex::open_with(&o, load).unwrap();
    let before = fs::read(&path).unwrap();
    ix.set(b"/r/new", 1);

    // Another writer holds the lock: this one waits, then gives up clearly.
    let held = fs::File::open(lock_path_for(&path)).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let started = std::time::Instant::now();
    let err = ix.compact().unwrap_err();
    assert!(started.elapsed() >= o.lock_wait, "did not wait");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("another process is writing index") && msg.contains("data.mmap.lock"),
        "{msg}"
    );
    drop(held);

    // A symlink planted as the lock file is not followed.
    fs::remove_file(lock_path_for(&path)).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), lock_path_for(&path)).unwrap();
    let err = ix.compact().unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!dir.path().join("elsewhere").exists());

    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(ix.overlay_len(), 1);
    assert_eq!(ix.lookup(b"/r/new").unwrap(), Some(1));
    // Once the obstacle is gone, the same compaction succeeds.
    fs::remove_file(lock_path_for(&path)).unwrap();
    ix.compact().unwrap();
    assert_eq!(
        MmapIndex::open(&opts(&path))
            .unwrap()
            .lookup(b"/r/new")
            .unwrap(),
        Some(1)
    );
    assert_eq!(dir_names(&dir), ONLY_INDEX_AND_LOCK);
}

/// Temporary files of killed writers (this version's random names, and the
/// fixed name of earlier versions) are removed by the next write; files
/// that merely look similar are not.
#[test]
fn leftovers_of_dead_writers_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let leftovers = [
        "data.mmap.tmp",
        "data.mmap.Ab3dE9fGh1.tmp",
        "data.mmap.0000000000.tmp",
    ];
    let keep = [
        "data.mmap.notes",
        "data.mmap.Ab3dE9fGh.tmp",
        "other.mmap.Ab3dE9fGh1.tmp",
        "data.db",
    ];
    for name in leftovers.iter().chain(&keep) {
        fs::write(dir.path().join(name), b"DSKTRKMM half a file").unwrap();
    }
    let mut ix = MmapIndex::open(&opts(&path)).unwrap();
    assert_eq!(
        ix.lookup(b"/r").unwrap(),
        Some(100),
        "a reader ignores them"
    );
    ix.set(b"/r", 101);
    ix.compact().unwrap();
    let mut want: Vec<String> = keep
        .iter()
        .chain(&ONLY_INDEX_AND_LOCK)
        .map(std::string::ToString::to_string)
        .collect();
    want.sort();
    assert_eq!(dir_names(&dir), want);
    assert_eq!(
        MmapIndex::open(&opts(&path))
            .unwrap()
            .lookup(b"/r")
            .unwrap(),
        Some(101)
    );
}

#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut ix = MmapIndex::create(&opts(&path), trap_base()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&lock_path_for(&path)), 0o600);
    ix.set(b"/r", 1);
    ix.compact().unwrap();
    assert_eq!(mode(&path), 0o600);
}

// ---------------------------------------------------------------- bad files

fn valid_bytes() -> Vec<u8> {
    let base = trap_base();
    format::encode(base.iter().map(|(p, n)| (*p, *n))).unwrap()
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn header_only(count: u32, pool: u32) -> Vec<u8> {
    let mut b = format::MAGIC.to_vec();
    b.extend_from_slice(&format::VERSION.to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(&pool.to_le_bytes());
    b
}

/// The message of a corrupt index: kind, the file, and what happens next.
fn assert_corrupt(err: &disktracker::Error, path: &Path) {
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
    assert!(msg.contains("will be rebuilt"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
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
#[case::no_entries(header_only(0, 0), "no entries")]
#[case::root_outside_the_pool({ let mut b = valid_bytes(); put_u32(&mut b, 24, u32::MAX); b }, "entry 0 points outside the path pool")]
#[case::root_not_at_offset_0({ let mut b = valid_bytes(); put_u32(&mut b, 20, 1); b }, "entry 0's path does not follow")]
#[case::root_not_absolute({ let mut b = valid_bytes(); let at = 20 + 16 * trap_base().len(); b[at] = b'r'; b }, "entry 0's path is not an absolute path")]
fn bad_files_are_corrupt_errors_naming_the_file(
    #[case] bytes: Vec<u8>,
    #[case] problem: &str,
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    fs::write(&path, &bytes).unwrap();
    let err = MmapIndex::open_with(&opts(&path), load).unwrap_err();
    assert_corrupt(&err, &path);
    assert!(err.to_string().contains(problem), "{err}");
}

/// A tree of `n` directories with shared prefixes and the `-` `.` `/` `0`
/// ordering trap; deterministic.
fn generated_tree(n: usize) -> Vec<(Vec<u8>, u64)> {
    let names: [&[u8]; 7] = [b"src", b"src-old", b"src.bak", b"a", b"a0", b"l\xe9", b"x"];
    let mut rng = Rng::new(0xBAD5);
    let mut v = vec![b"/home".to_vec()];
    let mut seen = std::collections::HashSet::new();
    while v.len() < n {
        let mut c = v[rng.below(v.len())].clone();
        c.push(b'/');
        c.extend_from_slice(names[rng.below(names.len())]);
        c.extend_from_slice(format!("{}", rng.below(9)).as_bytes());
        if seen.insert(c.clone()) {
            v.push(c);
        }
    }
    v.sort();
    v.into_iter()
        .enumerate()
        .map(|(i, p)| (p, (i as u64 + 1) * 4096))
        .collect()
}

const TREE: usize = 3000;

/// Byte ranges of a valid index of `TREE` entries: (entries, pool).
fn layout(bytes: &[u8]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let entries = 20..20 + 16 * TREE;
    (entries.clone(), entries.end..bytes.len())
}

fn for_each_entry(bytes: &mut [u8], from: usize, mut f: impl FnMut(usize, &mut [u8])) {
    for i in from..TREE {
        let at = 20 + 16 * i;
        f(i, &mut bytes[at..at + 16]);
    }
}

/// The damage of issue 9, finding 4, done to a valid index of 3,000 paths:
/// `keep_root` spares entry 0 and its path, so the file gets past open and
/// only lookups can see the damage.
fn damage(kind: &str, keep_root: bool) -> Vec<u8> {
    let tree = generated_tree(TREE);
    let mut b = format::encode(tree.iter().map(|(p, n)| (p.as_slice(), *n))).unwrap();
    let (entries, pool) = layout(&b);
    let first = usize::from(keep_root);
    let root_len = tree[0].0.len();
    let mut rng = Rng::new(0xD00D);
    match kind {
        "offsets" => for_each_entry(&mut b, first, |_, e| {
            e[..4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        }),
        "lengths" => for_each_entry(&mut b, first, |_, e| {
            e[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        }),
        "reversed" => {
            let mut recs: Vec<[u8; 16]> = b[entries.clone()]
                .chunks(16)
                .map(|c| c.try_into().unwrap())
                .collect();
            recs[first..].reverse();
            b[entries].copy_from_slice(&recs.concat());
        }
        "shuffled" => {
            let mut recs: Vec<[u8; 16]> = b[entries.clone()]
                .chunks(16)
                .map(|c| c.try_into().unwrap())
                .collect();
            for i in (first + 1..recs.len()).rev() {
                let j = first + rng.below(i + 1 - first);
                recs.swap(i, j);
            }
            b[entries].copy_from_slice(&recs.concat());
        }
        "zeroed_pool" => {
            let from = pool.start + if keep_root { root_len } else { 0 };
            b[from..].fill(0);
        }
        "random_body" => {
            let from = if keep_root { 20 + 16 } else { 20 };
            for (k, byte) in b[from..].iter_mut().enumerate() {
                if !(keep_root && (pool.start..pool.start + root_len).contains(&(from + k))) {
                    *byte = rng.below(256) as u8;
                }
            }
        }
        other => panic!("unknown damage {other}"),
    }
    b
}

/// Every lookup of a damaged file is either the exact answer of the intact
/// file or a `Corrupt` error naming it — never a wrong size, never a wrong
/// "not indexed". Where open accepts the file (the root intact), lookups
/// must actually report the damage, and `verify` must.
#[rstest]
fn damage_inside_the_file_is_reported_not_answered(
    #[values(
        "offsets",
        "lengths",
        "reversed",
        "shuffled",
        "zeroed_pool",
        "random_body"
    )]
    kind: &str,
    #[values(false, true)] keep_root: bool,
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    fs::write(&path, damage(kind, keep_root)).unwrap();
    let tree = generated_tree(TREE);
    let ix = match MmapIndex::open_with(&opts(&path), load) {
        Ok(ix) => ix,
        Err(e) => {
            assert_corrupt(&e, &path);
            assert!(!keep_root, "open should pass with the root intact: {e}");
            return;
        }
    };
    assert!(keep_root, "open accepted a damaged root ({kind})");
    let mut reported = 0;
    for (p, n) in &tree {
        let mut miss = p.clone();
        miss.push(b'~');
        for (q, want) in [(p, Some(*n)), (&miss, None)] {
            match ix.lookup(q) {
                Ok(got) => assert_eq!(got, want, "{kind}: wrong answer for {q:?}"),
                Err(e) => {
                    assert_corrupt(&e, &path);
                    reported += 1;
                }
            }
        }
    }
    assert!(
        reported > tree.len(),
        "{kind}: only {reported} lookups saw it"
    );
    assert_corrupt(&ix.verify().unwrap_err(), &path);
}

/// A flipped bit in every size field (bit 46: +64 TiB) is valid structure:
/// nothing short of a checksum of the bytes can tell. The index must not
/// stand in the way of one: the bytes of the file it opened hash
/// differently, and its identity is the file's.
#[rstest]
fn flipped_size_bits_pass_structure_and_fail_a_checksum(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let tree = generated_tree(TREE);
    let good = format::encode(tree.iter().map(|(p, n)| (p.as_slice(), *n))).unwrap();
    let mut bad = good.clone();
    for_each_entry(&mut bad, 0, |_, e| e[8 + 5] ^= 1 << 6);
    fs::write(&path, &bad).unwrap();
    let ix = MmapIndex::open_with(&opts(&path), load).unwrap();
    ix.verify().unwrap();
    let (p, n) = &tree[7];
    assert_eq!(ix.lookup(p).unwrap(), Some(n ^ (1 << 46)));
    let on_disk = fs::read(&path).unwrap();
    assert_eq!(ix.identity().len, on_disk.len() as u64);
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        (ix.identity().dev, ix.identity().ino),
        (meta.dev(), meta.ino())
    );
    assert_ne!(
        xxhash_rust::xxh3::xxh3_64(&on_disk),
        xxhash_rust::xxh3::xxh3_64(&good)
    );
}

/// A file rewritten in place after it was opened: a pread-mode reader
/// compares the file's status after every lookup; a mapped reader of a
/// truncated file gets an error where it would have died of SIGBUS.
#[rstest]
fn a_file_changed_after_open_is_reported(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
    #[values(false, true)] truncate: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    let tree = generated_tree(TREE);
    MmapIndex::create(&opts(&path), tree.clone()).unwrap();
    let ix = MmapIndex::open_with(&opts(&path), load).unwrap();
    assert_eq!(ix.lookup(&tree[5].0).unwrap(), Some(tree[5].1));
    ix.check_unchanged().unwrap();
    // In place, as `cp other data.mmap` does: same inode, new contents.
    // (After a pause: on kernels without fine-grained timestamps, a rewrite
    // within the same clock tick can keep the times; see the crate docs.)
    std::thread::sleep(std::time::Duration::from_millis(20));
    let other: Vec<(Vec<u8>, u64)> = tree.iter().map(|(p, n)| (p.clone(), n + 1)).collect();
    let other = format::encode(other.iter().map(|(p, n)| (p.as_slice(), *n))).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(0).unwrap();
    if !truncate {
        std::os::unix::fs::FileExt::write_all_at(&f, &other, 0).unwrap();
    }
    drop(f);
    let changed = |e: disktracker::Error| {
        assert_corrupt(&e, &path);
        assert!(
            e.to_string().contains("changed while it was being read"),
            "{e}"
        );
    };
    match (load, truncate) {
        // A private copy: the answers stay those of the file as opened.
        (Load::Read, _) => assert_eq!(ix.lookup(&tree[5].0).unwrap(), Some(tree[5].1)),
        // Reads past the new end fault: caught, no SIGBUS, every lookup fails.
        (Load::Map, true) | (Load::Pread, _) => {
            for (p, _) in tree.iter().step_by(97) {
                changed(ix.lookup(p).unwrap_err());
            }
        }
        // Rewritten to the same length under a mapping: the pages show the
        // new bytes, whole; a long-running reader asks `check_unchanged`.
        (Load::Map, false) => {
            let got = ix.lookup(&tree[5].0).unwrap();
            assert!(got == Some(tree[5].1 + 1), "{got:?}");
        }
    }
    changed(ix.check_unchanged().unwrap_err());
}

/// A writer replacing the index (rename over the name) is not a change in
/// place: a reader that opened the old file keeps answering from it, whole,
/// although unlinking it moved its status-change time.
#[rstest]
fn a_reader_of_a_replaced_file_keeps_its_answers(
    #[values(Load::Pread, Load::Map, Load::Read)] load: Load,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    MmapIndex::create(&opts(&path), trap_base()).unwrap();
    let old = MmapIndex::open_with(&opts(&path), load).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    MmapIndex::create(&opts(&path), [(b"/new", 1u64)]).unwrap();
    old.check_unchanged().unwrap();
    assert_eq!(old.lookup(b"/r/a").unwrap(), Some(50));
    assert_eq!(old.lookup(b"/new").unwrap(), None);
    old.verify().unwrap();
    let new = MmapIndex::open_with(&opts(&path), load).unwrap();
    assert_eq!(new.lookup(b"/new").unwrap(), Some(1));
    assert_ne!(new.identity().ino, old.identity().ino);
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
fn a_fifo_at_the_index_path_does_not_block_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = index_file(&dir);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
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
    ix.verify().unwrap();
    ix.check_unchanged().unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(&path).unwrap();
        let id = ix.identity();
        assert_eq!(
            (id.len, id.dev, id.ino, id.mtime_ns),
            (
                meta.len(),
                meta.dev(),
                meta.ino(),
                meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
            )
        );
    }
    ix.set(b"/c", 3);
    ix.remove_subtree(b"/a").unwrap();
    assert_eq!(ix.overlay_len(), 2);
    ix.compact().unwrap();
    let ix = (plugin.open)(&opts(&path)).unwrap();
    assert_eq!(
        (
            ix.lookup(b"/a").unwrap(),
            ix.lookup(b"/b").unwrap(),
            ix.lookup(b"/c").unwrap()
        ),
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
            ix.lookup(p).unwrap(),
            model.get(p).copied(),
            "path {:?}",
            String::from_utf8_lossy(p)
        );
    }
    let live: Vec<(Vec<u8>, u64)> = ix.iter().unwrap().map(|(p, n)| (p.to_vec(), n)).collect();
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
        initial in proptest::collection::vec((0..156usize, any::<u64>()), 1..60),
        ops in proptest::collection::vec(op(), 1..60),
        load in prop_oneof![Just(Load::Pread), Just(Load::Map), Just(Load::Read)],
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
                    ix.remove_subtree(&u[i]).unwrap();
                    model_remove(&mut model, &u[i]);
                }
                Op::Compact | Op::CompactAndReopen if model.is_empty() => {
                    // Nothing left to write: refused, changes kept.
                    prop_assert!(ix.compact().is_err());
                }
                Op::Compact | Op::CompactAndReopen => {
                    let before: Vec<Option<u64>> = u.iter().map(|p| ix.lookup(p).unwrap()).collect();
                    ix.compact().unwrap();
                    prop_assert_eq!(ix.overlay_len(), 0);
                    ix.verify().unwrap();
                    prop_assert_eq!(ix.len(), model.len());
                    let after: Vec<Option<u64>> = u.iter().map(|p| ix.lookup(p).unwrap()).collect();
                    prop_assert_eq!(before, after);
                    if matches!(op, Op::CompactAndReopen) {
                        drop(ix);
                        ix = MmapIndex::open_with(&opts(&path), load).unwrap();
                    }
                }
            }
            check(&ix, &model, &u)?;
        }
        if model.is_empty() {
            return Ok(());
        }
        ix.compact().unwrap();
        drop(ix);
        let reopened = MmapIndex::open(&opts(&path)).unwrap();
        reopened.verify().unwrap();
        check(&reopened, &model, &u)?;
    }
}
