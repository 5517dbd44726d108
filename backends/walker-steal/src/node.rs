//! Directory names chained to their parents, so a path is built only when
//! one is needed (an issue to report, a path-based exclude pattern, a
//! reopen by absolute path) and never per file.

use std::sync::Arc;

/// One directory: its name and its parent's node. The root's name is its
/// absolute path.
pub(crate) struct PathNode {
    name: Box<[u8]>,
    parent: Option<Arc<PathNode>>,
}

impl PathNode {
    /// The scan root, named by its absolute path.
    pub fn root(path: &[u8]) -> Arc<PathNode> {
        Arc::new(PathNode {
            name: path.into(),
            parent: None,
        })
    }

    /// Subdirectory `name` of `parent`.
    pub fn child(parent: &Arc<PathNode>, name: &[u8]) -> Arc<PathNode> {
        Arc::new(PathNode {
            name: name.into(),
            parent: Some(Arc::clone(parent)),
        })
    }

    /// True for the scan root.
    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// Name relative to the parent (absolute path for the root).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Names from the root down to this directory.
    fn chain(&self) -> Vec<&[u8]> {
        let mut names = vec![&*self.name];
        let mut cur = self.parent.as_deref();
        while let Some(node) = cur {
            names.push(&node.name);
            cur = node.parent.as_deref();
        }
        names.reverse();
        names
    }

    /// Absolute path of this directory, or of its entry `child`.
    pub fn absolute(&self, child: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        for part in self.chain().into_iter().chain(child) {
            if !out.is_empty() && out.last() != Some(&b'/') {
                out.push(b'/');
            }
            out.extend_from_slice(part);
        }
        out
    }

    /// Path of this directory's entry `child` relative to the scan root.
    pub fn relative(&self, child: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in self.chain().into_iter().skip(1).chain([child]) {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(part);
        }
        out
    }
}

impl Drop for PathNode {
    /// Unlinks the chain iteratively: the default recursive drop of a very
    /// deep chain (tens of thousands of levels) would overflow the stack.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(node) = next {
            next = Arc::into_inner(node).and_then(|mut n| n.parent.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let root = PathNode::root(b"/r");
        let a = PathNode::child(&root, b"a");
        let b = PathNode::child(&a, b"b\xff");
        assert_eq!(root.absolute(None), b"/r");
        assert_eq!(root.absolute(Some(b"x")), b"/r/x");
        assert_eq!(b.absolute(Some(b"x")), b"/r/a/b\xff/x");
        assert_eq!(root.relative(b"x"), b"x");
        assert_eq!(b.relative(b"x"), b"a/b\xff/x");
        let slash = PathNode::root(b"/");
        assert_eq!(PathNode::child(&slash, b"etc").absolute(None), b"/etc");
    }

    #[test]
    fn deep_chain_drops_without_recursion() {
        let mut node = PathNode::root(b"/");
        for _ in 0..200_000 {
            node = PathNode::child(&node, b"d");
        }
        drop(node);
    }
}
