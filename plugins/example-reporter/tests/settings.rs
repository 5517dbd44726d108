//! `[plugins.markdown]`: the one setting the example reporter takes, read by
//! its factory from the settings the host hands it.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use disktracker::model::{DirRecord, SnapshotInfo};
use disktracker::registry::{Plugin, reporters};
use disktracker::report::TopReport;
use disktracker::settings::{PluginSettings, Value};
use disktracker::{ErrorKind, RenderOptions, Report};
use disktracker_example_reporter::{MarkdownReporter, SETTINGS};

fn top_with_rows(n: usize) -> TopReport {
    let dir = |i: usize| DirRecord {
        path: format!("/data/d{i}").into_bytes(),
        depth: 1,
        ..DirRecord::default()
    };
    TopReport::new(SnapshotInfo::default(), dir(0), (1..=n).map(dir).collect())
}

/// Renders through the registered plugin's factory, as the host does.
fn render_with(settings: &PluginSettings, report: &Report<'_>) -> String {
    let plugin = reporters().unwrap().get("markdown").unwrap();
    let reporter = (plugin.create)(settings).expect("valid settings");
    let mut out = Vec::new();
    reporter
        .render(report, &RenderOptions::default(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Data rows of the Markdown table: lines starting with `|`, minus the header
/// and the alignment row.
fn data_rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .collect()
}

#[test]
fn the_registration_declares_the_setting() {
    let plugin = reporters().unwrap().get("markdown").unwrap();
    assert_eq!(plugin.settings(), SETTINGS);
    let defaults = plugin.default_settings().unwrap();
    assert_eq!(defaults.get("max_rows").unwrap().value, Value::Integer(0));
    assert_eq!(defaults.get("max_rows").unwrap().origin, "default");
}

#[test]
fn by_default_every_row_is_printed() {
    let settings = PluginSettings::defaults("markdown", SETTINGS).unwrap();
    assert_eq!(
        MarkdownReporter::from_settings(&settings).unwrap(),
        MarkdownReporter { max_rows: None }
    );
    let out = render_with(&settings, &Report::Top(&top_with_rows(7)));
    assert_eq!(data_rows(&out).len(), 7, "{out}");
    assert!(!out.contains("more rows"), "{out}");
}

#[test]
fn a_set_max_rows_takes_effect() {
    let mut settings = PluginSettings::defaults("markdown", SETTINGS).unwrap();
    settings
        .set("max_rows", Value::Integer(3), "/etc/disktracker.toml")
        .unwrap();
    let out = render_with(&settings, &Report::Top(&top_with_rows(7)));
    let rows = data_rows(&out);
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].contains("/data/d1") && rows[2].contains("/data/d3"),
        "{out}"
    );
    assert!(out.ends_with("\n… and 4 more rows\n"), "{out}");
    // Fewer rows than the limit: nothing is left out, nothing is said.
    let out = render_with(&settings, &Report::Top(&top_with_rows(2)));
    assert_eq!(data_rows(&out).len(), 2, "{out}");
    assert!(!out.contains("more rows"), "{out}");
}

#[test]
fn an_unknown_key_is_a_config_error_naming_key_and_file() {
    let mut settings = PluginSettings::defaults("markdown", SETTINGS).unwrap();
    let err = settings
        .set(
            "max_row",
            Value::Integer(3),
            "/home/u/.config/disktracker/config.toml",
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(
        msg.contains("plugins.markdown.max_row")
            && msg.contains("/home/u/.config/disktracker/config.toml"),
        "{msg}"
    );
    assert!(msg.contains("takes: max_rows"), "{msg}");
}

#[test]
fn a_bad_value_is_a_config_error_from_the_factory() {
    let plugin = reporters().unwrap().get("markdown").unwrap();
    for bad in [Value::String("ten".into()), Value::Integer(-1)] {
        let mut settings = plugin.default_settings().unwrap();
        settings.set("max_rows", bad, "env DISKTRACKER_X").unwrap();
        let err = (plugin.create)(&settings).err().expect("rejected");
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("plugins.markdown.max_rows") && msg.contains("env DISKTRACKER_X"),
            "{msg}"
        );
    }
}
