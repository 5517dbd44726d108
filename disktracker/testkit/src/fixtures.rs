//! Fixture trees: handmade trees of edge cases, generated realistic trees,
//! and the temporary directories they live in.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Generates the deterministic realistic tree for `(nfiles, seed)` in `out`
/// (which must not exist or be empty) with [`crate::treegen::generate`]:
/// hard links, symlink loops, sparse files, non-UTF-8 and odd names, an
/// unreadable directory. Its summary is written to `OUT.manifest.json`.
pub fn gen_tree(out: &Path, nfiles: u64, seed: u64) -> io::Result<()> {
    crate::treegen::generate(out, nfiles, seed).map(drop)
}

/// A canonical temporary directory: the walkers expect absolute, resolved
/// roots, and the oracle's paths must be spelled as theirs are.
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("temporary directory");
    let root = fs::canonicalize(t.path()).expect("canonical temporary directory");
    (t, root)
}

fn write(path: &Path, len: usize) -> io::Result<()> {
    fs::write(path, vec![b'z'; len])
}

/// A small tree holding every edge case the semantics cover: files of
/// assorted sizes, empty directories, a sparse file, symlinks (to a file, to a
/// directory, dangling, a loop, to an ancestor), non-UTF-8 names, hard links
/// within one directory and across directories (including the `a-b` vs `a/`
/// bytewise-order trap), a wide directory and a deep chain.
pub fn handmade_tree(root: &Path) -> io::Result<()> {
    let d = |p: &str| -> io::Result<PathBuf> {
        let path = root.join(p);
        fs::create_dir_all(&path)?;
        Ok(path)
    };
    let a = d("a")?;
    for (i, len) in [0usize, 1, 511, 4095, 4096, 4097, 100_000]
        .iter()
        .enumerate()
    {
        write(&a.join(format!("f{i}")), *len)?;
    }
    let c = d("a/b/c")?;
    write(&c.join("deep.txt"), 12_345)?;
    d("empty")?;
    d("a/b/empty2")?;
    let sparse = fs::File::create(root.join("a/sparse.img"))?;
    sparse.set_len(50 << 20)?;
    drop(sparse);
    symlink("f1", a.join("link-to-file"))?;
    symlink("b", a.join("link-to-dir"))?;
    symlink("does/not/exist", a.join("dangling"))?;
    symlink("loop2", a.join("loop1"))?;
    symlink("loop1", a.join("loop2"))?;
    symlink("../../..", c.join("to-ancestor"))?;
    let bad_dir = root.join(OsStr::from_bytes(b"caf\xe9"));
    fs::create_dir(&bad_dir)?;
    write(
        &bad_dir.join(OsStr::from_bytes(b"r\xe9sum\xe9\xff.txt")),
        3_000,
    )?;
    write(&root.join(OsStr::from_bytes(b"line\nbreak")), 10)?;
    // Hard links: x and x2 in one directory; h1 in three directories,
    // where "a-b/…" sorts before "a/…" bytewise.
    write(&a.join("x"), 20_000)?;
    fs::hard_link(a.join("x"), a.join("x2"))?;
    let z = d("z")?;
    let ab = d("a-b")?;
    write(&z.join("h1"), 70_000)?;
    fs::hard_link(z.join("h1"), a.join("h1-link"))?;
    fs::hard_link(z.join("h1"), ab.join("h1-link2"))?;
    let wide = d("wide")?;
    for i in 0..600 {
        write(&wide.join(format!("w{i:04}")), (i * 37) % 5000)?;
    }
    let mut chain = d("chain")?;
    for level in 0..40 {
        chain = chain.join(format!("l{level}"));
        fs::create_dir(&chain)?;
        write(&chain.join("f"), level * 100)?;
    }
    Ok(())
}

