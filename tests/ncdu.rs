//! ncdu interop end to end: `import ncdu` of the real ncdu's export equals a
//! scan of the same tree and the oracle, directory by directory; `export
//! ncdu` writes a file the real ncdu loads and re-exports with the same
//! totals; bad exports are one-line errors (exit 4) that store nothing.
//!
//! Tests that run the real `ncdu` are ignored unless asked for (`.ci/run`
//! installs ncdu and runs them by their reason).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, bytes, fails_with, ok, stderr};
use disktracker::DirRecord;
use disktracker_testkit::fixtures::{gen_tree, handmade_tree, make_removable};
use disktracker_testkit::oracle;
use rstest::rstest;

/// Exit code of a corrupt input (README, "Exit codes").
const CORRUPT: i32 = 4;
const NOT_FOUND: i32 = 3;

fn contains(doc: &[u8], pat: &[u8]) -> bool {
    doc.windows(pat.len()).any(|w| w == pat)
}

/// The numbers compared, by path.
fn numbers(rows: &[DirRecord]) -> Vec<(Vec<u8>, [u64; 7])> {
    rows.iter()
        .map(|r| {
            let s = &r.stats;
            (
                r.path.clone(),
                [
                    s.total_bytes,
                    s.total_apparent,
                    s.file_count,
                    s.direct_bytes,
                    s.direct_apparent,
                    s.direct_files,
                    s.child_count,
                ],
            )
        })
        .collect()
}

#[track_caller]
fn assert_same(a: &[DirRecord], b: &[DirRecord]) {
    let (a, b) = (numbers(a), numbers(b));
    assert_same_numbers(&a, &b);
}

#[track_caller]
fn assert_same_numbers(a: &[(Vec<u8>, [u64; 7])], b: &[(Vec<u8>, [u64; 7])]) {
    assert_eq!(a.len(), b.len(), "directory counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x, y, "{}", String::from_utf8_lossy(&x.0));
    }
}

/// The oracle's numbers for every directory of `root`.
fn oracle_numbers(root: &Path) -> Vec<(Vec<u8>, [u64; 7])> {
    oracle::compute(root)
        .dirs
        .into_iter()
        .map(|(p, e)| {
            (
                p,
                [
                    e.total_bytes,
                    e.total_apparent,
                    e.file_count,
                    e.direct_bytes,
                    e.direct_apparent,
                    e.direct_files,
                    e.child_count,
                ],
            )
        })
        .collect()
}

/// A generated tree plus what the round trip must survive by name: hard
/// links across directories (where the first-path rule decides), names
/// that are not UTF-8, a sparse file, empty directories, a directory
/// called `[files]`.
fn tree(env: &Env) -> std::path::PathBuf {
    let root = env.path().join("tree");
    gen_tree(&root, 1_500, 12).unwrap();
    let odd = root.join(OsStr::from_bytes(b"odd\xff\xfe dir"));
    fs::create_dir_all(odd.join("[files]/empty")).unwrap();
    fs::create_dir_all(root.join("a-b")).unwrap();
    fs::create_dir_all(root.join("a/x")).unwrap();
    fs::write(root.join("a/x/orig"), vec![7u8; 10_000]).unwrap();
    fs::hard_link(root.join("a/x/orig"), root.join("a-b/link")).unwrap();
    fs::hard_link(
        root.join("a/x/orig"),
        odd.join(OsStr::from_bytes(b"\xe9link")),
    )
    .unwrap();
    fs::File::create(odd.join("sparse"))
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    root
}

fn run_ncdu(args: &[&OsStr]) -> std::process::Output {
    Command::new("ncdu")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ncdu runs (apt-get install ncdu)")
}

