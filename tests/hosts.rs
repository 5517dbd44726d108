//! Many hosts in one store, end to end, on every store (PostgreSQL on the
//! testkit's throwaway server): `--host` on every reading command, diff
//! across two hosts, retention per host and root, and `fleet`. Hosts are
//! simulated with `DISKTRACKER_HOST`; expected sizes and changes come from
//! the independent oracle, computed on the tree at each host's scan.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{Env, fails_with, ok, write};
use disktracker_testkit::oracle::{self, Oracle};
use rstest::rstest;
use serde_json::Value;

/// The options that select the store under test: `--backend NAME` for a
/// file store in the test's home, `--db URL` of a fresh database on the
/// test server for PostgreSQL.
fn store_args(backend: &str) -> Vec<String> {
    if backend == "postgres" {
        let url = disktracker_testkit::postgres::TestPostgres::shared().fresh_database();
        vec!["--db".into(), url]
    } else {
        vec!["--backend".into(), backend.into()]
    }
}

/// Runs `disktracker STORE-OPTIONS --quiet ARGS…` as `host`.
fn run_as(env: &Env, store: &[String], host: &str, args: &[&str]) -> Output {
    env.cmd()
        .env("DISKTRACKER_HOST", host)
        .args(store)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

/// The same, with `--format json`, parsed.
fn json_as(env: &Env, backend: &[String], host: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&run_as(env, backend, host, &all))).unwrap()
}

