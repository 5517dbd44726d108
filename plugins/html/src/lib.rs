//! The `html` reporter: every report as one self-contained HTML page.
//!
//! The page holds its CSS, its script and its data inline and loads nothing:
//! no CDN, no font, no image, no network access of any kind, so a saved
//! report opens the same way offline years later.
//!
//! * `show`: a zoomable treemap of the snapshot below the asked directory
//!   (click a rectangle to descend, the breadcrumb to climb back), sized by
//!   disk usage or apparent size (a switch on the page; the default is the
//!   command's size kind), two levels drawn at a time, labels with binary
//!   prefixed sizes. The host attaches a folded tree (the largest
//!   directories to a readable count and depth, see the engine's
//!   `folded` module): what is folded appears as one "other" rectangle per
//!   directory, and a directory's own files as "files". Then the table of
//!   the largest directories.
//! * `diff` and `explain`: the same treemap over both snapshots, each
//!   rectangle sized by the larger of its two sizes (so what was removed
//!   keeps its place) and coloured by growth (red) or shrinkage (green),
//!   stronger the larger the change is relative to the directory, with a
//!   legend. Then the table of changes (or of contributors).
//! * `history`: a line chart of the size over time (inline SVG, one point
//!   per snapshot, the live value in another colour), then the table.
//! * Everything else: a plain table.
//!
//! # Names from outside
//!
//! Every path and every other text from outside (hosts, walkers, plugin
//! names, messages, configuration) is first made safe to print with
//! [`disktracker::path::escape_bytes`] / [`disktracker::path::escape_text`]
//! (no control or bidi character; bytes that are not UTF-8 as `\xNN`), then
//! HTML-escaped where it goes into markup. The treemap's data travels as
//! JSON inside `<script type="application/json">` with `<`, `>` and `&`
//! written as `\u003c`, `\u003e`, `\u0026`, so no name can end the script
//! element; the script puts names on the page with `textContent` only. A
//! directory called `<script>alert(1)</script>` is text, never markup.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::io::{self, Write};

use disktracker::human::{delta, duration_ms, duration_ns, pct, rate, share, size, utc};
use disktracker::model::{DiffEntry, DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::{escape_bytes, escape_text};
use disktracker::report::{
    BenchPart, BenchReport, ChangeStatus, DiffReport, ExplainNode, ExplainReport, FleetReport,
    HistoryReport, LogReport, ReconcileReport, ScanReport, SizeReport, StatusReport, TopReport,
    TreeNode, TreeSize,
};
use disktracker::{PluginInfo, RenderOptions, Report, ReportKind, Reporter};
use serde_json::{Value, json};

disktracker::register_reporter!(
    disktracker::registry::ReporterPlugin::new(
        "html",
        "one self-contained HTML page: treemaps, growth charts and tables, no network access",
        ReportKind::ALL,
        |_| Ok(Box::new(HtmlReporter))
    )
    .draws_trees()
);

/// The `html` reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlReporter;

impl Reporter for HtmlReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let kind = opts.size_kind;
        let mut page = Page::default();
        match *report {
            Report::Scan(r) => scan(r, kind, &mut page),
            Report::Top(r) => top(r, kind, &mut page),
            Report::Snapshots(r) => snapshots(r, &mut page),
            Report::Deleted(r) => {
                page.title = if r.dry_run {
                    "Snapshots that would be deleted".to_owned()
                } else {
                    "Deleted snapshots".to_owned()
                };
                let rows = r.ids.iter().map(|id| vec![id.to_string()]).collect();
                table(&mut page.body, &[("Snapshot", true)], rows);
            }
            Report::Diff(r) => diff(r, kind, &mut page),
            Report::Explain(r) => explain(r, kind, &mut page),
            Report::Sizes(r) => sizes(r, &mut page),
            Report::Plugins(r) => plugins(r, &mut page),
            Report::Config(r) => {
                page.title = "Configuration".to_owned();
                let rows = r
                    .iter()
                    .map(|l| vec![text(&l.key), text(&l.value), text(&l.source)])
                    .collect();
                table(
                    &mut page.body,
                    &[("Key", false), ("Value", false), ("Source", false)],
                    rows,
                );
            }
            Report::Status(r) => status(r, &mut page),
            Report::Log(r) => log(r, &mut page),
            Report::Reconcile(r) => reconcile(r, &mut page),
            Report::Bench(r) => bench(r, &mut page),
            Report::History(r) => history(r, kind, &mut page),
            Report::Fleet(r) => fleet(r, kind, &mut page),
            _ => return Err(disktracker::report::unsupported("html", report)),
        }
        // One write: a closed pipe never leaves half a page behind a success.
        out.write_all(page.finish().as_bytes())
    }
}

