//! The project's deterministic generator of realistic trees, for tests and
//! benchmarks.
//!
//! [`generate`]`(out, nfiles, seed)` creates exactly `nfiles` regular files
//! (distinct inodes) under `out`, shaped like a real disk:
//!
//! * a body of directories grown at random with a bias to recent ones (a mix
//!   of shallow and deep paths, depth capped at 14), files spread over them
//!   by a heavy-tailed (log-normal) weight, so most directories are small and
//!   a few are big, about 14 files per directory on average;
//! * wide directories of `min(10,000, nfiles/10)` files, about 10% of all;
//! * deep chains of 18 to 24 levels with a few files per level;
//! * sizes: about 8% empty, a log-normal body (median about 700 bytes), and a
//!   0.2% Pareto tail of large files (256 KiB up to 64 GiB) that are
//!   **sparse** — the first 4 KiB written, the rest by `set_len` — so the
//!   disk is not filled;
//! * hard links: about 0.5% of files get a second name (in another directory
//!   as often as not), and the first five large files three more names each;
//! * symlinks, about 0.5%: to files, to directories, dangling; plus a loop of
//!   two links, a link to an ancestor and an absolute link to the root;
//! * non-UTF-8 directory and file names, hidden names (a leading `.`), odd
//!   names (spaces, a newline, a tab, a leading `-`, `=SUM(A1)`, a bidi
//!   override, an ESC byte, a backslash, CJK, emoji, 255 bytes long);
//! * empty directories, and one directory left unreadable (mode 000) with
//!   files in it. Root ignores mode bits, so it is unreadable to others only.
//!
//! The same `(nfiles, seed)` gives the same names, sizes and link structure
//! on every machine (see [`crate::rng`]); only inode numbers, times and the
//! absolute link's target (it names `out`) differ. At 1,000,000 files the tree
//! has about 65,000 directories and 1.08 million entries.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use rand_distr::{Distribution, Exp, LogNormal, Pareto, weighted::WeightedIndex};
use serde::Serialize;

use crate::rng::Rng;

/// Files at least this large are made sparse.
pub const SPARSE_THRESHOLD: u64 = 256 * 1024;
/// How much of a sparse file is really written.
const SPARSE_HEAD: usize = 4096;
/// The largest wide directory.
const WIDE_DIR_FILES: u64 = 10_000;
/// Body directories deeper than this get their new children one level up.
const MAX_BODY_DEPTH: u32 = 14;
/// Non-zero content, so that blocks are really allocated.
static CONTENT: [u8; 64 * 1024] = [0x5a; 64 * 1024];

const EXTS: &[&str] = &[
    ".rs", ".c", ".h", ".py", ".txt", ".md", ".json", ".o", ".so", ".png", ".html", ".js", ".toml",
    ".lock", ".log", "", ".gz", ".d", ".rmeta",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "po", "ru", "si", "ta", "ve", "xo", "zu", "src", "lib", "bin", "test",
    "core", "util", "data", "cfg", "io",
];
/// Directory names that are not UTF-8, each holding [`SPECIAL_DIR_FILES`] files.
const NON_UTF8_DIRS: &[&[u8]] = &[
    b"caf\xe9-latin1",
    b"\xff\xfe-bom-ish",
    b"mixed-\xc3\x28-bad",
];
/// File names that are not UTF-8.
const NON_UTF8_FILES: &[&[u8]] = &[
    b"r\xe9sum\xe9.txt",
    b"\xff.bin",
    b"ok-then-\x80\x81.dat",
    b"\xe4\xf6\xfc-latin1.txt",
    b"trail\xc3",
];
/// Valid but awkward directory names, each holding [`SPECIAL_DIR_FILES`] files.
const ODD_DIRS: &[&str] = &["with spaces", "-dash", "line\nbreak", "日本語"];
/// Valid but awkward file names (plus one of 255 bytes, the usual limit).
const ODD_FILES: &[&str] = &[
    "with space.txt",
    "new\nline",
    "tab\there",
    "-rf",
    "=SUM(A1).csv",
    "\u{202e}gnp.exe",
    "esc\x1b[31mred",
    "back\\slash",
    "quote\"'`$(x)",
    "emoji-\u{1f600}.png",
];
const SPECIAL_DIR_FILES: u64 = 3;
const UNREADABLE_FILES: u64 = 50;