/// The walker crates' handmade tree: every kind of entry a walker must
/// handle (files of sizes around block boundaries, sparse files, symlinks of
/// every kind, non-UTF-8 names, hard links within one directory, a FIFO, a
/// 3000-entry directory and a 40-level chain). Without `cross_dir_links` no
/// hard link spans directories, so `du` agrees with every directory; with
/// it, some files also get links in other directories, where the first-path
/// rule decides.
pub fn handmade_walk_tree(root: &Path, cross_dir_links: bool) -> io::Result<()> {
    let j = |s: &str| root.join(s);
    for d in ["a/b/c", "empty", "e/f", "links", "hl", "wide", "fifo"] {
        fs::create_dir_all(j(d))?;
    }
    for (i, len) in [0, 1, 511, 512, 4095, 4096, 4097, 65_536, 100_000]
        .into_iter()
        .enumerate()
    {
        write(&j(&format!("f{i}")), len)?;
    }
    write(&j("a/one"), 10)?;
    write(&j("a/b/two"), 5000)?;
    write(&j("a/b/c/three"), 123_456)?;
    // Sparse: apparent size far above disk usage.
    fs::File::create(j("sparse"))?.set_len(10 << 20)?;
    write(&j("sparse_tail"), 4096)?;
    fs::OpenOptions::new()
        .write(true)
        .open(j("sparse_tail"))?
        .set_len(1 << 30)?;
    // Symlinks: counted as themselves, never followed.
    symlink("../f1", j("links/to_file"))?;
    symlink("../a", j("links/to_dir"))?;
    symlink("nowhere/at/all", j("links/dangling"))?;
    symlink("loop2", j("links/loop1"))?;
    symlink("loop1", j("links/loop2"))?;
    symlink("..", j("links/up"))?;
    // Names that are not UTF-8.
    write(&root.join(OsStr::from_bytes(b"caf\xe9.txt")), 300)?;
    let odd = root.join(OsStr::from_bytes(b"dir\xff\xfe"));
    fs::create_dir_all(odd.join(OsStr::from_bytes(b"\x80sub")))?;
    write(&odd.join("inside"), 700)?;
    write(&odd.join(OsStr::from_bytes(b"\x80sub/x\xc3")), 7000)?;
    // Hard links within one directory: counted once.
    write(&j("hl/orig"), 9000)?;
    fs::hard_link(j("hl/orig"), j("hl/alias"))?;
    fs::hard_link(j("hl/orig"), j("hl/alias2"))?;
    for i in 0..3000 {
        write(&j(&format!("wide/w{i:04}")), i % 97)?;
    }
    let mut deep = j("deep");
    for level in 0..40 {
        deep.push(format!("d{level}"));
        fs::create_dir_all(&deep)?;
        write(&deep.join("f"), level * 10)?;
    }
    // A FIFO: neither file nor directory, still an entry. std cannot make
    // one without unsafe code, hence mkfifo(1).
    let st = Command::new("mkfifo").arg(j("fifo/pipe")).status()?;
    if !st.success() {
        return Err(io::Error::other(format!("mkfifo failed: {st}")));
    }
    if cross_dir_links {
        fs::create_dir_all(j("xb"))?;
        fs::create_dir_all(j("xa/sub"))?;
        write(&j("xb/orig"), 20_000)?;
        fs::hard_link(j("xb/orig"), j("xa/sub/link"))?;
        fs::hard_link(j("xb/orig"), j("xb/link"))?;
        // Between the deep chain and the root: the root's `0…` sorts first.
        fs::hard_link(j("deep/d0/d1/d2/f"), j("0_deep_link"))?;
        // `a/b/two` (first) gets a second name in the wide directory.
        fs::hard_link(j("a/b/two"), j("wide/0first"))?;
    }
    Ok(())
}

/// Makes every directory under `root` writable and searchable again so a
/// temporary tree (with its unreadable directory) can be removed.
pub fn make_removable(root: &Path) {
    fn fix(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    fix(&e.path());
                }
            }
        }
    }
    fix(root);
}
