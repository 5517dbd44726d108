//! The command line as a third party builds it: the stock CLI with the
//! example `markdown` reporter and a `tally` reporter linked in. This test
//! binary *is* that binary when `TP_RUN_AS_CLI` is set (it re-executes
//! itself), so the commands below run the real CLI main with plugins the
//! shipped binary does not have.
//!
//! It checks that a reporter's declared report kinds are enforced before a
//! command acts (nothing is deleted, stored or scanned, exit 2), and that a
//! plugin's `[plugins.NAME]` settings are layered, validated and shown.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{self, Write};
use std::process::{Command, ExitCode, Output};

use common::{Env, fails_with, ok};
use disktracker::registry::ReporterPlugin;
use disktracker::report::unsupported;
use disktracker::settings::{PluginSettings, SettingSpec};
use disktracker::{RenderOptions, Report, ReportKind, Reporter};
use disktracker_example_reporter as _;
use disktracker_testkit::fixtures::handmade_tree;

const AS_CLI: &str = "TP_RUN_AS_CLI";
const USAGE: i32 = 2;
const CONFIG: i32 = 6;

/// Prints `LABEL: N` for lists; declines `scan` and `snapshots delete`.
struct Tally {
    label: String,
}

impl Reporter for Tally {
    fn render(
        &self,
        report: &Report<'_>,
        _: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        match report {
            Report::Snapshots(s) => writeln!(out, "{}: {}", self.label, s.len()),
            Report::Sizes(s) => writeln!(out, "{}: {}", self.label, s.answers.len()),
            Report::Config(lines) => {
                for l in *lines {
                    writeln!(out, "{} = {} ({})", l.key, l.value, l.source)?;
                }
                Ok(())
            }
            _ => Err(unsupported("tally", report)),
        }
    }
}

const TALLY_SETTINGS: &[SettingSpec] = &[
    SettingSpec::new("label", "\"snapshots\"", "Printed before the count."),
    SettingSpec::new("token", "\"hunter2\"", "A secret, never shown.").secret(),
];

disktracker::register_reporter!(
    ReporterPlugin::new(
        "tally",
        "Counts (a test reporter)",
        &[ReportKind::Snapshots, ReportKind::Sizes, ReportKind::Config],
        |s: &PluginSettings| Ok(Box::new(Tally {
            label: s.string("label")?
        }))
    )
    .settings(TALLY_SETTINGS)
);

