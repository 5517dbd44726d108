//! Writing a snapshot as an ncdu export (format 1.2) that `ncdu -f` opens.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::io::Write;

use disktracker::path::{escape_bytes, is_within, join_bytes, parent_bytes};
use disktracker::{DirRecord, Error, ErrorKind, Result, SnapshotInfo, SnapshotStore};

/// The name of the entry that stands for a directory's direct files (the
/// store keeps no file names). It is a file entry; where a subdirectory has
/// this very name, `~1`, `~2`, … is appended, so it never collides with a
/// directory of the export.
pub const FILES_ENTRY: &str = "[files]";

/// Said in the export's metadata (`disktracker_note`).
pub const NOTE: &str = "Written by disktracker from a snapshot, which keeps directories but \
    no file names: each directory's direct files (with the directory's own inode) are one \
    entry named [files] (its disktracker_files field says how many files it stands for); \
    directory totals are exact, hard links counted once.";

/// Path order with `/` sorting before every other byte: a parent, then its
/// whole subtree, then its next sibling (bytewise order puts `a-b` between
/// `a` and `a/x`). Names hold no NUL, so `/` as 0 is unambiguous.
pub(crate) fn tree_order(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: &u8| if *c == b'/' { 0 } else { *c };
    a.iter().map(key).cmp(b.iter().map(key))
}

/// A JSON string of raw bytes, as ncdu writes names: `"` and `\` and
/// control bytes escaped, everything else (invalid UTF-8 included) as is.
pub(crate) fn json_bytes(w: &mut dyn Write, s: &[u8]) -> std::io::Result<()> {
    w.write_all(b"\"")?;
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c == b'"' || c == b'\\' || c < 0x20 {
            w.write_all(&s[start..i])?;
            match c {
                b'"' => w.write_all(b"\\\"")?,
                b'\\' => w.write_all(b"\\\\")?,
                c => write!(w, "\\u{c:04x}")?,
            }
            start = i + 1;
        }
    }
    w.write_all(&s[start..])?;
    w.write_all(b"\"")
}

/// Sizes, leaving out zeros as ncdu does.
fn sizes(w: &mut dyn Write, apparent: u64, disk: u64) -> std::io::Result<()> {
    if apparent > 0 {
        write!(w, ",\"asize\":{apparent}")?;
    }
    if disk > 0 {
        write!(w, ",\"dsize\":{disk}")?;
    }
    Ok(())
}

/// Writes snapshot `snap` of `store` to `out` as an ncdu export: every
/// directory, with its direct files folded into one [`FILES_ENTRY`] file
/// (a directory without files carries its own size itself). Returns the
/// number of directories written. A write error is [`ErrorKind::Io`].
pub fn write_ncdu(
    store: &dyn SnapshotStore,
    snap: &SnapshotInfo,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut rows: Vec<DirRecord> = Vec::new();
    store.visit_tree(snap.id, None, &mut |r| {
        rows.push(r.clone());
        true
    })?;
    rows.sort_unstable_by(|a, b| tree_order(&a.path, &b.path));
    let broken = |what: String| {
        Error::new(
            ErrorKind::Corrupt,
            format!("snapshot {} in {}: {what}", snap.id, store.location()),
        )
    };
    if rows.first().map(|r| r.path.as_slice()) != Some(snap.meta.root.as_slice()) {
        return Err(broken("its root directory is missing".to_owned()));
    }
    // Paths whose name could be taken for the files entry of their parent.
    let taken: HashSet<&[u8]> = rows
        .iter()
        .filter(|r| {
            r.path
                .rsplit(|&c| c == b'/')
                .next()
                .is_some_and(|n| n.starts_with(FILES_ENTRY.as_bytes()))
        })
        .map(|r| r.path.as_slice())
        .collect();
    let io = |e: std::io::Error| {
        Error::new(ErrorKind::Io, "cannot write the ncdu export").with_source(e)
    };
    let w = out;
    write!(
        w,
        "[1,2,{{\"progname\":\"disktracker\",\"progver\":\"{}\",\"timestamp\":{},\"host\":",
        env!("CARGO_PKG_VERSION"),
        snap.meta.finished_at_ms.max(0) / 1000
    )
    .map_err(io)?;
    json_bytes(w, snap.meta.host.as_bytes()).map_err(io)?;
    write!(
        w,
        ",\"disktracker_snapshot\":{},\"disktracker_note\":",
        snap.id
    )
    .map_err(io)?;
    json_bytes(w, NOTE.as_bytes()).map_err(io)?;
    w.write_all(b"}").map_err(io)?;

    let mut open: Vec<&[u8]> = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        while let Some(top) = open.last() {
            if r.path.len() > top.len() && is_within(&r.path, top) {
                break;
            }
            w.write_all(b"]").map_err(io)?;
            open.pop();
        }
        let name: &[u8] = match open.last() {
            None => &r.path,
            Some(top) => {
                if parent_bytes(&r.path) != Some(top) {
                    return Err(broken(format!(
                        "{} has no parent directory",
                        escape_bytes(&r.path)
                    )));
                }
                r.path.rsplit(|&c| c == b'/').next().unwrap_or_default()
            }
        };
        if open.is_empty() && n > 0 {
            return Err(broken(format!(
                "{} lies outside its root",
                escape_bytes(&r.path)
            )));
        }
        let s = &r.stats;
        w.write_all(b",\n[{\"name\":").map_err(io)?;
        json_bytes(w, name).map_err(io)?;
        if s.direct_files == 0 {
            sizes(w, s.direct_apparent, s.direct_bytes).map_err(io)?;
        }
        if s.error_count > 0 {
            w.write_all(b",\"read_error\":true").map_err(io)?;
        }
        w.write_all(b"}").map_err(io)?;
        if s.direct_files > 0 {
            let mut entry = FILES_ENTRY.as_bytes().to_vec();
            let mut n = 0;
            while taken.contains(join_bytes(&r.path, &entry).as_slice()) {
                n += 1;
                entry = format!("{FILES_ENTRY}~{n}").into_bytes();
            }
            w.write_all(b",\n{\"name\":").map_err(io)?;
            json_bytes(w, &entry).map_err(io)?;
            sizes(w, s.direct_apparent, s.direct_bytes).map_err(io)?;
            write!(w, ",\"disktracker_files\":{}}}", s.direct_files).map_err(io)?;
        }
        open.push(&r.path);
    }
    for _ in &open {
        w.write_all(b"]").map_err(io)?;
    }
    w.write_all(b"]\n").map_err(io)?;
    w.flush().map_err(io)?;
    Ok(rows.len() as u64)
}
