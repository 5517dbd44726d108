//! Pictures and metrics end to end: `history` on both stores (with and
//! without a running watcher's live value), the `html` page in a real
//! headless Chromium, and the `prometheus` exposition of a real scan read
//! back by an independent parser. Expected numbers come from the testkit
//! oracle (computed from the tree), never from the program.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod live_support;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Env, append, example, fails_with, ok, stdout, write};
use disktracker::path::escape_bytes;
use disktracker_testkit::oracle;
use live_support::Case;
use rstest::rstest;
use rustix::process::Signal;

/// Names that must stay text in a page and in a label (the first, as a
/// path, is a directory `<script>alert(1)<` holding `script>`).
const INJECTIONS: [&str; 2] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
];

/// A small tree with uneven directories, a non-UTF-8 name and the
/// injection names.
fn build_tree(root: &Path) {
    write(&root.join("big/a/f1"), 300_000);
    write(&root.join("big/a/f2"), 200_000);
    write(&root.join("big/b/f"), 120_000);
    write(&root.join("mid/x"), 90_000);
    write(&root.join("small/y"), 5_000);
    write(&root.join("own-file"), 40_000);
    for (i, name) in INJECTIONS.iter().enumerate() {
        write(&root.join(name).join("z"), 10_000 * (i + 1));
    }
    let latin1 = root.join(OsStr::from_bytes(b"caf\xe9"));
    write(&latin1.join("w"), 7_000);
    fs::create_dir_all(root.join("empty")).unwrap();
}

fn total(root: &Path, dir: &Path) -> u64 {
    let o = oracle::compute(root);
    o.dirs[&oracle::key(dir)].total_bytes
}

// ---- history --------------------------------------------------------------

