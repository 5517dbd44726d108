//! `disktracker bench`: every registered walker, store and index measured on
//! a generated tree, in every reporter, without touching the user's database.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Env, fails_with, ok, stderr};
use disktracker::registry;
use disktracker_testkit::{fixtures, oracle};
use serde_json::Value;

/// A generated tree under the test's scratch directory, and a private TMPDIR
/// whose emptiness afterwards shows that the bench cleaned up.
fn setup(nfiles: u64) -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let tree = env.path().join("tree");
    fixtures::gen_tree(&tree, nfiles, 11).unwrap();
    let tmp = env.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    (env, tree, tmp)
}

/// `disktracker [--format F] bench ARGS…` (global options come first).
fn bench(env: &Env, tmp: &Path, args: &[&str]) -> std::process::Output {
    let (format, args): (Vec<&str>, Vec<&str>) = match args.iter().position(|a| *a == "--format") {
        Some(i) => (
            vec!["--format", args[i + 1]],
            args[..i].iter().chain(&args[i + 2..]).copied().collect(),
        ),
        None => (Vec::new(), args.to_vec()),
    };
    env.cmd()
        .env("TMPDIR", tmp)
        .args(format)
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

/// Every registered backend as (part, name).
fn registered() -> BTreeSet<(String, String)> {
    let names = |part: &str, names: Vec<&str>| {
        names
            .into_iter()
            .map(|n| (part.to_owned(), n.to_owned()))
            .collect::<Vec<_>>()
    };
    let mut all = BTreeSet::new();
    all.extend(names(
        "walker",
        registry::walkers()
            .unwrap()
            .iter()
            .map(|p| p.name)
            .collect(),
    ));
    all.extend(names(
        "store",
        // A server store has no throwaway file: it is named as not measured.
        registry::stores()
            .unwrap()
            .iter()
            .filter(|p| !p.extension.is_empty())
            .map(|p| p.name)
            .collect(),
    ));
    all.extend(names(
        "index",
        registry::indexes()
            .unwrap()
            .iter()
            .map(|p| p.name)
            .collect(),
    ));
    all
}

#[test]
fn every_registered_backend_is_measured_on_the_tree_and_nothing_is_left_behind() {
    let (env, tree, tmp) = setup(4_000);
    let t = tree.to_str().unwrap();
    let out = bench(&env, &tmp, &[t, "--runs", "2", "--format", "json"]);
    let doc: Value = serde_json::from_str(&ok(&out)).unwrap();
    let data = &doc;
    // Each server store is named on stderr as not measured, and why.
    for p in registry::stores().unwrap().iter() {
        if p.extension.is_empty() {
            let warning = format!("store {} is a server", p.name);
            assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
        }
    }

    // The walk's counts against the oracle's own walk of the tree.
    let want = oracle::compute(&tree);
    let root = &want.dirs[&oracle::key(&tree)];
    assert_eq!(data["directories"], want.dirs.len() as u64);
    assert_eq!(data["entries"], root.file_count + want.dirs.len() as u64);
    assert_eq!(data["runs"], 2);
    assert_eq!(data["cold"], false);

    let lines = data["backends"].as_array().unwrap();
    let got: BTreeSet<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["part"].as_str().unwrap().to_owned(),
                l["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, registered());
    assert_eq!(lines.len(), got.len(), "each backend once");

    for l in lines {
        let name = format!("{} {}", l["part"], l["name"]);
        let (median, min, max) = (
            l["median_us"].as_u64().unwrap(),
            l["min_us"].as_u64().unwrap(),
            l["max_us"].as_u64().unwrap(),
        );
        assert!(
            0 < min && min <= median && median <= max,
            "{name}: {min} {median} {max}"
        );
        // The rate is the part's item count over the median.
        let items = match l["part"].as_str().unwrap() {
            "walker" => data["entries"].as_u64().unwrap(),
            _ => data["directories"].as_u64().unwrap(),
        };
        let rate = l["per_second"].as_f64().unwrap();
        let expect = items as f64 / (median as f64 / 1e6);
        assert!(
            (rate - expect).abs() <= expect * 0.01,
            "{name}: rate {rate}, expected {expect}"
        );
        assert!(
            l["peak_mem_bytes"].is_u64(),
            "{name}: Linux measures peak memory"
        );
        match l["part"].as_str().unwrap() {
            "walker" => {
                assert!(
                    l["bytes_per_dir"].is_null()
                        && l["diff_us"].is_null()
                        && l["lookup_ns"].is_null()
                );
            }
            "store" => {
                // Two snapshots of every directory: at least its path, on average.
                let per_dir = l["bytes_per_dir"].as_f64().unwrap();
                assert!(per_dir > 20.0, "{name}: {per_dir} bytes per directory");
                assert!(l["diff_us"].as_u64().unwrap() > 0, "{name}");
                assert!(l["lookup_ns"].is_null());
            }
            "index" => {
                assert!(l["bytes_per_dir"].as_f64().unwrap() > 8.0, "{name}");
                assert!(l["lookup_ns"].as_u64().unwrap() > 0, "{name}");
                assert!(l["diff_us"].is_null());
            }
            other => panic!("unknown part {other}"),
        }
    }
    // Neither the user's database nor its index was created, and every
    // temporary store was removed.
    assert!(!env.db.exists(), "bench created {}", env.db.display());
    assert!(!env.home.join(".disktracker").exists());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files left behind"
    );
}

#[test]
fn every_reporter_renders_it() {
    let (env, tree, tmp) = setup(500);
    let t = tree.to_str().unwrap();
    let backends = registered();

    let table = ok(&bench(&env, &tmp, &[t, "--runs", "1"]));
    assert!(table.contains(&format!("{t}: ")), "{table}");
    assert!(table.contains("warm cache"), "{table}");
    for (part, name) in &backends {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(part.as_str()) && l.split_whitespace().nth(1) == Some(name)),
            "no table row for {part} {name}:\n{table}"
        );
    }

    let csv = ok(&bench(&env, &tmp, &[t, "--runs", "1", "--format", "csv"]));
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][0], "root");
    assert_eq!(rows.len(), 1 + backends.len(), "{csv}");
    let width = rows[0].len();
    for r in &rows[1..] {
        assert_eq!(r.len(), width, "{csv}");
        assert_eq!(r[0], t);
        assert!(
            backends.contains(&(r[5].to_owned(), r[6].to_owned())),
            "{r:?}"
        );
    }
}

