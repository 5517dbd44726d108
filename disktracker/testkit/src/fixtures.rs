//! Fixture trees: a handmade tree of edge cases and generated realistic trees.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared` beside the project: DESIGN.md, seeds, `bench/gen_tree.py`.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Generates a deterministic realistic tree with `../shared/bench/gen_tree.py`
/// (hard links, symlink loops, sparse files, non-UTF-8 names, an unreadable
/// directory). `out` must not exist or be empty.
pub fn gen_tree(out: &Path, nfiles: u64, seed: u64) -> io::Result<()> {
    let script = shared_dir().join("bench/gen_tree.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out)
        .arg(nfiles.to_string())
        .arg(seed.to_string())
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "{} failed: {status}",
            script.display()
        )));
    }
    Ok(())
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
    let bad_dir = root.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    fs::create_dir(&bad_dir)?;
    write(
        &bad_dir.join(std::ffi::OsStr::from_bytes(b"r\xe9sum\xe9\xff.txt")),
        3_000,
    )?;
    write(&root.join(std::ffi::OsStr::from_bytes(b"line\nbreak")), 10)?;
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