/// A page being laid out.
#[derive(Default)]
struct Page {
    /// Plain title (escaped when written).
    title: String,
    /// Markup of the body, every outside text already escaped.
    body: String,
    /// The treemap's data, when the page draws one.
    treemap: Option<Value>,
}

impl Page {
    fn finish(self) -> String {
        let mut s = String::with_capacity(self.body.len() + 8192);
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        // The page may load nothing at all, and run only its own inline script.
        s.push_str(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
        );
        let _ = writeln!(s, "<title>{} · disktracker</title>", esc(&self.title));
        s.push_str("<style>\n");
        s.push_str(CSS);
        s.push_str("</style>\n</head>\n<body>\n");
        let _ = writeln!(s, "<h1>{}</h1>", esc(&self.title));
        s.push_str(&self.body);
        if let Some(data) = self.treemap {
            s.push_str("<script type=\"application/json\" id=\"dt-data\">");
            s.push_str(&script_json(&data));
            s.push_str("</script>\n<script>\n");
            s.push_str(TREEMAP_JS);
            s.push_str("</script>\n");
        }
        s.push_str("<footer>disktracker ");
        s.push_str(env!("CARGO_PKG_VERSION"));
        s.push_str("</footer>\n</body>\n</html>\n");
        s
    }
}

const CSS: &str = include_str!("page.css");
const TREEMAP_JS: &str = include_str!("treemap.js");

/// `s` as HTML text or attribute value.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path as markup: made printable, then escaped.
fn path(p: &[u8]) -> String {
    esc(&escape_bytes(p))
}

/// Other outside text as markup.
fn text(s: &str) -> String {
    esc(&escape_text(s))
}

/// JSON that can sit inside a `<script>` element: nothing in it can close
/// the element or open a comment.
fn script_json(v: &Value) -> String {
    let raw = v.to_string();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// A table; `head` is (title, numeric) per column, `rows` hold markup.
fn table(out: &mut String, head: &[(&str, bool)], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">Nothing to show.</p>\n");
        return;
    }
    out.push_str("<table>\n<thead><tr>");
    for (h, num) in head {
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if *num { " class=\"n\"" } else { "" },
            esc(h)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let num = head.get(i).is_some_and(|h| h.1);
            let _ = write!(
                out,
                "<td{}>{cell}</td>",
                if num { " class=\"n\"" } else { "" }
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn kind_name(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::DiskUsage => "disk usage",
        SizeKind::Apparent => "apparent size",
    }
}

fn snapshot_line(s: &SnapshotInfo, kind: SizeKind) -> String {
    let total = match kind {
        SizeKind::DiskUsage => s.meta.total_bytes,
        SizeKind::Apparent => s.meta.total_apparent,
    };
    format!(
        "<p class=\"meta\">Snapshot {} of <span class=\"path\">{}</span> on {} at {} UTC: {} in {} files, {} directories ({})</p>\n",
        s.id,
        path(&s.meta.root),
        text(&s.meta.host),
        esc(&utc(s.meta.started_at_ms)),
        esc(&size(total)),
        s.meta.total_files,
        s.meta.dir_count,
        kind_name(kind)
    )
}

fn dir_rows(rows: &[DirRecord], whole: u64, kind: SizeKind) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let total = r.stats.total(kind);
            vec![
                esc(&size(total)),
                esc(&share(total, whole)),
                r.stats.file_count.to_string(),
                format!("<span class=\"path\">{}</span>", path(&r.path)),
            ]
        })
        .collect()
}

const DIR_HEAD: &[(&str, bool)] = &[
    ("Size", true),
    ("Share", true),
    ("Files", true),
    ("Directory", false),
];

