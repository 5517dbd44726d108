//! Conformance checks every Walker must pass: its aggregated tree equals the
//! independent oracle, and `du` where `du` is order-independent.

use std::collections::BTreeMap;
use std::path::Path;

use disktracker::{CancelToken, Exclude, Result, WalkContext, WalkOptions, registry};
use disktracker_engine::ScanTree;

use crate::oracle::{self, Expected};

/// Walks `root` with the registered walker `name` and aggregates.
pub fn scan(name: &str, root: &Path, threads: usize, exclude: &[&str]) -> Result<ScanTree> {
    let plugin = registry::walkers()?.get(name)?;
    let walker = (plugin.create)();
    let opts = WalkOptions {
        threads,
        one_file_system: false,
        exclude: Exclude::new(exclude)?,
    };
    let ctx = WalkContext {
        cancel: CancelToken::new(),
        ..WalkContext::default()
    };
    ScanTree::from_walk(walker.walk(root, &opts, &ctx)?)
}

/// The tree's numbers in the oracle's shape.
pub fn as_expected(tree: &ScanTree) -> BTreeMap<Vec<u8>, Expected> {
    (0..tree.len() as u32)
        .map(|id| {
            let s = tree.stats(id);
            let e = Expected {
                total_bytes: s.total_bytes,
                total_apparent: s.total_apparent,
                file_count: s.file_count,
                direct_bytes: s.direct_bytes,
                direct_apparent: s.direct_apparent,
                direct_files: s.direct_files,
                child_count: s.child_count,
            };
            (tree.path(id).to_vec(), e)
        })
        .collect()
}

/// Asserts that every directory's numbers equal the oracle's, and that the
/// set of directories is the same.
pub fn assert_matches_oracle(tree: &ScanTree, oracle: &oracle::Oracle) {
    let got = as_expected(tree);
    let missing: Vec<_> = oracle
        .dirs
        .keys()
        .filter(|k| !got.contains_key(*k))
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !oracle.dirs.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "directory sets differ: missing {:?}, extra {:?}",
        missing
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>(),
        extra
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
    );
    for (path, want) in &oracle.dirs {
        assert_eq!(
            &got[path],
            want,
            "totals of {}",
            String::from_utf8_lossy(path)
        );
    }
}

/// Asserts that every directory whose `du` total does not depend on hard-link
/// traversal order equals `du -B1` and `du -B1 --apparent-size`; returns
/// how many directories were compared.
pub fn assert_matches_du(tree: &ScanTree, root: &Path, oracle: &oracle::Oracle) -> usize {
    let du_bytes = oracle::du(root, false);
    let du_apparent = oracle::du(root, true);
    let got = as_expected(tree);
    let mut compared = 0;
    for (path, e) in &got {
        if oracle.order_dependent.contains(path) {
            continue;
        }
        let p = String::from_utf8_lossy(path);
        assert_eq!(Some(&e.total_bytes), du_bytes.get(path), "du -B1 of {p}");
        assert_eq!(
            Some(&e.total_apparent),
            du_apparent.get(path),
            "du -B1 --apparent-size of {p}"
        );
        compared += 1;
    }
    compared
}
