//! Parses the JSON reporter's output back and compares it, field by field,
//! with the report data it was rendered from.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker_testkit::reports as fixtures;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use disktracker::model::{DiffEntry, DirRecord, SnapshotInfo};
use disktracker::report::{ChangeStatus, ExplainNode, SizeStatus};
use disktracker::{RenderOptions, Report, Reporter, SizeKind};
use disktracker_reporter_json::{JsonReporter, SCHEMA_VERSION};
use fixtures::{Fixtures, NEWLINE, NON_UTF8};
use rstest::rstest;
use serde_json::Value;

fn render_raw(report: Report<'_>, kind: SizeKind) -> String {
    let mut out = Vec::new();
    JsonReporter
        .render(&report, &RenderOptions::new(kind), &mut out)
        .expect("json renders every report");
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn render(report: Report<'_>, kind: SizeKind) -> Value {
    let raw = render_raw(report, kind);
    assert!(
        raw.ends_with('\n') && raw.matches('\n').count() == 1,
        "one line: {raw}"
    );
    let v: Value = serde_json::from_str(&raw).expect("valid JSON");
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["kind"], report.kind().as_str());
    let want = match kind {
        SizeKind::DiskUsage => "disk-usage",
        SizeKind::Apparent => "apparent",
    };
    assert_eq!(v["size_kind"], want);
    v
}

/// Decodes a path object, checking it uses `text` exactly when the bytes are UTF-8.
fn path(v: &Value) -> Vec<u8> {
    let obj = v.as_object().expect("a path is an object");
    assert_eq!(obj.len(), 1, "one key: {v}");
    if let Some(t) = obj.get("text") {
        t.as_str().expect("text is a string").as_bytes().to_vec()
    } else {
        let b = STANDARD
            .decode(obj["bytes"].as_str().expect("bytes is a string"))
            .expect("valid base64");
        assert!(std::str::from_utf8(&b).is_err(), "UTF-8 path sent as bytes");
        b
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn opt_u(v: &Value) -> Option<u64> {
    if v.is_null() { None } else { Some(u(v)) }
}

fn check_snapshot(v: &Value, s: &SnapshotInfo) {
    let m = &s.meta;
    assert_eq!(v["id"].as_i64(), Some(s.id));
    assert_eq!(path(&v["root"]), m.root);
    assert_eq!(v["started_at_ms"].as_i64(), Some(m.started_at_ms));
    assert_eq!(v["finished_at_ms"].as_i64(), Some(m.finished_at_ms));
    assert_eq!(v["host"], m.host.as_str());
    assert_eq!(v["walker"], m.walker.as_str());
    assert_eq!(u(&v["files"]), m.total_files);
    assert_eq!(u(&v["directories"]), m.dir_count);
    assert_eq!(u(&v["errors"]), m.error_count);
    assert_eq!(u(&v["disk_usage"]), m.total_bytes);
    assert_eq!(u(&v["apparent_size"]), m.total_apparent);
}

fn check_dir(v: &Value, d: &DirRecord) {
    let s = &d.stats;
    assert_eq!(path(&v["path"]), d.path);
    assert_eq!(u(&v["depth"]), u64::from(d.depth));
    assert_eq!(u(&v["disk_usage"]), s.total_bytes);
    assert_eq!(u(&v["apparent_size"]), s.total_apparent);
    assert_eq!(u(&v["direct_disk_usage"]), s.direct_bytes);
    assert_eq!(u(&v["direct_apparent_size"]), s.direct_apparent);
    assert_eq!(u(&v["files"]), s.file_count);
    assert_eq!(u(&v["direct_files"]), s.direct_files);
    assert_eq!(u(&v["subdirectories"]), s.child_count);
    assert_eq!(u(&v["errors"]), s.error_count);
    assert_eq!(v["mtime_ns"].as_i64(), Some(s.mtime_ns));
    assert_eq!(u(&v["dev"]), s.dev);
    assert_eq!(u(&v["ino"]), s.ino);
}

fn check_dirs(v: &Value, dirs: &[DirRecord]) {
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), dirs.len());
    for (v, d) in arr.iter().zip(dirs) {
        check_dir(v, d);
    }
}

/// Deltas are compared exactly: a `Value` would turn -(2^64 - 1) into a float,
/// so they are read again from the raw text as `i128`.
#[derive(serde::Deserialize)]
struct RawDelta {
    disk_usage_delta: i128,
    apparent_size_delta: i128,
}

