//! Text from outside — paths, host and walker names, OS messages,
//! configuration values — reaches the terminal escaped (issue 9, finding 11),
//! and columns line up by display width, not by `char` count.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use disktracker::model::{DiffEntry, DirRecord, SnapshotInfo, SnapshotMeta};
use disktracker::path::unescape;
use disktracker::report::{
    ConfigLine, DiffReport, IssueLine, ScanReport, SizeAnswer, SizeReport, SizeStatus, TopReport,
};
use disktracker::{PluginInfo, PluginKind, RenderOptions, Report, Reporter};
use disktracker_reporter_table::TableReporter;

/// An ESC that starts a terminal title sequence, and a right-to-left override.
const EVIL_PATH: &[u8] = "/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe".as_bytes();
const EVIL_PATH_SHOWN: &str = r"/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe";
const EVIL_HOST: &str = "web\x1b[2J\u{202e}01";
const EVIL_HOST_SHOWN: &str = r"web\x1b[2J\u{202e}01";
const EVIL_MESSAGE: &str = "Permission denied\x1b[8m\u{2067}hidden\u{2069}";
const EVIL_MESSAGE_SHOWN: &str = r"Permission denied\x1b[8m\u{2067}hidden\u{2069}";

fn render(report: Report<'_>) -> String {
    let mut out = Vec::new();
    TableReporter
        .render(&report, &RenderOptions::default(), &mut out)
        .expect("table renders every report");
    String::from_utf8(out).expect("table output is UTF-8")
}

/// No control character but the line feeds, and none of the characters that
/// reorder or hide text (the bidi embeddings, overrides, isolates and marks).
fn assert_clean(out: &str) {
    for c in out.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !(bidi || (c.is_control() && c != '\n')),
            "raw U+{:04X} in output:\n{out}",
            u32::from(c)
        );
    }
}

fn snapshot(id: i64, root: &[u8]) -> SnapshotInfo {
    SnapshotInfo {
        id,
        meta: SnapshotMeta {
            root: root.to_vec(),
            started_at_ms: 1_700_000_000_000,
            finished_at_ms: 1_700_000_001_000,
            host: EVIL_HOST.to_owned(),
            walker: "st\u{202e}eal".to_owned(),
            total_files: 3,
            total_bytes: 4096,
            total_apparent: 100,
            dir_count: 2,
            error_count: 1,
        },
    }
}

fn dir(path: &[u8]) -> DirRecord {
    let mut d = DirRecord {
        path: path.to_vec(),
        ..DirRecord::default()
    };
    d.stats.total_bytes = 4096;
    d
}

#[test]
fn scan_escapes_path_host_walker_and_issue_message() {
    let r = ScanReport::new(
        snapshot(7, EVIL_PATH),
        12,
        vec![dir(EVIL_PATH)],
        vec![IssueLine::new(
            EVIL_PATH.to_vec(),
            "read directory",
            EVIL_MESSAGE,
        )],
        None,
    );
    let out = render(Report::Scan(&r));
    assert_clean(&out);
    assert!(
        out.contains(&format!("Scanned {EVIL_PATH_SHOWN}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("on {EVIL_HOST_SHOWN}, walker st\\u{{202e}}eal)")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  read directory {EVIL_PATH_SHOWN}: {EVIL_MESSAGE_SHOWN}\n"
        )),
        "{out}"
    );
    // The printed path is the reversible form of the bytes.
    assert_eq!(unescape(EVIL_PATH_SHOWN).as_deref(), Some(EVIL_PATH));
}

#[test]
fn top_diff_and_sizes_escape_paths() {
    let s = snapshot(1, b"/srv");
    let top = TopReport::new(s.clone(), dir(b"/srv"), vec![dir(EVIL_PATH)]);
    let entry = DiffEntry {
        path: EVIL_PATH.to_vec(),
        bytes_a: Some(1),
        bytes_b: Some(2),
        apparent_a: Some(1),
        apparent_b: Some(2),
    };
    let diff = DiffReport::new(
        s.clone(),
        snapshot(2, b"/srv"),
        EVIL_PATH.to_vec(),
        vec![entry],
        1,
    );
    let sizes = SizeReport::new(
        PathBuf::from(std::ffi::OsStr::new("/tmp/\u{202e}data.mmap")),
        Some(EVIL_PATH.to_vec()),
        false,
        vec![SizeAnswer::new(
            EVIL_PATH.to_vec(),
            Some(4096),
            SizeStatus::Indexed,
        )],
    );
    for report in [
        Report::Top(&top),
        Report::Diff(&diff),
        Report::Sizes(&sizes),
    ] {
        let out = render(report);
        assert_clean(&out);
        assert!(out.contains(EVIL_PATH_SHOWN), "{out}");
    }
    assert!(render(Report::Sizes(&sizes)).contains(r"/tmp/\u{202e}data.mmap"));
}

#[test]
fn plugins_and_config_escape_names_and_values() {
    let plugins = [PluginInfo {
        kind: PluginKind::Reporter,
        name: "x\u{202e}y",
        summary: "says \x1b[5mhello",
    }];
    let out = render(Report::Plugins(&plugins));
    assert_clean(&out);
    assert!(out.contains(r"x\u{202e}y  says \x1b[5mhello"), "{out}");

    let config = [ConfigLine::new(
        "plugins.x.host",
        EVIL_HOST,
        "/etc/\u{202e}x.toml",
    )];
    let out = render(Report::Config(&config));
    assert_clean(&out);
    assert!(
        out.contains(EVIL_HOST_SHOWN) && out.contains(r"/etc/\u{202e}x.toml"),
        "{out}"
    );
}

/// Terminal columns of the characters these tests use, written out from the
/// Unicode tables (UAX #11) rather than taken from the reporter's crate.
fn columns(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '\u{0300}'..='\u{036f}' => 0, // combining diacritics
            '\u{3000}'..='\u{9fff}' | '\u{ac00}'..='\u{d7a3}' => 2, // CJK, Hangul
            '\u{1f300}'..='\u{1faff}' => 2, // emoji
            _ => 1,
        })
        .sum()
}

#[test]
fn config_columns_line_up_with_wide_and_combining_characters() {
    let config = [
        ConfigLine::new("report.title", "\"日本語のタイトル\"", "/etc/a.toml"),
        ConfigLine::new("report.face", "\"😀😀\"", "default"),
        ConfigLine::new(
            "report.accent",
            "\"cafe\u{301} re\u{301}sume\u{301}\"",
            "env X",
        ),
        ConfigLine::new("report.plain", "\"abc\"", "flag"),
        ConfigLine::new("report.korean", "\"한국어\"", "/etc/b.toml"),
    ];
    let out = render(Report::Config(&config));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + config.len(), "{out}");
    // The display column where SOURCE starts, in the header and in every row.
    let source_col = |line: &str, source: &str| {
        let at = line
            .rfind(source)
            .unwrap_or_else(|| panic!("{source} in {line}"));
        columns(&line[..at])
    };
    let want = source_col(lines[0], "SOURCE");
    for (line, c) in lines[1..].iter().zip(&config) {
        assert_eq!(source_col(line, &c.source), want, "{out}");
        // And VALUE starts where its heading does.
        assert_eq!(
            columns(&line[..line.find('"').unwrap()]),
            columns(&lines[0][..lines[0].find("VALUE").unwrap()]),
            "{out}"
        );
    }
}
