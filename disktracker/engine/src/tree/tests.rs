//! `ScanTree::from_walk`: it refuses malformed walker output, applies the
//! hard-link first-path rule, and gives the same totals however the
//! directories are spread over workers' arenas and in whatever order.

use disktracker::{DirArena, DirCold, DirHot, DirId, ErrorKind, WalkOutput};
use proptest::prelude::*;

use super::ScanTree;
use crate::synthetic::{Expected, Tree};

fn actual(t: &ScanTree) -> Vec<Expected> {
    (0..t.len() as u32).map(|i| Expected::of(t, i)).collect()
}

fn hot(id: u32, parent: u32) -> DirHot {
    DirHot {
        id,
        parent,
        ..DirHot::default()
    }
}

fn output(arenas: Vec<Vec<(DirHot, &str)>>) -> WalkOutput {
    WalkOutput {
        root: "/r".into(),
        arenas: arenas
            .into_iter()
            .map(|dirs| {
                let mut a = DirArena::default();
                for (h, name) in dirs {
                    a.push(h, name.as_bytes(), DirCold::default());
                }
                a
            })
            .collect(),
    }
}

#[test]
fn malformed_walker_output_is_a_plugin_error_not_a_panic() {
    let none = DirId::NONE.0;
    let cases: Vec<(&str, WalkOutput)> = vec![
        ("no directories", WalkOutput::default()),
        ("empty arenas", output(vec![vec![], vec![]])),
        (
            "id beyond the count",
            output(vec![vec![(hot(0, none), "/r"), (hot(5, 0), "a")]]),
        ),
        (
            "id given twice, in two arenas",
            output(vec![
                vec![(hot(0, none), "/r"), (hot(1, 0), "a")],
                vec![(hot(1, 0), "b")],
            ]),
        ),
        ("root with a parent", output(vec![vec![(hot(0, 0), "/r")]])),
        (
            "second root",
            output(vec![vec![(hot(0, none), "/r"), (hot(1, none), "a")]]),
        ),
        (
            "parent after its child",
            output(vec![vec![
                (hot(0, none), "/r"),
                (hot(1, 2), "a"),
                (hot(2, 0), "b"),
            ]]),
        ),
        (
            "own parent",
            output(vec![vec![(hot(0, none), "/r"), (hot(1, 1), "a")]]),
        ),
        (
            "missing id (a gap)",
            output(vec![vec![(hot(0, none), "/r"), (hot(2, 0), "a")]]),
        ),
    ];
    for (what, out) in cases {
        match ScanTree::from_walk(out) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Plugin, "{what}: {e}"),
        }
    }
}

#[test]
fn a_hard_linked_file_counts_once_in_the_first_full_path() {
    let mut t = Tree::new("/r");
    let a = t.dir(0, "a", 4096, 1);
    let ax = t.dir(0, "a-x", 4096, 0);
    let b = t.dir(0, "b", 4096, 2);
    let deep = t.dir(a, "deep", 4096, 0);
    // File 1: links in /r/a (named z) and /r/a-x (named z). "/r/a-x/z" sorts
    // before "/r/a/z" ('-' < '/'), so /r/a-x owns it although "a" < "a-x".
    t.link(a, "z", 1, 1);
    t.link(ax, "z", 1, 1);
    // File 2: three links; the first full path is /r/a/deep/f.
    t.link(b, "a", 1, 2);
    t.link(deep, "f", 1, 2);
    t.link(a, "zz", 1, 2);
    // File 3: same inode on another device is another file.
    t.link(b, "c", 2, 1);
    let expected = t.expected();
    assert_eq!(expected[ax].direct_files, 1);
    assert_eq!(expected[a].direct_files, 1);
    assert_eq!(expected[deep].direct_files, 1);
    assert_eq!(expected[b].direct_files, 3);
    assert_eq!(expected[0].file_count, 6);

    // Every spread of the links over two workers, in both orders.
    let n = t.dirs.len();
    let order: Vec<usize> = (0..n).rev().collect();
    for mask in 0..(1u32 << t.links.len()) {
        let link_arena: Vec<usize> = (0..t.links.len())
            .map(|k| ((mask >> k) & 1) as usize)
            .collect();
        let arena_of: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let tree = ScanTree::from_walk(t.walk(2, &arena_of, &order, &link_arena)).unwrap();
        assert_eq!(actual(&tree), expected, "links spread as {link_arena:?}");
    }
}

prop_compose! {
    /// A tree of up to 40 directories with hard links among them.
    fn trees()(n in 1usize..40)(
        parents in proptest::collection::vec(any::<proptest::sample::Index>(), n - 1),
        names in proptest::collection::vec(prop_oneof![Just("a"), Just("a-"), Just("a."), Just("b"), Just("\u{e9}")], n - 1),
        sizes in proptest::collection::vec((0u64..100_000, 0u64..50), n),
        links in proptest::collection::vec((any::<proptest::sample::Index>(), 0u64..2, 0u64..6), 0..12),
    ) -> Tree {
        let n = sizes.len();
        let mut t = Tree::new("/r");
        t.dirs[0].bytes = sizes[0].0;
        for i in 1..n {
            // A unique sibling name: the suffix is the id.
            let name = format!("{}{i}", names[i - 1]);
            t.dir(parents[i - 1].index(i), &name, sizes[i].0, sizes[i].1);
        }
        for (k, (dir, dev, ino)) in links.iter().enumerate() {
            t.link(dir.index(n), &format!("l{k}"), *dev, *ino);
        }
        t
    }
}

