//! Folded trees for reporters that draw them (`show` and `diff` with the
//! `html` reporter): the largest directories of a subtree down to a
//! readable depth and count, the rest folded into each parent's "other".
//!
//! A directory's recursive size is at least any subdirectory's, so the `n`
//! largest directories (ties broken by path, which puts a parent before its
//! children) always form a connected tree from the top: no shown node lacks
//! its parent.

use std::collections::HashMap;

use disktracker::path::is_within;
use disktracker::report::{ChangeStatus, TreeNode, TreeSize};
use disktracker::{Result, SizeKind, SnapshotId, SnapshotStore};

/// How much of a tree is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeLimits {
    /// Nodes at most (the top one included).
    pub nodes: usize,
    /// Levels below the top at most.
    pub depth: u32,
    /// The size that ranks directories.
    pub kind: SizeKind,
}

impl Default for TreeLimits {
    /// About what a page draws legibly and a browser lays out at once.
    fn default() -> Self {
        TreeLimits {
            nodes: 3000,
            depth: 12,
            kind: SizeKind::DiskUsage,
        }
    }
}

/// One directory of the subtree read: its depth below the top, and its
/// sizes in the newer (`now`) and older (`before`) snapshot.
struct Dir {
    path: Vec<u8>,
    depth: u32,
    now: Option<TreeSize>,
    before: Option<TreeSize>,
}

impl Dir {
    /// The larger of its two sizes, by which it is ranked and drawn (so a
    /// removed directory keeps its place in a diff).
    fn rank(&self, kind: SizeKind) -> u64 {
        let now = self.now.map_or(0, |s| s.of(kind));
        let before = self.before.map_or(0, |s| s.of(kind));
        now.max(before)
    }
}

fn size_of(r: &disktracker::DirRecord) -> TreeSize {
    TreeSize {
        bytes: r.stats.total_bytes,
        apparent: r.stats.total_apparent,
    }
}

/// The folded tree of snapshot `id` below `top`; `None` when `top` is not
/// a directory of it.
pub fn snapshot_tree(
    store: &dyn SnapshotStore,
    id: SnapshotId,
    top: &[u8],
    limits: TreeLimits,
) -> Result<Option<TreeNode>> {
    let mut dirs = Vec::new();
    let mut top_depth = None;
    store.visit_tree(id, Some(top), &mut |r| {
        let base = *top_depth.get_or_insert(r.depth);
        dirs.push(Dir {
            path: r.path.clone(),
            depth: r.depth.saturating_sub(base),
            now: Some(size_of(r)),
            before: None,
        });
        true
    })?;
    Ok(build(dirs, top, limits, false))
}

/// The folded tree of the union of snapshots `a` (older) and `b` below
/// `top`, each node carrying both sizes.
pub fn diff_tree(
    store: &dyn SnapshotStore,
    a: SnapshotId,
    b: SnapshotId,
    top: &[u8],
    limits: TreeLimits,
) -> Result<Option<TreeNode>> {
    let top_depth = top.split(|&c| c == b'/').filter(|c| !c.is_empty()).count() as u32;
    let mut dirs: Vec<Dir> = Vec::new();
    let mut at: HashMap<Vec<u8>, usize> = HashMap::new();
    store.visit_tree(b, Some(top), &mut |r| {
        at.insert(r.path.clone(), dirs.len());
        dirs.push(Dir {
            path: r.path.clone(),
            depth: 0,
            now: Some(size_of(r)),
            before: None,
        });
        true
    })?;
    store.visit_tree(a, Some(top), &mut |r| {
        match at.get(&r.path) {
            Some(&i) => dirs[i].before = Some(size_of(r)),
            None => dirs.push(Dir {
                path: r.path.clone(),
                depth: 0,
                now: None,
                before: Some(size_of(r)),
            }),
        }
        true
    })?;
    drop(at);
    for d in &mut dirs {
        let depth = d
            .path
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty())
            .count() as u32;
        d.depth = depth.saturating_sub(top_depth);
    }
    dirs.sort_unstable_by(|x, y| x.path.cmp(&y.path));
    Ok(build(dirs, top, limits, true))
}

/// The parent of `path` (`/a/b` → `/a`, `/a` → `/`).
fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => &path[..1],
        Some(i) => &path[..i],
        None => &path[..0],
    }
}

