//! The `table` reporter: DiskTracker's human output.
//!
//! Aligned columns, numbers right-aligned, sizes with binary prefixes
//! (`1.5 MiB`, exact bytes below 1 KiB), times in UTC. Every path goes
//! through [`disktracker::path::escape_bytes`] and every other text that came
//! from outside (host, walker and plugin names, OS messages, configuration
//! keys, values and origins) through [`disktracker::path::escape_text`], so a
//! non-UTF-8 name or one holding a newline, an escape sequence or a bidi
//! override prints as one harmless line. Columns are as wide as their widest
//! cell in terminal columns (East Asian wide characters and emoji count two,
//! combining marks none). Paths always sit in the last column: they are the
//! one cell whose width varies wildly, and nothing needs to line up after them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Size, time and duration formatting (shared with every reporter).
pub use disktracker::human as format;
mod grid;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use disktracker::model::{DiffEntry, DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::{escape_bytes, escape_text as text};
use disktracker::report::{
    BenchPart, BenchReport, ChangeStatus, ConfigLine, DeletedReport, DiffReport, ExplainNode,
    ExplainReport, FleetReport, HistoryReport, LogReport, ReconcileReport, ScanReport, SizeReport,
    SizeStatus, StatusReport, TopReport, unsupported,
};
use disktracker::{PluginInfo, RenderOptions, Report, Reporter};

use crate::format::{delta, duration_ms, duration_ns, pct, rate, share, size, utc};
use crate::grid::{Align, Grid};

disktracker::register_reporter!(disktracker::registry::ReporterPlugin::new(
    "table",
    "aligned, human-readable tables with binary-prefixed sizes (the default)",
    disktracker::ReportKind::ALL,
    |_| Ok(Box::new(TableReporter))
));

/// How many scan issues are listed before the rest are only counted.
pub const MAX_ISSUES: usize = 20;

/// The `table` reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableReporter;

impl Reporter for TableReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        // Lay the whole report out in memory first: column widths depend on
        // every row, and one write keeps a broken pipe from leaving half a line.
        let mut s = String::new();
        let kind = opts.size_kind;
        match *report {
            Report::Scan(r) => scan(r, kind, &mut s),
            Report::Top(r) => top(r, kind, &mut s),
            Report::Snapshots(r) => snapshots(r, kind, &mut s),
            Report::Deleted(r) => deleted(r, &mut s),
            Report::Diff(r) => diff(r, kind, &mut s),
            Report::Explain(r) => explain(r, kind, &mut s),
            Report::Sizes(r) => sizes(r, &mut s),
            Report::Plugins(r) => plugins(r, &mut s),
            Report::Config(r) => config(r, &mut s),
            Report::Status(r) => status(r, &mut s),
            Report::Log(r) => log(r, &mut s),
            Report::Reconcile(r) => reconcile(r, &mut s),
            Report::Bench(r) => bench(r, &mut s),
            Report::History(r) => history(r, kind, &mut s),
            Report::Fleet(r) => fleet(r, kind, &mut s),
            _ => return Err(unsupported("table", report)),
        }
        out.write_all(s.as_bytes())
    }
}

