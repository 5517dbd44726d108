//! A [`Walker`] on [jwalk](https://docs.rs/jwalk), selected with `--walker jwalk`.
//!
//! A thin adapter, kept for comparison with the default `steal` walker and
//! giving identical results: jwalk reads directories in parallel on its own,
//! new rayon pool (never a shared, possibly busy one); the `process_read_dir`
//! callback stats each entry (by path, as jwalk does), drops excluded entries
//! and entries on other devices, and stops descent where needed; this
//! thread then folds jwalk's depth-first stream into one [`DirArena`].
//!
//! Semantics match the `steal` walker's (see its crate docs): own inode in
//! the direct totals, hard-linked files left to the engine, mount points
//! skipped entirely under `one_file_system`, unreadable directories and
//! vanished entries counted as errors, the same fingerprint inputs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use disktracker::registry::WalkerPlugin;
use disktracker::{
    DirArena, DirCold, DirHot, DirId, Error, LinkedFile, Result, WalkContext, WalkIssue,
    WalkOptions, WalkOutput, Walker,
};
use disktracker_walker_support::{Exclude, Fingerprint};
use jwalk::{Parallelism, WalkDirGeneric};

/// The jwalk-based walker, registered as `jwalk`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JwalkWalker;

disktracker::register_walker!(WalkerPlugin::new(
    "jwalk",
    "jwalk-based parallel walker (alternative)",
    |_| Ok(Box::new(JwalkWalker))
));

/// What the walker keeps of one entry's metadata.
#[derive(Clone, Copy, Debug)]
struct Meta {
    is_dir: bool,
    nlink: u64,
    dev: u64,
    ino: u64,
    size: u64,
    blocks: u64,
    mtime_ns: i64,
}

