//! `explain` over trees aggregated from synthetic, shuffled walker output,
//! against an explanation computed here from the trees' descriptions.

use std::collections::BTreeMap;

use disktracker::report::{ChangeStatus, ExplainNode};
use disktracker::{DirRecord, SizeKind};
use proptest::prelude::*;

use super::explain_records;
use crate::ScanTree;
use crate::synthetic::{Expected, Tree};

/// Directory records of `t` as the engine aggregates them from a walk
/// spread over `arenas` workers in the order given by `seed`.
fn records(t: &Tree, arenas: usize, seed: u64) -> Vec<DirRecord> {
    let n = t.dirs.len();
    // A permutation of the ids and an arena per id, from the seed.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (i as u64 + 1).wrapping_mul(seed | 1).rotate_left(17));
    let arena_of: Vec<usize> = (0..n).map(|i| (i * 7 + seed as usize) % arenas).collect();
    let link_arena: Vec<usize> = (0..t.links.len()).map(|k| k % arenas).collect();
    let tree = ScanTree::from_walk(t.walk(arenas, &arena_of, &order, &link_arena)).unwrap();
    let mut v: Vec<DirRecord> = (0..tree.len() as u32).map(|i| tree.record(i)).collect();
    // Stores hand them over in path order; the explanation must not care.
    v.reverse();
    v
}

/// The explanation as this test computes it.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    path: Vec<u8>,
    delta: i128,
    direct_delta: i128,
    share_pct: f64,
    status: ChangeStatus,
    children: Vec<Node>,
    other_delta: i128,
    other_count: u64,
}

fn from_engine(n: &ExplainNode, kind: SizeKind) -> Node {
    Node {
        path: n.entry.path.clone(),
        delta: n.entry.delta(kind),
        direct_delta: n.direct_delta,
        share_pct: n.share_pct,
        status: n.status,
        children: n.children.iter().map(|c| from_engine(c, kind)).collect(),
        other_delta: n.other_delta,
        other_count: n.other_count,
    }
}

struct Oracle {
    a: BTreeMap<Vec<u8>, Expected>,
    b: BTreeMap<Vec<u8>, Expected>,
    threshold: f64,
    kind: SizeKind,
}

impl Oracle {
    fn total(&self, side: &BTreeMap<Vec<u8>, Expected>, p: &[u8]) -> i128 {
        side.get(p).map_or(0, |e| {
            i128::from(match self.kind {
                SizeKind::DiskUsage => e.total_bytes,
                SizeKind::Apparent => e.total_apparent,
            })
        })
    }

    fn direct(&self, side: &BTreeMap<Vec<u8>, Expected>, p: &[u8]) -> i128 {
        side.get(p).map_or(0, |e| {
            i128::from(match self.kind {
                SizeKind::DiskUsage => e.direct_bytes,
                SizeKind::Apparent => e.direct_apparent,
            })
        })
    }

    fn delta(&self, p: &[u8]) -> i128 {
        self.total(&self.b, p) - self.total(&self.a, p)
    }

    fn node(&self, p: &[u8], parent: Option<i128>) -> Node {
        let delta = self.delta(p);
        let status = match (self.a.contains_key(p), self.b.contains_key(p)) {
            (true, false) => ChangeStatus::Removed,
            (false, true) => ChangeStatus::Added,
            _ => ChangeStatus::Changed,
        };
        let mut prefix = p.to_vec();
        prefix.push(b'/');
        let mut kids: Vec<(Vec<u8>, i128)> = self
            .a
            .keys()
            .chain(self.b.keys())
            .filter(|c| c.starts_with(&prefix) && !c[prefix.len()..].contains(&b'/'))
            .map(|c| (c.clone(), self.delta(c)))
            .filter(|(_, d)| *d != 0)
            .collect();
        kids.sort();
        kids.dedup();
        let base: u128 = if delta != 0 {
            delta.unsigned_abs()
        } else {
            kids.iter().map(|(_, d)| d.unsigned_abs()).sum()
        };
        let measure = if delta != 0 { delta } else { base as i128 };
        let (mut children, mut other_delta, mut other_count) = (Vec::new(), 0, 0);
        for (c, d) in kids {
            if base > 0 && d.unsigned_abs() as f64 >= self.threshold / 100.0 * base as f64 {
                children.push(self.node(&c, Some(measure)));
            } else {
                other_delta += d;
                other_count += 1;
            }
        }
        children.sort_by(|x: &Node, y: &Node| {
            y.delta
                .unsigned_abs()
                .cmp(&x.delta.unsigned_abs())
                .then_with(|| x.path.cmp(&y.path))
        });
        Node {
            path: p.to_vec(),
            delta,
            direct_delta: self.direct(&self.b, p) - self.direct(&self.a, p),
            share_pct: match parent {
                None => 100.0,
                Some(0) => 0.0,
                Some(m) => delta as f64 * 100.0 / m as f64,
            },
            status,
            children,
            other_delta,
            other_count,
        }
    }
}

/// A node's change is its direct change plus its children's, shown or folded.
fn conserves(n: &Node) -> bool {
    let kids: i128 = n.children.iter().map(|c| c.delta).sum();
    n.direct_delta + kids + n.other_delta == n.delta && n.children.iter().all(conserves)
}