#[rstest]
#[case::sqlite("sqlite")]
#[case::redb("redb")]
fn history_lists_every_snapshot_of_the_root_oldest_first(#[case] backend: &'static str) {
    let case = Case::new(backend);
    let root = case.root.clone();
    build_tree(&root);
    let dir = root.join("big/a");
    let mut want = Vec::new();
    case.scan(&root);
    want.push(total(&root, &dir));
    append(&dir.join("f1"), 65_536);
    case.scan(&root);
    want.push(total(&root, &dir));
    fs::remove_file(dir.join("f2")).unwrap();
    write(&dir.join("new/deep"), 8_192);
    case.scan(&root);
    want.push(total(&root, &dir));
    // A scan of another root does not belong to this history.
    let other = case.env.path().join("other");
    write(&other.join("q"), 1_000);
    case.scan(&other);

    let v = case.json(&[OsStr::new("history"), dir.as_os_str()]);
    let points = v["points"].as_array().unwrap();
    let got: Vec<u64> = points
        .iter()
        .map(|p| p["disk_usage"].as_u64().unwrap())
        .collect();
    assert_eq!(got, want, "{v}");
    assert!(
        points.iter().all(|p| p["snapshot"].is_i64()),
        "no live row without a watcher: {v}"
    );
    let deltas: Vec<Option<i64>> = points
        .iter()
        .map(|p| p["disk_usage_delta"].as_i64())
        .collect();
    let want_deltas: Vec<Option<i64>> = std::iter::once(None)
        .chain(want.windows(2).map(|w| Some(w[1] as i64 - w[0] as i64)))
        .collect();
    assert_eq!(deltas, want_deltas);
    let times: Vec<i64> = points
        .iter()
        .map(|p| p["time_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    // Growth per day: first to last over the time between them.
    let span_days = (times[2] - times[0]) as f64 / 86_400_000.0;
    if span_days > 0.0 {
        let per_day = v["disk_usage_per_day"].as_f64().unwrap();
        let expected = (want[2] as f64 - want[0] as f64) / span_days;
        assert!(
            (per_day - expected).abs() <= expected.abs() * 1e-9 + 1e-6,
            "{per_day} vs {expected}"
        );
    }

    // A directory that did not exist in the first snapshots is absent there.
    let fresh = dir.join("new");
    let v = case.json(&[OsStr::new("history"), fresh.as_os_str()]);
    let points = v["points"].as_array().unwrap();
    let got: Vec<Option<u64>> = points.iter().map(|p| p["disk_usage"].as_u64()).collect();
    assert_eq!(got, [None, None, Some(total(&root, &fresh))], "{v}");

    // Every reporter that renders it.
    for format in ["table", "csv", "html"] {
        let out = case
            .cmd()
            .args(["--format", format, "history"])
            .arg(&dir)
            .output()
            .unwrap();
        let text = ok(&out);
        assert!(
            text.contains(&escape_bytes(dir.as_os_str().as_bytes()).into_owned()),
            "{format}: {text}"
        );
    }
    let table = ok(&case.run(&[OsStr::new("history"), dir.as_os_str()]));
    assert_eq!(
        table
            .lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        3,
        "{table}"
    );

    // --since leaves out what is older.
    let v = case.json(&[
        OsStr::new("history"),
        dir.as_os_str(),
        OsStr::new("--since"),
        OsStr::new("1h"),
    ]);
    assert_eq!(v["points"].as_array().unwrap().len(), 3);

    // Under no snapshot: not found, with the scan to run.
    let nowhere = case.env.path().join("nowhere");
    fs::create_dir_all(&nowhere).unwrap();
    let out = case.run(&[OsStr::new("history"), nowhere.as_os_str()]);
    let err = fails_with(&out, 3);
    assert!(err.contains("scan"), "{err}");
}

#[rstest]
#[case::sqlite("sqlite")]
#[case::redb("redb")]
fn history_ends_with_the_live_value_while_a_watcher_runs(#[case] backend: &'static str) {
    let case = Case::new(backend);
    let root = case.root.clone();
    build_tree(&root);
    let dir = root.join("mid");
    case.scan(&root);
    let scanned = total(&root, &dir);
    let mut w = case.watch();
    case.wait_live(&mut w);
    write(&dir.join("grown"), 250_000);
    let now = total(&root, &dir);
    assert_ne!(now, scanned);
    // The live row follows the tree within the convergence time.
    let deadline = Instant::now() + live_support::CONVERGE;
    let points = loop {
        let v = case.json(&[OsStr::new("history"), dir.as_os_str()]);
        let points = v["points"].as_array().unwrap().clone();
        let last = points.last().unwrap();
        if last["snapshot"].is_null() && last["disk_usage"].as_u64() == Some(now) {
            break points;
        }
        assert!(Instant::now() < deadline, "no live row of {now}: {v}");
        sleep(Duration::from_millis(100));
    };
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["disk_usage"].as_u64(), Some(scanned));
    assert_eq!(
        points[1]["disk_usage_delta"].as_i64(),
        Some(now as i64 - scanned as i64)
    );
    let table = ok(&case.run(&[OsStr::new("history"), dir.as_os_str()]));
    assert!(
        table.lines().any(|l| l.trim_start().starts_with("live")),
        "{table}"
    );
    w.stop(Signal::TERM);
    // After reconcile the live change is a snapshot, and the history says so.
    ok(&case.run(&["reconcile"]));
    let v = case.json(&[OsStr::new("history"), dir.as_os_str()]);
    let got: Vec<Option<u64>> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["disk_usage"].as_u64())
        .collect();
    assert_eq!(got, [Some(scanned), Some(now)], "{v}");
}

// ---- html -----------------------------------------------------------------

/// Chromium, headless, as the tests run it (root needs `--no-sandbox`).
fn chromium() -> Command {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("needs chromium (apt-get install chromium)");
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
    ]);
    c
}

