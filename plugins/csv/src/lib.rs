//! The `csv` reporter: RFC 4180 CSV, safe to open in a spreadsheet.
//!
//! Every report is one header row and one row per item, CRLF-terminated (the
//! RFC's line break), quoted only where needed (a cell holding a comma, a
//! quote or a line break). One row type per report kind:
//!
//! | kind        | one row per                       | columns |
//! |-------------|-----------------------------------|---------|
//! | `scan`      | directory of the top list         | `snapshot_id, path, depth, disk_usage, apparent_size, direct_disk_usage, direct_apparent_size, files, direct_files, subdirectories, errors, share_pct` |
//! | `top`       | directory below the asked path    | as `scan`; `share_pct` is of the asked directory |
//! | `snapshots` | snapshot                          | `id, started_at, finished_at, root, host, walker, files, directories, errors, disk_usage, apparent_size` |
//! | `deleted`   | deleted snapshot                  | `id` |
//! | `diff`      | changed directory                 | `path, status, disk_usage_before, disk_usage_after, disk_usage_delta, apparent_size_before, apparent_size_after, apparent_size_delta` |
//! | `explain`   | node of the tree, in pre-order    | `depth, path, status`, the six `diff` size columns, then `direct_K_delta, share_pct, other_K_delta, other_count` where `K` is `disk_usage` or `apparent_size` (the size the explanation was computed in) |
//! | `sizes`     | path asked                        | `path, status, disk_usage` (the index's path and staleness are in the table and JSON output) |
//! | `plugins`   | plugin                            | `kind, name, summary` |
//! | `config`    | configuration value               | `key, value, source` |
//! | `fleet`     | host and root                     | `host, root, snapshot_id, time, age_seconds, stale, disk_usage, apparent_size, files, baseline_id, disk_usage_delta, apparent_size_delta, growth_path, growth_delta` (empty where unknown) |
//! | `history`   | snapshot (then the live value)    | `snapshot_id` (empty for the live row), `time, path, disk_usage, apparent_size, files, disk_usage_delta, apparent_size_delta` |
//! | `bench`     | backend measured                  | `root, entries, directories, runs, cold, part, name, median_us, min_us, max_us, per_second, peak_mem_bytes, bytes_per_dir, diff_us, lookup_ns` |
//!
//! The scan summary (totals, duration, issues) has no row shape of its own; a
//! `scan` CSV is the table of its largest directories, like `show` (use the
//! `json` format for the summary). `share_pct` is in the requested size kind
//! and has two decimals; it is empty when the reference total is zero.
//! Sizes are integer bytes; a size absent on one side of a diff is an empty
//! cell. Times are UTC, ISO 8601 with milliseconds (`2024-01-02T03:04:05.678Z`).
//!
//! # Paths and other text from outside
//!
//! Paths are text cells escaped like the table's
//! ([`disktracker::path::escape_bytes`]): invalid UTF-8 bytes and control
//! characters become `\xNN` (`\x0a` for a newline, `\x1b` for ESC), bidi and
//! other format characters `\u{XXXX}` (`\u{202e}`), and a backslash `\\`;
//! [`disktracker::path::unescape`] gives back the bytes. Host, walker and
//! plugin names and configuration keys, values and origins are escaped the
//! same way ([`disktracker::path::escape_text`]). Use `--format json` for
//! the exact bytes.
//!
//! # Formula-injection neutralisation
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
//! formula (OWASP, "CSV Injection"). The rule here is by cell *type*:
//!
//! - **Numeric cells** — every size, count, id, delta and percentage — are
//!   written from integers and floats by this crate, so they only ever hold
//!   `-`, digits and a `.`. They are never altered: `-300` stays the number
//!   −300, and a leading minus cannot smuggle a formula into a cell that has
//!   no other characters.
//! - **Text cells** — paths, names, messages, configuration keys and values,
//!   status words, times — get a single quote `'` prepended when they begin
//!   with `=`, `+`, `-`, `@`, tab, carriage return or line feed, or with
//!   spaces followed by one of those. Spreadsheets show such a cell as text
//!   and never evaluate it. A consumer that wants the original strips one
//!   leading `'` from a text cell that is followed by one of those characters.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::borrow::Cow;
use std::io::{self, Write};

