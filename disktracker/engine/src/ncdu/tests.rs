//! The ncdu reader against hand-described trees (through the scan path's
//! aggregation, so imports count exactly as scans do), and against every
//! truncation, mutation and hostile input: an error naming a byte offset,
//! never a panic.

use disktracker::{CancelToken, ErrorKind};
use proptest::prelude::*;

use super::read::read_ncdu;
use super::write::{json_bytes, tree_order};
use crate::ScanTree;
use crate::synthetic::{Expected, Tree, link_size};

fn read(doc: &[u8]) -> disktracker::Result<super::NcduImport> {
    read_ncdu(&mut &doc[..], "test.json", &CancelToken::new())
}

/// A synthetic tree as ncdu would export it: each directory's `files`
/// plain files (sizes on the directory itself), its hard links with `ino`,
/// `hlnkc` and `nlink`, children in reverse order (ncdu's order is the
/// directory's, not sorted).
fn export(t: &Tree) -> Vec<u8> {
    fn dir(t: &Tree, i: usize, out: &mut Vec<u8>) {
        let d = &t.dirs[i];
        out.extend_from_slice(b"[{\"name\":");
        json_bytes(out, &d.name).unwrap();
        out.extend_from_slice(
            format!(",\"asize\":{},\"dsize\":{}", d.apparent, d.bytes).as_bytes(),
        );
        if i == 0 {
            out.extend_from_slice(b",\"dev\":1");
        }
        out.push(b'}');
        for f in 0..d.files {
            out.extend_from_slice(format!(",\n{{\"name\":\"f{f}\"}}").as_bytes());
        }
        for l in t.links.iter().filter(|l| l.dir == i) {
            let (b, a) = link_size(l.dev, l.ino);
            out.extend_from_slice(b",\n{\"name\":");
            json_bytes(out, &l.name).unwrap();
            out.extend_from_slice(
                format!(
                    ",\"asize\":{a},\"dsize\":{b},\"dev\":{},\"ino\":{},\"hlnkc\":true,\"nlink\":3}}",
                    l.dev, l.ino
                )
                .as_bytes(),
            );
        }
        let children: Vec<usize> = (0..t.dirs.len())
            .filter(|&c| t.dirs[c].parent == Some(i))
            .collect();
        for &c in children.iter().rev() {
            out.extend_from_slice(b",\n");
            dir(t, c, out);
        }
        out.push(b']');
    }
    let mut out =
        b"[1,2,{\"progname\":\"ncdu\",\"progver\":\"1.18\",\"timestamp\":1700000000},\n".to_vec();
    dir(t, 0, &mut out);
    out.extend_from_slice(b"]\n");
    out
}

/// The imported tree's totals, in the synthetic tree's id order.
fn imported(t: &Tree) -> Vec<Expected> {
    let got = read(&export(t)).unwrap();
    let tree = ScanTree::from_walk(got.walk).unwrap();
    let by_path: std::collections::HashMap<Vec<u8>, u32> =
        (0..tree.len() as u32).map(|i| (tree.path(i), i)).collect();
    assert_eq!(tree.len(), t.dirs.len());
    (0..t.dirs.len())
        .map(|i| Expected::of(&tree, by_path[&t.path(i)]))
        .collect()
}

fn sample() -> Tree {
    let mut t = Tree::new("/r");
    let a = t.dir(0, "a", 8192, 2);
    let ab = t.dir(0, "a-b", 4096, 1);
    let sub = t.dir(a, "sub", 4096, 0);
    t.dirs[sub].name = b"s\xffub".to_vec();
    // One file, three names: `/r/a-b/x` sorts before `/r/a/…`.
    t.link(a, "x", 7, 1);
    t.link(sub, "y", 7, 1);
    t.link(ab, "x", 7, 1);
    // Same inode number on another device: another file.
    t.link(a, "z", 8, 1);
    t
}