/// Keeps the `limits.nodes` largest of `dirs` (in path order, `top` first
/// when present), links each to its parent, folds the rest.
fn build(dirs: Vec<Dir>, top: &[u8], limits: TreeLimits, diff: bool) -> Option<TreeNode> {
    let top_at = dirs.iter().position(|d| d.path == top)?;
    let kind = limits.kind;
    let mut order: Vec<usize> = (0..dirs.len())
        .filter(|&i| dirs[i].depth <= limits.depth && is_within(&dirs[i].path, top))
        .collect();
    order.sort_unstable_by(|&x, &y| {
        dirs[y]
            .rank(kind)
            .cmp(&dirs[x].rank(kind))
            .then_with(|| dirs[x].path.cmp(&dirs[y].path))
    });
    order.truncate(limits.nodes.max(1));
    let mut shown = vec![false; dirs.len()];
    for &i in &order {
        shown[i] = true;
    }
    shown[top_at] = true;
    let index: HashMap<&[u8], usize> = dirs
        .iter()
        .enumerate()
        .filter(|(i, _)| shown[*i])
        .map(|(i, d)| (d.path.as_slice(), i))
        .collect();
    let status = |d: &Dir| match (diff, d.before.is_some(), d.now.is_some()) {
        (true, false, true) => ChangeStatus::Added,
        (true, true, false) => ChangeStatus::Removed,
        _ => ChangeStatus::Changed,
    };
    let mut nodes: Vec<Option<TreeNode>> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            shown[i].then(|| {
                let mut n = TreeNode::new(d.path.clone(), d.now.unwrap_or_default());
                n.before = d.before;
                n.status = status(d);
                n
            })
        })
        .collect();
    // Children of shown directories that are not shown are folded into
    // their parent; deeper ones are inside those already.
    let mut links: Vec<(usize, usize)> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        if i == top_at {
            continue;
        }
        let Some(&p) = index.get(parent(&d.path)) else {
            continue;
        };
        if shown[i] {
            links.push((p, i));
        } else if let Some(parent) = nodes[p].as_mut() {
            parent.folded += 1;
            let now = d.now.unwrap_or_default();
            let before = d.before.unwrap_or_default();
            parent.folded_size.bytes = parent.folded_size.bytes.saturating_add(now.bytes);
            parent.folded_size.apparent = parent.folded_size.apparent.saturating_add(now.apparent);
            parent.folded_before.bytes = parent.folded_before.bytes.saturating_add(before.bytes);
            parent.folded_before.apparent = parent
                .folded_before
                .apparent
                .saturating_add(before.apparent);
        }
    }
    // Attach deepest first, so a child is complete when it moves.
    links.sort_unstable_by(|x, y| dirs[y.1].depth.cmp(&dirs[x.1].depth));
    for (p, c) in links {
        if let Some(child) = nodes[c].take()
            && let Some(parent) = nodes[p].as_mut()
        {
            parent.children.push(child);
        }
    }
    let mut root = nodes[top_at].take()?;
    sort_children(&mut root, &|n: &TreeNode| {
        n.size.of(kind).max(n.before.map_or(0, |b| b.of(kind)))
    });
    Some(root)
}

fn sort_children(n: &mut TreeNode, rank: &dyn Fn(&TreeNode) -> u64) {
    n.children
        .sort_by(|x, y| rank(y).cmp(&rank(x)).then_with(|| x.path.cmp(&y.path)));
    for c in &mut n.children {
        sort_children(c, rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str, bytes: u64) -> Dir {
        Dir {
            path: path.as_bytes().to_vec(),
            depth: path.matches('/').count() as u32 - 1,
            now: Some(TreeSize {
                bytes,
                apparent: bytes / 2,
            }),
            before: None,
        }
    }

    #[test]
    fn the_largest_directories_are_kept_and_the_rest_folded_into_their_parent() {
        let dirs = vec![
            dir("/r", 100),
            dir("/r/a", 60),
            dir("/r/a/x", 50),
            dir("/r/a/y", 5),
            dir("/r/a-b", 30),
            dir("/r/b", 8),
        ];
        let limits = TreeLimits {
            nodes: 4,
            ..TreeLimits::default()
        };
        let t = build(dirs, b"/r", limits, false).expect("top");
        assert_eq!(t.count(), 4);
        let names: Vec<&[u8]> = t.children.iter().map(|c| c.path.as_slice()).collect();
        assert_eq!(names, [&b"/r/a"[..], b"/r/a-b"]);
        assert_eq!((t.folded, t.folded_size.bytes), (1, 8));
        let a = &t.children[0];
        assert_eq!(a.children.len(), 1);
        assert_eq!(a.children[0].path, b"/r/a/x");
        assert_eq!(
            (a.folded, a.folded_size.bytes, a.folded_size.apparent),
            (1, 5, 2)
        );
    }

    #[test]
    fn depth_limits_what_is_shown_but_not_what_is_folded() {
        let dirs = vec![dir("/r", 100), dir("/r/a", 60), dir("/r/a/x", 50)];
        let limits = TreeLimits {
            depth: 1,
            ..TreeLimits::default()
        };
        let t = build(dirs, b"/r", limits, false).expect("top");
        assert_eq!(t.count(), 2);
        assert_eq!(
            (t.children[0].folded, t.children[0].folded_size.bytes),
            (1, 50)
        );
    }

    #[test]
    fn a_missing_top_is_none() {
        assert!(build(vec![dir("/r", 1)], b"/s", TreeLimits::default(), false).is_none());
    }
}
