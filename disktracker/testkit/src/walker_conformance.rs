//! Conformance checks every Walker must pass, and the helpers the walker
//! crates' own tests share: walk and aggregate, read a tree back in the
//! oracle's shape, and compare with the independent oracle and with `du`,
//! naming the differing directories on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;

use disktracker::path::escape_bytes;
use disktracker::registry::Plugin as _;
use disktracker::{DirStats, WalkContext, WalkOptions, Walker, registry};
use disktracker_engine::ScanTree;

use crate::oracle::{self, Expected, Oracle};

/// Creates the registered walker `name`; panics if it is not linked in.
pub fn walker(name: &str) -> Box<dyn Walker> {
    let plugin = registry::walkers()
        .and_then(|w| w.get(name))
        .unwrap_or_else(|e| panic!("walker {name}: {e}"));
    (plugin.create)(&plugin.default_settings().expect("valid default settings"))
        .expect("the walker is created")
}

/// Walks `root` with `walker` on `threads` threads, the other options as
/// `tweak` sets them, and aggregates. Panics if the walk or the aggregation
/// fails: these are tests.
pub fn scan(
    walker: &dyn Walker,
    root: &Path,
    threads: usize,
    tweak: impl FnOnce(&mut WalkOptions),
) -> ScanTree {
    let mut opts = WalkOptions::with_threads(threads);
    tweak(&mut opts);
    let out = walker
        .walk(root, &opts, &WalkContext::default())
        .expect("walk succeeds");
    ScanTree::from_walk(out).expect("aggregation succeeds")
}

/// Every directory's numbers in the oracle's shape, by absolute path.
pub fn totals(tree: &ScanTree) -> BTreeMap<Vec<u8>, Expected> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id).to_vec(), Expected::from(tree.stats(id))))
        .collect()
}

/// Every directory's full record (identity, mtime, fingerprint too), by path.
pub fn records(tree: &ScanTree) -> BTreeMap<Vec<u8>, DirStats> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id).to_vec(), *tree.stats(id)))
        .collect()
}

/// Asserts two per-path maps are equal, naming the first differences
/// (a plain `assert_eq!` on thousands of directories is unreadable).
#[track_caller]
pub fn assert_same<T: PartialEq + Debug>(
    what: &str,
    got: &BTreeMap<Vec<u8>, T>,
    want: &BTreeMap<Vec<u8>, T>,
) {
    if got == want {
        return;
    }
    let mut msgs = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => msgs.push(format!("missing {}", escape_bytes(path))),
            Some(g) if g != w => msgs.push(format!(
                "{}:\n   got {g:?}\n  want {w:?}",
                escape_bytes(path)
            )),
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|k| !want.contains_key(*k)) {
        msgs.push(format!("unexpected {}", escape_bytes(path)));
    }
    let n = msgs.len();
    msgs.truncate(12);
    panic!(
        "{what}: {n} differences (first {}):\n{}",
        msgs.len(),
        msgs.join("\n")
    );
}

/// Asserts that the set of directories and every directory's numbers
/// (errors included) equal the oracle's.
#[track_caller]
pub fn assert_matches_oracle(tree: &ScanTree, oracle: &Oracle) {
    assert_same("oracle", &totals(tree), &oracle.dirs);
}

/// Asserts that the walk's directories and recursive totals equal what
/// `du -B1` and `du -B1 --apparent-size` (with `extra` arguments, such as
/// `-x`) print, leaving out the directories in `except` on both sides (pass
/// an oracle's `order_dependent`, where `du` disagrees with the first-path
/// rule by design). Returns how many directories were compared.
#[track_caller]
pub fn assert_matches_du(
    tree: &ScanTree,
    root: &Path,
    extra: &[&str],
    except: &BTreeSet<Vec<u8>>,
) -> usize {
    let got = totals(tree);
    let mut compared = 0;
    for apparent in [false, true] {
        let got: BTreeMap<_, _> = got
            .iter()
            .filter(|(k, _)| !except.contains(*k))
            .map(|(k, e)| {
                let total = if apparent {
                    e.total_apparent
                } else {
                    e.total_bytes
                };
                (k.clone(), total)
            })
            .collect();
        let mut want = oracle::du(root, apparent, extra);
        want.retain(|k, _| !except.contains(k));
        let what = if apparent {
            "du -B1 --apparent-size"
        } else {
            "du -B1"
        };
        assert_same(what, &got, &want);
        compared = got.len();
    }
    compared
}