fn kind_name(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::DiskUsage => "disk usage",
        SizeKind::Apparent => "apparent size",
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `snapshot 42 (2024-01-02 03:04:05 UTC)`; the time is when the scan started.
fn snapshot_label(s: &SnapshotInfo) -> String {
    format!("snapshot {} ({} UTC)", s.id, utc(s.meta.started_at_ms))
}

/// The table of directories shared by `scan` and `show`: size, share of
/// `whole`, recursive files, path.
fn dir_table(rows: &[DirRecord], whole: u64, kind: SizeKind, out: &mut String) {
    let mut g = Grid::new(&[
        ("SIZE", Align::Right),
        ("SHARE", Align::Right),
        ("FILES", Align::Right),
        ("PATH", Align::Left),
    ]);
    for r in rows {
        let total = r.stats.total(kind);
        g.push(vec![
            size(total),
            share(total, whole),
            r.stats.file_count.to_string(),
            escape_bytes(&r.path).into_owned(),
        ]);
    }
    g.write("", out);
}

fn scan(r: &ScanReport, kind: SizeKind, out: &mut String) {
    let m = &r.snapshot.meta;
    let _ = writeln!(out, "Scanned {}", escape_bytes(&m.root));
    let mut g = Grid::headless(&[Align::Left, Align::Left]);
    let mut kv = |k: &str, v: String| g.push(vec![k.to_owned(), v]);
    kv(
        "snapshot",
        format!(
            "{} (started {} UTC on {}, walker {})",
            r.snapshot.id,
            utc(m.started_at_ms),
            text(&m.host),
            text(&m.walker)
        ),
    );
    kv("files", m.total_files.to_string());
    kv("directories", m.dir_count.to_string());
    kv(
        "disk usage",
        format!("{} ({} bytes)", size(m.total_bytes), m.total_bytes),
    );
    kv(
        "apparent size",
        format!("{} ({} bytes)", size(m.total_apparent), m.total_apparent),
    );
    kv("errors", m.error_count.to_string());
    kv("duration", duration_ms(r.duration_ms));
    if let Some(c) = &r.since {
        let d = match kind {
            SizeKind::DiskUsage => c.delta_bytes,
            SizeKind::Apparent => c.delta_apparent,
        };
        kv(
            "since",
            format!(
                "snapshot {}: {} ({} changed, {} added, {} removed, {} rewritten directories)",
                c.previous,
                format::delta(d),
                c.changed_dirs,
                c.added_dirs,
                c.removed_dirs,
                c.rewritten_dirs
            ),
        );
    }
    g.write("  ", out);

    if !r.top.is_empty() {
        let _ = writeln!(out, "\nLargest directories by {}:", kind_name(kind));
        dir_table(&r.top, m.total(kind), kind, out);
    }

    if !r.issues.is_empty() {
        let shown = r.issues.len().min(MAX_ISSUES);
        let total = m.error_count.max(r.issues.len() as u64);
        if shown as u64 == total {
            out.push_str("\nIssues:\n");
        } else {
            let _ = writeln!(out, "\nIssues (first {shown} of {total}):");
        }
        for i in &r.issues[..shown] {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                text(&i.op),
                escape_bytes(&i.path),
                text(&i.message)
            );
        }
    }
}

fn top(r: &TopReport, kind: SizeKind, out: &mut String) {
    let u = &r.under;
    let whole = u.stats.total(kind);
    let _ = writeln!(
        out,
        "Largest directories in {} of {}",
        snapshot_label(&r.snapshot),
        escape_bytes(&r.snapshot.meta.root)
    );
    let _ = writeln!(
        out,
        "{}: {} {}, {}, {}",
        escape_bytes(&u.path),
        size(whole),
        kind_name(kind),
        plural(u.stats.file_count, "file", "files"),
        plural(u.stats.child_count, "subdirectory", "subdirectories"),
    );
    out.push('\n');
    if r.rows.is_empty() {
        out.push_str("No subdirectories.\n");
    } else {
        dir_table(&r.rows, whole, kind, out);
    }
}

fn snapshots(list: &[SnapshotInfo], kind: SizeKind, out: &mut String) {
    if list.is_empty() {
        out.push_str("No snapshots.\n");
        return;
    }
    let mut g = Grid::new(&[
        ("ID", Align::Right),
        ("STARTED (UTC)", Align::Left),
        ("SIZE", Align::Right),
        ("FILES", Align::Right),
        ("DIRS", Align::Right),
        ("ERRORS", Align::Right),
        ("ROOT", Align::Left),
    ]);
    for s in list {
        let m = &s.meta;
        g.push(vec![
            s.id.to_string(),
            utc(m.started_at_ms),
            size(m.total(kind)),
            m.total_files.to_string(),
            m.dir_count.to_string(),
            m.error_count.to_string(),
            escape_bytes(&m.root).into_owned(),
        ]);
    }
    g.write("", out);
}

fn deleted(r: &DeletedReport, out: &mut String) {
    let list = r
        .ids
        .iter()
        .map(std::string::ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = match (r.ids.len(), r.dry_run) {
        (0, false) => writeln!(out, "No snapshots deleted."),
        (0, true) => writeln!(out, "No snapshots would be deleted."),
        (1, false) => writeln!(out, "Deleted snapshot {list}."),
        (1, true) => writeln!(out, "Would delete snapshot {list} (dry run)."),
        (n, false) => writeln!(out, "Deleted {n} snapshots: {list}."),
        (n, true) => writeln!(out, "Would delete {n} snapshots: {list} (dry run)."),
    };
}

fn status_word(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Changed => "changed",
        ChangeStatus::Added => "added",
        ChangeStatus::Removed => "removed",
    }
}