#[test]
fn an_export_is_aggregated_as_a_scan_would_be() {
    let t = sample();
    assert_eq!(imported(&t), t.expected());
    let got = read(&export(&t)).unwrap();
    assert_eq!(got.timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(got.program.as_deref(), Some("ncdu 1.18"));
    assert_eq!(got.minor, 2);
}

#[test]
fn fields_ncdu_leaves_out_or_adds_are_handled() {
    // Zero sizes are left out; `dev` is inherited; excluded entries and
    // unknown fields (extended mode, a newer minor version) are skipped;
    // a read error is counted on its directory; names are raw bytes.
    let doc = b"[1,3,{\"progname\":\"gdu\",\"x\":[{\"a\":[1,-2.5e3,null,true]}]},\n\
        [{\"name\":\"/r/\",\"asize\":10,\"dsize\":4096,\"dev\":5,\"uid\":0,\"mode\":16877,\"mtime\":3},\n\
        {\"name\":\"empty\"},\n\
        {\"name\":\"skip\",\"asize\":99,\"excluded\":\"pattern\"},\n\
        [{\"name\":\"bad\\u00e9\xe9\",\"read_error\":true}],\n\
        [{\"name\":\"kern\",\"excluded\":\"kernfs\"},{\"name\":\"x\",\"asize\":1}],\n\
        {\"name\":\"h\",\"asize\":3,\"dsize\":512,\"ino\":9,\"nlink\":2,\"notreg\":false}],\n\
        {\"future\":1}]";
    let got = read(doc).unwrap();
    assert_eq!(got.timestamp_ms, None);
    assert_eq!(got.program.as_deref(), Some("gdu"));
    let tree = ScanTree::from_walk(got.walk).unwrap();
    assert_eq!(tree.len(), 2);
    assert_eq!(tree.root(), b"/r");
    assert_eq!(tree.path(1), b"/r/bad\xc3\xa9\xe9");
    let s = tree.stats(0);
    assert_eq!(
        (s.total_bytes, s.total_apparent, s.file_count),
        (4608, 13, 2)
    );
    assert_eq!((s.direct_files, s.child_count, s.dev), (2, 1, 5));
    assert_eq!(s.mtime_ns, 3_000_000_000);
    assert_eq!(tree.stats(1).error_count, 1);
    assert_eq!(tree.stats(1).dev, 5);
}

/// An error of the reader: kind Corrupt, one line, with the byte offset.
fn offset_of(e: &disktracker::Error) -> u64 {
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    let at = text
        .find(" at byte ")
        .unwrap_or_else(|| panic!("no offset: {text}"));
    text[at + 9..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_truncation_is_an_error_at_an_offset_inside_the_input() {
    let doc = export(&sample());
    let end = doc.iter().rposition(|&c| c == b']').unwrap() + 1;
    for cut in 0..end {
        let e = read(&doc[..cut]).map(drop).unwrap_err();
        assert!(offset_of(&e) <= cut as u64, "cut {cut}: {e}");
    }
}

#[test]
fn hostile_inputs_are_errors_naming_where() {
    let deep = {
        let mut d = b"[1,2,{},[{\"name\":\"/r\"}".to_vec();
        for _ in 0..100_000 {
            d.extend_from_slice(b",[{\"name\":\"d\"}");
        }
        d
    };
    let deep_value = {
        let mut d = b"[1,2,{\"x\":".to_vec();
        d.extend(std::iter::repeat_n(b'[', 100_000));
        d
    };
    let cases: Vec<(&str, Vec<u8>, &str, u64)> = vec![
        ("empty", b"".to_vec(), "end of file", 0),
        ("not json", b"hello".to_vec(), "expected '['", 0),
        ("version 2", b"[2,0,{},[{\"name\":\"/r\"}]]".to_vec(), "version 2.0", 1),
        ("minor too big", b"[1,10001,{},[{\"name\":\"/r\"}]]".to_vec(), "version", 1),
        ("negative", b"[1,2,{},[{\"name\":\"/r\",\"asize\":-1}]]".to_vec(), "negative", 30),
        (
            "above u64",
            b"[1,2,{},[{\"name\":\"/r\",\"dsize\":18446744073709551616}]]".to_vec(),
            "out of range", 30),
        (
            "above 2^63",
            b"[1,2,{},[{\"name\":\"/r\",\"dsize\":9223372036854775808}]]".to_vec(),
            "2^63", 30),
        (
            "sum above 2^63",
            b"[1,2,{},[{\"name\":\"/r\",\"dsize\":9223372036854775807},{\"name\":\"f\",\"dsize\":1}]]"
                .to_vec(),
            "add up",
            51,
        ),
        ("fraction", b"[1,2,{},[{\"name\":\"/r\",\"asize\":1.5}]]".to_vec(), "not an integer", 31),
        ("string size", b"[1,2,{},[{\"name\":\"/r\",\"asize\":\"1\"}]]".to_vec(), "integer", 30),
        ("no name", b"[1,2,{},[{\"name\":\"/r\"},{\"asize\":1}]]".to_vec(), "without \"name\"", 23),
        ("relative root", b"[1,2,{},[{\"name\":\"r\"}]]".to_vec(), "absolute", 9),
        ("slash", b"[1,2,{},[{\"name\":\"/r\"},[{\"name\":\"a/b\"}]]]".to_vec(), "invalid entry name", 23),
        ("dot dot", b"[1,2,{},[{\"name\":\"/r\"},{\"name\":\"..\"}]]".to_vec(), "invalid entry name", 23),
        (
            "duplicate",
            b"[1,2,{},[{\"name\":\"/r\"},[{\"name\":\"a\"}],{\"name\":\"a\"}]]".to_vec(),
            "duplicate name", 38),
        (
            "link without ino",
            b"[1,2,{},[{\"name\":\"/r\"},{\"name\":\"a\",\"hlnkc\":true}]]".to_vec(),
            "without \"ino\"", 23),
        ("control char", b"[1,2,{},[{\"name\":\"/r\x01\"}]]".to_vec(), "control character", 20),
        ("bad escape", b"[1,2,{},[{\"name\":\"/r\\q\"}]]".to_vec(), "invalid escape", 20),
        ("lone surrogate", b"[1,2,{},[{\"name\":\"/r\\ud800\"}]]".to_vec(), "surrogate", 20),
        ("trailing", b"[1,2,{},[{\"name\":\"/r\"}]] x".to_vec(), "after the end", 25),
        ("unclosed", b"[1,2,{},[{\"name\":\"/r\"}".to_vec(), "end of file", 22),
        ("deep dirs", deep, "deeper than 4096", 22 + 4095 * 14 + 1),
        ("deep value", deep_value, "deeper than 4096", 10 + 4095),
    ];
    let mut wrong = Vec::new();
    for (what, doc, says, at) in cases {
        let e = read(&doc).map(drop).unwrap_err();
        if !e.to_string().contains(says) || offset_of(&e) != at {
            wrong.push(format!("{what} (want {at}, {says}): {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn names_round_trip_through_the_writer_byte_exact() {
    let names: [&[u8]; 5] = [
        b"plain",
        b"q\"uo\\te",
        b"ctl\x01\n\x1f",
        b"\xff\xfe raw",
        "é😀".as_bytes(),
    ];
    for name in names {
        let mut t = Tree::new("/r");
        let d = t.dir(0, "x", 4096, 0);
        t.dirs[d].name = name.to_vec();
        let got = read(&export(&t)).unwrap();
        let tree = ScanTree::from_walk(got.walk).unwrap();
        assert_eq!(tree.path(1), [b"/r/".as_slice(), name].concat());
    }
}

#[test]
fn tree_order_puts_a_subtree_right_after_its_directory() {
    let mut paths: Vec<&[u8]> = vec![
        b"/r/a-b",
        b"/r/a/x",
        b"/r",
        b"/r/a",
        b"/r/a/x/y",
        b"/r/a.b",
        b"/r/b",
    ];
    paths.sort_by(|a, b| tree_order(a, b));
    let want: Vec<&[u8]> = vec![
        b"/r",
        b"/r/a",
        b"/r/a/x",
        b"/r/a/x/y",
        b"/r/a-b",
        b"/r/a.b",
        b"/r/b",
    ];
    assert_eq!(paths, want);
}

/// A random tree: names chosen to hit the bytewise traps (`a`, `a-`, `a.`).
fn arb_tree() -> impl Strategy<Value = Tree> {
    let dirs = prop::collection::vec(
        (any::<prop::sample::Index>(), 0u8..4, 0u64..3, 0u64..20_000),
        0..25,
    );
    let links = prop::collection::vec((any::<prop::sample::Index>(), 1u64..3, 0u64..6), 0..20);
    (dirs, links).prop_map(|(dirs, links)| {
        let mut t = Tree::new("/root");
        for (i, (parent, style, files, bytes)) in dirs.into_iter().enumerate() {
            let p = parent.index(t.dirs.len());
            let name = format!("{}{i}", ["a", "a-", "a.", "\u{e9}"][style as usize]);
            t.dir(p, &name, bytes, files);
        }
        for (k, (dir, dev, ino)) in links.into_iter().enumerate() {
            let d = dir.index(t.dirs.len());
            t.link(d, &format!("l{k}"), dev, ino);
        }
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_trees_import_as_the_oracle_says(t in arb_tree()) {
        prop_assert_eq!(imported(&t), t.expected());
    }

    #[test]
    fn mutated_exports_never_panic(
        t in arb_tree(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut doc = export(&t);
        for (at, byte) in edits {
            let i = at.index(doc.len());
            doc[i] = byte;
        }
        if let Err(e) = read(&doc) {
            prop_assert!(offset_of(&e) <= doc.len() as u64);
        }
    }
}

/// Hands out at most `n` bytes per read, so every token meets a refill.
struct Trickle<'a>(&'a [u8], usize);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn reads_split_anywhere_give_the_same_tree_and_the_same_errors() {
    let t = sample();
    let doc = export(&t);
    for n in [1, 2, 3, 7] {
        let got = read_ncdu(&mut Trickle(&doc, n), "t", &CancelToken::new()).unwrap();
        let tree = ScanTree::from_walk(got.walk).unwrap();
        let whole = ScanTree::from_walk(read(&doc).unwrap().walk).unwrap();
        assert_eq!(tree.len(), whole.len());
        for i in 0..tree.len() as u32 {
            assert_eq!(
                (tree.path(i), tree.stats(i)),
                (whole.path(i), whole.stats(i))
            );
        }
        let bad = b"[1,2,{},[{\"name\":\"/r\",\"asize\":123.5}]]";
        let e = read_ncdu(&mut Trickle(bad, n), "t", &CancelToken::new()).unwrap_err();
        assert_eq!(offset_of(&e), 33, "{e}");
    }
}
