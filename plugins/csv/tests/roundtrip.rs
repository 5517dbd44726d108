//! Parses the CSV reporter's output back with the `csv` crate and compares
//! every cell with the report data, including the neutralisation rule.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker_testkit::reports as fixtures;

use disktracker::model::{DiffEntry, DirRecord};
use disktracker::path::escape_bytes;
use disktracker::report::{ChangeStatus, ExplainNode, SizeStatus};
use disktracker::{RenderOptions, Report, Reporter, SizeKind};
use disktracker_reporter_csv::{CsvReporter, iso_utc};
use fixtures::{Fixtures, days_from_civil};
use rstest::rstest;

/// Header and rows, after checking the RFC 4180 framing.
fn render(report: Report<'_>, kind: SizeKind) -> (Vec<String>, Vec<Vec<String>>) {
    let mut out = Vec::new();
    CsvReporter
        .render(&report, &RenderOptions::new(kind), &mut out)
        .expect("csv renders every report");
    let raw = String::from_utf8(out).expect("UTF-8");
    assert!(raw.ends_with("\r\n"), "CRLF-terminated: {raw:?}");
    assert!(
        !raw.replace("\r\n", "").contains('\n'),
        "no bare LF in {raw:?}"
    );
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false) // every row as wide as the header
        .from_reader(raw.as_bytes());
    let header = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| {
            r.expect("well-formed row")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(raw.matches("\r\n").count(), rows.len() + 1);
    (header, rows)
}

/// A cell the reporter wrote from a number: optional minus, digits, optional fraction.
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && parts
            .next()
            .is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The documented neutralisation of a text cell, written out independently.
fn neutral(s: &str) -> String {
    let lead = s.trim_start_matches(' ');
    if lead.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn path(b: &[u8]) -> String {
    neutral(&escape_bytes(b))
}

/// Text from outside (names, configuration): escaped like a path, then neutralised.
fn text(s: &str) -> String {
    path(s.as_bytes())
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn col<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name}"));
    &row[i]
}

#[rstest]
fn no_cell_can_start_a_formula(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
    #[values(false, true)] empty: bool,
) {
    let f = Fixtures::either(empty);
    for report in f.reports() {
        let (header, rows) = render(report, kind);
        assert!(!header.is_empty(), "{}: header row", report.kind());
        for cell in rows.iter().flatten() {
            if is_number(cell) {
                continue; // a plain number is not a formula, even with a minus
            }
            let lead = cell.trim_start_matches(' ');
            assert!(
                !lead.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']),
                "{}: unsafe cell {cell:?}",
                report.kind()
            );
        }
    }
}

fn check_dirs(
    header: &[String],
    rows: &[Vec<String>],
    dirs: &[DirRecord],
    id: i64,
    whole: u64,
    kind: SizeKind,
) {
    assert_eq!(rows.len(), dirs.len());
    for (row, d) in rows.iter().zip(dirs) {
        let s = &d.stats;
        let c = |n| col(header, row, n);
        assert_eq!(c("snapshot_id").parse::<i64>().unwrap(), id);
        assert_eq!(c("path"), path(&d.path));
        assert_eq!(c("depth").parse::<u32>().unwrap(), d.depth);
        assert_eq!(c("disk_usage").parse::<u64>().unwrap(), s.total_bytes);
        assert_eq!(c("apparent_size").parse::<u64>().unwrap(), s.total_apparent);
        assert_eq!(
            c("direct_disk_usage").parse::<u64>().unwrap(),
            s.direct_bytes
        );
        assert_eq!(
            c("direct_apparent_size").parse::<u64>().unwrap(),
            s.direct_apparent
        );
        assert_eq!(c("files").parse::<u64>().unwrap(), s.file_count);
        assert_eq!(c("direct_files").parse::<u64>().unwrap(), s.direct_files);
        assert_eq!(c("subdirectories").parse::<u64>().unwrap(), s.child_count);
        assert_eq!(c("errors").parse::<u64>().unwrap(), s.error_count);
        let share: f64 = c("share_pct").parse().unwrap();
        let want = s.total(kind) as f64 * 100.0 / whole as f64;
        assert!((share - want).abs() <= 0.005 + 1e-9, "{share} vs {want}");
    }
}

