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
//! vanished entries counted as errors; each entry is accounted for by
//! `disktracker-walker-support`'s [`account_entry`], as in every walker.
//!
//! **Deep trees:** jwalk opens every entry by its full path, so it cannot
//! reach anything whose path is longer than `PATH_MAX` (4096 bytes on
//! Linux). Rather than return a partial tree, the walk then fails with
//! [`ErrorKind::Plugin`] and a hint to use the `steal` walker, which opens
//! each directory relative to its parent.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use disktracker::registry::WalkerPlugin;
use disktracker::{
    DirArena, DirId, Error, ErrorKind, LinkedFile, Result, WalkContext, WalkIssue, WalkOptions,
    WalkOutput, Walker,
};
use disktracker_walker_support::{
    Counted, EntryStat, Exclude, Fingerprint, account_entry, dir_cold, dir_hot,
};
use jwalk::{Parallelism, WalkDirGeneric};

/// The jwalk-based walker, registered as `jwalk`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JwalkWalker;

disktracker::register_walker!(WalkerPlugin::new(
    "jwalk",
    "jwalk-based parallel walker (alternative)",
    |_| Ok(Box::new(JwalkWalker))
));

/// Per-entry state filled in by the `process_read_dir` callback.
#[derive(Debug, Default)]
enum Seen {
    /// Not looked at (the root entry, or the walk was cancelled).
    #[default]
    Unseen,
    Stat(EntryStat),
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

/// Where the walk first met a path too long to use (`ENAMETOOLONG`): jwalk
/// cannot go on exactly from there.
#[derive(Clone, Copy, Debug)]
struct TooLong {
    /// Depth of the entry below the root.
    depth: usize,
    /// Length of its path, bytes.
    len: usize,
}

/// Set by whichever thread meets a too-long path first.
type TooLongCell = Arc<OnceLock<TooLong>>;

fn is_too_long(err: &io::Error) -> bool {
    // std maps ENAMETOOLONG, and only it, to this kind.
    err.kind() == io::ErrorKind::InvalidFilename
}

fn refusal(root: &Path, at: TooLong) -> Error {
    Error::new(
        ErrorKind::Plugin,
        format!(
            "the jwalk walker cannot scan {}: a path {} levels below it is {} bytes long, \
             over the system's limit, and jwalk opens every entry by its full path",
            disktracker::path::escape_path(root),
            at.depth,
            at.len
        ),
    )
    .with_hint("use --walker steal, which opens each directory relative to its parent")
}

impl Walker for JwalkWalker {
    fn walk(&self, root: &Path, opts: &WalkOptions, ctx: &WalkContext) -> Result<WalkOutput> {
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        // The root itself may be a symlink the caller resolved; follow it.
        let root_meta = std::fs::metadata(root)
            .map(|m| EntryStat::from_metadata(&m))
            .map_err(|e| Error::io("cannot stat scan root", root, e))?;

        let too_long = TooLongCell::default();
        let (exclude, cancel, progress, too_long_cb) = (
            Exclude::new(&opts.exclude)?,
            ctx.cancel.clone(),
            ctx.progress.clone(),
            Arc::clone(&too_long),
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
                let Some(depth) = depth else { return };
                if cancel.is_cancelled() || too_long_cb.get().is_some() {
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
                    let path = dir.join(&e.file_name);
                    match std::fs::symlink_metadata(&path) {
                        Err(err) if is_too_long(&err) => {
                            let len = path.as_os_str().len();
                            too_long_cb.get_or_init(|| TooLong {
                                depth: depth + 1,
                                len,
                            });
                            e.read_children = None;
                        }
                        Err(err) => {
                            e.client_state = Seen::Failed(err.to_string());
                            e.read_children = None;
                        }
                        Ok(m) => {
                            let st = EntryStat::from_metadata(&m);
                            if one_fs && st.dev != root_dev {
                                return false;
                            }
                            if !st.is_dir {
                                e.read_children = None;
                            }
                            entries += 1;
                            bytes += st.disk_bytes();
                            e.client_state = Seen::Stat(st);
                        }
                    }
                    true
                });
                progress.add_dir(entries, bytes);
            });

        let mut fold = Fold::new(root, &root_meta);
        for item in walk {
            // jwalk's callback stops producing once cancelled or refused;
            // this stops consuming.
            if ctx.cancel.is_cancelled() || too_long.get().is_some() {
                break;
            }
            match item {
                Ok(entry) => fold.entry(entry),
                Err(err) => fold.listing_error(&err),
            }
            if let Some(at) = fold.too_long.take() {
                too_long.get_or_init(|| at);
            }
        }
        if ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        if let Some(&at) = too_long.get() {
            return Err(refusal(root, at));
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
    links: Vec<LinkedFile>,
    /// Id and path of the directory at each depth along the current path.
    stack: Vec<(u32, PathBuf)>,
    /// A directory that could not be read because its path is too long.
    too_long: Option<TooLong>,
}

impl Fold {
    fn new(root: &Path, own: &EntryStat) -> Self {
        let mut fold = Fold {
            arena: DirArena::default(),
            fingerprints: Vec::new(),
            links: Vec::new(),
            stack: Vec::new(),
            too_long: None,
        };
        fold.push_dir(DirId::NONE.0, root.as_os_str().as_bytes(), own);
        fold
    }

    fn push_dir(&mut self, parent: u32, name: &[u8], own: &EntryStat) -> u32 {
        let id = self.arena.len() as u32;
        let fingerprint = Fingerprint::default();
        self.arena
            .push(dir_hot(id, parent, own), name, dir_cold(own, fingerprint));
        self.fingerprints.push(fingerprint);
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

    /// Notes a path too long to use, instead of counting it as an error.
    fn check_too_long(&mut self, err: Option<&io::Error>, path: &[u8]) -> bool {
        let too_long = err.is_some_and(is_too_long);
        if too_long && self.too_long.is_none() {
            self.too_long = Some(TooLong {
                depth: self.stack.len(),
                len: path.len(),
            });
        }
        too_long
    }

    /// A directory jwalk could not open or list.
    fn read_error(&mut self, dir: u32, path: &Path, entry: &jwalk::DirEntry<Client>) {
        if let Some(err) = entry.read_children.as_ref().and_then(|rc| rc.error()) {
            let path = path.as_os_str().as_bytes().to_vec();
            if self.check_too_long(err.io_error(), &path) {
                return;
            }
            let message = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            self.issue(dir, path, "open directory", message);
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
            Seen::Stat(st) => {
                let counted = account_entry(
                    self.arena.hot_mut(parent as usize),
                    &mut self.fingerprints[parent as usize],
                    &mut self.links,
                    name,
                    st,
                );
                if counted == Counted::Directory {
                    let id = self.push_dir(parent, name, st);
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
        if self.check_too_long(err.io_error(), &path) {
            return;
        }
        self.issue(dir, path, "read directory", err.to_string());
    }

    fn finish(mut self) -> DirArena {
        for (i, fp) in self.fingerprints.iter().enumerate() {
            self.arena.cold_mut(i).fingerprint = fp.value();
        }
        self.arena.links = self.links;
        self.arena
    }
}