use disktracker::model::{DiffEntry, DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::{escape_bytes, escape_text};
use disktracker::report::{ChangeStatus, ExplainNode, ExplainReport, unsupported};
use disktracker::{RenderOptions, Report, Reporter};

disktracker::register_reporter!(disktracker::registry::ReporterPlugin::new(
    "csv",
    "RFC 4180 CSV with a header row, safe to open in a spreadsheet",
    disktracker::ReportKind::ALL,
    |_| Ok(Box::new(CsvReporter))
));

/// The `csv` reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct CsvReporter;

/// First characters that make a spreadsheet evaluate a cell (OWASP), plus
/// line feed, which some importers drop before looking at the next character.
const FORMULA_TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// A text cell, neutralised against formula injection (see the crate docs).
pub fn text_cell(s: &str) -> Cow<'_, str> {
    let first_non_space = s.trim_start_matches(' ').chars().next();
    match first_non_space {
        Some(c) if FORMULA_TRIGGERS.contains(&c) => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// A path cell: escaped for display, then neutralised like any text.
fn path_cell(b: &[u8]) -> String {
    text_cell(&escape_bytes(b)).into_owned()
}

/// A cell of text that came from outside (names, configuration values):
/// escaped like a path, then neutralised.
fn outside_cell(s: &str) -> String {
    text_cell(&escape_text(s)).into_owned()
}

fn num(n: impl ToString) -> String {
    n.to_string()
}

fn opt_num(n: Option<u64>) -> String {
    n.map(num).unwrap_or_default()
}

/// Two decimals, or empty when not finite (the reference total was zero).
fn pct(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.2}")
    } else {
        String::new()
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::new()
    } else {
        pct(part as f64 * 100.0 / whole as f64)
    }
}

fn kind_prefix(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::DiskUsage => "disk_usage",
        SizeKind::Apparent => "apparent_size",
    }
}

type Csv<'w> = csv::Writer<&'w mut dyn Write>;

fn io_err(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

impl Reporter for CsvReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut w: Csv<'_> = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        render(&mut w, report, opts.size_kind).map_err(io_err)?;
        w.flush()
    }
}

const DIR_HEADER: [&str; 12] = [
    "snapshot_id",
    "path",
    "depth",
    "disk_usage",
    "apparent_size",
    "direct_disk_usage",
    "direct_apparent_size",
    "files",
    "direct_files",
    "subdirectories",
    "errors",
    "share_pct",
];

const DIFF_SIZES: [&str; 6] = [
    "disk_usage_before",
    "disk_usage_after",
    "disk_usage_delta",
    "apparent_size_before",
    "apparent_size_after",
    "apparent_size_delta",
];

