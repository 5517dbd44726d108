//! Snapshot history end to end: diff, explain, warm rescans and retention,
//! on both stores. Expected deltas come from the independent oracle
//! (`disktracker_testkit::oracle`), computed on the tree before and after
//! known changes, never from the program.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Env, append, bytes, fails_with, ok, write};
use disktracker_testkit::oracle::{self, Oracle};
use rstest::rstest;
use serde_json::Value;

const BACKENDS: [&str; 2] = ["sqlite", "redb"];

fn initial_tree(root: &Path) {
    write(&root.join("grow/file"), 10_000);
    write(&root.join("grow/other"), 3_000);
    for i in 0..5 {
        write(&root.join(format!("gone/sub{i}/f")), 20_000 + i * 1000);
    }
    write(&root.join("mover/inner/f"), 50_000);
    write(&root.join("stay/f"), 7_000);
    write(&root.join("stay-not/f"), 1_000);
}

/// A private environment with `initial_tree` at `<scratch>/tree`.
fn env_with_tree() -> (Env, PathBuf) {
    let env = Env::new();
    let root = env.path().join("tree");
    initial_tree(&root);
    (env, root)
}

fn known_changes(root: &Path) {
    append(&root.join("grow/file"), 300_000);
    write(&root.join("new/a"), 40_000);
    write(&root.join("new/deeper/b"), 80_000);
    fs::remove_dir_all(root.join("gone")).unwrap();
    fs::rename(root.join("mover"), root.join("moved")).unwrap();
    write(&root.join("direct-file"), 25_000);
}

/// Path → (before, after) of both size kinds for every directory whose
/// size or existence differs between two oracle views.
type Sides = (Option<u64>, Option<u64>, Option<u64>, Option<u64>);

fn expected_diff(before: &Oracle, after: &Oracle) -> BTreeMap<Vec<u8>, Sides> {
    let mut out = BTreeMap::new();
    for path in before.dirs.keys().chain(after.dirs.keys()) {
        let (b, a) = (before.dirs.get(path), after.dirs.get(path));
        let sides = (
            b.map(|e| e.total_bytes),
            a.map(|e| e.total_bytes),
            b.map(|e| e.total_apparent),
            a.map(|e| e.total_apparent),
        );
        if sides.0 != sides.1 || sides.2 != sides.3 {
            out.insert(path.clone(), sides);
        }
    }
    out
}

fn json_path(v: &Value) -> Vec<u8> {
    if let Some(t) = v.get("text") {
        return t.as_str().unwrap().as_bytes().to_vec();
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v["bytes"].as_str().unwrap())
        .unwrap()
}

fn diff_json(env: &Env, backend: &str, extra: &[&str]) -> Value {
    let mut args = vec!["diff", "--top", "1000000"];
    args.extend_from_slice(extra);
    json(env, backend, &args)
}

/// Runs `disktracker --backend B --format json ARGS…` and parses its output.
fn json(env: &Env, backend: &str, args: &[&str]) -> Value {
    let mut all = vec!["--backend", backend, "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&env.run(&all))).unwrap()
}

fn entries(doc: &Value) -> BTreeMap<Vec<u8>, Sides> {
    let n = |v: &Value| v.as_u64();
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                json_path(&e["path"]),
                (
                    n(&e["disk_usage_before"]),
                    n(&e["disk_usage_after"]),
                    n(&e["apparent_size_before"]),
                    n(&e["apparent_size_after"]),
                ),
            )
        })
        .collect()
}

fn scan(env: &Env, backend: &str, root: &Path) {
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]));
}