prop_compose! {
    /// A tree and a way to spread it over 1–4 workers: which arena gets
    /// each directory and each link, and the order they are pushed in.
    fn spread_trees()(t in trees())(
        arenas in 1usize..5,
        arena_of in proptest::collection::vec(0usize..4, t.dirs.len()),
        order in Just((0..t.dirs.len()).collect::<Vec<usize>>()).prop_shuffle(),
        link_arena in proptest::collection::vec(0usize..4, t.links.len()),
        t in Just(t),
    ) -> (Tree, WalkOutput) {
        let out = t.walk(arenas, &arena_of, &order, &link_arena);
        (t, out)
    }
}

proptest! {
    #[test]
    fn totals_equal_the_oracle_whatever_the_spread((t, out) in spread_trees()) {
        let tree = ScanTree::from_walk(out).unwrap();
        prop_assert_eq!(actual(&tree), t.expected());
        // Path order is bytewise.
        let sorted: Vec<Vec<u8>> = tree.sorted_ids().iter().map(|&i| tree.path(i)).collect();
        let mut want = sorted.clone();
        want.sort();
        prop_assert_eq!(sorted, want);
    }
}

prop_compose! {
    /// A tree whose sibling names share prefixes and differ in bytes on
    /// both sides of `/` (`-`, `.`, `\u{1}` below it; `0`, `a`, `é` above):
    /// where path order and name order part ways.
    fn prefix_trees()(n in 1usize..60)(
        parents in proptest::collection::vec(any::<proptest::sample::Index>(), n - 1),
        names in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![Just("-"), Just("."), Just("\u{1}"), Just("0"), Just("a"), Just("\u{e9}")], 1..4),
            n - 1,
        ),
        root in prop_oneof![Just("/r"), Just("/")],
    ) -> Tree {
        let mut t = Tree::new(root);
        let mut taken = std::collections::HashSet::new();
        for (i, (parent, name)) in parents.iter().zip(names).enumerate() {
            let parent = parent.index(i + 1);
            let mut name = name.concat();
            // Siblings' names are unique, as in a directory.
            while !taken.insert((parent, name.clone())) {
                name.push('a');
            }
            t.dir(parent, &name, 1, 0);
        }
        t
    }
}

/// `t`'s paths as the oracle builds them, the root "/" without a doubled slash.
fn oracle_path(t: &Tree, i: usize) -> Vec<u8> {
    let p = t.path(i);
    match p.strip_prefix(b"//") {
        Some(rest) => [b"/", rest].concat(),
        None => p,
    }
}

proptest! {
    #[test]
    fn path_order_is_the_bytewise_order_of_the_full_paths(t in prefix_trees()) {
        let n = t.dirs.len();
        let order: Vec<usize> = (0..n).collect();
        let tree = ScanTree::from_walk(t.walk(1, &vec![0; n], &order, &[])).unwrap();
        let mut want: Vec<Vec<u8>> = (0..n).map(|i| oracle_path(&t, i)).collect();
        want.sort();
        let got: Vec<Vec<u8>> = tree.sorted_ids().iter().map(|&i| tree.path(i)).collect();
        prop_assert_eq!(&got, &want);
        // The cursor in order builds the same paths.
        let mut rows = tree.in_order();
        let mut streamed = Vec::new();
        while let Some((id, path)) = rows.current() {
            let want_path = oracle_path(&t, id as usize);
            prop_assert_eq!(path, want_path.as_slice());
            streamed.push(path.to_vec());
            rows.advance();
        }
        prop_assert_eq!(streamed, want);
    }

    #[test]
    fn a_cursor_builds_any_path_in_any_order(
        t in prefix_trees(),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 1..80),
    ) {
        let n = t.dirs.len();
        let order: Vec<usize> = (0..n).collect();
        let tree = ScanTree::from_walk(t.walk(1, &vec![0; n], &order, &[])).unwrap();
        let mut cursor = super::PathCursor::new(&tree);
        for pick in picks {
            let id = pick.index(n);
            let want = oracle_path(&t, id);
            prop_assert_eq!(cursor.path(id as u32), want.as_slice());
        }
    }
}

#[test]
fn top_breaks_ties_by_path() {
    let mut t = Tree::new("/r");
    // Equal totals, so the order is the paths': "/r/a-b" before "/r/a/c"
    // although the name "a" sorts before "a-b".
    let a = t.dir(0, "a", 0, 0);
    t.dir(a, "c", 100, 0);
    t.dir(0, "a-b", 100, 0);
    t.dir(0, "0", 100, 0);
    let n = t.dirs.len();
    let order: Vec<usize> = (0..n).rev().collect();
    let tree = ScanTree::from_walk(t.walk(2, &[0, 1, 0, 1, 0], &order, &[])).unwrap();
    let top: Vec<Vec<u8>> = tree
        .top(5, 10, disktracker::SizeKind::DiskUsage)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(top, [&b"/r/0"[..], b"/r/a", b"/r/a-b", b"/r/a/c"]);
}

proptest! {
    #[test]
    fn path_bytes_is_the_total_length_of_the_paths(t in prefix_trees()) {
        let n = t.dirs.len();
        let order: Vec<usize> = (0..n).collect();
        let tree = ScanTree::from_walk(t.walk(1, &vec![0; n], &order, &[])).unwrap();
        let total: usize = (0..n as u32).map(|i| tree.path(i).len()).sum();
        prop_assert_eq!(tree.path_bytes(), total);
    }
}
