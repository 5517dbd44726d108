//! From file-system events to re-reads: events only say where to look.

use std::collections::BTreeSet;
use std::path::PathBuf;

use disktracker::path::{parent_bytes, path_bytes};
use disktracker::{FsEvent, FsEventKind};

use super::tree::{LiveTree, Reread};

/// What a batch of events asks for beyond what [`apply_events`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// The source lost events (or the model cannot place a hard link):
    /// validate the whole root against the file system.
    pub rescan: bool,
    /// Subtrees the source could not watch, with its explanation.
    pub unwatched: Vec<(PathBuf, Option<String>)>,
    /// The root itself is gone or unreadable.
    pub root_gone: bool,
    /// Directories re-read.
    pub reread: usize,
}

/// Applies one batch of events to `tree`: paired renames move subtrees,
/// then every directory an event points at (and the parent of every changed
/// entry) is re-read once, parents before children. Call between
/// [`LiveTree::begin_batch`] and [`LiveTree::end_batch`].
pub fn apply_events(tree: &mut LiveTree, events: &[FsEvent]) -> Dispatched {
    let mut out = Dispatched::default();
    let mut dirty: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mark = |tree: &LiveTree, dirty: &mut BTreeSet<Vec<u8>>, p: &std::path::Path| {
        let bytes = path_bytes(p);
        if tree.contains(bytes) {
            dirty.insert(bytes.to_vec());
        }
        if let Some(parent) = parent_bytes(bytes)
            && let Some(d) = tree.nearest_dir(disktracker::path::bytes_path(parent))
        {
            dirty.insert(d);
        }
    };
    for e in events {
        match e.kind {
            FsEventKind::RescanNeeded => out.rescan = true,
            FsEventKind::Unwatched => out.unwatched.push((e.path.clone(), e.detail.clone())),
            FsEventKind::Renamed => {
                if let Some(from) = &e.from {
                    // Move the subtree first, so that the parents' re-reads
                    // find it in place instead of reading it all again.
                    let (f, t) = (path_bytes(from), path_bytes(&e.path));
                    if tree.rename(f, t) {
                        // Earlier events named directories by their old paths.
                        let moved: Vec<Vec<u8>> = dirty
                            .iter()
                            .filter(|d| disktracker::path::is_within(d, f))
                            .cloned()
                            .collect();
                        for d in moved {
                            dirty.remove(&d);
                            let mut n = t.to_vec();
                            n.extend_from_slice(&d[f.len()..]);
                            dirty.insert(n);
                        }
                    }
                    mark(tree, &mut dirty, from);
                }
                mark(tree, &mut dirty, &e.path);
            }
            _ => mark(tree, &mut dirty, &e.path),
        }
    }
    // Parents sort before their children; a re-read can ask for its parent
    // again (a changed own inode) or report the directory gone.
    while let Some(dir) = dirty.pop_first() {
        match tree.reread(&dir) {
            Reread::Done => {
                out.reread += 1;
                dirty.extend(tree.take_stale());
            }
            Reread::Gone if dir == tree.root() => out.root_gone = true,
            Reread::Gone => {
                if let Some(p) = parent_bytes(&dir) {
                    dirty.insert(p.to_vec());
                }
            }
            Reread::Unknown => {}
        }
    }
    out
}
