//! Text from outside — paths, host and walker names, plugin names,
//! configuration values — never reaches a CSV cell with a raw control or bidi
//! character (issue 9, finding 11: a raw ESC in the `host` cell passed
//! through). The CSV reporter prints no scan issues, so no OS message either.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::model::{DirRecord, SnapshotInfo, SnapshotMeta};
use disktracker::path::unescape;
use disktracker::report::{ConfigLine, TopReport};
use disktracker::{PluginInfo, PluginKind, RenderOptions, Report, Reporter};
use disktracker_reporter_csv::CsvReporter;

const EVIL_PATH: &[u8] = "/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe".as_bytes();
const EVIL_HOST: &str = "=web\x1b[2J\u{202e}01";

fn render(report: Report<'_>) -> (String, Vec<Vec<String>>) {
    let mut out = Vec::new();
    CsvReporter
        .render(&report, &RenderOptions::default(), &mut out)
        .expect("csv renders every report");
    let raw = String::from_utf8(out).expect("UTF-8");
    let rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(raw.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (raw, rows)
}

/// No control character but the CRLF line ends, and no character that
/// reorders or hides text.
fn assert_clean(raw: &str) {
    for c in raw.replace("\r\n", "").chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !(bidi || c.is_control()),
            "raw U+{:04X} in:\n{raw}",
            u32::from(c)
        );
    }
}

fn snapshot() -> SnapshotInfo {
    SnapshotInfo {
        id: 3,
        meta: SnapshotMeta {
            root: EVIL_PATH.to_vec(),
            host: EVIL_HOST.to_owned(),
            walker: "st\u{202e}eal".to_owned(),
            ..SnapshotMeta::default()
        },
    }
}

#[test]
fn host_walker_and_root_cells_are_escaped() {
    let (raw, rows) = render(Report::Snapshots(&[snapshot()]));
    assert_clean(&raw);
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let row = &rows[1];
    // Escaped, then neutralised (the host starts with `=`).
    assert_eq!(row[col("host")], r"'=web\x1b[2J\u{202e}01");
    assert_eq!(row[col("walker")], r"st\u{202e}eal");
    assert_eq!(
        row[col("root")],
        r"/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe"
    );
    assert_eq!(unescape(&row[col("root")]).as_deref(), Some(EVIL_PATH));
    assert_eq!(
        unescape(row[col("host")].strip_prefix('\'').unwrap()).as_deref(),
        Some(EVIL_HOST.as_bytes())
    );
}

#[test]
fn path_plugin_and_config_cells_are_escaped() {
    let dir = |p: &[u8]| DirRecord {
        path: p.to_vec(),
        ..DirRecord::default()
    };
    let top = TopReport::new(snapshot(), dir(b"/srv"), vec![dir(EVIL_PATH)]);
    let (raw, rows) = render(Report::Top(&top));
    assert_clean(&raw);
    assert_eq!(rows[1][1], r"/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe");

    let plugins = [PluginInfo {
        kind: PluginKind::Reporter,
        name: "x\u{202e}y",
        summary: "says \x1b[5mhello",
    }];
    let (raw, rows) = render(Report::Plugins(&plugins));
    assert_clean(&raw);
    assert_eq!(rows[1], ["reporter", r"x\u{202e}y", r"says \x1b[5mhello"]);

    let config = [ConfigLine::new(
        "plugins.x.host",
        EVIL_HOST,
        "/etc/\u{202e}x.toml",
    )];
    let (raw, rows) = render(Report::Config(&config));
    assert_clean(&raw);
    assert_eq!(
        rows[1],
        [
            "plugins.x.host",
            r"'=web\x1b[2J\u{202e}01",
            r"/etc/\u{202e}x.toml"
        ]
    );
}