#[rstest]
#[ignore = "needs ncdu (apt-get install ncdu)"]
fn ncdu_export_imports_equal_to_a_scan_and_the_oracle(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = tree(&env);
    let export = env.path().join("out.json");
    let o = run_ncdu(&[
        OsStr::new("-0"),
        OsStr::new("-x"),
        OsStr::new("-o"),
        export.as_os_str(),
        root.as_os_str(),
    ]);
    assert!(o.status.success(), "ncdu -o: {}", stderr(&o));
    let doc = fs::read(&export).unwrap();
    // ncdu writes the non-UTF-8 name as raw bytes inside a JSON string.
    assert!(contains(&doc, b"\"odd\xff\xfe dir\""));

    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "import",
        "ncdu",
        export.to_str().unwrap(),
    ]));
    // The import wrote the live index, as a scan does.
    let sub = root.join("a");
    let o = env.run(&[
        "--backend",
        backend,
        "--format",
        "json",
        "size",
        sub.to_str().unwrap(),
    ]);
    let live: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]));
    let store = env.store(backend);
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), 2);
    let (imported, scanned) = (&snaps[0], &snaps[1]);
    assert_eq!(imported.meta.root, bytes(&root));
    assert!(
        imported.meta.walker.starts_with("import ncdu 1."),
        "{}",
        imported.meta.walker
    );
    // The time is the export's.
    let text = String::from_utf8_lossy(&doc);
    let ts: i64 = text.split("\"timestamp\":").nth(1).unwrap()[..10]
        .parse()
        .unwrap();
    assert_eq!(imported.meta.started_at_ms, ts * 1000);
    let a = store.read_tree(imported.id, None).unwrap();
    let b = store.read_tree(scanned.id, None).unwrap();
    assert_same(&a, &b);
    assert_eq!(numbers(&a), oracle_numbers(&root));
    assert_eq!(
        (
            imported.meta.total_bytes,
            imported.meta.total_apparent,
            imported.meta.total_files
        ),
        (
            scanned.meta.total_bytes,
            scanned.meta.total_apparent,
            scanned.meta.total_files
        )
    );
    let want = a
        .iter()
        .find(|r| r.path == bytes(&sub))
        .unwrap()
        .stats
        .total_bytes;
    assert!(live.to_string().contains(&format!(":{want}")), "{live}");
    make_removable(&root);
}

#[test]
#[ignore = "needs ncdu (apt-get install ncdu)"]
fn an_exported_snapshot_loads_in_ncdu_and_reexports_the_same_totals() {
    let env = Env::new();
    let root = tree(&env);
    ok(&env.run(&["--quiet", "scan", root.to_str().unwrap()]));
    let exported = env.path().join("e.json");
    ok(&env.run(&["export", "ncdu", "1", "-o", exported.to_str().unwrap()]));
    let doc = fs::read(&exported).unwrap();
    // The note, and a files entry that does not take the `[files]` directory's name.
    assert!(String::from_utf8_lossy(&doc).contains("\"disktracker_note\":"));
    assert!(contains(&doc, b"\"[files]~1\""));

    // ncdu reads it and writes it out again (-f with -o: no interface).
    let again = env.path().join("r.json");
    let o = run_ncdu(&[
        OsStr::new("-0"),
        OsStr::new("-f"),
        exported.as_os_str(),
        OsStr::new("-o"),
        again.as_os_str(),
    ]);
    // ncdu exits 0 even when its import fails: the message on stderr tells.
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "ncdu -f: {}",
        stderr(&o)
    );
    let other = Env::new();
    ok(&other.run(&["--quiet", "import", "ncdu", again.to_str().unwrap()]));
    // Every size survives; ncdu drops the file counts of the folded
    // entries (`disktracker_files`), so each becomes one file.
    let sizes_only = |rows: Vec<DirRecord>| {
        let mut n = numbers(&rows);
        for (_, v) in &mut n {
            v[2] = 0;
            v[5] = v[5].min(1);
        }
        n
    };
    let original = sizes_only(env.store("sqlite").read_tree(1, None).unwrap());
    let reread = sizes_only(other.store("sqlite").read_tree(1, None).unwrap());
    assert_same_numbers(&original, &reread);
    make_removable(&root);
}