#[rstest]
fn scan_and_top_rows_round_trip(#[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind) {
    let f = Fixtures::new();
    let (header, rows) = render(Report::Scan(&f.scan), kind);
    let m = &f.scan.snapshot.meta;
    let whole = match kind {
        SizeKind::DiskUsage => m.total_bytes,
        SizeKind::Apparent => m.total_apparent,
    };
    check_dirs(&header, &rows, &f.scan.top, f.scan.snapshot.id, whole, kind);

    let (header, rows) = render(Report::Top(&f.top), kind);
    check_dirs(
        &header,
        &rows,
        &f.top.rows,
        f.top.snapshot.id,
        f.top.under.stats.total(kind),
        kind,
    );

    // The awkward paths: escaped on one line, and the formula-like one neutralised.
    let paths: Vec<&str> = rows.iter().map(|r| col(&header, r, "path")).collect();
    assert!(paths.contains(&r"/data/caf\xe9"));
    assert!(paths.contains(&r"/data/two\x0alines\x09here"));
    // One row per directory (checked above): the newline did not split a row.
}

#[test]
fn diff_rows_keep_negative_deltas_numeric() {
    let f = Fixtures::new();
    let (header, rows) = render(Report::Diff(&f.diff), SizeKind::DiskUsage);
    assert_eq!(rows.len(), f.diff.entries.len());
    let status = |e: &DiffEntry| match (e.bytes_a, e.bytes_b) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    for (row, e) in rows.iter().zip(&f.diff.entries) {
        let c = |n| col(&header, row, n);
        assert_eq!(c("path"), path(&e.path));
        assert_eq!(c("status"), status(e));
        assert_eq!(c("disk_usage_before"), opt(e.bytes_a));
        assert_eq!(c("disk_usage_after"), opt(e.bytes_b));
        assert_eq!(c("apparent_size_before"), opt(e.apparent_a));
        assert_eq!(c("apparent_size_after"), opt(e.apparent_b));
        let d: i128 = c("disk_usage_delta").parse().expect("delta is a number");
        assert_eq!(d, e.delta(SizeKind::DiskUsage));
        let d: i128 = c("apparent_size_delta").parse().expect("delta is a number");
        assert_eq!(d, e.delta(SizeKind::Apparent));
    }
    // A negative delta is written as a bare number, not neutralised ...
    let neg = rows
        .iter()
        .map(|r| col(&header, r, "disk_usage_delta"))
        .find(|c| c.starts_with('-'));
    let removed = f.diff.entries[1].delta(SizeKind::DiskUsage);
    assert!(removed < 0);
    assert_eq!(neg, Some(removed.to_string().as_str()));
    // ... while text cells that start like a formula are.
    let paths: Vec<&str> = rows.iter().map(|r| col(&header, r, "path")).collect();
    assert!(
        paths.contains(&"'-rf") && paths.contains(&"'@data"),
        "{paths:?}"
    );
}

#[rstest]
fn explain_flattens_the_tree_in_preorder(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
) {
    let f = Fixtures::new();
    let (header, rows) = render(Report::Explain(&f.explain), kind);
    fn flatten<'a>(n: &'a ExplainNode, depth: u32, out: &mut Vec<(u32, &'a ExplainNode)>) {
        out.push((depth, n));
        for c in &n.children {
            flatten(c, depth + 1, out);
        }
    }
    let mut nodes = Vec::new();
    flatten(&f.explain.root, 0, &mut nodes);
    assert_eq!(rows.len(), nodes.len());
    let k = match kind {
        SizeKind::DiskUsage => "disk_usage",
        SizeKind::Apparent => "apparent_size",
    };
    for (row, (depth, n)) in rows.iter().zip(nodes) {
        let c = |name: &str| col(&header, row, name);
        assert_eq!(c("depth").parse::<u32>().unwrap(), depth);
        assert_eq!(c("path"), path(&n.entry.path));
        let status = match n.status {
            ChangeStatus::Added => "added",
            ChangeStatus::Removed => "removed",
            ChangeStatus::Changed => "changed",
        };
        assert_eq!(c("status"), status);
        assert_eq!(c("disk_usage_before"), opt(n.entry.bytes_a));
        assert_eq!(c("apparent_size_after"), opt(n.entry.apparent_b));
        assert_eq!(
            c("disk_usage_delta").parse::<i128>().unwrap(),
            n.entry.delta(SizeKind::DiskUsage)
        );
        assert_eq!(
            c(&format!("direct_{k}_delta")).parse::<i128>().unwrap(),
            n.direct_delta
        );
        assert_eq!(
            c(&format!("other_{k}_delta")).parse::<i128>().unwrap(),
            n.other_delta
        );
        assert_eq!(c("other_count").parse::<u64>().unwrap(), n.other_count);
        let share: f64 = c("share_pct").parse().unwrap();
        assert!((share - n.share_pct).abs() <= 0.005 + 1e-9);
    }
}

