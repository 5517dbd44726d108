//! The `prometheus` reporter: Prometheus text exposition (format 0.0.4), so
//! node_exporter's textfile collector, or any scraper, charts per-directory
//! sizes and their growth.
//!
//! | report | families |
//! |---|---|
//! | `scan`, `snapshots` | per root and host, of the newest snapshot: `disktracker_snapshot_bytes{kind}`, `…_files`, `…_directories`, `…_errors`, `…_timestamp_seconds`, and `disktracker_snapshots` (how many are stored); `scan` adds its largest directories as `disktracker_directory_bytes` |
//! | `show` | `disktracker_directory_bytes{root,path,kind}` and `disktracker_directory_files{root,path}`, the asked directory and its largest subdirectories |
//! | `diff` | `disktracker_directory_delta_bytes{root,path,kind}` per changed directory listed, `disktracker_diff_changed_directories{root}` |
//! | `status` | per root: `disktracker_watcher_up`, `disktracker_watcher_state{state}` (1 for the current state, 0 for the others), `…_events`, `…_batches`, `…_queue_depth`, `…_overlay_entries`, `…_pending_mutations`, `…_last_batch_timestamp_seconds` |
//! | `size` | `disktracker_live_directory_bytes{path,source}` |
//! | `fleet` | per host and root: `disktracker_fleet_bytes{host,root,kind}`, `…_files`, `…_change_bytes{kind}` (over the period; absent without an older snapshot), `…_snapshot_age_seconds`, `…_stale` (0 or 1) |
//!
//! `kind` is `disk_usage` or `apparent`. No sample carries a timestamp:
//! the textfile collector refuses them, and a scrape's time is the right one
//! for a gauge read from a file.
//!
//! # Label values
//!
//! Label values are escaped as the format asks (backslash, double quote and
//! line feed as `\\`, `\"` and `\n`). A path is written as it is when it is
//! UTF-8 without control or bidirectional characters; otherwise it is
//! written the way the table shows it ([`disktracker::path::escape_bytes`]:
//! `\xNN` for a byte that is not UTF-8 or a control character, reversible
//! with [`disktracker::path::unescape`]) and the sample's `path_escaped`
//! label, on every sample with a path, is `"true"` instead of `"false"`, so
//! an escaped name is never mistaken for a real one. Hosts go through [`disktracker::path::escape_text`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use disktracker::model::{DirRecord, SnapshotInfo};
use disktracker::path::{escape_bytes, escape_text};
use disktracker::report::{
    DiffReport, FleetReport, StatusReport, TopReport, WatcherState, unsupported,
};
use disktracker::{RenderOptions, Report, ReportKind, Reporter};

disktracker::register_reporter!(disktracker::registry::ReporterPlugin::new(
    "prometheus",
    "Prometheus text exposition (for node_exporter's textfile collector)",
    RENDERS,
    |_| Ok(Box::new(PrometheusReporter))
));

/// The report kinds it renders (a history is what Prometheus itself keeps).
pub const RENDERS: &[ReportKind] = &[
    ReportKind::Scan,
    ReportKind::Top,
    ReportKind::Snapshots,
    ReportKind::Diff,
    ReportKind::Status,
    ReportKind::Sizes,
    ReportKind::Fleet,
];

/// The `prometheus` reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrometheusReporter;

impl Reporter for PrometheusReporter {
    fn render(
        &self,
        report: &Report<'_>,
        _: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut e = Exposition::default();
        match *report {
            Report::Scan(r) => {
                snapshots(&mut e, std::slice::from_ref(&r.snapshot), 1);
                for d in &r.top {
                    directory(&mut e, &r.snapshot.meta.root, d);
                }
            }
            Report::Snapshots(list) => snapshots(&mut e, list, 0),
            Report::Top(r) => top(&mut e, r),
            Report::Diff(r) => diff(&mut e, r),
            Report::Status(r) => status(&mut e, r),
            Report::Sizes(r) => {
                for a in &r.answers {
                    if let Some(b) = a.total_bytes {
                        let mut l = Labels::default();
                        l.path("path", &a.path);
                        l.text("source", a.status.as_str());
                        e.sample(
                            "disktracker_live_directory_bytes",
                            "Recursive disk usage of a directory from the live index, bytes.",
                            l,
                            b as f64,
                        );
                    }
                }
            }
            Report::Fleet(r) => fleet(&mut e, r),
            _ => return Err(unsupported("prometheus", report)),
        }
        out.write_all(e.finish(report.kind()).as_bytes())
    }
}