fn scan(r: &ScanReport, kind: SizeKind, page: &mut Page) {
    page.title = format!("Scan of {}", escape_bytes(&r.snapshot.meta.root));
    page.body.push_str(&snapshot_line(&r.snapshot, kind));
    let _ = writeln!(
        page.body,
        "<p class=\"meta\">Walked and stored in {}; {} errors.</p>",
        esc(&duration_ms(r.duration_ms)),
        r.snapshot.meta.error_count
    );
    if let Some(c) = &r.since {
        let _ = writeln!(
            page.body,
            "<p class=\"meta\">Since snapshot {}: {} changed, {} added, {} removed, {} rewritten directories; {} ({})</p>",
            c.previous,
            c.changed_dirs,
            c.added_dirs,
            c.removed_dirs,
            c.rewritten_dirs,
            esc(&delta(c.delta_bytes)),
            kind_name(SizeKind::DiskUsage)
        );
    }
    let whole = match kind {
        SizeKind::DiskUsage => r.snapshot.meta.total_bytes,
        SizeKind::Apparent => r.snapshot.meta.total_apparent,
    };
    page.body.push_str("<h2>Largest directories</h2>\n");
    table(&mut page.body, DIR_HEAD, dir_rows(&r.top, whole, kind));
    if !r.issues.is_empty() {
        page.body.push_str("<h2>Problems</h2>\n");
        let rows = r
            .issues
            .iter()
            .map(|i| {
                vec![
                    format!("<span class=\"path\">{}</span>", path(&i.path)),
                    text(&i.op),
                    text(&i.message),
                ]
            })
            .collect();
        table(
            &mut page.body,
            &[("Path", false), ("Operation", false), ("Error", false)],
            rows,
        );
    }
}

/// The treemap's JSON for a folded tree.
fn tree_json(n: &TreeNode, top: bool) -> Value {
    let pair = |s: TreeSize| json!([s.bytes, s.apparent]);
    json!({
        "n": node_name(&n.path, top),
        "p": escape_bytes(&n.path),
        "s": pair(n.size),
        "b": n.before.map(pair),
        "st": status_word(n.status),
        "c": n.children.iter().map(|c| tree_json(c, false)).collect::<Vec<_>>(),
        "o": n.folded,
        "os": pair(n.folded_size),
        "ob": pair(n.folded_before),
    })
}

/// The treemap's JSON for an explanation: sizes from each entry, the
/// folded contributors inside the rest.
fn explain_json(n: &ExplainNode, top: bool) -> Value {
    let e = &n.entry;
    let now = json!([e.bytes_b.unwrap_or(0), e.apparent_b.unwrap_or(0)]);
    let before = (e.bytes_a.is_some() || e.apparent_a.is_some())
        .then(|| json!([e.bytes_a.unwrap_or(0), e.apparent_a.unwrap_or(0)]));
    json!({
        "n": node_name(&e.path, top),
        "p": escape_bytes(&e.path),
        "s": now,
        "b": before,
        "st": status_word(n.status),
        "c": n.children.iter().map(|c| explain_json(c, false)).collect::<Vec<_>>(),
        "o": 0,
        "os": [0, 0],
        "ob": [0, 0],
    })
}

/// A node's label: the top's whole path, else its last component.
fn node_name(p: &[u8], top: bool) -> String {
    let shown = escape_bytes(p).into_owned();
    if top {
        return shown;
    }
    match shown.rsplit_once('/') {
        Some((_, last)) if !last.is_empty() => last.to_owned(),
        _ => shown,
    }
}

fn status_word(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Added => "added",
        ChangeStatus::Removed => "removed",
        ChangeStatus::Changed => "changed",
    }
}

/// The treemap's place on the page, and its data.
fn treemap(page: &mut Page, mode: &str, kind: SizeKind, tree: Value) {
    page.body.push_str(
        "<section class=\"tm\" id=\"tm\">\n<div class=\"tm-bar\"><nav class=\"tm-crumbs\" id=\"tm-crumbs\"></nav>\
         <span class=\"tm-kind\"><label><input type=\"radio\" name=\"tm-kind\" value=\"0\"> disk usage</label> \
         <label><input type=\"radio\" name=\"tm-kind\" value=\"1\"> apparent size</label></span></div>\n",
    );
    if mode != "top" {
        page.body.push_str(
            "<div class=\"tm-legend\"><span class=\"sw grow\"></span> grew \
             <span class=\"sw shrink\"></span> shrank \
             <span class=\"sw same\"></span> unchanged \
             (rectangles are sized by the larger of the two sizes; the stronger the colour, the larger the change relative to the directory)</div>\n",
        );
    }
    page.body.push_str(
        "<div class=\"tm-box\" id=\"tm-box\"></div>\n<noscript><p>The treemap needs JavaScript; the tables below hold the same numbers.</p></noscript>\n</section>\n",
    );
    page.treemap = Some(json!({
        "mode": mode,
        "kind": match kind { SizeKind::DiskUsage => 0, SizeKind::Apparent => 1 },
        "tree": tree,
    }));
}