#[test]
fn choices_restrict_what_is_measured_and_bad_ones_are_usage_errors() {
    let (env, tree, tmp) = setup(300);
    let t = tree.to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&bench(
        &env,
        &tmp,
        &[
            t,
            "--runs",
            "1",
            "--walkers",
            "jwalk",
            "--stores",
            "redb",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    let got: Vec<(String, String)> = doc["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["part"].as_str().unwrap().into(),
                l["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut want = vec![
        ("walker".to_owned(), "jwalk".to_owned()),
        ("store".into(), "redb".into()),
    ];
    want.extend(
        registry::indexes()
            .unwrap()
            .iter()
            .map(|p| ("index".to_owned(), p.name.to_owned())),
    );
    assert_eq!(got, want);

    let err = fails_with(&bench(&env, &tmp, &[t, "--walkers", "steal,nope"]), 2);
    assert!(err.contains("nope") && err.contains("steal"), "{err}");
    let err = fails_with(&bench(&env, &tmp, &[t, "--stores", "mysql"]), 2);
    assert!(err.contains("mysql") && err.contains("sqlite"), "{err}");
    fails_with(&bench(&env, &tmp, &[t, "--runs", "0"]), 2);
    let missing = env.path().join("missing");
    let err = fails_with(&bench(&env, &tmp, &[missing.to_str().unwrap()]), 3);
    assert!(err.contains("missing"), "{err}");
    assert!(!env.db.exists());
}

#[test]
#[ignore = "needs root: drops the page cache"]
fn cold_drops_the_page_cache_before_every_walk() {
    let (env, tree, tmp) = setup(300);
    let out = bench(
        &env,
        &tmp,
        &[
            tree.to_str().unwrap(),
            "--runs",
            "1",
            "--walkers",
            "steal",
            "--stores",
            "sqlite",
            "--cold",
            "--format",
            "json",
        ],
    );
    let doc: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(doc["cold"], true, "{}", stderr(&out));
    assert!(doc["cold_refused"].is_null());
}