/// Added / removed / changed from which sides exist.
fn entry_status(e: &DiffEntry, kind: SizeKind) -> ChangeStatus {
    match e.sides(kind) {
        (None, Some(_)) => ChangeStatus::Added,
        (Some(_), None) => ChangeStatus::Removed,
        _ => ChangeStatus::Changed,
    }
}

fn opt_size(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), size)
}

fn diff(r: &DiffReport, kind: SizeKind, out: &mut String) {
    let _ = writeln!(
        out,
        "Changes under {} from {} to {}, by {}",
        escape_bytes(&r.under),
        snapshot_label(&r.a),
        snapshot_label(&r.b),
        kind_name(kind)
    );
    out.push('\n');
    if !r.entries.is_empty() {
        let mut g = Grid::new(&[
            ("DELTA", Align::Right),
            ("BEFORE", Align::Right),
            ("AFTER", Align::Right),
            ("STATUS", Align::Left),
            ("PATH", Align::Left),
        ]);
        for e in &r.entries {
            let (a, b) = e.sides(kind);
            g.push(vec![
                delta(e.delta(kind)),
                opt_size(a),
                opt_size(b),
                status_word(entry_status(e, kind)).to_owned(),
                escape_bytes(&e.path).into_owned(),
            ]);
        }
        g.write("", out);
        out.push('\n');
    }
    let _ = write!(
        out,
        "{} changed",
        plural(r.changed, "directory", "directories")
    );
    let shown = r.entries.len() as u64;
    if shown < r.changed {
        let _ = write!(out, " ({shown} shown)");
    }
    out.push('\n');
}

/// How a child is labelled in the tree: its path relative to its parent when
/// it lies below it (the indentation already says where), else in full.
fn tree_label<'a>(path: &'a [u8], parent: Option<&[u8]>) -> Cow<'a, str> {
    if let Some(p) = parent {
        let rel = if p == b"/" {
            path.strip_prefix(b"/")
        } else {
            path.strip_prefix(p).and_then(|r| r.strip_prefix(b"/"))
        };
        if let Some(rel) = rel.filter(|r| !r.is_empty()) {
            return escape_bytes(rel);
        }
    }
    escape_bytes(path)
}

fn explain(r: &ExplainReport, kind: SizeKind, out: &mut String) {
    let _ = writeln!(
        out,
        "Why {} changed from {} to {}, by {}",
        escape_bytes(&r.root.entry.path),
        snapshot_label(&r.a),
        snapshot_label(&r.b),
        kind_name(kind)
    );
    let _ = writeln!(
        out,
        "(contributors below {} of their parent's change are summed)",
        pct(r.threshold_pct)
    );
    out.push('\n');
    let mut g = Grid::new(&[
        ("DELTA", Align::Right),
        ("SHARE", Align::Right),
        ("DIRECT", Align::Right),
        ("PATH", Align::Left),
    ]);

    enum Item<'a> {
        Node {
            node: &'a ExplainNode,
            parent: Option<&'a [u8]>,
            prefix: String,
            last: bool,
        },
        Others {
            node: &'a ExplainNode,
            prefix: String,
        },
    }
    /// Tree connectors: what precedes a line, and what its children inherit.
    fn branch(prefix: &str, last: bool, root: bool) -> (String, String) {
        if root {
            return (String::new(), String::new());
        }
        let (here, below) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        (format!("{prefix}{here}"), format!("{prefix}{below}"))
    }

    // An explicit stack, not recursion: the tree is as deep as the directory
    // hierarchy, and a reporter should not bet the thread stack on that.
    let mut stack = vec![Item::Node {
        node: &r.root,
        parent: None,
        prefix: String::new(),
        last: true,
    }];
    while let Some(item) = stack.pop() {
        match item {
            Item::Node {
                node,
                parent,
                prefix,
                last,
            } => {
                let (lead, inherit) = branch(&prefix, last, parent.is_none());
                let mut label = format!("{lead}{}", tree_label(&node.entry.path, parent));
                match node.status {
                    ChangeStatus::Added => label.push_str(" [added]"),
                    ChangeStatus::Removed => label.push_str(" [removed]"),
                    ChangeStatus::Changed => {}
                }
                g.push(vec![
                    delta(node.entry.delta(kind)),
                    pct(node.share_pct),
                    delta(node.direct_delta),
                    label,
                ]);
                // Pushed in reverse so they pop in order: children, then the
                // folded remainder as the last sibling.
                let has_others = node.other_count > 0;
                if has_others {
                    stack.push(Item::Others {
                        node,
                        prefix: inherit.clone(),
                    });
                }
                let n = node.children.len();
                for (i, child) in node.children.iter().enumerate().rev() {
                    stack.push(Item::Node {
                        node: child,
                        parent: Some(&node.entry.path),
                        prefix: inherit.clone(),
                        last: i + 1 == n && !has_others,
                    });
                }
            }
            Item::Others { node, prefix } => {
                let (lead, _) = branch(&prefix, true, false);
                g.push(vec![
                    String::new(),
                    String::new(),
                    String::new(),
                    format!(
                        "{lead}… and {}: {}",
                        plural(
                            node.other_count,
                            "smaller contributor",
                            "smaller contributors"
                        ),
                        delta(node.other_delta)
                    ),
                ]);
            }
        }
    }
    g.write("", out);
}