/// What a generated tree holds, as [`generate`] reports it and writes it
/// beside the tree (`OUT.manifest.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The tree's root, absolute.
    #[serde(serialize_with = "lossy")]
    pub out: PathBuf,
    /// The seed.
    pub seed: u64,
    /// Regular files (distinct inodes): exactly the number asked for.
    pub regular_files: u64,
    /// Directories, the root included.
    pub dirs: u64,
    /// Every name below the root: directories, files, extra hard-link names
    /// and symlinks.
    pub entries: u64,
    /// Wide directories.
    pub wide_dirs: u64,
    /// Deep chains.
    pub deep_chains: u64,
    /// Depth of the deepest directory (the root is 0).
    pub max_depth: u32,
    /// Names of regular files beyond their first.
    pub hardlinks_extra_names: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Sparse files.
    pub sparse_files: u64,
    /// Apparent size of all regular files, each inode once.
    pub apparent_bytes_unique_inodes: u64,
    /// Directories created empty.
    pub empty_dirs: u64,
    /// Directory and file names that are not UTF-8.
    pub non_utf8_names: u64,
    /// Valid but awkward directory and file names.
    pub odd_names: u64,
    /// The directory left with mode 000.
    #[serde(serialize_with = "lossy")]
    pub unreadable_dir: PathBuf,
}

fn lossy<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// Generates the tree for `(nfiles, seed)` in `out`, which must not exist or
/// be empty, and writes its [`Summary`] as JSON to `OUT.manifest.json`
/// beside it. Fails with `InvalidInput` when `nfiles` is too small for the
/// tree's shape (below about 300).
pub fn generate(out: &Path, nfiles: u64, seed: u64) -> io::Result<Summary> {
    let plan = Plan::new(nfiles, seed)?;
    let summary = plan.create(out)?;
    let mut manifest = summary.out.clone().into_os_string();
    manifest.push(".manifest.json");
    let json = serde_json::to_string_pretty(&summary).map_err(io::Error::other)?;
    fs::write(manifest, json + "\n")?;
    Ok(summary)
}

/// A planned directory; index 0 is the root.
struct Dir {
    parent: usize,
    depth: u32,
    name: Vec<u8>,
}

/// A planned regular file.
struct File {
    dir: usize,
    name: Vec<u8>,
    size: u64,
}

/// Where a planned symlink points.
enum Target {
    /// This text, relative or dangling.
    Text(Vec<u8>),
    /// The tree's root, absolute.
    Root,
}

/// The whole tree, decided before anything is created.
pub struct Plan {
    seed: u64,
    dirs: Vec<Dir>,
    files: Vec<File>,
    /// (file, directory, name): another name of a planned file.
    hard_links: Vec<(usize, usize, Vec<u8>)>,
    /// (directory, name, target).
    symlinks: Vec<(usize, Vec<u8>, Target)>,
    unreadable: usize,
    wide_dirs: u64,
    deep_chains: u64,
    empty_dirs: u64,
}

