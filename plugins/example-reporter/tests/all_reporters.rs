//! Every report through every registered reporter, plus the Markdown
//! reporter's own checks.
//!
//! The `use … as _;` lines are what make the registrations exist in this test
//! binary: a plugin crate nothing references is not linked.

#[path = "../../test-fixtures/reports.rs"]
mod fixtures;

use disktracker_example_reporter as _;
use disktracker_reporter_csv as _;
use disktracker_reporter_json as _;
use disktracker_reporter_table as _;

use std::io::{self, Write};

use disktracker::registry::{Plugin, reporters};
use disktracker::{RenderOptions, Report, SizeKind};
use disktracker_example_reporter::{MarkdownReporter, cell};
use fixtures::{Fixtures, NON_UTF8, dir};
use rstest::rstest;

fn supported(reporter: &str, report: &Report<'_>) -> bool {
    match reporter {
        "markdown" => matches!(
            report,
            Report::Scan(_)
                | Report::Top(_)
                | Report::Snapshots(_)
                | Report::Diff(_)
                | Report::Plugins(_)
        ),
        _ => true,
    }
}

#[test]
fn exactly_the_expected_reporters_are_registered() {
    assert_eq!(
        reporters().unwrap().names(),
        ["csv", "json", "markdown", "table"]
    );
}

#[rstest]
fn every_report_through_every_reporter(
    #[values(SizeKind::DiskUsage, SizeKind::Apparent)] kind: SizeKind,
    #[values(false, true)] empty: bool,
) {
    let f = Fixtures::either(empty);
    let opts = RenderOptions::new(kind);
    for plugin in reporters().unwrap().iter() {
        let reporter = (plugin.create)(&plugin.default_settings().unwrap()).unwrap();
        for report in f.reports() {
            let mut out = Vec::new();
            let result = reporter.render(&report, &opts, &mut out);
            if supported(plugin.name, &report) {
                result.unwrap_or_else(|e| panic!("{} / {}: {e}", plugin.name, report.kind()));
                assert!(
                    !out.is_empty(),
                    "{} / {}: no output",
                    plugin.name,
                    report.kind()
                );
                assert!(
                    std::str::from_utf8(&out).is_ok(),
                    "{} / {}",
                    plugin.name,
                    report.kind()
                );
            } else {
                let err = result.expect_err("unsupported kinds are declined");
                assert_eq!(err.kind(), io::ErrorKind::Unsupported);
                assert!(err.to_string().contains(report.kind().as_str()), "{err}");
            }
        }
    }
}

/// A writer that takes `budget` bytes, then fails like a closed pipe.
struct Broken {
    budget: usize,
}

impl Write for Broken {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[rstest]
fn a_failing_writer_is_an_error_not_a_panic(#[values(0, 1, 100)] budget: usize) {
    let f = Fixtures::new();
    for plugin in reporters().unwrap().iter() {
        let reporter = (plugin.create)(&plugin.default_settings().unwrap()).unwrap();
        for report in f.reports() {
            let opts = RenderOptions::default();
            let mut full = Vec::new();
            if reporter.render(&report, &opts, &mut full).is_err() {
                continue; // declined (unsupported): nothing is written anyway
            }
            let mut w = Broken { budget };
            let result = reporter.render(&report, &opts, &mut w);
            // Whatever does not fit must surface as the writer's error.
            assert_eq!(
                result.is_err(),
                full.len() > budget,
                "{} / {}: {} bytes into {budget}",
                plugin.name,
                report.kind(),
                full.len()
            );
            if let Err(e) = result {
                assert_eq!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe,
                    "{} / {}",
                    plugin.name,
                    report.kind()
                );
            }
        }
    }
}

/// Splits a Markdown table row on the pipes that are not backslash-escaped.
fn md_cells(line: &str) -> Vec<String> {
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .expect("a table row");
    let mut cells = vec![String::new()];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // Keep the escaped character, drop the escape (Markdown's reading).
                if let Some(n) = chars.next() {
                    cells.last_mut().unwrap().push(n);
                }
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

#[test]
fn markdown_tables_keep_their_shape_whatever_the_path() {
    let mut f = Fixtures::new();
    // A pipe, backticks and an asterisk in a name must not break the table.
    f.top.rows.push(dir(b"/data/a|b`c*d", 1, 10, 1));
    let mut out = Vec::new();
    disktracker::Reporter::render(
        &MarkdownReporter::default(),
        &Report::Top(&f.top),
        &RenderOptions::default(),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 2 + f.top.rows.len(), "{text}");
    let header = md_cells(rows[0]);
    assert_eq!(header, ["Size", "Share", "Files", "Path"]);
    for (line, want) in rows[2..].iter().zip(&f.top.rows) {
        let cells = md_cells(line);
        assert_eq!(cells.len(), header.len(), "{line}");
        // Unescaping the Markdown gives back the escaped-for-display path.
        assert_eq!(cells[3], disktracker::path::escape_bytes(&want.path));
        assert_eq!(cells[2], want.stats.file_count.to_string());
    }
    assert!(text.contains(&cell(NON_UTF8)));
    assert_eq!(cell(b"/x|y"), r"/x\|y");
}
