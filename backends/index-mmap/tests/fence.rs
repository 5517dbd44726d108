//! The lookup fence (built lazily for large indexes) must give exactly the
//! answers of the plain binary search: on hits, near misses and junk, with
//! an overlay, across compaction, and when built by the lookup counter.

use std::collections::BTreeMap;

use disktracker::{IndexOptions, ReadAdvice};
use disktracker_index_mmap::{FENCE_AFTER_LOOKUPS, Load, MmapIndex};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// ~80k paths in a deep tree whose siblings share long prefixes, with names
/// around the `-` `.` `/` `0` ordering trap, non-UTF-8 bytes, and names
/// longer than the fence's 52-byte key window.
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
    let mut rng = Rng(0xFE11CE);
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

fn opts(dir: &tempfile::TempDir) -> IndexOptions {
    IndexOptions {
        path: dir.path().join("data.mmap"),
        advice: ReadAdvice::Random,
        preload: false,
    }
}

#[test]
fn fenced_lookups_equal_plain_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(80_000);
    let o = opts(&dir);
    MmapIndex::create(&o, paths.iter().enumerate().map(|(i, p)| (p, i as u64))).unwrap();
    for load in [Load::Map, Load::Read] {
        let fenced = MmapIndex::open_with(&o, load).unwrap();
        assert!(fenced.prepare_fence());
        assert!(fenced.has_fence());
        let plain = MmapIndex::open_with(&o, load).unwrap();
        plain.disable_fence();
        let mut hits = 0;
        for q in probes(&paths) {
            let want = plain.lookup(&q);
            assert_eq!(fenced.lookup(&q), want, "{:?}", String::from_utf8_lossy(&q));
            hits += usize::from(want.is_some());
        }
        assert!(hits >= paths.len());
        assert!(!plain.has_fence());
    }
}

#[test]
fn the_lookup_counter_builds_the_fence_and_compaction_drops_it() {
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
    for k in 0..FENCE_AFTER_LOOKUPS as usize - 1 {
        let p = &paths[k % paths.len()];
        assert_eq!(ix.lookup(p), model.get(p).copied());
    }
    assert!(!ix.has_fence(), "built too early");
    assert_eq!(ix.lookup(&paths[0]), Some(0));
    assert!(ix.has_fence(), "not built at the threshold");

    // Overlay changes on top of the fenced base.
    let gone = paths[1234].clone();
    ix.remove_subtree(&gone);
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
            assert_eq!(ix.lookup(p), model.get(p).copied(), "{p:?}");
        }
    };
    check(&ix);
    assert!(ix.has_fence());

    ix.compact().unwrap();
    assert!(
        !ix.has_fence(),
        "a fence over the old file survived compaction"
    );
    check(&ix);
    assert!(ix.prepare_fence());
    check(&ix);
}

#[test]
fn small_indexes_get_no_fence() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(1000);
    let o = opts(&dir);
    let ix = MmapIndex::create(&o, paths.iter().map(|p| (p, 1u64))).unwrap();
    assert!(!ix.prepare_fence());
    for _ in 0..FENCE_AFTER_LOOKUPS + 10 {
        assert_eq!(ix.lookup(&paths[5]), Some(1));
    }
    assert!(!ix.has_fence());
}

#[test]
fn a_fence_over_a_corrupt_file_only_misses() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tree(70_000);
    let o = opts(&dir);
    MmapIndex::create(&o, paths.iter().map(|p| (p, 1u64))).unwrap();
    let clean = std::fs::read(&o.path).unwrap();
    let n = paths.len();
    // Scribble over pool bytes and a few entries' offsets and lengths, with
    // seeds until one leaves the sampled keys in order (else no fence is
    // built and the plain search, tested elsewhere, answers).
    let ix = (1..50u64)
        .find_map(|seed| {
            let mut rng = Rng(seed);
            let mut bytes = clean.clone();
            for _ in 0..20 {
                let at = 20 + 16 * n + rng.below(bytes.len() - 20 - 16 * n);
                bytes[at] = rng.next() as u8;
            }
            for _ in 0..5 {
                let at = 20 + 16 * rng.below(n) + rng.below(8);
                bytes[at] = rng.next() as u8;
            }
            std::fs::write(&o.path, &bytes).unwrap();
            let ix = MmapIndex::open_with(&o, Load::Read).unwrap();
            ix.prepare_fence().then_some(ix)
        })
        .expect("some seed leaves the samples sorted");
    let present: std::collections::HashSet<&[u8]> = ix.iter().map(|(p, _)| p).collect();
    for q in probes(&paths[..5000]) {
        if ix.lookup(&q).is_some() {
            // Whatever it finds is really there.
            assert!(present.contains(q.as_slice()), "{q:?}");
        }
    }
}