fn render(w: &mut Csv<'_>, report: &Report<'_>, kind: SizeKind) -> csv::Result<()> {
    match *report {
        Report::Scan(r) => {
            let whole = r.snapshot.meta.total(kind);
            dirs(w, r.snapshot.id, &r.top, whole, kind)
        }
        Report::Top(r) => dirs(w, r.snapshot.id, &r.rows, r.under.stats.total(kind), kind),
        Report::Snapshots(list) => {
            w.write_record([
                "id",
                "started_at",
                "finished_at",
                "root",
                "host",
                "walker",
                "files",
                "directories",
                "errors",
                "disk_usage",
                "apparent_size",
            ])?;
            for s in list {
                snapshot_row(w, s)?;
            }
            Ok(())
        }
        Report::Deleted(r) => {
            w.write_record(["id", "deleted"])?;
            let done = if r.dry_run { "would" } else { "yes" };
            for id in &r.ids {
                w.write_record([num(id), done.to_owned()])?;
            }
            Ok(())
        }
        Report::Diff(r) => {
            let mut header = vec!["path", "status"];
            header.extend(DIFF_SIZES);
            w.write_record(header)?;
            for e in &r.entries {
                let mut row = vec![path_cell(&e.path), status_of(e).to_owned()];
                row.extend(diff_sizes(e));
                w.write_record(row)?;
            }
            Ok(())
        }
        Report::Explain(r) => explain(w, r, kind),
        Report::Sizes(r) => {
            w.write_record(["path", "status", "disk_usage"])?;
            for a in &r.answers {
                let status = a.status.as_str();
                w.write_record([
                    path_cell(&a.path),
                    status.to_owned(),
                    opt_num(a.total_bytes),
                ])?;
            }
            Ok(())
        }
        Report::Plugins(list) => {
            w.write_record(["kind", "name", "summary"])?;
            for p in list {
                w.write_record([
                    text_cell(p.kind.as_str()).into_owned(),
                    outside_cell(p.name),
                    outside_cell(p.summary),
                ])?;
            }
            Ok(())
        }
        Report::Config(lines) => {
            w.write_record(["key", "value", "source"])?;
            for c in lines {
                w.write_record([
                    outside_cell(&c.key),
                    outside_cell(&c.value),
                    outside_cell(&c.source),
                ])?;
            }
            Ok(())
        }
        Report::Status(r) => {
            w.write_record([
                "root",
                "watcher_pid",
                "state",
                "snapshot",
                "events",
                "batches",
                "queue_depth",
                "overlay_entries",
                "pending_mutations",
                "last_batch_ms",
                "last_compaction_ms",
                "last_reconcile_ms",
                "detail",
            ])?;
            let opt_i = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
            for st in &r.roots {
                w.write_record([
                    path_cell(&st.root),
                    st.watcher_pid.map(|p| p.to_string()).unwrap_or_default(),
                    st.state
                        .map(disktracker::report::WatcherState::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    opt_i(st.snapshot),
                    num(st.events),
                    num(st.batches),
                    num(st.queue_depth),
                    num(st.overlay_entries),
                    num(st.pending_mutations),
                    opt_i(st.last_batch_ms),
                    opt_i(st.last_compaction_ms),
                    opt_i(st.last_reconcile_ms),
                    outside_cell(st.detail.as_deref().unwrap_or_default()),
                ])?;
            }
            Ok(())
        }
        Report::Log(r) => {
            w.write_record(["time_ms", "kind", "disk_usage_delta", "path"])?;
            for e in &r.entries {
                w.write_record([
                    num(e.time_ms),
                    e.kind.as_str().to_owned(),
                    e.delta_bytes.map(|d| d.to_string()).unwrap_or_default(),
                    path_cell(&e.path),
                ])?;
            }
            Ok(())
        }
        Report::History(r) => {
            w.write_record([
                "snapshot_id",
                "time",
                "path",
                "disk_usage",
                "apparent_size",
                "files",
                "disk_usage_delta",
                "apparent_size_delta",
            ])?;
            let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            let opt_d = |v: Option<i128>| v.map(|v| v.to_string()).unwrap_or_default();
            for p in &r.points {
                w.write_record([
                    p.snapshot.map(|s| s.to_string()).unwrap_or_default(),
                    text_cell(&iso_utc(p.at_ms)).into_owned(),
                    path_cell(&r.path),
                    opt(p.bytes),
                    opt(p.apparent),
                    opt(p.files),
                    opt_d(p.delta_bytes),
                    opt_d(p.delta_apparent),
                ])?;
            }
            Ok(())
        }
        Report::Fleet(r) => {
            w.write_record([
                "host",
                "root",
                "snapshot_id",
                "time",
                "age_seconds",
                "stale",
                "disk_usage",
                "apparent_size",
                "files",
                "baseline_id",
                "disk_usage_delta",
                "apparent_size_delta",
                "growth_path",
                "growth_delta",
            ])?;
            let opt_d = |v: Option<i128>| v.map(|v| v.to_string()).unwrap_or_default();
            for row in &r.rows {
                w.write_record([
                    outside_cell(&row.host),
                    path_cell(&row.root),
                    num(row.snapshot),
                    text_cell(&iso_utc(row.at_ms)).into_owned(),
                    num(row.age_ms / 1000),
                    row.stale.to_string(),
                    num(row.size.bytes),
                    num(row.size.apparent),
                    num(row.files),
                    row.baseline.map(|b| b.to_string()).unwrap_or_default(),
                    opt_d(row.delta_bytes),
                    opt_d(row.delta_apparent),
                    row.growth_path
                        .as_deref()
                        .map(path_cell)
                        .unwrap_or_default(),
                    opt_d(row.growth_delta),
                ])?;
            }
            Ok(())
        }
        Report::Reconcile(r) => {
            w.write_record([
                "root",
                "base",
                "snapshot",
                "mutations",
                "changed_directories",
                "disk_usage_delta",
            ])?;
            for l in &r.roots {
                w.write_record([
                    path_cell(&l.root),
                    l.base.map(|b| b.to_string()).unwrap_or_default(),
                    l.snapshot.map(|b| b.to_string()).unwrap_or_default(),
                    num(l.mutations),
                    num(l.changed_dirs),
                    l.delta_bytes.to_string(),
                ])?;
            }
            Ok(())
        }
        Report::Bench(r) => {
            w.write_record([
                "root",
                "entries",
                "directories",
                "runs",
                "cold",
                "part",
                "name",
                "median_us",
                "min_us",
                "max_us",
                "per_second",
                "peak_mem_bytes",
                "bytes_per_dir",
                "diff_us",
                "lookup_ns",
            ])?;
            for l in &r.lines {
                w.write_record([
                    path_cell(&r.root),
                    num(r.entries),
                    num(r.dirs),
                    num(r.runs),
                    num(r.cold),
                    l.part.as_str().to_owned(),
                    outside_cell(&l.name),
                    num(l.median_us),
                    num(l.min_us),
                    num(l.max_us),
                    format!("{:.0}", l.per_second),
                    opt_num(l.peak_rss_bytes),
                    l.bytes_per_dir
                        .map(|b| format!("{b:.1}"))
                        .unwrap_or_default(),
                    opt_num(l.diff_us),
                    opt_num(l.lookup_ns),
                ])?;
            }
            Ok(())
        }
        _ => Err(csv::Error::from(unsupported("csv", report))),
    }
}

fn dirs(
    w: &mut Csv<'_>,
    snapshot: i64,
    rows: &[DirRecord],
    whole: u64,
    kind: SizeKind,
) -> csv::Result<()> {
    w.write_record(DIR_HEADER)?;
    for d in rows {
        let s = &d.stats;
        w.write_record([
            num(snapshot),
            path_cell(&d.path),
            num(d.depth),
            num(s.total_bytes),
            num(s.total_apparent),
            num(s.direct_bytes),
            num(s.direct_apparent),
            num(s.file_count),
            num(s.direct_files),
            num(s.child_count),
            num(s.error_count),
            share(s.total(kind), whole),
        ])?;
    }
    Ok(())
}

fn snapshot_row(w: &mut Csv<'_>, s: &SnapshotInfo) -> csv::Result<()> {
    let m = &s.meta;
    w.write_record([
        num(s.id),
        text_cell(&iso_utc(m.started_at_ms)).into_owned(),
        text_cell(&iso_utc(m.finished_at_ms)).into_owned(),
        path_cell(&m.root),
        outside_cell(&m.host),
        outside_cell(&m.walker),
        num(m.total_files),
        num(m.dir_count),
        num(m.error_count),
        num(m.total_bytes),
        num(m.total_apparent),
    ])
}

fn status_word(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Changed => "changed",
        ChangeStatus::Added => "added",
        ChangeStatus::Removed => "removed",
    }
}

