//! Checks of the table reporter's output against expectations computed here,
//! independently of the reporter's own formatting code.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker_testkit::reports as fixtures;

use disktracker::report::ChangeStatus;
use disktracker::{RenderOptions, Report, Reporter, SizeKind};
use disktracker_reporter_table::{TableReporter, format};
use fixtures::{Fixtures, NEWLINE, NON_UTF8, dir, reference_utc};
use rstest::rstest;

fn render(report: Report<'_>, kind: SizeKind) -> String {
    let mut out = Vec::new();
    TableReporter
        .render(&report, &RenderOptions::new(kind), &mut out)
        .expect("table renders every report");
    String::from_utf8(out).expect("table output is UTF-8")
}

/// Reference binary-prefix formatting in floating point: exact bytes below
/// 1 KiB, else one decimal of the largest unit not above the value.
fn expected_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn expected_delta(d: i128) -> String {
    let mag = expected_size(u64::try_from(d.unsigned_abs()).unwrap());
    match d.signum() {
        1 => format!("+{mag}"),
        -1 => format!("-{mag}"),
        _ => mag,
    }
}

/// The lines of the table whose header line starts with `first_col` (after
/// blanks): the header and the data rows up to the next blank line.
fn table<'a>(out: &'a str, header_has: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| !l.contains(header_has));
    let header = lines.next().expect("table header present");
    std::iter::once(header)
        .chain(lines.take_while(|l| !l.trim().is_empty()))
        .collect()
}

/// Asserts that every row of `rows[1..]` has its column boundaries where the
/// header's are: right-aligned columns end where their heading ends, left-
/// aligned ones start where their heading starts. Returns each row's cells,
/// in heading order (`right` then `left` sorted by position). A cell never
/// holds two blanks in a row (the columns' gap), except the last one.
fn check_alignment(rows: &[&str], right: &[&str], left: &[&str]) -> Vec<Vec<String>> {
    let hstr = rows[0];
    assert!(hstr.is_ascii());
    let mut cols = Vec::new(); // (start, end, right-aligned)
    for (names, is_right) in [(right, true), (left, false)] {
        for name in names {
            let start = hstr
                .find(name)
                .unwrap_or_else(|| panic!("{name} in {hstr}"));
            cols.push((start, start + name.len(), is_right));
        }
    }
    cols.sort();
    let mut cells = Vec::new();
    for row in &rows[1..] {
        let c: Vec<char> = row.chars().collect();
        let mut row_cells = Vec::new();
        for (i, &(start, end, is_right)) in cols.iter().enumerate() {
            let last = i + 1 == cols.len();
            if is_right {
                // The cell's last character sits under the heading's last one,
                // and a blank (or the end of the line) follows it.
                assert!(c.len() >= end, "row too short for column: {row:?}");
                assert!(
                    end == c.len() || c[end] == ' ',
                    "right edge misaligned: {row:?}"
                );
                let mut from = end;
                while from > 0 && !(c[from - 1] == ' ' && (from < 2 || c[from - 2] == ' ')) {
                    from -= 1;
                }
                row_cells.push(c[from..end].iter().collect::<String>().trim().to_owned());
            } else {
                assert!(c.len() > start, "row too short for column: {row:?}");
                assert!(
                    start == 0 || c[start - 1] == ' ',
                    "left edge misaligned: {row:?}"
                );
                assert_ne!(c[start], ' ', "left edge misaligned: {row:?}");
                let mut to = start;
                while to < c.len() && (last || !(c[to] == ' ' && c.get(to + 1) == Some(&' '))) {
                    to += 1;
                }
                row_cells.push(c[start..to].iter().collect());
            }
        }
        cells.push(row_cells);
    }
    cells
}

#[rstest]
fn no_report_panics_and_output_is_clean(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
    #[values(false, true)] empty: bool,
) {
    let f = Fixtures::either(empty);
    for report in f.reports() {
        let out = render(report, kind);
        assert!(out.ends_with('\n'), "{}: {out:?}", report.kind());
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{}: control character in {out:?}",
            report.kind()
        );
        assert!(
            out.lines().all(|l| l == l.trim_end()),
            "{}: trailing blanks in {out:?}",
            report.kind()
        );
    }
}