/// `lo..=hi` syllables.
fn word(rng: &mut Rng, lo: u64, hi: u64) -> String {
    (0..rng.between(lo, hi))
        .map(|_| *rng.pick(SYLLABLES))
        .collect()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Plan {
    /// Decides every name, size and link of the tree for `(nfiles, seed)`.
    pub fn new(nfiles: u64, seed: u64) -> io::Result<Plan> {
        let mut rng = Rng::new(seed);
        let n = nfiles;
        let wide_files = (n / 10).clamp(10, WIDE_DIR_FILES);
        let n_wide = ((n as f64 * 0.10 / wide_files as f64).round() as u64).max(1);
        let n_chains = (n / 25_000).max(3);
        let chains: Vec<Vec<u64>> = (0..n_chains)
            .map(|_| {
                let levels = rng.between(18, 24);
                (0..levels).map(|_| rng.between(0, 3)).collect()
            })
            .collect();
        let chain_files: u64 = chains.iter().flatten().sum();
        let body_files = n
            .checked_sub(n_wide * wide_files + chain_files)
            .filter(|&b| b >= 100)
            .ok_or_else(|| {
                invalid(format!(
                    "{n} files are too few for a generated tree: it needs at least {}",
                    n_wide * wide_files + chain_files + 100
                ))
            })?;

        // The body: each new directory goes under a random one, or, a third
        // of the time, under one of the last few made, which makes deep paths.
        let mut dirs = vec![Dir {
            parent: 0,
            depth: 0,
            name: Vec::new(),
        }];
        let recent = Exp::new(0.5).map_err(io::Error::other)?;
        for i in 0..(body_files / 14).max(10) {
            let cur = dirs.len();
            let mut parent = if cur > 1 && rng.chance(0.35) {
                let back = recent.sample(&mut rng) as usize;
                cur - 1 - back.min(cur - 1)
            } else {
                rng.below(cur)
            };
            if dirs[parent].depth >= MAX_BODY_DEPTH {
                parent = dirs[parent].parent;
            }
            let mut name = format!("{}{i}", word(&mut rng, 1, 3));
            if rng.chance(0.05) {
                name.insert(0, '.');
            }
            dirs.push(Dir {
                parent,
                depth: dirs[parent].depth + 1,
                name: name.into_bytes(),
            });
        }
        let body = dirs.len();

        // Heavy-tailed spread of the body's files.
        let spread = LogNormal::new(0.0, 1.6).map_err(io::Error::other)?;
        let weights: Vec<f64> = (0..body).map(|_| spread.sample(&mut rng)).collect();
        let pick_dir = WeightedIndex::new(&weights).map_err(io::Error::other)?;
        let mut counts = vec![0u64; body];
        for _ in 0..body_files {
            counts[pick_dir.sample(&mut rng)] += 1;
        }

        let mut add = |dirs: &mut Vec<Dir>, parent: usize, name: Vec<u8>, files: u64| {
            let depth = dirs[parent].depth + 1;
            dirs.push(Dir {
                parent,
                depth,
                name,
            });
            counts.push(files);
            dirs.len() - 1
        };
        let mut wide = Vec::new();
        for w in 0..n_wide {
            let parent = rng.below(body);
            wide.push(add(
                &mut dirs,
                parent,
                format!("wide_{w}").into(),
                wide_files,
            ));
        }
        let mut chain_end = 0;
        for (c, per_level) in chains.iter().enumerate() {
            let mut parent = rng.below(body);
            for (level, &files) in per_level.iter().enumerate() {
                parent = add(&mut dirs, parent, format!("deep{c}_{level}").into(), files);
            }
            chain_end = parent;
        }
        let n_empty = (n / 20_000).max(5);
        for e in 0..n_empty {
            let parent = rng.below(dirs.len());
            add(&mut dirs, parent, format!("empty_{e}").into(), 0);
        }
        let special_dirs = NON_UTF8_DIRS
            .iter()
            .copied()
            .chain(ODD_DIRS.iter().map(|s| s.as_bytes()));
        for name in special_dirs {
            let parent = rng.below(body);
            add(&mut dirs, parent, name.to_vec(), SPECIAL_DIR_FILES);
        }
        let parent = rng.below(body);
        let unreadable = add(&mut dirs, parent, b"unreadable".to_vec(), UNREADABLE_FILES);

        // The directories added above took files the body must give back,
        // so that there are exactly `n`.
        let mut extra = counts.iter().sum::<u64>() - n;
        let mut d = 0;
        while extra > 0 {
            if counts[d] > 0 {
                counts[d] -= 1;
                extra -= 1;
            }
            d = (d + 1) % body;
        }

        // Files, directory by directory. A file without an extension could
        // take the name of a sibling directory: such a file gets a `~`.
        let dir_names: HashSet<(usize, &[u8])> = dirs
            .iter()
            .skip(1)
            .map(|d| (d.parent, d.name.as_slice()))
            .collect();
        let size_body = LogNormal::new(700f64.ln(), 1.7).map_err(io::Error::other)?;
        let size_tail = Pareto::new(1.0, 1.1).map_err(io::Error::other)?;
        let file_size = |rng: &mut Rng| -> u64 {
            let u = rng.unit();
            if u < 0.08 {
                0
            } else if u < 0.998 {
                (size_body.sample(rng) as u64).clamp(1, SPARSE_THRESHOLD - 1)
            } else {
                ((SPARSE_THRESHOLD as f64 * size_tail.sample(rng)) as u64).min(64 << 30)
            }
        };
        let mut files: Vec<File> = Vec::with_capacity(n as usize);
        let mut big = Vec::new();
        // A 2% sample: the files that get more names and symlinks, or are renamed.
        let mut pool = Vec::new();
        let mut non_utf8_files = NON_UTF8_FILES.iter();
        for (dir, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let stem = word(&mut rng, 1, 2);
            for j in 0..count {
                let non_utf8 = if non_utf8_files.len() > 0 && rng.chance(0.0005) {
                    non_utf8_files.next()
                } else {
                    None
                };
                let mut name = if let Some(bad) = non_utf8 {
                    [format!("{j}-").as_bytes(), bad].concat()
                } else {
                    let mut name = format!("{stem}{j}{}", rng.pick(EXTS));
                    if rng.chance(0.03) {
                        name.insert(0, '.');
                    }
                    name.into_bytes()
                };
                if dir_names.contains(&(dir, name.as_slice())) {
                    name.push(b'~');
                }
                let size = file_size(&mut rng);
                if size >= SPARSE_THRESHOLD {
                    big.push(files.len());
                }
                if rng.chance(0.02) {
                    pool.push(files.len());
                }
                files.push(File { dir, name, size });
            }
        }
        drop(dir_names);

        // Every special file name exists however small the tree: each
        // renames a file (small, so that no extra name makes it too long)
        // taken out of the sample.
        let long = format!("long-{}", "n".repeat(250));
        let renames: Vec<Vec<u8>> = non_utf8_files
            .map(|b| [&b"x-"[..], b].concat())
            .chain(ODD_FILES.iter().map(|s| s.as_bytes().to_vec()))
            .chain([long.into_bytes()])
            .collect();
        let mut renamed = vec![false; files.len()];
        for name in renames {
            let small = |&i: &usize| files[i].size < SPARSE_THRESHOLD && !renamed[i];
            let victim = match pool.iter().rposition(small) {
                Some(at) => pool.remove(at),
                None => (0..files.len())
                    .rev()
                    .find(small)
                    .ok_or_else(|| invalid(format!("{n} files are too few to rename")))?,
            };
            renamed[victim] = true;
            files[victim].name = name;
        }

        let mut hard_links = Vec::new();
        for k in 0..(n / 200).max(10) {
            if pool.is_empty() {
                break;
            }
            let src = *rng.pick(&pool);
            let mut name = format!("hl{k}_").into_bytes();
            name.extend_from_slice(&files[src].name);
            hard_links.push((src, rng.below(body), name));
        }
        // A few big files with several names, visible in the totals.
        for (k, &src) in big.iter().take(5).enumerate() {
            for m in 0..3 {
                let mut name = format!("bighl{k}_{m}_").into_bytes();
                name.extend_from_slice(&files[src].name);
                hard_links.push((src, rng.below(body), name));
            }
        }

        let mut plan = Plan {
            seed,
            dirs,
            files,
            hard_links,
            symlinks: Vec::new(),
            unreadable,
            wide_dirs: n_wide,
            deep_chains: n_chains,
            empty_dirs: n_empty,
        };
        for k in 0..(n / 200).max(10) {
            let at = rng.below(body);
            let kind = rng.unit();
            let target = if kind < 0.6 && !pool.is_empty() {
                let file = &plan.files[*rng.pick(&pool)];
                let mut t = plan.relative(at, file.dir);
                if t == b"." {
                    t.clear();
                } else {
                    t.push(b'/');
                }
                t.extend_from_slice(&file.name);
                t
            } else if kind < 0.85 {
                plan.relative(at, rng.below(body))
            } else {
                format!("does/not/exist-{k}").into_bytes()
            };
            plan.symlinks
                .push((at, format!("sl{k}").into_bytes(), Target::Text(target)));
        }
        let loops = 3.min(body - 1);
        plan.symlinks.extend([
            (loops, b"loop_a".to_vec(), Target::Text(b"loop_b".to_vec())),
            (loops, b"loop_b".to_vec(), Target::Text(b"loop_a".to_vec())),
            (
                chain_end,
                b"ancestor_loop".to_vec(),
                Target::Text(b"../../..".to_vec()),
            ),
            (wide[0], b"root_loop_abs".to_vec(), Target::Root),
        ]);
        Ok(plan)
    }

    /// The relative path from directory `from` to directory `to` (`.` for itself).
    fn relative(&self, from: usize, to: usize) -> Vec<u8> {
        let (mut a, mut b) = (from, to);
        let mut ups = 0;
        let mut down = Vec::new();
        while self.dirs[a].depth > self.dirs[b].depth {
            a = self.dirs[a].parent;
            ups += 1;
        }
        while self.dirs[b].depth > self.dirs[a].depth {
            down.push(&self.dirs[b].name);
            b = self.dirs[b].parent;
        }
        while a != b {
            a = self.dirs[a].parent;
            ups += 1;
            down.push(&self.dirs[b].name);
            b = self.dirs[b].parent;
        }
        let parts: Vec<&[u8]> = std::iter::repeat_n(&b".."[..], ups)
            .chain(down.into_iter().rev().map(Vec::as_slice))
            .collect();
        if parts.is_empty() {
            b".".to_vec()
        } else {
            parts.join(&b'/')
        }
    }

    /// Creates the planned tree in `out` (created if missing; it must be empty).
    pub fn create(&self, out: &Path) -> io::Result<Summary> {
        // Absolute, without a trailing `/` (the manifest goes beside it).
        let out: PathBuf = std::path::absolute(out)?.components().collect();
        fs::create_dir_all(&out)?;
        if fs::read_dir(&out)?.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} is not empty; generate into a new or empty directory",
                    out.display()
                ),
            ));
        }
        let mut paths = vec![out.clone()];
        for d in &self.dirs[1..] {
            let path = paths[d.parent].join(OsStr::from_bytes(&d.name));
            fs::DirBuilder::new().mode(0o755).create(&path)?;
            paths.push(path);
        }
        let file_path = |f: &File| paths[f.dir].join(OsStr::from_bytes(&f.name));
        let (mut apparent, mut sparse) = (0, 0);
        for f in &self.files {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(file_path(f))?;
            if f.size >= SPARSE_THRESHOLD {
                file.write_all(&CONTENT[..SPARSE_HEAD])?;
                file.set_len(f.size)?;
                sparse += 1;
            } else {
                let mut left = f.size as usize;
                while left > 0 {
                    let chunk = left.min(CONTENT.len());
                    file.write_all(&CONTENT[..chunk])?;
                    left -= chunk;
                }
            }
            apparent += f.size;
        }
        for (file, dir, name) in &self.hard_links {
            fs::hard_link(
                file_path(&self.files[*file]),
                paths[*dir].join(OsStr::from_bytes(name)),
            )?;
        }
        for (dir, name, target) in &self.symlinks {
            let link = paths[*dir].join(OsStr::from_bytes(name));
            match target {
                Target::Text(t) => symlink(OsStr::from_bytes(t), link)?,
                Target::Root => symlink(&out, link)?,
            }
        }
        let unreadable_dir = paths[self.unreadable].clone();
        fs::set_permissions(&unreadable_dir, fs::Permissions::from_mode(0o000))?;

        let is_utf8 = |name: &[u8]| std::str::from_utf8(name).is_ok();
        let names = self
            .dirs
            .iter()
            .map(|d| &d.name)
            .chain(self.files.iter().map(|f| &f.name));
        let non_utf8_names = names.clone().filter(|n| !is_utf8(n)).count() as u64;
        let odd_names = names
            .filter(|n| {
                ODD_DIRS.iter().chain(ODD_FILES).any(|o| o.as_bytes() == *n)
                    || n.starts_with(b"long-")
            })
            .count() as u64;
        let (n_dirs, n_files) = (self.dirs.len() as u64, self.files.len() as u64);
        let (n_hard, n_sym) = (self.hard_links.len() as u64, self.symlinks.len() as u64);
        Ok(Summary {
            out,
            seed: self.seed,
            regular_files: n_files,
            dirs: n_dirs,
            entries: n_dirs - 1 + n_files + n_hard + n_sym,
            wide_dirs: self.wide_dirs,
            deep_chains: self.deep_chains,
            max_depth: self.dirs.iter().map(|d| d.depth).max().unwrap_or(0),
            hardlinks_extra_names: n_hard,
            symlinks: n_sym,
            sparse_files: sparse,
            apparent_bytes_unique_inodes: apparent,
            empty_dirs: self.empty_dirs,
            non_utf8_names,
            odd_names,
            unreadable_dir,
        })
    }
}