fn size_status(s: SizeStatus) -> &'static str {
    match s {
        SizeStatus::Indexed => "indexed",
        SizeStatus::Scanned => "scanned",
        SizeStatus::OutsideRoot => "outside root",
        SizeStatus::NotIndexed => "not indexed",
        other => other.as_str(),
    }
}

fn sizes(r: &SizeReport, out: &mut String) {
    let index = escape_bytes(disktracker::path::path_bytes(&r.index));
    match &r.root {
        Some(root) => {
            let _ = writeln!(out, "Index {index} of {}", escape_bytes(root));
        }
        None => {
            let _ = writeln!(out, "Index {index} (no root)");
        }
    }
    if r.stale {
        out.push_str("warning: the index is older than the newest snapshot; sizes may be stale\n");
    }
    out.push('\n');
    if r.answers.is_empty() {
        out.push_str("No paths asked.\n");
        return;
    }
    // The index holds disk usage only, whatever --apparent-size says; the
    // header says so rather than mislabelling the numbers.
    let mut g = Grid::new(&[
        ("DISK USAGE", Align::Right),
        ("STATUS", Align::Left),
        ("PATH", Align::Left),
    ]);
    for a in &r.answers {
        g.push(vec![
            opt_size(a.total_bytes),
            size_status(a.status).to_owned(),
            escape_bytes(&a.path).into_owned(),
        ]);
    }
    g.write("", out);
}

fn plugins(list: &[PluginInfo], out: &mut String) {
    if list.is_empty() {
        out.push_str("No plugins registered.\n");
        return;
    }
    let mut g = Grid::new(&[
        ("KIND", Align::Left),
        ("NAME", Align::Left),
        ("SUMMARY", Align::Left),
    ]);
    for p in list {
        g.push(vec![
            p.kind.as_str().to_owned(),
            text(p.name).into_owned(),
            text(p.summary).into_owned(),
        ]);
    }
    g.write("", out);
}

fn config(lines: &[ConfigLine], out: &mut String) {
    if lines.is_empty() {
        out.push_str("No configuration values.\n");
        return;
    }
    let mut g = Grid::new(&[
        ("KEY", Align::Left),
        ("VALUE", Align::Left),
        ("SOURCE", Align::Left),
    ]);
    for c in lines {
        g.push(vec![
            text(&c.key).into_owned(),
            text(&c.value).into_owned(),
            text(&c.source).into_owned(),
        ]);
    }
    g.write("", out);
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), utc)
}