/// Added / removed / changed from which sides exist.
fn status_of(e: &DiffEntry) -> &'static str {
    status_word(match (e.bytes_a, e.bytes_b) {
        (None, Some(_)) => ChangeStatus::Added,
        (Some(_), None) => ChangeStatus::Removed,
        _ => ChangeStatus::Changed,
    })
}

/// The six size cells of a diff row, in [`DIFF_SIZES`] order.
fn diff_sizes(e: &DiffEntry) -> [String; 6] {
    [
        opt_num(e.bytes_a),
        opt_num(e.bytes_b),
        num(e.delta(SizeKind::DiskUsage)),
        opt_num(e.apparent_a),
        opt_num(e.apparent_b),
        num(e.delta(SizeKind::Apparent)),
    ]
}

fn explain(w: &mut Csv<'_>, r: &ExplainReport, kind: SizeKind) -> csv::Result<()> {
    let k = kind_prefix(kind);
    let direct = format!("direct_{k}_delta");
    let other = format!("other_{k}_delta");
    let mut header = vec!["depth", "path", "status"];
    header.extend(DIFF_SIZES);
    header.extend([direct.as_str(), "share_pct", other.as_str(), "other_count"]);
    w.write_record(header)?;
    // Pre-order with an explicit stack: the tree is as deep as the directory
    // hierarchy, and the thread stack is not the place to bet on that.
    let mut stack: Vec<(u32, &ExplainNode)> = vec![(0, &r.root)];
    while let Some((depth, n)) = stack.pop() {
        let mut row = vec![
            num(depth),
            path_cell(&n.entry.path),
            status_word(n.status).to_owned(),
        ];
        row.extend(diff_sizes(&n.entry));
        row.extend([
            num(n.direct_delta),
            pct(n.share_pct),
            num(n.other_delta),
            num(n.other_count),
        ]);
        w.write_record(row)?;
        let child_depth = depth.saturating_add(1);
        stack.extend(n.children.iter().rev().map(|c| (child_depth, c)));
    }
    Ok(())
}

pub use disktracker::human::iso_utc;
