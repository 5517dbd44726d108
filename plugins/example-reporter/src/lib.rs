//! An example third-party reporter: `--format markdown`.
//!
//! It depends on the `disktracker` API crate alone, renders GitHub-flavoured
//! Markdown tables for `scan`, `show`, `snapshots`, `diff` and `plugins`, and
//! declines every other report with [`disktracker::report::unsupported`]. The
//! `disktracker-markdown` binary in this package links it into the stock
//! command line; see `README.md` beside this crate for the walk-through.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};

use disktracker::model::{DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::escape_bytes;
use disktracker::report::{DiffReport, ScanReport, TopReport, unsupported};
use disktracker::{PluginInfo, RenderOptions, Report, Reporter};

// The whole registration: a unique name, a one-line summary, a constructor.
// It takes effect in any binary that links this crate (`use … as _;`).
disktracker::register_reporter!(disktracker::registry::ReporterPlugin::new(
    "markdown",
    "Markdown tables (the example third-party reporter)",
    &[
        disktracker::ReportKind::Scan,
        disktracker::ReportKind::Top,
        disktracker::ReportKind::Snapshots,
        disktracker::ReportKind::Diff,
        disktracker::ReportKind::Plugins,
    ],
    |_| Ok(Box::new(MarkdownReporter))
));

/// Renders reports as Markdown tables.
#[derive(Clone, Copy, Debug, Default)]
pub struct MarkdownReporter;

impl Reporter for MarkdownReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let kind = opts.size_kind;
        let text = match *report {
            Report::Scan(r) => scan(r, kind),
            Report::Top(r) => top(r, kind),
            Report::Snapshots(r) => snapshots(r, kind),
            Report::Diff(r) => diff(r, kind),
            Report::Plugins(r) => plugins(r),
            // `Report` is non-exhaustive: new kinds may appear in later API
            // versions, and a reporter must decline what it does not know.
            _ => return Err(unsupported("markdown", report)),
        };
        out.write_all(text.as_bytes())
    }
}

/// Text safe inside a Markdown table cell: control characters and invalid
/// UTF-8 escaped (as the table reporter does), then every character that
/// Markdown would read as markup backslash-escaped — above all `|`, which
/// would otherwise end the cell.
pub fn cell(raw: &[u8]) -> String {
    let printable = escape_bytes(raw);
    let mut s = String::with_capacity(printable.len() + 4);
    for c in printable.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!'
        ) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

// The API crate's formatting, so a third-party reporter reads like the built-in ones.
use disktracker::human::{delta, size};

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn kind_name(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::DiskUsage => "disk usage",
        SizeKind::Apparent => "apparent size",
    }
}

/// A table: a header row, the alignment row (`---:` right-aligns numbers),
/// and the rows. Cells must already be escaped with [`cell`] or be numbers.
fn table(out: &mut String, header: &[(&str, bool)], rows: impl IntoIterator<Item = Vec<String>>) {
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        out.push('|');
        for c in cells {
            out.push(' ');
            out.push_str(c);
            out.push_str(" |");
        }
        out.push('\n');
    };
    line(&mut header.iter().map(|h| h.0), out);
    line(
        &mut header
            .iter()
            .map(|&(_, right)| if right { "---:" } else { ":---" }),
        out,
    );
    for row in rows {
        line(&mut row.iter().map(String::as_str), out);
    }
}

fn dir_rows<'a>(
    rows: &'a [DirRecord],
    whole: u64,
    kind: SizeKind,
) -> impl Iterator<Item = Vec<String>> + 'a {
    rows.iter().map(move |r| {
        let t = r.stats.total(kind);
        vec![
            size(t),
            share(t, whole),
            r.stats.file_count.to_string(),
            cell(&r.path),
        ]
    })
}

const DIR_HEADER: [(&str, bool); 4] = [
    ("Size", true),
    ("Share", true),
    ("Files", true),
    ("Path", false),
];

fn scan(r: &ScanReport, kind: SizeKind) -> String {
    let m = &r.snapshot.meta;
    let mut s = format!("## Scan of {}\n\n", cell(&m.root));
    s.push_str(&format!(
        "- snapshot: {}\n- files: {}\n- directories: {}\n- disk usage: {}\n- apparent size: {}\n- errors: {}\n- duration: {} ms\n",
        r.snapshot.id,
        m.total_files,
        m.dir_count,
        size(m.total_bytes),
        size(m.total_apparent),
        m.error_count,
        r.duration_ms
    ));
    if !r.top.is_empty() {
        let whole = m.total(kind);
        s.push_str(&format!(
            "\n### Largest directories by {}\n\n",
            kind_name(kind)
        ));
        table(&mut s, &DIR_HEADER, dir_rows(&r.top, whole, kind));
    }
    s
}

fn top(r: &TopReport, kind: SizeKind) -> String {
    let whole = r.under.stats.total(kind);
    let mut s = format!(
        "## {} in snapshot {}\n\n{} {}, {} files\n\n",
        cell(&r.under.path),
        r.snapshot.id,
        size(whole),
        kind_name(kind),
        r.under.stats.file_count
    );
    table(&mut s, &DIR_HEADER, dir_rows(&r.rows, whole, kind));
    s
}

fn snapshots(list: &[SnapshotInfo], kind: SizeKind) -> String {
    let mut s = String::from("## Snapshots\n\n");
    table(
        &mut s,
        &[
            ("Id", true),
            ("Started (ms since epoch)", true),
            ("Size", true),
            ("Files", true),
            ("Dirs", true),
            ("Errors", true),
            ("Root", false),
        ],
        list.iter().map(|i| {
            let m = &i.meta;
            vec![
                i.id.to_string(),
                m.started_at_ms.to_string(),
                size(m.total(kind)),
                m.total_files.to_string(),
                m.dir_count.to_string(),
                m.error_count.to_string(),
                cell(&m.root),
            ]
        }),
    );
    s
}

fn diff(r: &DiffReport, kind: SizeKind) -> String {
    let mut s = format!(
        "## Changes under {} from snapshot {} to {}\n\n",
        cell(&r.under),
        r.a.id,
        r.b.id
    );
    let opt = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), size);
    table(
        &mut s,
        &[
            ("Delta", true),
            ("Before", true),
            ("After", true),
            ("Status", false),
            ("Path", false),
        ],
        r.entries.iter().map(|e| {
            let (a, b) = e.sides(kind);
            let status = match (a, b) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ => "changed",
            };
            vec![
                delta(e.delta(kind)),
                opt(a),
                opt(b),
                status.to_owned(),
                cell(&e.path),
            ]
        }),
    );
    s.push_str(&format!("\n{} directories changed\n", r.changed));
    s
}

fn plugins(list: &[PluginInfo]) -> String {
    let mut s = String::from("## Plugins\n\n");
    table(
        &mut s,
        &[("Kind", false), ("Name", false), ("Summary", false)],
        list.iter().map(|p| {
            vec![
                p.kind.as_str().to_owned(),
                cell(p.name.as_bytes()),
                cell(p.summary.as_bytes()),
            ]
        }),
    );
    s
}