fn status(r: &StatusReport, out: &mut String) {
    if r.roots.is_empty() {
        out.push_str("No roots: nothing scanned or watched yet.\n");
        return;
    }
    let mut g = Grid::new(&[
        ("STATE", Align::Left),
        ("PID", Align::Right),
        ("SNAPSHOT", Align::Right),
        ("EVENTS", Align::Right),
        ("BATCHES", Align::Right),
        ("QUEUE", Align::Right),
        ("OVERLAY", Align::Right),
        ("PENDING", Align::Right),
        ("LAST BATCH (UTC)", Align::Left),
        ("LAST COMPACTION", Align::Left),
        ("LAST RECONCILE", Align::Left),
        ("ROOT", Align::Left),
    ]);
    for st in &r.roots {
        let running = st.watcher_pid.is_some();
        let num = |n: u64| {
            if running {
                n.to_string()
            } else {
                "-".to_owned()
            }
        };
        g.push(vec![
            st.state
                .map_or(if running { "starting" } else { "not watched" }, |s| {
                    s.as_str()
                })
                .to_owned(),
            st.watcher_pid
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            st.snapshot
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            num(st.events),
            num(st.batches),
            num(st.queue_depth),
            num(st.overlay_entries),
            st.pending_mutations.to_string(),
            opt_time(st.last_batch_ms),
            opt_time(st.last_compaction_ms),
            opt_time(st.last_reconcile_ms),
            escape_bytes(&st.root).into_owned(),
        ]);
    }
    g.write("", out);
    for st in r.roots.iter().filter(|s| s.detail.is_some()) {
        let _ = writeln!(
            out,
            "\n{}: {}",
            escape_bytes(&st.root),
            text(st.detail.as_deref().unwrap_or_default())
        );
    }
}

/// A growth per day, signed and human (`+1.2 GiB/day`).
fn per_day(v: Option<f64>) -> String {
    match v {
        // Saturating: a rate beyond ±2^127 bytes a day is not a real one.
        Some(v) if v.is_finite() => format!("{}/day", delta(v.round() as i128)),
        _ => "-".to_owned(),
    }
}

fn history(r: &HistoryReport, kind: SizeKind, out: &mut String) {
    let path = escape_bytes(&r.path);
    if r.points.is_empty() {
        let _ = writeln!(
            out,
            "No snapshot of {} holds {path}{}.",
            escape_bytes(&r.root),
            if r.since_ms.is_some() {
                " in that period"
            } else {
                ""
            }
        );
        return;
    }
    let _ = writeln!(
        out,
        "History of {path} ({}), root {}",
        kind_name(kind),
        escape_bytes(&r.root)
    );
    let mut g = Grid::new(&[
        ("SNAPSHOT", Align::Right),
        ("TIME (UTC)", Align::Left),
        ("SIZE", Align::Right),
        ("CHANGE", Align::Right),
        ("FILES", Align::Right),
    ]);
    for p in &r.points {
        let (value, change) = match kind {
            SizeKind::DiskUsage => (p.bytes, p.delta_bytes),
            SizeKind::Apparent => (p.apparent, p.delta_apparent),
        };
        g.push(vec![
            p.snapshot
                .map_or_else(|| "live".to_owned(), |id| id.to_string()),
            utc(p.at_ms),
            value.map_or_else(
                || {
                    if p.snapshot.is_some() {
                        "absent".to_owned()
                    } else {
                        "-".to_owned()
                    }
                },
                size,
            ),
            change.map_or_else(|| "-".to_owned(), delta),
            p.files.map_or_else(|| "-".to_owned(), |f| f.to_string()),
        ]);
    }
    g.write("", out);
    let rate = match kind {
        SizeKind::DiskUsage => r.bytes_per_day,
        SizeKind::Apparent => r.apparent_per_day,
    };
    let _ = writeln!(out, "Average growth: {}", per_day(rate));
}

fn fleet(r: &FleetReport, kind: SizeKind, out: &mut String) {
    if r.rows.is_empty() {
        out.push_str("No snapshots in the database.\n");
        return;
    }
    let _ = writeln!(
        out,
        "Fleet ({}), change since {} UTC",
        kind_name(kind),
        utc(r.since_ms)
    );
    let mut g = Grid::new(&[
        ("HOST", Align::Left),
        ("ROOT", Align::Left),
        ("SIZE", Align::Right),
        ("CHANGE", Align::Right),
        ("GREW MOST", Align::Left),
        ("BY", Align::Right),
        ("NEWEST", Align::Right),
        ("AGE", Align::Right),
    ]);
    let mut stale = 0u64;
    for row in &r.rows {
        let change = match kind {
            SizeKind::DiskUsage => row.delta_bytes,
            SizeKind::Apparent => row.delta_apparent,
        };
        let age = duration_ms(u64::try_from(row.age_ms).unwrap_or(0));
        stale += u64::from(row.stale);
        g.push(vec![
            text(&row.host).into_owned(),
            escape_bytes(&row.root).into_owned(),
            size(row.size.of(kind)),
            change.map_or_else(|| "-".to_owned(), delta),
            row.growth_path
                .as_deref()
                .map_or_else(|| "-".to_owned(), |p| escape_bytes(p).into_owned()),
            row.growth_delta.map_or_else(|| "-".to_owned(), delta),
            row.snapshot.to_string(),
            if row.stale {
                format!("{age} STALE")
            } else {
                age
            },
        ]);
    }
    g.write("", out);
    if stale > 0 {
        let _ = writeln!(
            out,
            "{} without a snapshot for {}.",
            plural(stale, "root", "roots"),
            duration_ms(u64::try_from(r.stale_after_ms).unwrap_or(0))
        );
    }
}