#[rstest]
fn export_then_import_round_trips(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = tree(&env);
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]));
    // No snapshot named: the newest covering the current directory.
    let o = env
        .cmd()
        .current_dir(root.join("a"))
        .args(["--backend", backend, "export", "ncdu"])
        .output()
        .unwrap();
    ok(&o);
    let doc = o.stdout;
    // The `[files]` directory keeps its name; its parent's files entry does not take it.
    assert!(contains(&doc, b"\n{\"name\":\"[files]~1\""));
    assert!(contains(&doc, b"\n[{\"name\":\"[files]\""));
    let other = Env::new();
    let mut child = other
        .cmd()
        .args(["--backend", backend, "--quiet", "import", "ncdu", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&doc).unwrap();
    ok(&child.wait_with_output().unwrap());
    let a = env.store(backend).read_tree(1, None).unwrap();
    let b = other.store(backend).read_tree(1, None).unwrap();
    assert_same(&a, &b);
    assert_eq!(numbers(&b), oracle_numbers(&root));
    let snap = &other.snapshots(backend)[0];
    assert_eq!(
        snap.meta.walker,
        format!("import disktracker {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(snap.meta.host, env.snapshots(backend)[0].meta.host);
    make_removable(&root);
}

/// A small valid export, as the binary writes it.
fn small_export(env: &Env) -> Vec<u8> {
    let root = env.path().join("small");
    handmade_tree(&root).unwrap();
    ok(&env.run(&["--quiet", "scan", root.to_str().unwrap()]));
    let o = env.run(&["export", "ncdu"]);
    ok(&o);
    make_removable(&root);
    o.stdout
}

#[rstest]
fn bad_exports_are_one_line_errors_that_store_nothing(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let good = small_export(&Env::new());
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "scan",
        env.path().to_str().unwrap(),
    ]));
    let before = env.snapshots(backend);
    let mut deep = b"[1,2,{},[{\"name\":\"/r\"}".to_vec();
    for _ in 0..100_000 {
        deep.extend_from_slice(b",[{\"name\":\"d\"}");
    }
    let mut cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            "wrong version".into(),
            b"[2,0,{},[{\"name\":\"/r\"}]]".to_vec(),
            "version 2.0 at byte 1",
        ),
        (
            "negative".into(),
            b"[1,2,{},[{\"name\":\"/r\",\"asize\":-5}]]".to_vec(),
            "negative number for \"asize\" at byte 30",
        ),
        (
            "huge".into(),
            b"[1,2,{},[{\"name\":\"/r\",\"dsize\":99999999999999999999}]]".to_vec(),
            "out of range at byte 30",
        ),
        ("deep".into(), deep, "deeper than 4096 levels at byte"),
        (
            "duplicate".into(),
            b"[1,2,{},[{\"name\":\"/r\"},{\"name\":\"a\"},{\"name\":\"a\"}]]".to_vec(),
            "duplicate name in one directory at byte 36",
        ),
        (
            "missing name".into(),
            b"[1,2,{},[{\"name\":\"/r\"},[{\"asize\":1}]]]".to_vec(),
            "without \"name\" at byte 23",
        ),
        (
            "empty".into(),
            Vec::new(),
            "unexpected end of file at byte 0",
        ),
        ("binary".into(), vec![0xff, 0, 1, 2], "at byte 0"),
    ];
    // Cut anywhere, the export is refused.
    for i in 1..25 {
        let cut = good.len() * i / 25;
        cases.push((format!("cut at {cut}"), good[..cut].to_vec(), "at byte"));
    }
    for (what, doc, says) in cases {
        let file = env.path().join("bad.json");
        fs::write(&file, &doc).unwrap();
        let o = env.run(&[
            "--backend",
            backend,
            "import",
            "ncdu",
            file.to_str().unwrap(),
        ]);
        let err = fails_with(&o, CORRUPT);
        assert!(err.contains(says), "{what}: {err}");
        assert!(err.contains("bad.json"), "{what}: {err}");
        assert_eq!(
            env.snapshots(backend).len(),
            before.len(),
            "{what}: something was stored"
        );
    }
    // The untruncated export is fine.
    let file = env.path().join("good.json");
    fs::write(&file, &good).unwrap();
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "import",
        "ncdu",
        file.to_str().unwrap(),
    ]));
    assert_eq!(env.snapshots(backend).len(), before.len() + 1);
}

#[test]
fn names_that_are_not_utf8_are_stored_losslessly() {
    let env = Env::new();
    let file = env.path().join("raw.json");
    fs::write(
        &file,
        b"[1,2,{\"timestamp\":1700000000},[{\"name\":\"/srv/caf\xe9\",\"dsize\":4096},[{\"name\":\"\xff\\n\\u00e9\",\"asize\":5,\"dsize\":512}]]]",
    )
    .unwrap();
    ok(&env.run(&["--quiet", "import", "ncdu", file.to_str().unwrap()]));
    let rows = env.store("sqlite").read_tree(1, None).unwrap();
    let paths: Vec<&[u8]> = rows.iter().map(|r| r.path.as_slice()).collect();
    assert_eq!(
        paths,
        [
            b"/srv/caf\xe9".as_slice(),
            b"/srv/caf\xe9/\xff\n\xc3\xa9".as_slice()
        ]
    );
    assert_eq!(rows[0].stats.total_bytes, 4608);
    let snap = &env.snapshots("sqlite")[0];
    assert_eq!(snap.meta.started_at_ms, 1_700_000_000_000);
}

#[test]
fn missing_inputs_and_snapshots_are_not_found() {
    let env = Env::new();
    let o = env.run(&["import", "ncdu", "/nonexistent/x.json"]);
    assert!(fails_with(&o, NOT_FOUND).contains("/nonexistent/x.json"));
    fails_with(&env.run(&["export", "ncdu"]), NOT_FOUND);
    ok(&env.run(&["--quiet", "scan", env.path().to_str().unwrap()]));
    let o = env.run(&["export", "ncdu", "9"]);
    assert!(fails_with(&o, NOT_FOUND).contains("no snapshot 9"));
    // A failed export leaves no file behind.
    let out = env.path().join("never.json");
    fails_with(
        &env.run(&["export", "ncdu", "9", "-o", out.to_str().unwrap()]),
        NOT_FOUND,
    );
    assert!(!out.exists());
}