fn top(r: &TopReport, kind: SizeKind, page: &mut Page) {
    page.title = format!("Largest directories under {}", escape_bytes(&r.under.path));
    page.body.push_str(&snapshot_line(&r.snapshot, kind));
    if let Some(tree) = &r.tree {
        treemap(page, "top", kind, tree_json(tree, true));
    }
    let whole = r.under.stats.total(kind);
    let _ = writeln!(
        page.body,
        "<h2>Largest directories below <span class=\"path\">{}</span> ({})</h2>",
        path(&r.under.path),
        esc(&size(whole))
    );
    table(&mut page.body, DIR_HEAD, dir_rows(&r.rows, whole, kind));
}

fn snapshots(list: &[SnapshotInfo], page: &mut Page) {
    page.title = "Snapshots".to_owned();
    let rows = list
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                esc(&utc(s.meta.started_at_ms)),
                format!("<span class=\"path\">{}</span>", path(&s.meta.root)),
                text(&s.meta.host),
                esc(&size(s.meta.total_bytes)),
                esc(&size(s.meta.total_apparent)),
                s.meta.total_files.to_string(),
                s.meta.dir_count.to_string(),
                s.meta.error_count.to_string(),
                text(&s.meta.walker),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Id", true),
            ("Started (UTC)", false),
            ("Root", false),
            ("Host", false),
            ("Disk usage", true),
            ("Apparent", true),
            ("Files", true),
            ("Directories", true),
            ("Errors", true),
            ("Walker", false),
        ],
        rows,
    );
}

fn entry_delta(e: &DiffEntry, kind: SizeKind) -> i128 {
    let (a, b) = match kind {
        SizeKind::DiskUsage => (e.bytes_a, e.bytes_b),
        SizeKind::Apparent => (e.apparent_a, e.apparent_b),
    };
    i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0))
}

fn opt_size(v: Option<u64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| esc(&size(v)))
}

fn delta_cell(d: i128) -> String {
    let class = match d.signum() {
        1 => "grow",
        -1 => "shrink",
        _ => "same",
    };
    format!("<span class=\"{class}\">{}</span>", esc(&delta(d)))
}