fn log(r: &LogReport, out: &mut String) {
    if r.entries.is_empty() {
        let under = r
            .under
            .as_deref()
            .map(|u| format!(" under {}", escape_bytes(u)));
        let _ = writeln!(
            out,
            "No live changes{} in the journal.",
            under.unwrap_or_default()
        );
        return;
    }
    let mut g = Grid::new(&[
        ("TIME (UTC)", Align::Left),
        ("KIND", Align::Left),
        ("DELTA", Align::Right),
        ("PATH", Align::Left),
    ]);
    for e in &r.entries {
        g.push(vec![
            utc(e.time_ms),
            e.kind.as_str().to_owned(),
            e.delta_bytes
                .map_or_else(|| "-".to_owned(), |d| delta(i128::from(d))),
            escape_bytes(&e.path).into_owned(),
        ]);
    }
    g.write("", out);
}

fn reconcile(r: &ReconcileReport, out: &mut String) {
    if r.roots.is_empty() {
        out.push_str("Nothing to reconcile: no root has been watched.\n");
        return;
    }
    for l in &r.roots {
        let root = escape_bytes(&l.root);
        let _ = match (l.snapshot, l.base) {
            (Some(new), Some(base)) => writeln!(
                out,
                "{root}: snapshot {new} from snapshot {base} and {}: {} changed, {}",
                plural(l.mutations, "mutation", "mutations"),
                plural(l.changed_dirs, "directory", "directories"),
                delta(l.delta_bytes)
            ),
            (None, Some(base)) => writeln!(
                out,
                "{root}: nothing new since snapshot {base}; nothing written"
            ),
            _ => writeln!(out, "{root}: not watched yet; nothing to reconcile"),
        };
    }
}

fn bench(r: &BenchReport, out: &mut String) {
    let cache = if r.cold {
        "page cache dropped before every walk"
    } else {
        "warm cache"
    };
    let _ = writeln!(
        out,
        "{}: {}, {}; median of {}, {cache}",
        escape_bytes(&r.root),
        plural(r.entries, "entry", "entries"),
        plural(r.dirs, "directory", "directories"),
        plural(u64::from(r.runs), "run", "runs"),
    );
    if let Some(why) = &r.cold_refused {
        let _ = writeln!(out, "not cold: {}", text(why));
    }
    if r.lines.is_empty() {
        out.push_str("Nothing measured.\n");
        return;
    }
    let mut g = Grid::new(&[
        ("PART", Align::Left),
        ("NAME", Align::Left),
        ("MEDIAN", Align::Right),
        ("MIN", Align::Right),
        ("MAX", Align::Right),
        ("RATE", Align::Right),
        ("PEAK MEM", Align::Right),
        ("BYTES/DIR", Align::Right),
        ("DIFF", Align::Right),
        ("LOOKUP", Align::Right),
    ]);
    let us = |v: u64| duration_ns(v.saturating_mul(1000));
    let dash = || "-".to_owned();
    for l in &r.lines {
        let what = match l.part {
            BenchPart::Walker => "entries",
            _ => "dirs",
        };
        g.push(vec![
            l.part.as_str().to_owned(),
            text(&l.name).into_owned(),
            us(l.median_us),
            us(l.min_us),
            us(l.max_us),
            format!("{} {what}", rate(l.per_second)),
            l.peak_rss_bytes.map_or_else(dash, size),
            l.bytes_per_dir.map_or_else(dash, |b| format!("{b:.0} B")),
            l.diff_us.map_or_else(dash, us),
            l.lookup_ns.map_or_else(dash, duration_ns),
        ]);
    }
    g.write("", out);
    out.push_str(
        "walker: one walk; store: one snapshot written (DIFF: two snapshots compared); \
         index: built from the tree (LOOKUP: one directory); PEAK MEM: resident memory \
         the operation added at its highest\n",
    );
}