/// A label set being built, in order.
#[derive(Default)]
struct Labels {
    pairs: Vec<(&'static str, String)>,
    /// Some path label was given; one was escaped.
    has_path: bool,
    escaped: bool,
}

impl Labels {
    /// A path label: as it is when printable, else escaped and marked.
    fn path(&mut self, name: &'static str, p: &[u8]) {
        let shown = escape_bytes(p);
        self.has_path = true;
        if shown.as_bytes() != p {
            self.escaped = true;
        }
        self.pairs.push((name, shown.into_owned()));
    }

    fn text(&mut self, name: &'static str, s: &str) {
        self.pairs.push((name, escape_text(s).into_owned()));
    }

    fn render(&self) -> String {
        let mut s = String::new();
        let mut pairs: Vec<(&str, &str)> =
            self.pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // On every sample with a path, so each family has one label set.
        if self.has_path {
            pairs.push(("path_escaped", if self.escaped { "true" } else { "false" }));
        }
        if pairs.is_empty() {
            return s;
        }
        s.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{k}=\"{}\"", label_value(v));
        }
        s.push('}');
        s
    }
}

/// A label value escaped for the text format.
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Samples grouped by family, each family once with its HELP and TYPE, in
/// the order the families were first met.
#[derive(Default)]
struct Exposition {
    order: Vec<&'static str>,
    families: BTreeMap<&'static str, (&'static str, Vec<String>)>,
}

impl Exposition {
    fn sample(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        let fam = self.families.entry(name).or_insert_with(|| {
            self.order.push(name);
            (help, Vec::new())
        });
        fam.1
            .push(format!("{name}{} {}", labels.render(), number(value)));
    }

