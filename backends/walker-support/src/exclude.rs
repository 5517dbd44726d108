//! Exclude patterns shared by every walker, so all walkers skip the same entries.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use disktracker::{Error, ErrorKind, Result};

/// A set of glob patterns naming entries to skip.
///
/// A pattern without `/` matches an entry's name at any depth (`*.o`,
/// `node_modules`). A pattern with `/` matches the path relative to the scan
/// root (`build/**/tmp`); a leading `/` anchors nothing more and is ignored.
#[derive(Clone, Debug, Default)]
pub struct Exclude {
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
    patterns: Vec<String>,
}

impl Exclude {
    /// Compiles `patterns`; a bad one is a usage error naming it.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut n_names, mut n_paths) = (0, 0);
        for p in patterns {
            let p = p.as_ref();
            let glob = |pat: &str| -> Result<Glob> {
                GlobBuilder::new(pat)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| {
                        Error::new(ErrorKind::Usage, format!("invalid exclude pattern {p:?}"))
                            .with_source(e)
                    })
            };
            if p.contains('/') {
                paths.add(glob(p.trim_start_matches('/'))?);
                n_paths += 1;
            } else {
                names.add(glob(p)?);
                n_names += 1;
            }
        }
        let build = |b: GlobSetBuilder, n: usize| -> Result<Option<GlobSet>> {
            if n == 0 {
                return Ok(None);
            }
            b.build().map(Some).map_err(|e| {
                Error::new(ErrorKind::Usage, "invalid exclude patterns").with_source(e)
            })
        };
        Ok(Exclude {
            names: build(names, n_names)?,
            paths: build(paths, n_paths)?,
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
        })
    }

    /// True when there is nothing to exclude (walkers skip all matching work).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.names.is_none() && self.paths.is_none()
    }

    /// True when some pattern needs the relative path, not just the name.
    #[inline]
    pub fn needs_path(&self) -> bool {
        self.paths.is_some()
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether to skip the entry `name`, whose path relative to the root is
    /// `rel_path` (only consulted when [`Self::needs_path`]).
    pub fn is_excluded(&self, name: &[u8], rel_path: impl FnOnce() -> Vec<u8>) -> bool {
        if let Some(set) = &self.names
            && set.is_match(OsStr::from_bytes(name))
        {
            return true;
        }
        if let Some(set) = &self.paths {
            return set.is_match(OsStr::from_bytes(&rel_path()));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let ex = Exclude::new(&["*.o", "build/tmp", "/top/**/x"]).unwrap();
        assert!(ex.is_excluded(b"a.o", || b"deep/a.o".to_vec()));
        assert!(!ex.is_excluded(b"a.c", || b"deep/a.c".to_vec()));
        assert!(ex.is_excluded(b"tmp", || b"build/tmp".to_vec()));
        assert!(!ex.is_excluded(b"tmp", || b"other/build/tmp".to_vec()));
        assert!(ex.is_excluded(b"x", || b"top/a/b/x".to_vec()));
        assert!(Exclude::new(&["a[b"]).is_err());
        assert!(Exclude::new::<&str>(&[]).unwrap().is_empty());
    }
}
