//! An example third-party reporter: `--format markdown`.
//!
//! It depends on the `disktracker` API crate alone, renders GitHub-flavoured
//! Markdown tables for `scan`, `show`, `snapshots`, `diff` and `plugins`, and
//! declines every other report with [`disktracker::report::unsupported`]. It
//! takes one setting from its own configuration table:
//!
//! ```toml
//! [plugins.markdown]
//! max_rows = 20   # rows per table at most; 0 (the default) prints all
//! ```
//!
//! The `disktracker-markdown` binary that links it into the stock command
//! line is a package of its own (`plugins/example-reporter-cli`), so this
//! crate compiles against the API and nothing else. See `README.md` beside
//! this crate for the walk-through, and the rustdoc of
//! [`disktracker::Reporter`] for the rules every reporter keeps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};

use disktracker::model::{DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::escape_bytes;
use disktracker::registry::ReporterPlugin;
use disktracker::report::{DiffReport, ReportKind, ScanReport, TopReport, unsupported};
use disktracker::settings::{PluginSettings, SettingSpec};
use disktracker::{PluginInfo, RenderOptions, Report, Reporter};

/// The keys of `[plugins.markdown]`: the host rejects any other key there,
/// naming it and the file, and shows these in `disktracker config`.
pub const SETTINGS: &[SettingSpec] = &[SettingSpec::new(
    "max_rows",
    "0",
    "Rows printed at most in each table (the rest are counted); 0 prints all.",
)];

/// The report kinds it renders; the host refuses `--format markdown` for
/// any other command before that command changes anything.
pub const RENDERS: &[ReportKind] = &[
    ReportKind::Scan,
    ReportKind::Top,
    ReportKind::Snapshots,
    ReportKind::Diff,
    ReportKind::Plugins,
];

// The whole registration: a unique name, a one-line summary, the kinds it
// renders, a factory, and its settings. It takes effect in any binary that
// links this crate (`use disktracker_example_reporter as _;`).
disktracker::register_reporter!(
    ReporterPlugin::new(
        "markdown",
        "Markdown tables (the example third-party reporter)",
        RENDERS,
        create,
    )
    .settings(SETTINGS)
);

/// The factory: reads `[plugins.markdown]` (a bad value is a configuration
/// error naming the key and where it was set).
fn create(settings: &PluginSettings) -> disktracker::Result<Box<dyn Reporter>> {
    Ok(Box::new(MarkdownReporter::from_settings(settings)?))
}

/// Renders reports as Markdown tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarkdownReporter {
    /// Rows printed at most in each table; `None` prints all.
    pub max_rows: Option<usize>,
}

impl MarkdownReporter {
    /// The reporter configured by its `[plugins.markdown]` settings.
    pub fn from_settings(settings: &PluginSettings) -> disktracker::Result<Self> {
        let max_rows = match settings.u64("max_rows")? {
            0 => None,
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        Ok(MarkdownReporter { max_rows })
    }
}

impl Reporter for MarkdownReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let kind = opts.size_kind;
        let limit = self.max_rows.unwrap_or(usize::MAX);
        let text = match *report {
            Report::Scan(r) => scan(r, kind, limit),
            Report::Top(r) => top(r, kind, limit),
            Report::Snapshots(r) => snapshots(r, kind, limit),
            Report::Diff(r) => diff(r, kind, limit),
            Report::Plugins(r) => plugins(r, limit),
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
/// and at most `limit` rows, then a line counting the rows left out. Cells
/// must already be escaped with [`cell`] or be numbers.
fn table(
    out: &mut String,
    header: &[(&str, bool)],
    rows: impl ExactSizeIterator<Item = Vec<String>>,
    limit: usize,
) {
    let left_out = rows.len().saturating_sub(limit);
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
    for row in rows.take(limit) {
        line(&mut row.iter().map(String::as_str), out);
    }
    if left_out > 0 {
        out.push_str(&format!("\n… and {left_out} more rows\n"));
    }
}

fn dir_rows<'a>(
    rows: &'a [DirRecord],
    whole: u64,
    kind: SizeKind,
) -> impl ExactSizeIterator<Item = Vec<String>> + 'a {
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

fn scan(r: &ScanReport, kind: SizeKind, limit: usize) -> String {
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
        table(&mut s, &DIR_HEADER, dir_rows(&r.top, whole, kind), limit);
    }
    s
}

fn top(r: &TopReport, kind: SizeKind, limit: usize) -> String {
    let whole = r.under.stats.total(kind);
    let mut s = format!(
        "## {} in snapshot {}\n\n{} {}, {} files\n\n",
        cell(&r.under.path),
        r.snapshot.id,
        size(whole),
        kind_name(kind),
        r.under.stats.file_count
    );
    table(&mut s, &DIR_HEADER, dir_rows(&r.rows, whole, kind), limit);
    s
}

fn snapshots(list: &[SnapshotInfo], kind: SizeKind, limit: usize) -> String {
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
        limit,
    );
    s
}

fn diff(r: &DiffReport, kind: SizeKind, limit: usize) -> String {
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
        limit,
    );
    s.push_str(&format!("\n{} directories changed\n", r.changed));
    s
}

fn plugins(list: &[PluginInfo], limit: usize) -> String {
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
        limit,
    );
    s
}