fn ids(doc: &Value) -> Vec<i64> {
    doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

fn total(o: &Oracle, p: &Path) -> i64 {
    o.dirs[&oracle::key(p)].total_bytes as i64
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[rstest]
#[case::sqlite("sqlite")]
#[case::redb("redb")]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
#[case::postgres("postgres")]
fn hosts_share_a_store_and_each_reads_its_own(#[case] backend: &str) {
    let env = Env::new();
    let store = store_args(backend);
    let backend = store.as_slice();
    let root = env.path().join("var");
    write(&root.join("lib/db"), 200_000);
    write(&root.join("logs/app/old.log"), 10_000);
    write(&root.join("cache/seed"), 5_000);

    // web-1 scans twice, the logs growing in between; then web-2 scans
    // the same path after its cache grew.
    ok(&run_as(&env, backend, "web-1", &["scan", s(&root)]));
    let o1 = oracle::compute(&root);
    write(&root.join("logs/app/new.log"), 300_000);
    write(&root.join("logs/app/more.log"), 40_000);
    write(&root.join("lib/small"), 30_000);
    ok(&run_as(&env, backend, "web-1", &["scan", s(&root)]));
    let o2 = oracle::compute(&root);
    write(&root.join("cache/blob"), 100_000);
    ok(&run_as(&env, backend, "web-2", &["scan", s(&root)]));
    let o3 = oracle::compute(&root);

    // `snapshots`: this host's by default, another's with --host, all with --all-hosts.
    let web1 = ids(&json_as(&env, backend, "web-1", &["snapshots"]));
    let web2 = ids(&json_as(&env, backend, "web-2", &["snapshots"]));
    assert_eq!(web1.len(), 2, "web-1 sees its two snapshots");
    assert_eq!(web2.len(), 1, "web-2 sees its one");
    assert!(web1[1] < web2[0]);
    assert_eq!(
        ids(&json_as(
            &env,
            backend,
            "web-1",
            &["snapshots", "--host", "web-2"]
        )),
        web2
    );
    let all = ids(&json_as(
        &env,
        backend,
        "web-1",
        &["snapshots", "--all-hosts"],
    ));
    assert_eq!(all, [web1[0], web1[1], web2[0]]);
    assert_eq!(
        ids(&json_as(&env, backend, "nobody", &["snapshots"])),
        Vec::<i64>::new()
    );

    // `show`: each host's newest, equal to the tree as it was then.
    let show = |host: &str, extra: &[&str]| {
        let mut args = vec!["show", "--path", s(&root)];
        args.extend_from_slice(extra);
        let doc = json_as(&env, backend, host, &args);
        (
            doc["snapshot"]["id"].as_i64().unwrap(),
            doc["under"]["disk_usage"].as_i64().unwrap(),
        )
    };
    assert_eq!(show("web-1", &[]), (web1[1], total(&o2, &root)));
    assert_eq!(show("web-2", &[]), (web2[0], total(&o3, &root)));
    assert_eq!(
        show("web-1", &["--host", "web-2"]),
        (web2[0], total(&o3, &root))
    );
    let e = fails_with(
        &run_as(&env, backend, "nobody", &["show", "--path", s(&root)]),
        3,
    );
    assert!(
        e.contains("of host nobody") && e.contains("--host web-"),
        "names the host asked and one that has it: {e}"
    );

    // `diff`: one host's two newest; or the first host's newest against the second's.
    let root_delta = |doc: &Value| {
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"]["text"] == s(&root))
            .map(|e| e["disk_usage_delta"].as_i64().unwrap())
    };
    let d = json_as(&env, backend, "web-1", &["diff", "--top", "1000"]);
    assert_eq!(
        (d["a"]["id"].as_i64(), d["b"]["id"].as_i64()),
        (Some(web1[0]), Some(web1[1]))
    );
    assert_eq!(root_delta(&d), Some(total(&o2, &root) - total(&o1, &root)));
    let e = fails_with(&run_as(&env, backend, "web-2", &["diff"]), 3);
    assert!(e.contains("only one snapshot of host web-2"), "{e}");
    let d = json_as(
        &env,
        backend,
        "nobody",
        &[
            "diff", "--top", "1000", "--host", "web-1", "--host", "web-2",
        ],
    );
    assert_eq!(
        (d["a"]["id"].as_i64(), d["b"]["id"].as_i64()),
        (Some(web1[1]), Some(web2[0])),
        "web-1's newest, then web-2's newest of the same root"
    );
    assert_eq!(root_delta(&d), Some(total(&o3, &root) - total(&o2, &root)));
    let e = fails_with(
        &run_as(
            &env,
            backend,
            "web-1",
            &["diff", "--host", "a", "--host", "b", "--host", "c"],
        ),
        2,
    );
    assert!(e.contains("at most twice"), "{e}");

    // `explain` across hosts attributes the change to the cache.
    let x = json_as(
        &env,
        backend,
        "web-1",
        &["explain", s(&root), "--host", "web-1", "--host", "web-2"],
    );
    assert_eq!(x["a"]["id"].as_i64(), Some(web1[1]));
    assert_eq!(x["b"]["id"].as_i64(), Some(web2[0]));

    // `history`: one host's series.
    let h = json_as(
        &env,
        backend,
        "web-2",
        &["history", s(&root), "--host", "web-1"],
    );
    let points: Vec<i64> = h["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["disk_usage"].as_i64().unwrap())
        .collect();
    assert_eq!(points, [total(&o1, &root), total(&o2, &root)]);

    // `fleet`: per host and root, the newest size, the change over the
    // week, where it grew.
    let f = json_as(&env, backend, "anyone", &["fleet"]);
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{f}");
    let (r1, r2) = (&rows[0], &rows[1]);
    assert_eq!(
        (r1["host"].as_str(), r2["host"].as_str()),
        (Some("web-1"), Some("web-2"))
    );
    assert_eq!(r1["root"]["text"], s(&root));
    assert_eq!(r1["snapshot"].as_i64(), Some(web1[1]));
    assert_eq!(r1["disk_usage"].as_i64(), Some(total(&o2, &root)));
    assert_eq!(r1["baseline"].as_i64(), Some(web1[0]));
    assert_eq!(
        r1["disk_usage_delta"].as_i64(),
        Some(total(&o2, &root) - total(&o1, &root))
    );
    // logs/app took most of the growth; lib grew too, so / is not the answer.
    let app = root.join("logs/app");
    assert_eq!(r1["growth_path"]["text"], s(&app));
    assert_eq!(
        r1["growth_delta"].as_i64(),
        Some(total(&o2, &app) - total(&o1, &app))
    );
    assert_eq!(r1["stale"], false);
    assert_eq!(r2["disk_usage"].as_i64(), Some(total(&o3, &root)));
    assert!(r2["baseline"].is_null() && r2["disk_usage_delta"].is_null());

    // A host that stopped reporting ten days ago: its snapshot, exported and
    // imported under another host name with an old timestamp.
    let export = env.path().join("old.json");
    ok(&run_as(
        &env,
        backend,
        "web-1",
        &["-o", s(&export), "export", "ncdu", &web1[0].to_string()],
    ));
    let text = std::fs::read_to_string(&export).unwrap();
    let ten_days_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 10 * 86_400)
        .to_string();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let old_ts = doc[2]["timestamp"].to_string();
    let text = text
        .replacen(
            &format!("\"timestamp\":{old_ts}"),
            &format!("\"timestamp\":{ten_days_ago}"),
            1,
        )
        .replacen("\"host\":\"web-1\"", "\"host\":\"old-box\"", 1);
    std::fs::write(&export, text).unwrap();
    ok(&run_as(
        &env,
        backend,
        "web-1",
        &["import", "ncdu", s(&export)],
    ));
    let f = json_as(&env, backend, "anyone", &["fleet", "--since", "30d"]);
    let rows = f["rows"].as_array().unwrap();
    let old = rows
        .iter()
        .find(|r| r["host"] == "old-box")
        .expect("old-box row");
    assert_eq!(old["stale"], true);
    assert!(old["age_ms"].as_i64().unwrap() >= 10 * 86_400_000 - 5_000);
    assert_eq!(old["disk_usage"].as_i64(), Some(total(&o1, &root)));
    let table = ok(&run_as(&env, backend, "anyone", &["fleet"]));
    assert!(
        table.contains("old-box") && table.contains("STALE"),
        "{table}"
    );

    // `size` answers from this host's newest snapshots, from the index on
    // this machine.
    let size = |host: &str| {
        json_as(&env, backend, host, &["size", s(&root)])["answers"][0]["disk_usage"].as_i64()
    };
    assert_eq!(size("web-1"), Some(total(&o2, &root)));
    assert_eq!(size("web-2"), Some(total(&o3, &root)));
    assert_eq!(size("web-1"), Some(total(&o2, &root)));
    let e = fails_with(&run_as(&env, backend, "nobody", &["size", s(&root)]), 3);
    assert!(e.contains("no snapshots of host nobody"), "{e}");

    // Retention is per host and root: web-2 keeping one leaves web-1's two.
    let keep_one = |host: &str| {
        env.cmd()
            .env("DISKTRACKER_HOST", host)
            .env("DISKTRACKER_RETENTION_KEEP", "1")
            .args(backend)
            .args(["--quiet", "scan", s(&root)])
            .output()
            .unwrap()
    };
    ok(&keep_one("web-2"));
    assert_eq!(
        ids(&json_as(&env, backend, "web-2", &["snapshots"])).len(),
        1
    );
    assert_eq!(ids(&json_as(&env, backend, "web-1", &["snapshots"])), web1);
    // So is pruning by hand: this host's by default, each host's with --all-hosts.
    ok(&run_as(
        &env,
        backend,
        "old-box",
        &["snapshots", "prune", "--keep", "1"],
    ));
    assert_eq!(ids(&json_as(&env, backend, "web-1", &["snapshots"])), web1);
    ok(&run_as(
        &env,
        backend,
        "web-2",
        &["snapshots", "--all-hosts", "prune", "--keep", "1"],
    ));
    assert_eq!(
        ids(&json_as(&env, backend, "web-1", &["snapshots"])),
        [web1[1]]
    );
    assert_eq!(
        json_as(&env, backend, "x", &["snapshots", "--all-hosts"])["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "one per host: web-1, web-2, old-box"
    );
}