    /// The text. With nothing to report it says so in a sample of its own
    /// (an empty file looks like a failed run, and some parsers refuse a
    /// file of comments only).
    fn finish(mut self, kind: ReportKind) -> String {
        if self.order.is_empty() {
            let mut l = Labels::default();
            l.text("report", kind.as_str());
            self.sample(
                "disktracker_report_empty",
                "1 when the report had nothing to expose.",
                l,
                1.0,
            );
        }
        let mut s = String::new();
        for name in self.order {
            let Some((help, lines)) = self.families.get(name) else {
                continue;
            };
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

/// A sample value as the format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e19 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn kinds(bytes: u64, apparent: u64) -> [(&'static str, f64); 2] {
    [("disk_usage", bytes as f64), ("apparent", apparent as f64)]
}

/// The newest snapshot of each (root, host), and how many each has;
/// `at_least` is added to the count (a scan knows of its own snapshot only).
fn snapshots(e: &mut Exposition, list: &[SnapshotInfo], at_least: usize) {
    let mut newest: BTreeMap<(&[u8], &str), (&SnapshotInfo, usize)> = BTreeMap::new();
    for s in list {
        let slot = newest
            .entry((s.meta.root.as_slice(), s.meta.host.as_str()))
            .or_insert((s, 0));
        slot.1 += 1;
        if (s.meta.started_at_ms, s.id) >= (slot.0.meta.started_at_ms, slot.0.id) {
            slot.0 = s;
        }
    }
    for ((root, host), (s, count)) in newest {
        let labels = || {
            let mut l = Labels::default();
            l.path("root", root);
            l.text("host", host);
            l
        };
        for (kind, v) in kinds(s.meta.total_bytes, s.meta.total_apparent) {
            let mut l = labels();
            l.text("kind", kind);
            e.sample(
                "disktracker_snapshot_bytes",
                "Size of the root in its newest snapshot, bytes.",
                l,
                v,
            );
        }
        let m = &s.meta;
        for (name, help, v) in [
            (
                "disktracker_snapshot_files",
                "Files in the root's newest snapshot.",
                m.total_files as f64,
            ),
            (
                "disktracker_snapshot_directories",
                "Directories in the root's newest snapshot.",
                m.dir_count as f64,
            ),
            (
                "disktracker_snapshot_errors",
                "Entries that could not be read in the root's newest snapshot.",
                m.error_count as f64,
            ),
            (
                "disktracker_snapshot_timestamp_seconds",
                "When the root's newest snapshot was started, seconds since the epoch.",
                m.started_at_ms as f64 / 1000.0,
            ),
            (
                "disktracker_snapshots",
                "Snapshots stored for the root.",
                count.max(at_least) as f64,
            ),
        ] {
            e.sample(name, help, labels(), v);
        }
    }
}

fn directory(e: &mut Exposition, root: &[u8], d: &DirRecord) {
    for (kind, v) in kinds(d.stats.total_bytes, d.stats.total_apparent) {
        let mut l = Labels::default();
        l.path("root", root);
        l.path("path", &d.path);
        l.text("kind", kind);
        e.sample(
            "disktracker_directory_bytes",
            "Recursive size of a directory in the newest snapshot, bytes.",
            l,
            v,
        );
    }
    let mut l = Labels::default();
    l.path("root", root);
    l.path("path", &d.path);
    e.sample(
        "disktracker_directory_files",
        "Files below a directory in the newest snapshot.",
        l,
        d.stats.file_count as f64,
    );
}

fn top(e: &mut Exposition, r: &TopReport) {
    let root = &r.snapshot.meta.root;
    directory(e, root, &r.under);
    for d in &r.rows {
        directory(e, root, d);
    }
}

fn diff(e: &mut Exposition, r: &DiffReport) {
    let root = &r.b.meta.root;
    for d in &r.entries {
        for (kind, a, b) in [
            ("disk_usage", d.bytes_a, d.bytes_b),
            ("apparent", d.apparent_a, d.apparent_b),
        ] {
            let mut l = Labels::default();
            l.path("root", root);
            l.path("path", &d.path);
            l.text("kind", kind);
            let change = b.unwrap_or(0) as f64 - a.unwrap_or(0) as f64;
            e.sample(
                "disktracker_directory_delta_bytes",
                "Change of a directory's recursive size between the two snapshots compared, bytes.",
                l,
                change,
            );
        }
    }
    let mut l = Labels::default();
    l.path("root", root);
    e.sample(
        "disktracker_diff_changed_directories",
        "Directories whose size changed between the two snapshots compared.",
        l,
        r.changed as f64,
    );
}

const STATES: &[WatcherState] = &[
    WatcherState::Booting,
    WatcherState::CatchingUp,
    WatcherState::Live,
    WatcherState::Rescanning,
    WatcherState::Degraded,
];

fn status(e: &mut Exposition, r: &StatusReport) {
    for s in &r.roots {
        let labels = || {
            let mut l = Labels::default();
            l.path("root", &s.root);
            l
        };
        e.sample(
            "disktracker_watcher_up",
            "1 when a watcher runs for the root.",
            labels(),
            if s.watcher_pid.is_some() { 1.0 } else { 0.0 },
        );
        for st in STATES {
            let mut l = labels();
            l.text("state", st.as_str());
            e.sample(
                "disktracker_watcher_state",
                "1 for the watcher's current state, 0 for the others.",
                l,
                if s.state == Some(*st) { 1.0 } else { 0.0 },
            );
        }
        for (name, help, v) in [
            (
                "disktracker_watcher_events",
                "File-system events the running watcher has taken in.",
                s.events,
            ),
            (
                "disktracker_watcher_batches",
                "Batches the running watcher has applied.",
                s.batches,
            ),
            (
                "disktracker_watcher_queue_depth",
                "Directories waiting to be re-read.",
                s.queue_depth,
            ),
            (
                "disktracker_watcher_overlay_entries",
                "Live changes not yet compacted into the index file.",
                s.overlay_entries,
            ),
            (
                "disktracker_watcher_pending_mutations",
                "Logged live changes not yet reconciled into a snapshot.",
                s.pending_mutations,
            ),
        ] {
            e.sample(name, help, labels(), v as f64);
        }
        if let Some(t) = s.last_batch_ms {
            e.sample(
                "disktracker_watcher_last_batch_timestamp_seconds",
                "When the watcher last applied a batch, seconds since the epoch.",
                labels(),
                t as f64 / 1000.0,
            );
        }
    }
}

/// Per host and root: the newest size, the change over the period, the
/// snapshot's age and whether it is stale.
fn fleet(e: &mut Exposition, r: &FleetReport) {
    let labels = |row: &disktracker::report::FleetRow| {
        let mut l = Labels::default();
        l.text("host", &row.host);
        l.path("root", &row.root);
        l
    };
    for row in &r.rows {
        for (kind, bytes, change) in [
            ("disk_usage", row.size.bytes, row.delta_bytes),
            ("apparent", row.size.apparent, row.delta_apparent),
        ] {
            let mut l = labels(row);
            l.text("kind", kind);
            e.sample(
                "disktracker_fleet_bytes",
                "Recursive size of a host's root in its newest snapshot, bytes.",
                l,
                bytes as f64,
            );
            if let Some(d) = change {
                let mut l = labels(row);
                l.text("kind", kind);
                e.sample(
                    "disktracker_fleet_change_bytes",
                    "Change of a host's root over the report's period, bytes.",
                    l,
                    d as f64,
                );
            }
        }
        e.sample(
            "disktracker_fleet_files",
            "Files under a host's root in its newest snapshot.",
            labels(row),
            row.files as f64,
        );
        e.sample(
            "disktracker_fleet_snapshot_age_seconds",
            "How old a host's newest snapshot of a root is, seconds.",
            labels(row),
            row.age_ms as f64 / 1000.0,
        );
        e.sample(
            "disktracker_fleet_stale",
            "1 when a host's newest snapshot of a root is older than the stale limit.",
            labels(row),
            f64::from(u8::from(row.stale)),
        );
    }
}
