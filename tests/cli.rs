//! The shipped binary: exactly the first-party plugins are linked, the
//! configuration command tells where values came from, help and version work.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, ok};
use serde_json::Value;

#[test]
fn the_binary_links_exactly_the_first_party_plugins() {
    let env = Env::new();
    let doc: Value = serde_json::from_str(&ok(&env.run(&["--format", "json", "plugins"]))).unwrap();
    let mut got: Vec<(String, String)> = doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("events", "inotify"),
        ("events", "notify"),
        ("index", "mmap"),
        ("reporter", "csv"),
        ("reporter", "html"),
        ("reporter", "json"),
        ("reporter", "prometheus"),
        ("reporter", "table"),
        ("store", "postgres"),
        ("store", "redb"),
        ("store", "sqlite"),
        ("walker", "jwalk"),
        ("walker", "steal"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    assert_eq!(got, want);
    // Every plugin says what it is.
    assert!(
        doc["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["summary"].as_str().unwrap().is_empty())
    );
}

#[test]
fn config_reports_each_value_and_its_origin() {
    let env = Env::new();
    let file = env.path().join("deploy.toml");
    std::fs::write(&file, "[report]\ntop = 7\n").unwrap();
    let out = env
        .cmd()
        .env("DISKTRACKER_SCAN_THREADS", "3")
        .args([
            "--config",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--quiet",
            "config",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&ok(&out)).unwrap();
    let line = |key: &str| {
        doc["config"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(line("report.top")["value"], "7");
    assert_eq!(line("report.top")["source"], file.to_str().unwrap());
    assert_eq!(line("scan.threads")["value"], "3");
    assert_eq!(
        line("scan.threads")["source"],
        "env DISKTRACKER_SCAN_THREADS"
    );
    assert_eq!(line("quiet")["source"], "flag");
    assert_eq!(line("backend")["source"], "default");
}

#[test]
fn boolean_flags_can_be_turned_off_again() {
    let env = Env::new();
    let file = env.path().join("quiet.toml");
    std::fs::write(&file, "quiet = true\n[report]\napparent_size = true\n").unwrap();
    let doc: Value = serde_json::from_str(&ok(&env.run(&[
        "--config",
        file.to_str().unwrap(),
        "--no-quiet",
        "--no-apparent-size",
        "--format",
        "json",
        "config",
    ])))
    .unwrap();
    let value = |key: &str| {
        doc["config"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("quiet"), "false");
    assert_eq!(value("report.apparent_size"), "false");
}

#[test]
fn help_and_version() {
    let env = Env::new();
    let help = ok(&env.run(&["--help"]));
    // The "Commands:" section, one command per line, up to the blank line.
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "scan",
            "snapshots",
            "show",
            "diff",
            "explain",
            "size",
            "watch",
            "status",
            "history",
            "fleet",
            "log",
            "reconcile",
            "bench",
            "plugins",
            "config",
            "import",
            "export",
            "help"
        ],
        "{help}"
    );
    let version = ok(&env.run(&["--version"]));
    assert_eq!(
        version.trim(),
        concat!("disktracker ", env!("CARGO_PKG_VERSION"))
    );
}
