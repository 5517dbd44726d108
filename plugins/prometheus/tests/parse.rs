//! The output parses with an independent Prometheus text-format parser
//! (`openmetrics-parser`), and the values and label values it reads back
//! are the report's: paths exact where printable, escaped and marked where
//! not, for the hostile names of the test kit and for quotes and newlines.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use disktracker::path::{escape_bytes, unescape};
use disktracker::report::{StatusReport, TopReport};
use disktracker::{RenderOptions, Report, Reporter};
use disktracker_reporter_prometheus::{PrometheusReporter, RENDERS};
use disktracker_testkit::reports::{Fixtures, dir, snapshot};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

fn render(report: &Report<'_>) -> String {
    let mut out = Vec::new();
    PrometheusReporter
        .render(report, &RenderOptions::default(), &mut out)
        .expect("renders");
    String::from_utf8(out).expect("UTF-8")
}

fn parse(text: &str) -> MetricsExposition<PrometheusType, PrometheusValue> {
    parse_prometheus(text).unwrap_or_else(|e| panic!("{e:?} in:\n{text}"))
}

/// Every sample of `family` as (labels, value).
fn samples(
    e: &MetricsExposition<PrometheusType, PrometheusValue>,
    family: &str,
) -> Vec<(HashMap<String, String>, f64)> {
    let fam = e
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    fam.iter_samples()
        .map(|s| {
            let labels = s
                .get_labelset()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let value = match &s.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
                other => panic!("{family}: not a gauge: {other:?}"),
            };
            (labels, value)
        })
        .collect()
}

#[test]
fn every_rendered_kind_of_every_fixture_parses() {
    for fixtures in [Fixtures::new(), Fixtures::hostile(), Fixtures::empty()] {
        for report in fixtures.reports() {
            if RENDERS.contains(&report.kind()) {
                parse(&render(&report));
            }
        }
    }
}

/// Reads the directories of a `show` back, label by label.
fn check_top(top: &TopReport) {
    let e = parse(&render(&Report::Top(top)));
    let got = samples(&e, "disktracker_directory_bytes");
    let dirs: Vec<_> = std::iter::once(&top.under).chain(&top.rows).collect();
    assert_eq!(got.len(), dirs.len() * 2, "two kinds per directory");
    for d in dirs {
        let shown = escape_bytes(&d.path).into_owned();
        let escaped = shown.as_bytes() != d.path.as_slice();
        for (kind, want) in [
            ("disk_usage", d.stats.total_bytes),
            ("apparent", d.stats.total_apparent),
        ] {
            let (labels, value) = got
                .iter()
                .find(|(l, _)| l["path"] == shown && l["kind"] == kind)
                .unwrap_or_else(|| panic!("no sample for {shown:?} {kind}"));
            assert_eq!(*value, want as f64, "{shown:?} {kind}");
            assert_eq!(
                labels["path_escaped"],
                if escaped { "true" } else { "false" }
            );
            assert_eq!(unescape(&labels["path"]).unwrap(), d.path, "reversible");
            assert_eq!(
                labels["root"],
                escape_bytes(&top.snapshot.meta.root).into_owned()
            );
        }
    }
}

#[test]
fn directory_sizes_and_paths_read_back_exactly() {
    check_top(&Fixtures::new().top);
    check_top(&Fixtures::hostile().top);
}

#[test]
fn quotes_backslashes_and_newlines_in_label_values_are_escaped() {
    let root = b"/data";
    let rows = vec![
        dir(b"/data/say \"hi\"", 1, 4096, 1),
        dir(b"/data/back\\slash", 1, 8192, 2),
        dir(b"/data/two\nlines", 1, 12288, 3),
        dir("/data/ünïcödé ok".as_bytes(), 1, 1 << 40, 4),
    ];
    let top = TopReport::new(
        snapshot(3, root, 0, 1 << 41),
        dir(root, 0, 1 << 41, 10),
        rows,
    );
    let text = render(&Report::Top(&top));
    assert!(text.contains(r#"path="/data/say \"hi\"""#), "{text}");
    assert!(
        text.contains("ünïcödé ok"),
        "printable UTF-8 is kept: {text}"
    );
    check_top(&top);
}

#[test]
fn the_watcher_state_is_one_hot() {
    let f = Fixtures::new();
    let status: &StatusReport = &f.status;
    let e = parse(&render(&Report::Status(status)));
    let got = samples(&e, "disktracker_watcher_state");
    for r in &status.roots {
        let root = escape_bytes(&r.root).into_owned();
        let ones: Vec<&str> = got
            .iter()
            .filter(|(l, v)| l["root"] == root && *v == 1.0)
            .map(|(l, _)| l["state"].as_str())
            .collect();
        let want: Vec<&str> = r.state.iter().map(|s| s.as_str()).collect();
        assert_eq!(ones, want, "{root}");
    }
}

#[test]
fn snapshots_give_the_newest_per_root_and_host_and_the_count() {
    let f = Fixtures::new();
    let e = parse(&render(&Report::Snapshots(&f.snapshots)));
    let got = samples(&e, "disktracker_snapshot_bytes");
    let counts = samples(&e, "disktracker_snapshots");
    let mut roots: Vec<(&[u8], &str)> = f
        .snapshots
        .iter()
        .map(|s| (s.meta.root.as_slice(), s.meta.host.as_str()))
        .collect();
    roots.sort();
    roots.dedup();
    assert_eq!(got.len(), roots.len() * 2);
    for (root, host) in roots {
        let of: Vec<_> = f
            .snapshots
            .iter()
            .filter(|s| s.meta.root == root && s.meta.host == host)
            .collect();
        let newest = of
            .iter()
            .max_by_key(|s| (s.meta.started_at_ms, s.id))
            .unwrap();
        let shown = escape_bytes(root).into_owned();
        let (_, v) = got
            .iter()
            .find(|(l, _)| l["root"] == shown && l["kind"] == "disk_usage")
            .unwrap();
        assert_eq!(*v, newest.meta.total_bytes as f64);
        let (_, n) = counts.iter().find(|(l, _)| l["root"] == shown).unwrap();
        assert_eq!(*n, of.len() as f64);
    }
}