fn diff(r: &DiffReport, kind: SizeKind, page: &mut Page) {
    page.title = format!(
        "Changes under {} from snapshot {} to {}",
        escape_bytes(&r.under),
        r.a.id,
        r.b.id
    );
    page.body.push_str(&snapshot_line(&r.a, kind));
    page.body.push_str(&snapshot_line(&r.b, kind));
    if let Some(tree) = &r.tree {
        treemap(page, "diff", kind, tree_json(tree, true));
    }
    let _ = writeln!(
        page.body,
        "<h2>{} changed directories ({} listed)</h2>",
        r.changed,
        r.entries.len()
    );
    let rows = r
        .entries
        .iter()
        .map(|e| {
            let (a, b) = match kind {
                SizeKind::DiskUsage => (e.bytes_a, e.bytes_b),
                SizeKind::Apparent => (e.apparent_a, e.apparent_b),
            };
            vec![
                delta_cell(entry_delta(e, kind)),
                opt_size(a),
                opt_size(b),
                status_word(e.status()).to_owned(),
                format!("<span class=\"path\">{}</span>", path(&e.path)),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Change", true),
            ("Before", true),
            ("After", true),
            ("Status", false),
            ("Directory", false),
        ],
        rows,
    );
}

fn explain(r: &ExplainReport, kind: SizeKind, page: &mut Page) {
    page.title = format!(
        "Why {} changed from snapshot {} to {}",
        escape_bytes(&r.root.entry.path),
        r.a.id,
        r.b.id
    );
    page.body.push_str(&snapshot_line(&r.a, kind));
    page.body.push_str(&snapshot_line(&r.b, kind));
    treemap(page, "explain", kind, explain_json(&r.root, true));
    let _ = writeln!(
        page.body,
        "<h2>Contributors (at least {} of their parent's change)</h2>",
        esc(&pct(r.threshold_pct))
    );
    let mut rows = Vec::new();
    fn walk(n: &ExplainNode, depth: usize, kind: SizeKind, rows: &mut Vec<Vec<String>>) {
        rows.push(vec![
            delta_cell(entry_delta(&n.entry, kind)),
            delta_cell(n.direct_delta),
            esc(&pct(n.share_pct)),
            status_word(n.status).to_owned(),
            format!(
                "<span class=\"path\" style=\"padding-left:{}em\">{}</span>",
                depth.min(40),
                path(&n.entry.path)
            ),
        ]);
        for c in &n.children {
            walk(c, depth + 1, kind, rows);
        }
        if n.other_count > 0 {
            rows.push(vec![
                delta_cell(n.other_delta),
                String::new(),
                String::new(),
                String::new(),
                format!(
                    "<span class=\"other\" style=\"padding-left:{}em\">{} smaller contributors</span>",
                    (depth + 1).min(40),
                    n.other_count
                ),
            ]);
        }
    }
    walk(&r.root, 0, kind, &mut rows);
    table(
        &mut page.body,
        &[
            ("Change", true),
            ("Own files", true),
            ("Share", true),
            ("Status", false),
            ("Directory", false),
        ],
        rows,
    );
}

fn sizes(r: &SizeReport, page: &mut Page) {
    page.title = "Live sizes".to_owned();
    let rows = r
        .answers
        .iter()
        .map(|a| {
            vec![
                a.total_bytes
                    .map_or_else(|| "–".to_owned(), |b| esc(&size(b))),
                a.status.as_str().to_owned(),
                format!("<span class=\"path\">{}</span>", path(&a.path)),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Disk usage", true),
            ("Source", false),
            ("Directory", false),
        ],
        rows,
    );
    let _ = writeln!(
        page.body,
        "<p class=\"meta\">Index {}{}</p>",
        path(std::os::unix::ffi::OsStrExt::as_bytes(r.index.as_os_str())),
        if r.stale { " (stale)" } else { "" }
    );
}

fn plugins(list: &[PluginInfo], page: &mut Page) {
    page.title = "Plugins".to_owned();
    let rows = list
        .iter()
        .map(|p| vec![esc(p.kind.as_str()), text(p.name), text(p.summary)])
        .collect();
    table(
        &mut page.body,
        &[("Kind", false), ("Name", false), ("Summary", false)],
        rows,
    );
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "–".to_owned(), |t| esc(&utc(t)))
}

fn status(r: &StatusReport, page: &mut Page) {
    page.title = "Watchers".to_owned();
    let rows = r
        .roots
        .iter()
        .map(|s| {
            vec![
                format!("<span class=\"path\">{}</span>", path(&s.root)),
                s.state.map_or("not watched", |st| st.as_str()).to_owned(),
                s.watcher_pid
                    .map_or_else(|| "–".to_owned(), |p| p.to_string()),
                s.snapshot.map_or_else(|| "–".to_owned(), |p| p.to_string()),
                s.events.to_string(),
                s.batches.to_string(),
                s.queue_depth.to_string(),
                s.overlay_entries.to_string(),
                s.pending_mutations.to_string(),
                opt_time(s.last_batch_ms),
                opt_time(s.last_compaction_ms),
                opt_time(s.last_reconcile_ms),
                s.detail.as_deref().map(text).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Root", false),
            ("State", false),
            ("Pid", true),
            ("Snapshot", true),
            ("Events", true),
            ("Batches", true),
            ("Queue", true),
            ("Overlay", true),
            ("Pending", true),
            ("Last batch", false),
            ("Last compaction", false),
            ("Last reconcile", false),
            ("Detail", false),
        ],
        rows,
    );
}

fn fleet(r: &FleetReport, kind: SizeKind, page: &mut Page) {
    page.title = "Fleet".to_owned();
    let _ = writeln!(
        page.body,
        "<p>Newest snapshot of every host and root; change since {} UTC. \
         Stale: no snapshot for {}.</p>",
        esc(&utc(r.since_ms)),
        esc(&duration_ms(u64::try_from(r.stale_after_ms).unwrap_or(0)))
    );
    let rows = r
        .rows
        .iter()
        .map(|row| {
            let change = match kind {
                SizeKind::DiskUsage => row.delta_bytes,
                SizeKind::Apparent => row.delta_apparent,
            };
            let age = esc(&duration_ms(u64::try_from(row.age_ms).unwrap_or(0)));
            vec![
                text(&row.host),
                format!("<span class=\"path\">{}</span>", path(&row.root)),
                esc(&size(row.size.of(kind))),
                change.map_or_else(|| "–".to_owned(), delta_cell),
                row.growth_path.as_deref().map_or_else(
                    || "–".to_owned(),
                    |p| format!("<span class=\"path\">{}</span>", path(p)),
                ),
                row.growth_delta.map_or_else(|| "–".to_owned(), delta_cell),
                row.snapshot.to_string(),
                if row.stale {
                    format!("<span class=\"grow\">{age} (stale)</span>")
                } else {
                    age
                },
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Host", false),
            ("Root", false),
            ("Size", true),
            ("Change", true),
            ("Grew most", false),
            ("By", true),
            ("Snapshot", true),
            ("Age", true),
        ],
        rows,
    );
}

fn log(r: &LogReport, page: &mut Page) {
    page.title = match &r.under {
        Some(u) => format!("Live changes under {}", escape_bytes(u)),
        None => "Live changes".to_owned(),
    };
    let rows = r
        .entries
        .iter()
        .map(|e| {
            vec![
                esc(&utc(e.time_ms)),
                e.kind.as_str().to_owned(),
                e.delta_bytes
                    .map_or_else(|| "–".to_owned(), |d| delta_cell(i128::from(d))),
                format!("<span class=\"path\">{}</span>", path(&e.path)),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Time (UTC)", false),
            ("Kind", false),
            ("Change", true),
            ("Directory", false),
        ],
        rows,
    );
}

fn reconcile(r: &ReconcileReport, page: &mut Page) {
    page.title = "Reconcile".to_owned();
    let rows = r
        .roots
        .iter()
        .map(|l| {
            vec![
                format!("<span class=\"path\">{}</span>", path(&l.root)),
                l.base.map_or_else(|| "–".to_owned(), |b| b.to_string()),
                l.snapshot
                    .map_or_else(|| "nothing new".to_owned(), |b| b.to_string()),
                l.mutations.to_string(),
                l.changed_dirs.to_string(),
                delta_cell(l.delta_bytes),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Root", false),
            ("Base", true),
            ("New snapshot", true),
            ("Mutations", true),
            ("Directories", true),
            ("Change", true),
        ],
        rows,
    );
}

fn bench(r: &BenchReport, page: &mut Page) {
    page.title = format!("Backends on {}", escape_bytes(&r.root));
    let _ = writeln!(
        page.body,
        "<p class=\"meta\">{} entries, {} directories, {} runs{}</p>",
        r.entries,
        r.dirs,
        r.runs,
        match &r.cold_refused {
            Some(why) => format!("; measured warm: {}", text(why)),
            None if r.cold => "; cold page cache".to_owned(),
            None => String::new(),
        }
    );
    let rows = r
        .lines
        .iter()
        .map(|l| {
            let part = match l.part {
                BenchPart::Walker => "walker",
                BenchPart::Store => "store",
                BenchPart::Index => "index",
                _ => "other",
            };
            let us = |v: u64| esc(&duration_ns(v.saturating_mul(1000)));
            vec![
                part.to_owned(),
                text(&l.name),
                us(l.median_us),
                us(l.min_us),
                us(l.max_us),
                esc(&rate(l.per_second)),
                l.peak_rss_bytes
                    .map_or_else(|| "–".to_owned(), |b| esc(&size(b))),
                l.bytes_per_dir
                    .filter(|b| b.is_finite())
                    .map_or_else(|| "–".to_owned(), |b| format!("{b:.0}")),
                l.diff_us.map_or_else(|| "–".to_owned(), us),
                l.lookup_ns
                    .map_or_else(|| "–".to_owned(), |n| esc(&duration_ns(n))),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Part", false),
            ("Name", false),
            ("Median", true),
            ("Min", true),
            ("Max", true),
            ("Rate", true),
            ("Peak memory", true),
            ("Bytes/dir", true),
            ("Diff", true),
            ("Lookup", true),
        ],
        rows,
    );
}

fn history(r: &HistoryReport, kind: SizeKind, page: &mut Page) {
    page.title = format!("History of {}", escape_bytes(&r.path));
    let _ = writeln!(
        page.body,
        "<p class=\"meta\">Snapshots of <span class=\"path\">{}</span>, {}; average growth {}</p>",
        path(&r.root),
        kind_name(kind),
        esc(&per_day(match kind {
            SizeKind::DiskUsage => r.bytes_per_day,
            SizeKind::Apparent => r.apparent_per_day,
        }))
    );
    let value = |p: &disktracker::report::HistoryPoint| match kind {
        SizeKind::DiskUsage => p.bytes,
        SizeKind::Apparent => p.apparent,
    };
    chart(r, &value, &mut page.body);
    let rows = r
        .points
        .iter()
        .map(|p| {
            let change = match kind {
                SizeKind::DiskUsage => p.delta_bytes,
                SizeKind::Apparent => p.delta_apparent,
            };
            vec![
                p.snapshot
                    .map_or_else(|| "live".to_owned(), |s| s.to_string()),
                esc(&utc(p.at_ms)),
                value(p).map_or_else(
                    || {
                        if p.snapshot.is_some() {
                            "absent"
                        } else {
                            "–"
                        }
                        .to_owned()
                    },
                    |v| esc(&size(v)),
                ),
                change.map_or_else(|| "–".to_owned(), delta_cell),
                p.files.map_or_else(|| "–".to_owned(), |f| f.to_string()),
            ]
        })
        .collect();
    table(
        &mut page.body,
        &[
            ("Snapshot", true),
            ("Time (UTC)", false),
            ("Size", true),
            ("Change", true),
            ("Files", true),
        ],
        rows,
    );
}

fn per_day(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}/day", delta(v.round() as i128)),
        _ => "unknown".to_owned(),
    }
}

/// The size over time as an inline SVG line chart.
fn chart(
    r: &HistoryReport,
    value: &dyn Fn(&disktracker::report::HistoryPoint) -> Option<u64>,
    out: &mut String,
) {
    let points: Vec<(i64, u64, &disktracker::report::HistoryPoint)> = r
        .points
        .iter()
        .filter_map(|p| {
            let v = value(p).or(p.snapshot.map(|_| 0))?;
            Some((p.at_ms, v, p))
        })
        .collect();
    if points.is_empty() {
        return;
    }
    let (w, h, left, right, top, bottom) = (860.0, 300.0, 90.0, 20.0, 20.0, 40.0);
    let t0 = points.iter().map(|p| p.0).min().unwrap_or(0) as f64;
    let t1 = points.iter().map(|p| p.0).max().unwrap_or(0) as f64;
    let vmax = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let x = |t: i64| {
        if t1 > t0 {
            left + (t as f64 - t0) / (t1 - t0) * (w - left - right)
        } else {
            left + (w - left - right) / 2.0
        }
    };
    let y = |v: u64| top + (1.0 - v as f64 / vmax) * (h - top - bottom);
    let _ = writeln!(
        out,
        "<figure class=\"chart\"><svg id=\"history-chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"size over time\">"
    );
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/><line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let _ = writeln!(
        out,
        "<text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">0 B</text>",
        left - 6.0,
        top + 4.0,
        esc(&size(vmax as u64)),
        left - 6.0,
        h - bottom + 4.0
    );
    let _ = writeln!(
        out,
        "<text class=\"lbl\" x=\"{left}\" y=\"{}\">{}</text><text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        h - 12.0,
        esc(&utc(t0 as i64)),
        w - right,
        h - 12.0,
        esc(&utc(t1 as i64))
    );
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1)))
        .collect();
    let _ = writeln!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        line.join(" ")
    );
    for (t, v, p) in &points {
        let (class, label) = match p.snapshot {
            Some(id) => ("pt", format!("snapshot {id}")),
            None => ("pt live", "live".to_owned()),
        };
        let _ = writeln!(
            out,
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {} at {} UTC</title></circle>",
            x(*t),
            y(*v),
            esc(&label),
            esc(&size(*v)),
            esc(&utc(*t))
        );
    }
    out.push_str("</svg></figure>\n");
}