#[rstest]
fn diff_equals_independent_deltas(#[values("sqlite", "redb")] backend: &str) {
    let (env, root) = env_with_tree();
    scan(&env, backend, &root);
    let before = oracle::compute(&root);
    known_changes(&root);
    scan(&env, backend, &root);
    let after = oracle::compute(&root);
    let want = expected_diff(&before, &after);
    // The scenario must really contain each kind of change.
    let r = |p: &str| bytes(&root.join(p));
    assert!(
        want[&r("new")].0.is_none()
            && want[&r("gone")].1.is_none()
            && want[&r("moved")].0.is_none()
    );

    let doc = diff_json(&env, backend, &[]);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["changed"].as_u64().unwrap() as usize, want.len());
    assert_eq!(entries(&doc), want);

    // Sorted by absolute delta, largest first.
    let deltas: Vec<i64> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["disk_usage_delta"].as_i64().unwrap().abs())
        .collect();
    assert!(deltas.windows(2).all(|w| w[0] >= w[1]), "{deltas:?}");

    // --path restricts to a subtree (and does not confuse "stay-not" with "stay").
    let doc = diff_json(
        &env,
        backend,
        &["--path", root.join("grow").to_str().unwrap()],
    );
    let got = entries(&doc);
    assert_eq!(got.keys().collect::<Vec<_>>(), [&r("grow")]);

    // --min-delta hides small changes.
    let doc = diff_json(&env, backend, &["--min-delta", "100KiB"]);
    let expect: Vec<&Vec<u8>> = want
        .iter()
        .filter(|(_, s)| {
            (i128::from(s.1.unwrap_or(0)) - i128::from(s.0.unwrap_or(0))).unsigned_abs() >= 102_400
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(entries(&doc).keys().collect::<Vec<_>>(), expect);

    // Asking again is served from the cache and gives the same answer.
    assert_eq!(entries(&diff_json(&env, backend, &[])), want);
}

#[test]
fn both_stores_give_the_same_answers() {
    let (env, root) = env_with_tree();
    for b in BACKENDS {
        scan(&env, b, &root);
    }
    known_changes(&root);
    for b in BACKENDS {
        scan(&env, b, &root);
    }
    let [s, r] = BACKENDS.map(|b| diff_json(&env, b, &[]));
    assert_eq!(s["entries"], r["entries"]);
    assert_eq!(s["changed"], r["changed"]);
    let explain = |b: &str| -> Value { json(&env, b, &["explain", root.to_str().unwrap()]) };
    assert_eq!(explain("sqlite")["root"], explain("redb")["root"]);
    let show = |b: &str| -> Value { json(&env, b, &["show", "--depth", "9", "--top", "999"]) };
    assert_eq!(show("sqlite")["rows"], show("redb")["rows"]);
}

#[rstest]
fn warm_rescan_sees_a_file_grown_in_place_behind_an_unchanged_dir_mtime(
    #[values("sqlite", "redb")] backend: &str,
) {
    let (env, root) = env_with_tree();
    let dir = root.join("stay");
    let dir_mtime = fs::metadata(&dir).unwrap().modified().unwrap();
    scan(&env, backend, &root);
    let before = oracle::compute(&root);
    append(&dir.join("f"), 1_000_000);
    // Put the directory's mtime back, so only the file's size betrays the change.
    fs::File::open(&dir)
        .unwrap()
        .set_modified(dir_mtime)
        .unwrap();
    assert_eq!(fs::metadata(&dir).unwrap().modified().unwrap(), dir_mtime);
    let doc: Value = json(&env, backend, &["scan", root.to_str().unwrap()]);
    let after = oracle::compute(&root);
    let want = expected_diff(&before, &after);
    assert_eq!(want.len(), 2, "the directory and the root changed");
    // The warm rescan's own summary agrees with the oracle...
    let since = &doc["since"];
    let first_id = env.snapshots(backend)[0].id;
    assert_eq!(since["previous"].as_i64().unwrap(), first_id);
    assert_eq!(since["changed_directories"], 2);
    assert_eq!(
        (
            since["added_directories"].as_u64(),
            since["removed_directories"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let root_key = bytes(&root);
    let root_delta =
        after.dirs[&root_key].total_bytes as i64 - before.dirs[&root_key].total_bytes as i64;
    assert_eq!(since["disk_usage_delta"].as_i64().unwrap(), root_delta);
    // ...and so does the diff it cached.
    assert_eq!(entries(&diff_json(&env, backend, &[])), want);
    // And the stored tree of the second snapshot is exact everywhere.
    let store = env.store(backend);
    let last = store.snapshots().unwrap().pop().unwrap();
    for r in store.read_tree(last.id, None).unwrap() {
        assert_eq!(r.stats.total_bytes, after.dirs[&r.path].total_bytes);
    }
}

#[rstest]
fn warm_rescan_reports_contents_rewritten_behind_unchanged_sizes(
    #[values("sqlite", "redb")] backend: &str,
) {
    let (env, root) = env_with_tree();
    scan(&env, backend, &root);
    // Same sizes everywhere, different entries: only fingerprints can tell.
    let dir = root.join("grow");
    let mtime = fs::metadata(&dir).unwrap().modified().unwrap();
    fs::rename(dir.join("other"), dir.join("renamed")).unwrap();
    fs::File::open(&dir).unwrap().set_modified(mtime).unwrap();
    let doc: Value = json(&env, backend, &["scan", root.to_str().unwrap()]);
    let since = &doc["since"];
    assert_eq!(since["changed_directories"], 0);
    assert_eq!(since["disk_usage_delta"], 0);
    assert_eq!(since["rewritten_directories"], 1, "{since}");
    // A first scan has nothing to compare with.
    let other = env.path().join("other");
    initial_tree(&other);
    let doc: Value = json(&env, backend, &["scan", other.to_str().unwrap()]);
    assert!(doc["since"].is_null());
}

/// A tree whose growth has a known shape: a +700 KB (x +600, y +100), b +250,
/// c new +50, and a direct file.
#[rstest]
fn explain_attributes_growth_to_its_contributors(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    for p in ["a/x/f", "a/y/f", "b/f", "quiet/f"] {
        write(&root.join(p), 4096);
    }
    scan(&env, backend, &root);
    let before = oracle::compute(&root);
    append(&root.join("a/x/f"), 600 * 1024);
    append(&root.join("a/y/f"), 100 * 1024);
    append(&root.join("b/f"), 250 * 1024);
    write(&root.join("c/f"), 50 * 1024);
    write(&root.join("top-level-file"), 20 * 1024);
    scan(&env, backend, &root);
    let after = oracle::compute(&root);

    let doc: Value = json(&env, backend, &["explain", root.to_str().unwrap()]);
    let node = &doc["root"];
    let delta = |o: &Oracle, p: &Path| o.dirs.get(&bytes(p)).map_or(0, |e| e.total_bytes as i64);
    let change = |p: &Path| delta(&after, p) - delta(&before, p);
    assert_eq!(node["disk_usage_delta"].as_i64().unwrap(), change(&root));
    let direct = |o: &Oracle| o.dirs[&bytes(&root)].direct_bytes as i64;
    assert_eq!(
        node["direct_delta"].as_i64().unwrap(),
        direct(&after) - direct(&before)
    );

    // Contributors ≥ 10% of the root's change, largest first: a then b.
    let kids: Vec<Vec<u8>> = node["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json_path(&c["path"]))
        .collect();
    assert_eq!(kids, [bytes(&root.join("a")), bytes(&root.join("b"))]);
    let share = node["children"][0]["share_pct"].as_f64().unwrap();
    let want_share = change(&root.join("a")) as f64 * 100.0 / change(&root) as f64;
    assert!((share - want_share).abs() < 1e-6, "{share} vs {want_share}");
    // c (about 5%) is folded into "other".
    assert_eq!(node["other_count"], 1);
    assert_eq!(
        node["other_delta"].as_i64().unwrap(),
        change(&root.join("c"))
    );
    // a is explained in turn: x and y both pass 10% of a's change.
    let a_kids: Vec<Vec<u8>> = node["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json_path(&c["path"]))
        .collect();
    assert_eq!(a_kids, [bytes(&root.join("a/x")), bytes(&root.join("a/y"))]);
    // The new directory is marked as added when it is a contributor.
    let doc: Value = json(
        &env,
        backend,
        &["explain", "--threshold", "1", root.to_str().unwrap()],
    );
    let c = doc["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| json_path(&c["path"]) == bytes(&root.join("c")))
        .expect("c listed at 1%");
    assert_eq!(c["status"], "added");
    // The table reporter renders the same explanation readably.
    let table = ok(&env.run(&["--backend", backend, "explain", root.to_str().unwrap()]));
    for name in [" a", " x", " y", " b"] {
        assert!(
            table.lines().any(|l| l.ends_with(name)),
            "{name} listed: {table}"
        );
    }
    assert!(
        !table
            .lines()
            .any(|l| l.ends_with(" c") || l.ends_with(" quiet")),
        "below threshold: {table}"
    );
}

#[rstest]
fn history_bad_input(#[values("sqlite", "redb")] backend: &str) {
    let (env, one) = env_with_tree();
    let two = env.path().join("two");
    initial_tree(&two);
    // Empty database.
    fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    let err = fails_with(&env.run(&["--backend", backend, "diff"]), 3);
    assert!(err.contains("no snapshots") || err.contains("no "), "{err}");
    scan(&env, backend, &one);
    // Only one snapshot of the root.
    let err = fails_with(&env.run(&["--backend", backend, "diff"]), 3);
    assert!(err.contains("only one snapshot"), "{err}");
    scan(&env, backend, &two);
    let ids: Vec<String> = env
        .snapshots(backend)
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    // Different roots.
    let err = fails_with(
        &env.run(&["--backend", backend, "diff", &ids[0], &ids[1]]),
        2,
    );
    assert!(err.contains("different roots"), "{err}");
    // Unknown ids.
    let err = fails_with(
        &env.run(&["--backend", backend, "diff", &ids[0], "4242"]),
        3,
    );
    assert!(err.contains("4242"), "{err}");
    let err = fails_with(
        &env.run(&[
            "--backend",
            backend,
            "explain",
            "--from",
            "4242",
            "--to",
            &ids[0],
            one.to_str().unwrap(),
        ]),
        3,
    );
    assert!(err.contains("4242"), "{err}");
    // Nothing was lost.
    assert_eq!(env.snapshots(backend).len(), 2);
}

#[rstest]
fn retention_prunes_per_root_and_cascades(#[values("sqlite", "redb")] backend: &str) {
    let (env, one) = env_with_tree();
    let two = env.path().join("two");
    initial_tree(&two);
    for _ in 0..3 {
        scan(&env, backend, &one);
    }
    scan(&env, backend, &two);
    let snaps = env.snapshots(backend);
    // Cache a diff between the two oldest snapshots of `one`.
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "diff",
        &snaps[0].id.to_string(),
        &snaps[1].id.to_string(),
    ]));
    assert!(
        env.store(backend)
            .cached_diff(snaps[0].id, snaps[1].id)
            .unwrap()
            .is_some()
    );

    let dry = ok(&env.run(&[
        "--backend",
        backend,
        "--format",
        "json",
        "snapshots",
        "prune",
        "--keep",
        "1",
        "--dry-run",
    ]));
    let dry: Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(
        dry["deleted"],
        serde_json::json!([snaps[0].id, snaps[1].id])
    );
    assert_eq!(dry["dry_run"], true, "says it would delete: {dry}");
    assert_eq!(env.snapshots(backend).len(), 4, "dry run deletes nothing");
    let table = ok(&env.run(&[
        "--backend",
        backend,
        "snapshots",
        "prune",
        "--keep",
        "1",
        "--dry-run",
    ]));
    assert!(table.starts_with("Would delete 2 snapshots"), "{table}");

    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "snapshots",
        "prune",
        "--keep",
        "1",
    ]));
    let left: Vec<i64> = env.snapshots(backend).iter().map(|s| s.id).collect();
    assert_eq!(left, [snaps[2].id, snaps[3].id], "newest of each root kept");
    let store = env.store(backend);
    assert!(
        store
            .cached_diff(snaps[0].id, snaps[1].id)
            .unwrap()
            .is_none(),
        "cached diff cascaded"
    );
    let gone = store.read_tree(snaps[0].id, None).unwrap_err();
    assert_eq!(
        gone.kind(),
        disktracker::ErrorKind::NotFound,
        "rows cascaded"
    );
    drop(store);

    // --older-than: nothing is older than a day; everything is older than 0s.
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "snapshots",
        "prune",
        "--older-than",
        "1day",
    ]));
    assert_eq!(env.snapshots(backend).len(), 2);
    std::thread::sleep(Duration::from_millis(5));
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "snapshots",
        "prune",
        "--older-than",
        "1ms",
        "--root",
        two.to_str().unwrap(),
    ]));
    assert_eq!(
        env.snapshots(backend)
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [snaps[2].id]
    );
}

#[rstest]
fn database_size_stays_bounded_under_retention(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    for i in 0..400 {
        write(&root.join(format!("d{}/e{i}/f", i % 20)), 100);
    }
    let cfg = env.path().join("keep2.toml");
    fs::write(&cfg, "[retention]\nkeep = 2\n").unwrap();
    let file = if backend == "sqlite" {
        env.db.clone()
    } else {
        env.db.with_extension("redb")
    };
    let size = || {
        ["", "-wal"]
            .iter()
            .map(|s| fs::metadata(format!("{}{s}", file.display())).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let mut sizes = Vec::new();
    for _ in 0..12 {
        ok(&env.run(&[
            "--config",
            cfg.to_str().unwrap(),
            "--backend",
            backend,
            "--quiet",
            "scan",
            root.to_str().unwrap(),
        ]));
        sizes.push(size());
    }
    assert_eq!(env.snapshots(backend).len(), 2);
    let settled = sizes[3];
    let last = *sizes.last().unwrap();
    assert!(
        last <= settled * 2,
        "database keeps growing under retention: {sizes:?}"
    );
}