fn parse_iso(s: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    let (date, time) = s.strip_suffix('Z').unwrap().split_once('T').unwrap();
    let mut d = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, dd) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let (hms, ms) = time.split_once('.').unwrap();
    let mut t = hms.split(':').map(|p| p.parse::<i64>().unwrap());
    let secs = t.next().unwrap() * 3600 + t.next().unwrap() * 60 + t.next().unwrap();
    (days_from_civil(y, m as u32, dd as u32) * 86_400 + secs) * 1000 + ms.parse::<i64>().unwrap()
}

#[test]
fn snapshot_rows_and_iso_times_round_trip() {
    let mut ms = -5_000_000_000_000i64;
    while ms < 7_000_000_000_000 {
        assert_eq!(parse_iso(&iso_utc(ms)), ms, "{}", iso_utc(ms));
        ms += 3_217_000_123;
    }
    let f = Fixtures::new();
    let (header, rows) = render(Report::Snapshots(&f.snapshots), SizeKind::DiskUsage);
    assert_eq!(rows.len(), f.snapshots.len());
    for (row, s) in rows.iter().zip(&f.snapshots) {
        let m = &s.meta;
        let c = |n| col(&header, row, n);
        assert_eq!(c("id").parse::<i64>().unwrap(), s.id);
        assert_eq!(parse_iso(c("started_at")), m.started_at_ms);
        assert_eq!(parse_iso(c("finished_at")), m.finished_at_ms);
        assert_eq!(c("root"), path(&m.root));
        assert_eq!(c("host"), text(&m.host));
        assert_eq!(c("host"), "'=HOST()");
        assert_eq!(c("walker"), text(&m.walker));
        assert_eq!(c("files").parse::<u64>().unwrap(), m.total_files);
        assert_eq!(c("directories").parse::<u64>().unwrap(), m.dir_count);
        assert_eq!(c("errors").parse::<u64>().unwrap(), m.error_count);
        assert_eq!(c("disk_usage").parse::<u64>().unwrap(), m.total_bytes);
        assert_eq!(c("apparent_size").parse::<u64>().unwrap(), m.total_apparent);
    }

    let (header, rows) = render(Report::Deleted(&f.deleted), SizeKind::DiskUsage);
    assert_eq!(header, ["id", "deleted"]);
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ids, f.deleted.ids);
    assert!(rows.iter().all(|r| r[1] == "yes"));
}

#[test]
fn sizes_plugins_and_config_round_trip() {
    let f = Fixtures::new();
    let (header, rows) = render(Report::Sizes(&f.sizes), SizeKind::DiskUsage);
    assert_eq!(header, ["path", "status", "disk_usage"]);
    for (row, a) in rows.iter().zip(&f.sizes.answers) {
        assert_eq!(row[0], path(&a.path));
        let status = match a.status {
            SizeStatus::Indexed => "indexed",
            SizeStatus::Scanned => "scanned",
            SizeStatus::OutsideRoot => "outside-root",
            SizeStatus::NotIndexed => "not-indexed",
            other => panic!("no expected CSV text for {other:?}"),
        };
        assert_eq!(row[1], status);
        assert_eq!(row[2], opt(a.total_bytes));
    }

    let (header, rows) = render(Report::Plugins(&f.plugins), SizeKind::DiskUsage);
    assert_eq!(header, ["kind", "name", "summary"]);
    for (row, p) in rows.iter().zip(&f.plugins) {
        assert_eq!(
            row,
            &[p.kind.as_str().to_owned(), text(p.name), text(p.summary)]
        );
    }
    assert_eq!(rows[1][2], "'+aligned tables");

    let (header, rows) = render(Report::Config(&f.config), SizeKind::DiskUsage);
    assert_eq!(header, ["key", "value", "source"]);
    assert_eq!(rows.len(), f.config.len());
    for (row, c) in rows.iter().zip(&f.config) {
        assert_eq!(row, &[text(&c.key), text(&c.value), text(&c.source)]);
    }
    // Text that merely looks numeric is still text: a config value "-1" is
    // neutralised. A key starting with a tab is text from outside: the tab
    // is escaped like a path's, so nothing is left to neutralise.
    assert_eq!(rows[0][1], "'-1");
    assert_eq!(rows[1][2], "'@/etc/disktracker.toml");
    assert_eq!(rows[2][0], r"\x09scan.exclude");
}
