//! JSON keeps text exact but the document itself never holds a raw control
//! or bidi character (issue 9, finding 11): `cat`ing it to a terminal cannot
//! reorder or hide anything, and a JSON parser still gives back every byte.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::model::{DirRecord, SnapshotInfo, SnapshotMeta};
use disktracker::report::{ConfigLine, IssueLine, ScanReport};
use disktracker::{PluginInfo, PluginKind, RenderOptions, Report, Reporter};
use disktracker_reporter_json::JsonReporter;
use serde_json::Value;

const EVIL_PATH: &str = "/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe\u{7f}\u{85}";
const EVIL_HOST: &str = "web\x1b[2J\u{202e}01\u{2028}";
const EVIL_MESSAGE: &str = "Permission denied\x1b[8m\u{2067}hidden\u{2069}\u{200b}";

fn render(report: Report<'_>) -> (String, Value) {
    let mut out = Vec::new();
    JsonReporter
        .render(&report, &RenderOptions::default(), &mut out)
        .expect("json renders every report");
    let raw = String::from_utf8(out).expect("UTF-8");
    let v = serde_json::from_str(&raw).expect("valid JSON");
    (raw, v)
}

/// Nothing but printable characters before the final line feed: no control
/// character (C0, DEL, C1), no bidi embedding, override, isolate or mark,
/// no zero-width or line-separator character.
fn assert_clean(raw: &str) {
    let body = raw.strip_suffix('\n').expect("ends with a line feed");
    for c in body.chars() {
        let hidden = matches!(c, '\u{200b}'..='\u{200f}' | '\u{061c}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !(hidden || c.is_control()),
            "raw U+{:04X} in:\n{raw}",
            u32::from(c)
        );
    }
}

#[test]
fn scan_text_is_exact_and_the_document_is_clean() {
    let snapshot = SnapshotInfo {
        id: 4,
        meta: SnapshotMeta {
            root: EVIL_PATH.as_bytes().to_vec(),
            host: EVIL_HOST.to_owned(),
            walker: "st\u{202e}eal".to_owned(),
            ..SnapshotMeta::default()
        },
    };
    let top = vec![DirRecord {
        path: EVIL_PATH.as_bytes().to_vec(),
        ..DirRecord::default()
    }];
    let issues = vec![IssueLine::new(
        EVIL_PATH.as_bytes().to_vec(),
        "read directory",
        EVIL_MESSAGE,
    )];
    let r = ScanReport::new(snapshot, 5, top, issues, None);
    let (raw, v) = render(Report::Scan(&r));
    assert_clean(&raw);
    // JSON's own escapes, written as JSON spells them.
    for escaped in [
        r"\u001b]0;owned\u0007",
        r"\u202e",
        r"\u007f",
        r"\u0085",
        r"\u2028",
    ] {
        assert!(raw.contains(escaped), "{escaped} in {raw}");
    }
    // Lossless: the parsed strings are the originals.
    assert_eq!(v["snapshot"]["root"]["text"], EVIL_PATH);
    assert_eq!(v["snapshot"]["host"], EVIL_HOST);
    assert_eq!(v["snapshot"]["walker"], "st\u{202e}eal");
    assert_eq!(v["top"][0]["path"]["text"], EVIL_PATH);
    assert_eq!(v["issues"][0]["path"]["text"], EVIL_PATH);
    assert_eq!(v["issues"][0]["message"], EVIL_MESSAGE);
}

#[test]
fn plugin_and_config_text_is_exact_and_the_document_is_clean() {
    let plugins = [PluginInfo {
        kind: PluginKind::Reporter,
        name: "x\u{202e}y",
        summary: "says \x1b[5mhello \u{1f600}",
    }];
    let (raw, v) = render(Report::Plugins(&plugins));
    assert_clean(&raw);
    assert_eq!(v["plugins"][0]["name"], "x\u{202e}y");
    assert_eq!(v["plugins"][0]["summary"], "says \x1b[5mhello \u{1f600}");
    // An ordinary non-ASCII character is written as itself.
    assert!(raw.contains('\u{1f600}'), "{raw}");

    let config = [ConfigLine::new(
        "plugins.x.host",
        EVIL_HOST,
        "/etc/\u{feff}x.toml",
    )];
    let (raw, v) = render(Report::Config(&config));
    assert_clean(&raw);
    assert!(raw.contains(r"\ufeff"), "{raw}");
    assert_eq!(v["config"][0]["value"], EVIL_HOST);
    assert_eq!(v["config"][0]["source"], "/etc/\u{feff}x.toml");
}