fn check_entry(v: &Value, e: &DiffEntry, status: &str) {
    assert_eq!(path(&v["path"]), e.path);
    assert_eq!(v["status"], status);
    assert_eq!(opt_u(&v["disk_usage_before"]), e.bytes_a);
    assert_eq!(opt_u(&v["disk_usage_after"]), e.bytes_b);
    assert_eq!(opt_u(&v["apparent_size_before"]), e.apparent_a);
    assert_eq!(opt_u(&v["apparent_size_after"]), e.apparent_b);
    check_delta(&v["disk_usage_delta"], e.delta(SizeKind::DiskUsage));
    check_delta(&v["apparent_size_delta"], e.delta(SizeKind::Apparent));
}

/// A delta read through `Value`: exact when it fits `i64`/`u64`; below
/// `i64::MIN` a `Value` holds the nearest float (the exact text is checked in
/// `diff_round_trips_with_exact_deltas`).
fn check_delta(v: &Value, want: i128) {
    if let Some(i) = v.as_i64() {
        assert_eq!(i128::from(i), want);
    } else if let Some(u) = v.as_u64() {
        assert_eq!(i128::from(u), want);
    } else {
        assert!(want < i128::from(i64::MIN), "{v} for {want}");
        assert_eq!(v.as_f64(), Some(want as f64));
    }
}

fn status_of(e: &DiffEntry) -> &'static str {
    match (e.bytes_a, e.bytes_b) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    }
}

#[rstest]
fn every_report_has_the_envelope(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
    #[values(false, true)] empty: bool,
) {
    let f = Fixtures::either(empty);
    for report in f.reports() {
        render(report, kind);
    }
}

#[test]
fn scan_round_trips() {
    let f = Fixtures::new();
    let v = render(Report::Scan(&f.scan), SizeKind::DiskUsage);
    check_snapshot(&v["snapshot"], &f.scan.snapshot);
    assert_eq!(u(&v["duration_ms"]), f.scan.duration_ms);
    check_dirs(&v["top"], &f.scan.top);
    let issues = v["issues"].as_array().unwrap();
    assert_eq!(issues.len(), f.scan.issues.len());
    for (v, i) in issues.iter().zip(&f.scan.issues) {
        assert_eq!(path(&v["path"]), i.path);
        assert_eq!(v["op"], i.op.as_str());
        assert_eq!(v["message"], i.message.as_str());
    }
    // The two awkward paths came back byte for byte, one of them via base64.
    let paths: Vec<_> = f.scan.top.iter().map(|d| d.path.as_slice()).collect();
    assert!(paths.contains(&NON_UTF8) && paths.contains(&NEWLINE));
    assert!(
        v["top"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"].get("bytes").is_some())
    );
}

#[test]
fn top_and_snapshots_round_trip() {
    let f = Fixtures::new();
    let v = render(Report::Top(&f.top), SizeKind::Apparent);
    check_snapshot(&v["snapshot"], &f.top.snapshot);
    check_dir(&v["under"], &f.top.under);
    check_dirs(&v["rows"], &f.top.rows);

    let v = render(Report::Snapshots(&f.snapshots), SizeKind::DiskUsage);
    let arr = v["snapshots"].as_array().unwrap();
    assert_eq!(arr.len(), f.snapshots.len());
    for (v, s) in arr.iter().zip(&f.snapshots) {
        check_snapshot(v, s);
    }
    // The third snapshot's root is the non-UTF-8 path: bytes, decoded exactly.
    assert_eq!(
        STANDARD
            .decode(arr[2]["root"]["bytes"].as_str().unwrap())
            .unwrap(),
        NON_UTF8
    );

    let v = render(Report::Deleted(&f.deleted), SizeKind::DiskUsage);
    let ids: Vec<i64> = v["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect();
    assert_eq!(ids, f.deleted.ids);
    assert_eq!(v["dry_run"], false);
}

#[test]
fn diff_round_trips_with_exact_deltas() {
    let f = Fixtures::new();
    let raw = render_raw(Report::Diff(&f.diff), SizeKind::DiskUsage);
    let v = render(Report::Diff(&f.diff), SizeKind::DiskUsage);
    check_snapshot(&v["a"], &f.diff.a);
    check_snapshot(&v["b"], &f.diff.b);
    assert_eq!(path(&v["under"]), f.diff.under);
    assert_eq!(u(&v["changed"]), f.diff.changed);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), f.diff.entries.len());
    for (v, e) in entries.iter().zip(&f.diff.entries) {
        check_entry(v, e, status_of(e));
    }

    // Exactness beyond i64: parse the raw document into i128 fields.
    #[derive(serde::Deserialize)]
    struct Doc {
        entries: Vec<RawDelta>,
    }
    let doc: Doc = serde_json::from_str(&raw).expect("deltas parse as i128");
    for (d, e) in doc.entries.iter().zip(&f.diff.entries) {
        assert_eq!(d.disk_usage_delta, e.delta(SizeKind::DiskUsage));
        assert_eq!(d.apparent_size_delta, e.delta(SizeKind::Apparent));
    }
    assert!(
        doc.entries
            .iter()
            .any(|d| d.disk_usage_delta < i128::from(i64::MIN)),
        "the fixture exercises a delta below i64::MIN"
    );
}