#[rstest]
fn top_rows_are_aligned_sized_and_escaped(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
) {
    let f = Fixtures::new();
    let out = render(Report::Top(&f.top), kind);
    let rows = table(&out, "PATH");
    // Header lines (title, under summary, blank), then the header row and one
    // line per directory: a newline inside a path must not add a line.
    assert_eq!(rows.len(), 1 + f.top.rows.len());
    assert_eq!(out.lines().count(), 3 + 1 + f.top.rows.len());

    let cells = check_alignment(&rows, &["SIZE", "SHARE", "FILES"], &["PATH"]);
    let whole = f.top.under.stats.total(kind);
    for (row, want) in cells.iter().zip(&f.top.rows) {
        let total = want.stats.total(kind);
        assert_eq!(row[0], expected_size(total));
        assert_eq!(
            row[1],
            format!("{:.1}%", total as f64 * 100.0 / whole as f64)
        );
        assert_eq!(row[2], want.stats.file_count.to_string());
        let path = match want.path.as_slice() {
            p if p == NON_UTF8 => r"/data/caf\xe9".to_owned(),
            p if p == NEWLINE => r"/data/two\x0alines\x09here".to_owned(),
            p => String::from_utf8(p.to_vec()).unwrap(),
        };
        assert_eq!(row[3], path);
    }
}

#[rstest]
#[case(0)]
#[case(1)]
#[case(1023)]
#[case(1024)]
#[case(1536)]
#[case(1536 * 1024)]
#[case(5 * 1024 * 1024 + 300)]
#[case(10 * (1 << 30) + 123_456_789)]
#[case(3 * (1u64 << 40) + (1u64 << 39))]
#[case(7 * (1u64 << 50))]
#[case(u64::MAX / 3)]
fn sizes_match_a_float_reference(#[case] bytes: u64) {
    assert_eq!(format::size(bytes), expected_size(bytes));
    assert_eq!(
        format::delta(i128::from(bytes)),
        expected_delta(bytes.into())
    );
    assert_eq!(
        format::delta(-i128::from(bytes)),
        expected_delta(-i128::from(bytes))
    );

    // And through a rendered table, where the cell must be exactly that.
    let f = Fixtures::new();
    let mut top = f.top.clone();
    top.rows = vec![dir(b"/data/x", 1, bytes, 1)];
    let out = render(Report::Top(&top), SizeKind::DiskUsage);
    let rows = table(&out, "PATH");
    let cells = check_alignment(&rows, &["SIZE", "SHARE", "FILES"], &["PATH"]);
    assert_eq!(cells[0][0], expected_size(bytes));
}

#[test]
fn rounding_never_shows_1024_of_a_unit() {
    // 1023.96 KiB rounds up to the next unit rather than to "1024.0 KiB".
    let bytes = 1024 * 1024 - 40;
    assert!(expected_size(bytes).starts_with("1024.0"));
    assert_eq!(format::size(bytes), "1.0 MiB");
}

#[rstest]
fn diff_rows_show_signed_deltas_and_statuses(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
) {
    let f = Fixtures::new();
    let out = render(Report::Diff(&f.diff), kind);
    let rows = table(&out, "DELTA");
    assert_eq!(rows.len(), 1 + f.diff.entries.len());
    let cells = check_alignment(&rows, &["DELTA", "BEFORE", "AFTER"], &["STATUS", "PATH"]);
    for (row, e) in cells.iter().zip(&f.diff.entries) {
        let (a, b) = match kind {
            SizeKind::DiskUsage => (e.bytes_a, e.bytes_b),
            SizeKind::Apparent => (e.apparent_a, e.apparent_b),
        };
        let d = i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0));
        assert_eq!(row[0], expected_delta(d));
        assert_eq!(row[1], a.map_or("-".to_owned(), expected_size));
        assert_eq!(row[2], b.map_or("-".to_owned(), expected_size));
        let status = match (a, b) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        };
        assert_eq!(row[3], status);
    }
    let summary = format!("{} directories changed", f.diff.changed);
    assert!(out.lines().any(|l| l.starts_with(&summary)), "{out}");
}

#[test]
fn explain_draws_the_whole_tree_with_markers_and_folds() {
    let f = Fixtures::new();
    let kind = SizeKind::DiskUsage;
    let out = render(Report::Explain(&f.explain), kind);
    let rows = table(&out, "DELTA");
    let cells = check_alignment(&rows, &["DELTA", "SHARE", "DIRECT"], &["PATH"]);

    // Pre-order walk of the input: (depth, node) plus the folded lines.
    let root = &f.explain.root;
    let projects = &root.children[0];
    let expected_lines = 1 + root.children.len() + projects.children.len() + 1;
    assert_eq!(cells.len(), expected_lines);

    let depth_of = |cell: &str| {
        // Each level of nesting is four columns of tree drawing.
        let indent = cell
            .chars()
            .take_while(|c| matches!(c, '│' | '├' | '└' | '─' | ' '))
            .count();
        indent / 4
    };
    assert_eq!(cells[0][3], "/data");
    assert_eq!(cells[0][0], expected_delta(root.entry.delta(kind)));
    assert_eq!(cells[0][2], expected_delta(root.direct_delta));
    assert_eq!(depth_of(&cells[1][3]), 1);
    assert!(cells[1][3].ends_with("projects"));
    assert_eq!(cells[1][1], format!("{:.1}%", projects.share_pct));
    assert_eq!(depth_of(&cells[2][3]), 2);
    assert!(cells[2][3].ends_with("new [added]"), "{}", cells[2][3]);
    assert_eq!(
        cells[2][0],
        expected_delta(projects.children[0].entry.delta(kind))
    );
    assert!(cells[3][3].ends_with("old [removed]"), "{}", cells[3][3]);
    assert_eq!(projects.children[1].status, ChangeStatus::Removed);
    assert!(
        cells[4][3].ends_with(&format!(
            "… and {} smaller contributors: {}",
            projects.other_count,
            expected_delta(projects.other_delta)
        )),
        "{}",
        cells[4][3]
    );
    assert_eq!(depth_of(&cells[5][3]), 1);
    assert!(cells[5][3].ends_with(r"caf\xe9"), "{}", cells[5][3]);
}