fn by_path(t: &Tree) -> BTreeMap<Vec<u8>, Expected> {
    t.expected()
        .into_iter()
        .map(|e| (e.path.clone(), e))
        .collect()
}

#[test]
fn growth_is_attributed_to_its_contributors() {
    // A: /r/{logs/{old}, src, cache}; B: logs grew by 900 KiB (800 KiB of it
    // in a new logs/new), src grew by 40 KiB, cache is gone, tmp is new.
    let mut a = Tree::new("/r");
    let logs = a.dir(0, "logs", 4096, 1);
    a.dir(logs, "old", 100 * 1024, 3);
    a.dir(0, "src", 20 * 1024, 5);
    a.dir(0, "cache", 64 * 1024, 2);
    let mut b = Tree::new("/r");
    let logs_b = b.dir(0, "logs", 4096 + 100 * 1024, 2);
    b.dir(logs_b, "old", 100 * 1024, 3);
    b.dir(logs_b, "new", 800 * 1024, 9);
    b.dir(0, "src", 60 * 1024, 6);
    b.dir(0, "tmp", 8 * 1024, 1);
    for seed in [1, 2, 3, 99] {
        let node = explain_records(
            records(&a, 3, seed),
            records(&b, 2, seed + 7),
            b"/r",
            10.0,
            SizeKind::DiskUsage,
        )
        .unwrap();
        let got = from_engine(&node, SizeKind::DiskUsage);
        assert_eq!(got.delta, (900 + 40 - 64 + 8) * 1024);
        let kids: Vec<(&[u8], i128)> = got
            .children
            .iter()
            .map(|c| (&c.path[..], c.delta))
            .collect();
        // 10% of 884 KiB is 88.4 KiB: logs alone; src, cache and tmp are folded.
        assert_eq!(kids, [(&b"/r/logs"[..], 900 * 1024)]);
        assert_eq!(
            (got.other_delta, got.other_count),
            ((40 - 64 + 8) * 1024, 3)
        );
        let logs = &got.children[0];
        assert_eq!(logs.direct_delta, 100 * 1024);
        assert_eq!(logs.children.len(), 1, "{logs:?}");
        assert_eq!(logs.children[0].path, b"/r/logs/new");
        assert_eq!(logs.children[0].status, ChangeStatus::Added);
        assert!(conserves(&got));
    }
    assert!(
        explain_records(
            records(&a, 1, 1),
            records(&b, 1, 1),
            b"/elsewhere",
            10.0,
            SizeKind::DiskUsage
        )
        .is_none()
    );
}

prop_compose! {
    /// Two versions of one tree: each directory of a common shape is
    /// present on a side when it and all its ancestors are, with sizes per side.
    fn tree_pairs()(n in 1usize..30)(
        parents in proptest::collection::vec(any::<proptest::sample::Index>(), n - 1),
        present in proptest::collection::vec((any::<bool>(), any::<bool>()), n),
        sizes in proptest::collection::vec((0u64..50_000, 0u64..50_000), n),
        links in proptest::collection::vec((any::<proptest::sample::Index>(), 0u64..4), 0..6),
    ) -> (Tree, Tree) {
        let n = sizes.len();
        let parent = |i: usize| (i > 0).then(|| parents[i - 1].index(i));
        let side = |pick: &dyn Fn(usize) -> bool, size: &dyn Fn(usize) -> u64| {
            let mut t = Tree::new("/r");
            t.dirs[0].bytes = size(0);
            let mut id = vec![None; n];
            id[0] = Some(0);
            for i in 1..n {
                if let Some(p) = parent(i).and_then(|p| id[p]) && pick(i) {
                    id[i] = Some(t.dir(p, &format!("d{i}"), size(i), (i % 3) as u64));
                }
            }
            for (k, (dir, ino)) in links.iter().enumerate() {
                if let Some(d) = id[dir.index(n)] {
                    t.link(d, &format!("l{k}"), 1, *ino);
                }
            }
            t
        };
        let a = side(&|i| present[i].0 || present[i].1, &|i| sizes[i].0);
        let b = side(&|i| present[i].1, &|i| sizes[i].1);
        (a, b)
    }
}

proptest! {
    #[test]
    fn explanations_equal_the_oracle(
        (a, b) in tree_pairs(),
        threshold in 0.0f64..60.0,
        apparent in any::<bool>(),
        at in any::<proptest::sample::Index>(),
        seed in 1u64..1000,
        arenas in 1usize..5,
    ) {
        let kind = if apparent { SizeKind::Apparent } else { SizeKind::DiskUsage };
        let oracle = Oracle { a: by_path(&a), b: by_path(&b), threshold, kind };
        let paths: Vec<Vec<u8>> = oracle.a.keys().cloned().collect();
        let path = paths[at.index(paths.len())].clone();
        let got = explain_records(records(&a, arenas, seed), records(&b, arenas, seed + 1), &path, threshold, kind)
            .expect("the path is in A");
        let got = from_engine(&got, kind);
        prop_assert!(conserves(&got), "{:?}", got);
        prop_assert_eq!(got, oracle.node(&path, None));
    }
}
