//! The Markdown reporter's own checks: its tables keep their shape whatever
//! the path, and the third-party binary lists it beside the default plugins.
//! What every reporter must do (render what it declares, refuse the rest,
//! never print a hostile name raw, report writer errors) is checked for it
//! by the testkit's reporter conformance suite.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::{RenderOptions, Report};
use disktracker_example_reporter::{MarkdownReporter, cell};
use disktracker_testkit::reports::{Fixtures, NON_UTF8, dir};

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