#[test]
fn scan_summary_and_top_table() {
    let f = Fixtures::new();
    let out = render(Report::Scan(&f.scan), SizeKind::DiskUsage);
    let m = &f.scan.snapshot.meta;
    let has = |needle: &str| assert!(out.contains(needle), "{needle:?} missing in\n{out}");
    has(&format!("{}", f.scan.snapshot.id));
    has(&format!(
        "{} ({} bytes)",
        expected_size(m.total_bytes),
        m.total_bytes
    ));
    has(&format!(
        "{} ({} bytes)",
        expected_size(m.total_apparent),
        m.total_apparent
    ));
    has(&m.total_files.to_string());
    has(&m.dir_count.to_string());
    has(&m.error_count.to_string());
    let rows = table(&out, "PATH");
    assert_eq!(rows.len(), 1 + f.scan.top.len());
    let cells = check_alignment(&rows, &["SIZE", "SHARE", "FILES"], &["PATH"]);
    assert_eq!(cells[0][1], "100.0%"); // the root's share of itself
    // Issues: one line each, the message's newline escaped.
    let issue_lines: Vec<_> = out
        .lines()
        .skip_while(|l| !l.starts_with("Issues"))
        .skip(1)
        .collect();
    assert_eq!(issue_lines.len(), f.scan.issues.len());
    assert!(issue_lines[1].contains(r"No such file\x0aor directory"));
}

#[test]
fn snapshot_times_match_a_day_counting_reference() {
    // Counted day by day from 1970 (see `fixtures::reference_utc`).
    let reference = reference_utc;
    let mut ms = -5_000_000_000_000i64; // 1811
    while ms < 7_000_000_000_000 {
        assert_eq!(format::utc(ms), reference(ms), "at {ms} ms");
        ms += 3_217_000_123; // ~37 days and a bit, to walk through every month
    }
    let f = Fixtures::new();
    let out = render(Report::Snapshots(&f.snapshots), SizeKind::DiskUsage);
    let rows = table(&out, "ROOT");
    assert_eq!(rows.len(), 1 + f.snapshots.len());
    let cells = check_alignment(
        &rows,
        &["ID", "SIZE", "FILES", "DIRS", "ERRORS"],
        &["STARTED (UTC)", "ROOT"],
    );
    for (row, s) in cells.iter().zip(&f.snapshots) {
        assert_eq!(row[0], s.id.to_string());
        assert_eq!(row[1], reference(s.meta.started_at_ms));
        assert_eq!(row[2], expected_size(s.meta.total_bytes));
    }
}

#[test]
fn sizes_plugins_config_and_deleted() {
    let f = Fixtures::new();
    let out = render(Report::Sizes(&f.sizes), SizeKind::DiskUsage);
    let rows = table(&out, "STATUS");
    let cells = check_alignment(&rows, &["DISK USAGE"], &["STATUS", "PATH"]);
    for (row, a) in cells.iter().zip(&f.sizes.answers) {
        assert_eq!(row[0], a.total_bytes.map_or("-".to_owned(), expected_size));
    }
    assert!(out.contains("stale"));

    let out = render(Report::Plugins(&f.plugins), SizeKind::DiskUsage);
    let cells = check_alignment(&table(&out, "KIND"), &[], &["KIND", "NAME", "SUMMARY"]);
    for (row, p) in cells.iter().zip(&f.plugins) {
        assert_eq!(row, &[p.kind.as_str(), p.name, p.summary]);
    }

    let out = render(Report::Config(&f.config), SizeKind::DiskUsage);
    let cells = check_alignment(&table(&out, "KEY"), &[], &["KEY", "VALUE", "SOURCE"]);
    assert_eq!(cells.len(), f.config.len());
    assert_eq!(cells[2][0], r"\x09scan.exclude"); // the tab is escaped, not printed

    let out = render(Report::Deleted(&f.deleted), SizeKind::DiskUsage);
    for id in &f.deleted.ids {
        assert!(out.contains(&id.to_string()));
    }
}