/// The page as the browser's DOM after its script ran, seen from a
/// wrapper page that clicks the first directory with subdirectories and
/// records what the treemap showed before and after.
fn browse(page: &Path) -> String {
    let dir = page.parent().unwrap();
    let wrapper = dir.join("wrapper.html");
    let name = page.file_name().unwrap().to_str().unwrap();
    fs::write(
        &wrapper,
        format!(
            r#"<!DOCTYPE html><html><body><iframe id="f" src="{name}" style="width:1200px;height:900px"></iframe>
<script>
var errors = [];
var f = document.getElementById('f');
f.contentWindow.addEventListener('error', function (e) {{ errors.push(String(e.message)); }});
f.addEventListener('load', function () {{
  var d = f.contentDocument, b = document.body;
  var w = f.contentWindow;
  w.alert = function (m) {{ b.setAttribute('data-alert', String(m)); }};
  b.setAttribute('data-state', d.body.getAttribute('data-treemap') || 'none');
  b.setAttribute('data-before', String(d.querySelectorAll('.tm-node[data-depth="1"]').length));
  b.setAttribute('data-crumbs-before', String(d.querySelectorAll('.tm-crumb').length));
  var labels = [];
  d.querySelectorAll('.tm-label').forEach(function (l) {{ labels.push(l.textContent); }});
  b.setAttribute('data-labels', labels.join('\n'));
  var target = null;
  d.querySelectorAll('.tm-node[data-depth="1"]').forEach(function (n) {{
    if (!target && !n.classList.contains('leaf') && n.getAttribute('data-path')) target = n;
  }});
  if (target) {{
    b.setAttribute('data-clicked', target.getAttribute('data-path'));
    target.click();
  }}
  setTimeout(function () {{
    b.setAttribute('data-after', String(d.querySelectorAll('.tm-node[data-depth="1"]').length));
    b.setAttribute('data-crumbs-after', String(d.querySelectorAll('.tm-crumb').length));
    var last = d.querySelectorAll('.tm-crumb');
    b.setAttribute('data-crumb', last.length ? last[last.length - 1].textContent : '');
    b.setAttribute('data-errors', errors.join(' | '));
    b.setAttribute('data-images', String(d.querySelectorAll('img').length));
    b.setAttribute('data-scripts', String(d.querySelectorAll('script').length));
    b.setAttribute('data-done', '1');
  }}, 300);
}});
</script></body></html>"#
        ),
    )
    .unwrap();
    let out = chromium().arg("--dump-dom").arg(&wrapper).output().unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `attr` on the dumped wrapper's body.
fn attr(dom: &str, attr: &str) -> String {
    let key = format!(" {attr}=\"");
    let start = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {dom}"))
        + key.len();
    let end = start + dom[start..].find('"').unwrap();
    dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Where a test keeps what a person may want to look at afterwards.
fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artefacts");
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs chromium (apt-get install chromium)"]
fn the_html_treemap_renders_descends_and_keeps_hostile_names_as_text() {
    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    let page = env.path().join("show.html");
    ok(&env
        .cmd()
        .args(["--format", "html", "show", "-o"])
        .arg(&page)
        .output()
        .unwrap());
    let html = fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network address at all"
    );
    for name in INJECTIONS {
        assert!(!html.contains(name), "{name} raw in the page");
    }

    let dom = browse(&page);
    assert_eq!(attr(&dom, "data-done"), "1", "{dom}");
    assert_eq!(attr(&dom, "data-errors"), "", "script errors");
    assert_eq!(attr(&dom, "data-state"), "ok");
    // One rectangle per non-empty subdirectory of the root, plus one for
    // the root's own files and inode (all of this small tree is shown).
    let o = oracle::compute(&root);
    let top = &o.dirs[&oracle::key(&root)];
    let children: Vec<u64> = o
        .dirs
        .iter()
        .filter(|(p, _)| Path::new(OsStr::from_bytes(p)).parent() == Some(root.as_path()))
        .map(|(_, e)| e.total_bytes)
        .collect();
    let sum: u64 = children.iter().sum();
    let want = children.iter().filter(|&&b| b > 0).count() + usize::from(top.total_bytes > sum);
    assert_eq!(attr(&dom, "data-before"), want.to_string(), "{dom}");
    // The click descended into the largest directory with subdirectories.
    let clicked = attr(&dom, "data-clicked");
    assert_eq!(
        clicked,
        escape_bytes(root.join("big").as_os_str().as_bytes())
    );
    assert_eq!(attr(&dom, "data-crumbs-after"), "2");
    assert_eq!(attr(&dom, "data-crumb"), "big");
    let big = root.join("big");
    let subdirs = o
        .dirs
        .keys()
        .filter(|p| Path::new(OsStr::from_bytes(p)).parent() == Some(big.as_path()))
        .count();
    assert_eq!(attr(&dom, "data-after"), (subdirs + 1).to_string());
    // The names are text: no element came from them, no script ran.
    assert_eq!(attr(&dom, "data-images"), "0");
    assert_eq!(attr(&dom, "data-scripts"), "2", "the page's own two only");
    assert!(!dom.contains(" data-alert=\""), "an alert ran: {dom}");
    let labels = fs::read_to_string(&page)
        .map(|_| attr(&dom, "data-labels"))
        .unwrap();
    // `</script>` holds a slash, so that name is a directory `<script>alert(1)<`
    // with a `script>` inside.
    for name in INJECTIONS {
        let first = name.split('/').next().unwrap();
        assert!(
            labels.lines().any(|l| l.starts_with(first)),
            "{first} is not a label: {labels}"
        );
    }
    assert!(
        labels.lines().any(|l| l.starts_with("caf\\xe9")),
        "{labels}"
    );

    // A screenshot to look at.
    let shot = artefacts().join("html-show.png");
    let out = chromium()
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,900")
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        fs::metadata(&shot).unwrap().len() > 10_000,
        "a real picture"
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
#[ignore = "needs chromium (apt-get install chromium)"]
fn the_html_diff_and_history_pages_render() {
    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    append(&root.join("big/a/f1"), 400_000);
    fs::remove_dir_all(root.join("mid")).unwrap();
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    for (name, args) in [
        ("diff.html", vec!["diff"]),
        ("explain.html", vec!["explain", root.to_str().unwrap()]),
    ] {
        let page = env.path().join(name);
        ok(&env
            .cmd()
            .args(["--format", "html"])
            .args(&args)
            .arg("-o")
            .arg(&page)
            .output()
            .unwrap());
        let dom = browse(&page);
        assert_eq!(attr(&dom, "data-errors"), "", "{name}");
        assert_eq!(attr(&dom, "data-state"), "ok", "{name}");
        let labels = attr(&dom, "data-labels");
        assert!(labels.contains("(+"), "{name}: growth shown: {labels}");
        let shot = artefacts().join(name.replace(".html", ".png"));
        let out = chromium()
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1200,900")
            .arg(&page)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    // The removed directory keeps its place in the diff's treemap.
    let page = env.path().join("diff.html");
    let dom = browse(&page);
    assert!(
        attr(&dom, "data-labels")
            .lines()
            .any(|l| l.starts_with("mid") && l.contains("removed"))
    );

    let page = env.path().join("history.html");
    ok(&env
        .cmd()
        .args([
            "--format",
            "html",
            "history",
            root.join("big").to_str().unwrap(),
            "-o",
        ])
        .arg(&page)
        .output()
        .unwrap());
    let out = chromium().arg("--dump-dom").arg(&page).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        dom.matches("<circle").count(),
        2,
        "one point per snapshot: {dom}"
    );
    assert!(dom.contains("id=\"history-chart\""));
}

// ---- prometheus -----------------------------------------------------------

#[test]
fn prometheus_exposition_of_a_real_scan_reads_back_as_the_oracle() {
    use openmetrics_parser::PrometheusValue;
    use openmetrics_parser::prometheus::parse_prometheus;

    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    write(&root.join("quote\"and\\back").join("f"), 3_000);
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    let out = env.run(&["--format", "prometheus", "show", "-n", "100", "-d", "100"]);
    let text = ok(&out);
    let parsed = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let fam = &parsed.families["disktracker_directory_bytes"];
    let o = oracle::compute(&root);
    let mut seen = 0;
    for s in fam.iter_samples() {
        let labels = s.get_labelset().unwrap();
        if labels.get_label_value("kind") != Some("disk_usage") {
            continue;
        }
        let label = labels.get_label_value("path").unwrap();
        let path = disktracker::path::unescape(label).unwrap();
        let escaped = labels.get_label_value("path_escaped").unwrap();
        assert_eq!(
            escaped == "true",
            label.as_bytes() != path.as_slice(),
            "{label}"
        );
        let PrometheusValue::Gauge(v) = &s.value else {
            panic!("not a gauge")
        };
        assert_eq!(v.as_f64(), o.dirs[&path].total_bytes as f64, "{label}");
        seen += 1;
    }
    assert_eq!(seen, o.dirs.len(), "every directory, the root included");
    // Written atomically to a textfile-collector file.
    let file = env.path().join("disktracker.prom");
    ok(&env
        .cmd()
        .args(["--format", "prometheus", "snapshots", "-o"])
        .arg(&file)
        .output()
        .unwrap());
    let text = fs::read_to_string(&file).unwrap();
    parse_prometheus(&text).unwrap();
    assert!(text.contains("disktracker_snapshot_bytes{"), "{text}");
    let out = env.run(&["--format", "prometheus", "history", "."]);
    let err = fails_with(&out, 2);
    assert!(err.contains("prometheus"), "{err}");
}

/// `-o` into a directory that does not exist: a one-line error, exit 1 or
/// an I/O code, and no stray temporary file.
#[test]
fn output_to_a_missing_directory_is_a_clean_error() {
    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    let out = env
        .cmd()
        .args(["show", "-o"])
        .arg(env.path().join("no/such/dir/x.txt"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write"), "{err}");
    assert!(stdout(&out).is_empty());
}

// ---- the shipped metrics example --------------------------------------------

/// The `ExecStart=` lines of the metrics unit, run as written (binary,
/// config and output directory moved into the test's place), write files
/// that parse, with the tree's numbers in them.
#[test]
fn the_metrics_example_unit_writes_parsable_textfiles() {
    use openmetrics_parser::prometheus::parse_prometheus;

    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    let db = env.path().join("state/data.db");
    let config = env.path().join("metrics.toml");
    let text = fs::read_to_string(example("metrics.toml")).unwrap();
    assert!(text.contains("/var/lib/disktracker/data.db"));
    fs::write(
        &config,
        text.replace("/var/lib/disktracker/data.db", db.to_str().unwrap()),
    )
    .unwrap();
    ok(&env
        .cmd()
        .arg("--config")
        .arg(&config)
        .args(["--format", "table", "scan"])
        .arg(&root)
        .output()
        .unwrap());
    let textfiles = env.path().join("node-exporter");
    fs::create_dir(&textfiles).unwrap();
    let unit = fs::read_to_string(example("disktracker-metrics.service")).unwrap();
    let mut written = Vec::new();
    for line in unit.lines().filter_map(|l| l.strip_prefix("ExecStart=")) {
        let line = line
            .replace("/etc/disktracker/metrics.toml", config.to_str().unwrap())
            .replace(
                "/var/lib/prometheus/node-exporter",
                textfiles.to_str().unwrap(),
            );
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/disktracker"));
        let out = env.cmd().args(words).output().unwrap();
        ok(&out);
        written.push(line);
    }
    assert_eq!(written.len(), 3, "{unit}");
    let o = oracle::compute(&root);
    let mut files: Vec<PathBuf> = fs::read_dir(&textfiles)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let parsed = parse_prometheus(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        assert!(!parsed.families.is_empty());
        let mode = fs::metadata(f).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o004,
            0o004,
            "the collector (another user) can read {}",
            f.display()
        );
    }
    let snaps = fs::read_to_string(textfiles.join("disktracker-snapshots.prom")).unwrap();
    let want = o.dirs[&oracle::key(&root)].total_bytes;
    assert!(
        snaps
            .lines()
            .any(|l| l.starts_with("disktracker_snapshot_bytes{")
                && l.contains("kind=\"disk_usage\"")
                && l.ends_with(&format!(" {want}"))),
        "{snaps}"
    );
}

/// The metrics unit and timer pass `systemd-analyze verify`.
#[test]
#[ignore = "needs systemd-analyze"]
fn the_metrics_units_verify() {
    let env = Env::new();
    let unit = fs::read_to_string(example("disktracker-metrics.service")).unwrap();
    let unit = unit.replace(
        "/usr/local/bin/disktracker",
        env!("CARGO_BIN_EXE_disktracker"),
    );
    fs::write(env.path().join("disktracker-metrics.service"), unit).unwrap();
    fs::copy(
        example("disktracker-metrics.timer"),
        env.path().join("disktracker-metrics.timer"),
    )
    .unwrap();
    for name in ["disktracker-metrics.service", "disktracker-metrics.timer"] {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(env.path().join(name))
            .output()
            .expect("systemd-analyze");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        assert!(err.trim().is_empty(), "{name}: {err}");
    }
}

/// `-o -` is standard output, and `-o FILE` replaces FILE whole.
#[test]
fn output_dash_is_standard_output_and_a_file_is_replaced() {
    let env = Env::new();
    let root = env.path().join("tree");
    build_tree(&root);
    ok(&env.run(&["-q", "scan", root.to_str().unwrap()]));
    let plain = ok(&env.run(&["--format", "csv", "snapshots"]));
    let dashed = ok(&env.run(&["--format", "csv", "snapshots", "-o", "-"]));
    assert_eq!(plain, dashed);
    assert!(!env.path().join("-").exists() && !Path::new("-").exists());
    let file = env.path().join("snapshots.csv");
    fs::write(
        &file,
        "old content that is longer than the report ".repeat(100),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--format", "csv", "snapshots", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(stdout(&out).is_empty());
    ok(&out);
    assert_eq!(fs::read_to_string(&file).unwrap(), plain);
    let leftovers: Vec<_> = fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".disktracker-report-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