fn run_as(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env_clear()
        .env("HOME", &env.home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(AS_CLI, "1")
        .args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn tree(env: &Env) -> String {
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    root.to_string_lossy().into_owned()
}

fn declined_delete_deletes_nothing() {
    let env = Env::new();
    let root = tree(&env);
    ok(&run_as(&env, &["--quiet", "scan", &root], &[]));
    let before = env.snapshots("sqlite");
    assert_eq!(before.len(), 1);
    let id = before[0].id.to_string();
    for format in ["markdown", "tally"] {
        let err = fails_with(
            &run_as(&env, &["--format", format, "snapshots", "delete", &id], &[]),
            USAGE,
        );
        assert!(
            err.contains(&format!(
                "the {format} reporter does not render deleted reports"
            )) && err.contains("snapshots delete")
                && err.contains("reporters that render it: csv, html, json, table"),
            "{err}"
        );
        assert!(
            !err.contains("cannot write"),
            "reads like an I/O failure: {err}"
        );
        let err = fails_with(
            &run_as(
                &env,
                &["--format", format, "snapshots", "prune", "--keep", "0"],
                &[],
            ),
            USAGE,
        );
        assert!(err.contains("snapshots prune"), "{err}");
        assert_eq!(env.snapshots("sqlite"), before, "nothing deleted");
    }
}

fn declined_scan_stores_nothing() {
    let env = Env::new();
    let root = tree(&env);
    // No database yet: none is created.
    let err = fails_with(
        &run_as(&env, &["--format", "tally", "scan", &root], &[]),
        USAGE,
    );
    assert!(
        err.contains("does not render scan reports") && err.contains("`scan`"),
        "{err}"
    );
    assert!(!env.db.exists(), "no database created");
    assert!(!env.db.with_extension("mmap").exists(), "no index written");
    // An existing database: no snapshot added, on either store.
    for backend in ["sqlite", "redb"] {
        ok(&run_as(
            &env,
            &["--backend", backend, "--quiet", "scan", &root],
            &[],
        ));
        let before = env.snapshots(backend);
        fails_with(
            &run_as(
                &env,
                &["--backend", backend, "--format", "tally", "scan", &root],
                &[],
            ),
            USAGE,
        );
        assert_eq!(env.snapshots(backend), before, "{backend}: nothing stored");
    }
}

fn declined_size_scans_nothing() {
    // `size` scans a path no snapshot covers; a reporter that cannot show
    // sizes must stop it before that.
    let env = Env::new();
    let root = tree(&env);
    let err = fails_with(
        &run_as(&env, &["--format", "markdown", "size", &root], &[]),
        USAGE,
    );
    assert!(err.contains("sizes reports"), "{err}");
    assert!(!env.db.exists(), "nothing scanned");
}

fn plugin_settings_are_layered_validated_and_shown() {
    let env = Env::new();
    let root = tree(&env);
    ok(&run_as(&env, &["--quiet", "scan", &root], &[]));
    let cfg = env.path().join("tp.toml");
    std::fs::write(&cfg, "[plugins.tally]\nlabel = \"from file\"\n").unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let out = ok(&run_as(
        &env,
        &["--config", cfg_s, "--format", "tally", "snapshots"],
        &[],
    ));
    assert_eq!(out, "from file: 1\n");
    // The variable wins over the file.
    let out = ok(&run_as(
        &env,
        &["--config", cfg_s, "--format", "tally", "snapshots"],
        &[("DISKTRACKER_PLUGINS_TALLY_LABEL", "from env")],
    ));
    assert_eq!(out, "from env: 1\n");
    // `config` lists every plugin key with its origin; the secret is masked.
    let out = ok(&run_as(
        &env,
        &["--config", cfg_s, "--format", "tally", "config"],
        &[],
    ));
    assert!(
        out.contains(&format!("plugins.tally.label = \"from file\" ({cfg_s})")),
        "{out}"
    );
    assert!(
        out.contains("plugins.tally.token = \"***\" (default)"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    // Unknown keys and plugins name the key and the file; a wrong type names
    // the key and its origin.
    for (text, says) in [
        ("[plugins.tally]\ncolour = true\n", "plugins.tally.colour"),
        ("[plugins.nosuch]\nx = 1\n", "plugins.nosuch.x"),
        ("[plugins.tally]\nlabel = 5\n", "plugins.tally.label = 5"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let err = fails_with(
            &run_as(
                &env,
                &["--config", cfg_s, "--format", "tally", "snapshots"],
                &[],
            ),
            CONFIG,
        );
        assert!(err.contains(says) && err.contains(cfg_s), "{text}: {err}");
    }
    let err = fails_with(
        &run_as(
            &env,
            &["snapshots"],
            &[("DISKTRACKER_PLUGINS_TALLY_COLOUR", "1")],
        ),
        CONFIG,
    );
    assert!(err.contains("DISKTRACKER_PLUGINS_TALLY_COLOUR"), "{err}");
}

const TESTS: &[(&str, fn())] = &[
    (
        "declined_delete_deletes_nothing",
        declined_delete_deletes_nothing,
    ),
    ("declined_scan_stores_nothing", declined_scan_stores_nothing),
    ("declined_size_scans_nothing", declined_size_scans_nothing),
    (
        "plugin_settings_are_layered_validated_and_shown",
        plugin_settings_are_layered_validated_and_shown,
    ),
];

/// Runs as the CLI when asked to; otherwise runs the tests above, taking
/// libtest's name filter, `--skip NAME`, `--exact` and `--list`.
fn main() -> ExitCode {
    if std::env::var_os(AS_CLI).is_some() {
        return disktracker_defaults::main();
    }
    let (mut filters, mut skips, mut exact, mut list) = (Vec::new(), Vec::new(), false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--skip" => skips.extend(args.next()),
            "--exact" => exact = true,
            "--list" => list = true,
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name => filters.push(name.to_owned()),
        }
    }
    let matches = |name: &str, pat: &str| {
        if exact {
            name == pat
        } else {
            name.contains(pat)
        }
    };
    let (mut ran, mut failed) = (0, 0);
    for (name, test) in TESTS {
        if (!filters.is_empty() && !filters.iter().any(|f| matches(name, f)))
            || skips.iter().any(|s| matches(name, s))
        {
            continue;
        }
        if list {
            println!("{name}: test");
            continue;
        }
        ran += 1;
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    if list {
        return ExitCode::SUCCESS;
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ran - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