impl Meta {
    fn new(m: &std::fs::Metadata) -> Self {
        Meta {
            is_dir: m.is_dir(),
            nlink: m.nlink(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            blocks: m.blocks(),
            // Same arithmetic as the steal walker, so fingerprints agree.
            mtime_ns: m
                .mtime()
                .wrapping_mul(1_000_000_000)
                .wrapping_add(m.mtime_nsec()),
        }
    }

    fn disk_bytes(&self) -> u64 {
        self.blocks.saturating_mul(512)
    }
}

/// Per-entry state filled in by the `process_read_dir` callback.
#[derive(Debug, Default)]
enum Seen {
    /// Not looked at (the root entry, or the walk was cancelled).
    #[default]
    Unseen,
    Stat(Meta),
    /// The stat failed; the message is kept for the issue.
    Failed(String),
}

type Client = ((), Seen);

fn relative(root: &Path, dir: &Path, name: &[u8]) -> Vec<u8> {
    let rel = dir
        .strip_prefix(root)
        .map_or(&[][..], |p| p.as_os_str().as_bytes());
    let mut out = Vec::with_capacity(rel.len() + 1 + name.len());
    out.extend_from_slice(rel);
    if !out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

impl Walker for JwalkWalker {
    fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput> {
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        // The root itself may be a symlink the caller resolved; follow it.
        let root_meta = std::fs::metadata(root)
            .map(|m| Meta::new(&m))
            .map_err(|e| Error::io("cannot stat scan root", root, e))?;

        let (exclude, cancel, progress) = (
            Exclude::new(&opts.exclude)?,
            ctx.cancel.clone(),
            ctx.progress.clone(),
        );
        let (one_fs, root_dev, root_buf) =
            (opts.one_file_system, root_meta.dev, root.to_path_buf());
        let walk = WalkDirGeneric::<Client>::new(root)
            .parallelism(Parallelism::RayonNewPool(opts.threads.max(1)))
            .follow_links(false)
            .skip_hidden(false)
            .sort(false)
            .process_read_dir(move |depth, dir, _, children| {
                // `None` is the list holding the root entry itself.
                if depth.is_none() {
                    return;
                }
                if cancel.is_cancelled() {
                    children.clear();
                    return;
                }
                let (mut entries, mut bytes) = (0, 0);
                children.retain_mut(|child| {
                    // Listing errors stay in the stream; the fold counts them.
                    let Ok(e) = child else { return true };
                    let name = e.file_name.as_bytes();
                    if !exclude.is_empty()
                        && exclude.is_excluded(name, || relative(&root_buf, dir, name))
                    {
                        return false;
                    }
                    match std::fs::symlink_metadata(dir.join(&e.file_name)) {
                        Err(err) => {
                            e.client_state = Seen::Failed(err.to_string());
                            e.read_children = None;
                        }
                        Ok(m) => {
                            let meta = Meta::new(&m);
                            if one_fs && meta.dev != root_dev {
                                return false;
                            }
                            if !meta.is_dir {
                                e.read_children = None;
                            }
                            entries += 1;
                            bytes += meta.disk_bytes();
                            e.client_state = Seen::Stat(meta);
                        }
                    }
                    true
                });
                progress.add_dir(entries, bytes);
            });

        let mut fold = Fold::new(root, &root_meta);
        for item in walk {
            // jwalk's callback stops producing once cancelled; this stops consuming.
            if ctx.cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            match item {
                Ok(entry) => fold.entry(entry),
                Err(err) => fold.listing_error(&err),
            }
        }
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        Ok(WalkOutput {
            root: root.to_path_buf(),
            arenas: vec![fold.finish()],
        })
    }
}

/// Folds jwalk's depth-first stream (each directory's entry, then its
/// contents) into an arena; ids are arena indices, so parents come first.
struct Fold {
    arena: DirArena,
    fingerprints: Vec<Fingerprint>,
    /// Id and path of the directory at each depth along the current path.
    stack: Vec<(u32, PathBuf)>,
}

impl Fold {
    fn new(root: &Path, own: &Meta) -> Self {
        let mut fold = Fold {
            arena: DirArena::default(),
            fingerprints: Vec::new(),
            stack: Vec::new(),
        };
        fold.push_dir(DirId::NONE.0, root.as_os_str().as_bytes(), own);
        fold
    }

    fn push_dir(&mut self, parent: u32, name: &[u8], own: &Meta) -> u32 {
        let id = self.arena.len() as u32;
        let hot = DirHot {
            id,
            parent,
            direct_bytes: own.disk_bytes(),
            direct_apparent: own.size,
            ..DirHot::default()
        };
        let mut cold = DirCold::default();
        cold.mtime_ns = own.mtime_ns;
        cold.dev = own.dev;
        cold.ino = own.ino;
        self.arena.push(hot, name, cold);
        self.fingerprints.push(Fingerprint::default());
        id
    }

    fn issue(&mut self, dir: u32, path: Vec<u8>, op: &'static str, message: String) {
        self.arena.hot_mut(dir as usize).errors += 1;
        self.arena.issues.push(WalkIssue {
            dir: DirId(dir),
            path,
            op,
            message,
        });
    }

    /// A directory jwalk could not open or list.
    fn read_error(&mut self, dir: u32, path: &Path, entry: &jwalk::DirEntry<Client>) {
        if let Some(err) = entry.read_children.as_ref().and_then(|rc| rc.error()) {
            let message = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            self.issue(
                dir,
                path.as_os_str().as_bytes().to_vec(),
                "open directory",
                message,
            );
        }
    }

    fn entry(&mut self, entry: jwalk::DirEntry<Client>) {
        if entry.depth == 0 {
            let root = entry.path();
            self.read_error(DirId::ROOT.0, &root, &entry);
            self.stack = vec![(DirId::ROOT.0, root)];
            return;
        }
        self.stack.truncate(entry.depth);
        let Some(&(parent, _)) = self.stack.last() else {
            return;
        };
        let name = entry.file_name.as_bytes();
        match &entry.client_state {
            Seen::Unseen => {}
            Seen::Failed(message) => {
                let path = entry.path().into_os_string().into_vec();
                self.issue(parent, path, "stat", message.clone());
            }
            Seen::Stat(m) => {
                self.fingerprints[parent as usize].add(name, m.ino, m.size, m.blocks, m.mtime_ns);
                if m.is_dir {
                    let id = self.push_dir(parent, name, m);
                    self.arena.hot_mut(parent as usize).child_dirs += 1;
                    let path = entry.path();
                    if entry.read_children.is_none() {
                        // jwalk listed it as a non-directory; it changed under us.
                        let message = "changed type during the scan".to_owned();
                        let bytes = path.as_os_str().as_bytes().to_vec();
                        self.issue(id, bytes, "read directory", message);
                    } else {
                        self.read_error(id, &path, &entry);
                    }
                    self.stack.push((id, path));
                } else if m.nlink > 1 {
                    self.arena.links.push(LinkedFile {
                        dir: DirId(parent),
                        name: name.into(),
                        dev: m.dev,
                        ino: m.ino,
                        bytes: m.disk_bytes(),
                        apparent: m.size,
                    });
                } else {
                    let hot = self.arena.hot_mut(parent as usize);
                    hot.direct_bytes += m.disk_bytes();
                    hot.direct_apparent += m.size;
                    hot.direct_files += 1;
                }
            }
        }
    }

    /// An error reading the contents of the directory at `err.depth() - 1`.
    fn listing_error(&mut self, err: &jwalk::Error) {
        let depth = err.depth().max(1);
        let (dir, path) = match self.stack.get(depth - 1).or(self.stack.last()) {
            Some((id, path)) => (*id, path.as_os_str().as_bytes().to_vec()),
            None => (DirId::ROOT.0, self.arena.name(0).to_vec()),
        };
        let path = err
            .path()
            .map_or(path, |p| p.as_os_str().as_bytes().to_vec());
        self.issue(dir, path, "read directory", err.to_string());
    }

    fn finish(mut self) -> DirArena {
        for (i, fp) in self.fingerprints.iter().enumerate() {
            self.arena.cold_mut(i).fingerprint = fp.value();
        }
        self.arena
    }
}