fn check_node(v: &Value, n: &ExplainNode) {
    let status = match n.status {
        ChangeStatus::Added => "added",
        ChangeStatus::Removed => "removed",
        ChangeStatus::Changed => "changed",
    };
    check_entry(v, &n.entry, status);
    assert_eq!(
        v["direct_delta"].as_i64().map(i128::from),
        Some(n.direct_delta)
    );
    assert_eq!(v["share_pct"].as_f64(), Some(n.share_pct));
    assert_eq!(
        v["other_delta"].as_i64().map(i128::from),
        Some(n.other_delta)
    );
    assert_eq!(u(&v["other_count"]), n.other_count);
    let children = v["children"].as_array().unwrap();
    assert_eq!(children.len(), n.children.len());
    for (v, c) in children.iter().zip(&n.children) {
        check_node(v, c);
    }
}

#[test]
fn explain_renders_the_whole_tree() {
    let f = Fixtures::new();
    let v = render(Report::Explain(&f.explain), SizeKind::Apparent);
    check_snapshot(&v["a"], &f.explain.a);
    check_snapshot(&v["b"], &f.explain.b);
    assert_eq!(v["threshold_pct"].as_f64(), Some(f.explain.threshold_pct));
    check_node(&v["root"], &f.explain.root);

    // A share that is not a number is null, not an invalid document.
    let mut e = f.explain.clone();
    e.root.share_pct = f64::NAN;
    let v = render(Report::Explain(&e), SizeKind::Apparent);
    assert!(v["root"]["share_pct"].is_null());
}

#[test]
fn sizes_plugins_config_round_trip() {
    let f = Fixtures::new();
    let v = render(Report::Sizes(&f.sizes), SizeKind::DiskUsage);
    assert_eq!(
        path(&v["index"]),
        f.sizes.index.as_os_str().as_encoded_bytes()
    );
    assert_eq!(path(&v["root"]), f.sizes.root.clone().unwrap());
    assert_eq!(v["stale"].as_bool(), Some(f.sizes.stale));
    let answers = v["answers"].as_array().unwrap();
    assert_eq!(answers.len(), f.sizes.answers.len());
    for (v, a) in answers.iter().zip(&f.sizes.answers) {
        assert_eq!(path(&v["path"]), a.path);
        assert_eq!(opt_u(&v["disk_usage"]), a.total_bytes);
        let status = match a.status {
            SizeStatus::Indexed => "indexed",
            SizeStatus::Scanned => "scanned",
            SizeStatus::OutsideRoot => "outside-root",
            SizeStatus::NotIndexed => "not-indexed",
            other => panic!("no expected JSON text for {other:?}"),
        };
        assert_eq!(v["status"], status);
    }
    let v = render(Report::Sizes(&Fixtures::empty().sizes), SizeKind::DiskUsage);
    assert!(v["root"].is_null());

    let v = render(Report::Plugins(&f.plugins), SizeKind::DiskUsage);
    let arr = v["plugins"].as_array().unwrap();
    assert_eq!(arr.len(), f.plugins.len());
    for (v, p) in arr.iter().zip(&f.plugins) {
        assert_eq!(v["kind"], p.kind.as_str());
        assert_eq!(v["name"], p.name);
        assert_eq!(v["summary"], p.summary);
    }

    let v = render(Report::Config(&f.config), SizeKind::DiskUsage);
    let arr = v["config"].as_array().unwrap();
    assert_eq!(arr.len(), f.config.len());
    for (v, c) in arr.iter().zip(&f.config) {
        assert_eq!(v["key"], c.key.as_str());
        assert_eq!(v["value"], c.value.as_str());
        assert_eq!(v["source"], c.source.as_str());
    }
}
