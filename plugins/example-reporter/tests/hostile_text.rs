//! Paths with an ESC byte or a bidi override reach the Markdown escaped
//! (issue 9, finding 11). The Markdown reporter prints no host name and no
//! scan issue, so a path and a plugin's name are the outside text it shows.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::model::{DirRecord, SnapshotInfo};
use disktracker::path::escape_bytes;
use disktracker::report::TopReport;
use disktracker::{PluginInfo, PluginKind, RenderOptions, Report, Reporter};
use disktracker_example_reporter::MarkdownReporter;

fn render(report: Report<'_>) -> String {
    let mut out = Vec::new();
    MarkdownReporter::default()
        .render(&report, &RenderOptions::default(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn assert_clean(out: &str) {
    for c in out.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !(bidi || (c.is_control() && c != '\n')),
            "raw U+{:04X} in:\n{out}",
            u32::from(c)
        );
    }
}

#[test]
fn paths_and_names_are_escaped() {
    let evil = "/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe".as_bytes();
    let dir = |p: &[u8]| DirRecord {
        path: p.to_vec(),
        ..DirRecord::default()
    };
    let top = TopReport::new(SnapshotInfo::default(), dir(evil), vec![dir(evil)]);
    let out = render(Report::Top(&top));
    assert_clean(&out);
    // escape_bytes, then Markdown's backslash before `\` and `]`.
    assert_eq!(
        escape_bytes(evil),
        r"/srv/\x1b]0;owned\x07/invoice\u{202e}fdp.exe"
    );
    assert!(
        out.contains(r"/srv/\\x1b\]0;owned\\x07/invoice\\u{202e}fdp.exe"),
        "{out}"
    );

    let plugins = [PluginInfo {
        kind: PluginKind::Reporter,
        name: "x\u{202e}y",
        summary: "says \x1b[5mhello",
    }];
    let out = render(Report::Plugins(&plugins));
    assert_clean(&out);
    assert!(
        out.contains(r"x\\u{202e}y") && out.contains(r"says \\x1b\[5mhello"),
        "{out}"
    );
}
