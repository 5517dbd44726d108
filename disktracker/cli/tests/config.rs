//! Configuration layering: defaults < user file < --config < env < flags,
//! strict keys, and the example deployment configs.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use disktracker::ErrorKind;
use disktracker_cli::config::{Environment, Layered, Source, env_name};
// Linked for its registration: config/examples/fleet.toml sets its keys.
use disktracker_store_postgres as _;
use rstest::rstest;
use toml::Value;

fn home_with_user_config(text: Option<&str>) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    if let Some(t) = text {
        fs::create_dir(home.path().join(".disktracker")).unwrap();
        fs::write(home.path().join(".disktracker/config.toml"), t).unwrap();
    }
    home
}

fn env(home: &Path, vars: &[(&str, &str)]) -> Environment {
    Environment {
        home: Some(home.to_path_buf()),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn defaults_come_from_the_documented_file() {
    let home = home_with_user_config(None);
    let cfg = Layered::load(None, &env(home.path(), &[]), &[]).unwrap();
    // Read the documented file independently and check every key is known,
    // has the same value, and is reported as a default.
    let text = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/default.toml"
    ))
    .unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut n = 0;
    for (k, v) in &table {
        let items: Vec<(String, &Value)> = match v {
            Value::Table(t) => t.iter().map(|(k2, v2)| (format!("{k}.{k2}"), v2)).collect(),
            other => vec![(k.clone(), other)],
        };
        for (key, value) in items {
            let line = cfg
                .lines()
                .into_iter()
                .find(|l| l.0 == key)
                .expect("key listed");
            assert_eq!(line.1, value.to_string(), "{key}");
            assert_eq!(line.2, "default", "{key}");
            n += 1;
        }
    }
    assert_eq!(n, cfg.lines().len());
    assert_eq!(
        cfg.db_path().unwrap(),
        home.path().join(".disktracker/data.db")
    );
}

#[test]
fn layers_override_in_order_and_record_their_source() {
    let home = home_with_user_config(Some(
        "backend = \"user\"\nformat = \"user\"\nquiet = true\n[scan]\nthreads = 3\n",
    ));
    let dir = tempfile::tempdir().unwrap();
    let explicit = dir.path().join("deploy.toml");
    fs::write(
        &explicit,
        "format = \"file\"\n[scan]\nthreads = 5\nexclude = [\"a\"]\n",
    )
    .unwrap();
    let e = env(
        home.path(),
        &[
            ("DISKTRACKER_SCAN_THREADS", "7"),
            ("DISKTRACKER_SCAN_EXCLUDE", "x, y"),
        ],
    );
    let flags = [("quiet", Value::Boolean(false))];
    let cfg = Layered::load(Some(&explicit), &e, &flags).unwrap();
    let c = &cfg.config;
    assert_eq!(c.backend, "user");
    assert_eq!(
        cfg.source("backend"),
        Source::File(home.path().join(".disktracker/config.toml"))
    );
    assert_eq!(c.format, "file");
    assert_eq!(cfg.source("format"), Source::File(explicit.clone()));
    assert_eq!(c.scan.threads, 7);
    assert_eq!(
        cfg.source("scan.threads"),
        Source::Env("DISKTRACKER_SCAN_THREADS".into())
    );
    assert_eq!(c.scan.exclude, ["x", "y"]);
    assert!(!c.quiet);
    assert_eq!(cfg.source("quiet"), Source::Flag);
    assert_eq!(cfg.source("report.top"), Source::Default);
}

#[rstest]
#[case::unknown_top_level("colour = true\n", "`colour`")]
#[case::unknown_nested("[scan]\nthread = 2\n", "`scan.thread`")]
#[case::unknown_section("[scna]\nthreads = 2\n", "`scna.threads`")]
#[case::wrong_type("[scan]\nthreads = \"two\"\n", "`scan.threads`")]
#[case::negative("[report]\ntop = -1\n", "`report.top`")]
#[case::bad_enum("[index]\nadvice = \"sometimes\"\n", "`index.advice`")]
#[case::bad_list("[scan]\nexclude = [1]\n", "`scan.exclude`")]
#[case::bad_toml("[scan\n", "line 1")]
#[case::bad_duration("[retention]\nmax_age = \"soon\"\n", "`retention.max_age`")]
#[case::bad_percentage("[explain]\nthreshold = 150\n", "`explain.threshold`")]
fn bad_config_files_name_the_key_and_file(#[case] text: &str, #[case] names: &str) {
    let home = home_with_user_config(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    fs::write(&file, text).unwrap();
    let err = Layered::load(Some(&file), &env(home.path(), &[]), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let msg = err.to_string();
    assert!(msg.contains(names), "{msg}");
    assert!(msg.contains(&*file.to_string_lossy()), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[rstest]
#[case::unknown_var(&[("DISKTRACKER_SCAN_THREDS", "2")], "DISKTRACKER_SCAN_THREDS")]
#[case::bad_bool(&[("DISKTRACKER_QUIET", "maybe")], "DISKTRACKER_QUIET")]
#[case::bad_int(&[("DISKTRACKER_REPORT_TOP", "ten")], "DISKTRACKER_REPORT_TOP")]
fn bad_environment_is_named(#[case] vars: &[(&str, &str)], #[case] names: &str) {
    let home = home_with_user_config(None);
    let err = Layered::load(None, &env(home.path(), vars), &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains(names), "{err}");
}

#[test]
fn missing_explicit_config_is_an_error_but_missing_user_config_is_not() {
    let home = home_with_user_config(None);
    assert!(Layered::load(None, &env(home.path(), &[]), &[]).is_ok());
    let err = Layered::load(
        Some(Path::new("/nonexistent/dt.toml")),
        &env(home.path(), &[]),
        &[],
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("/nonexistent/dt.toml"));
}

#[test]
fn every_key_has_an_environment_variable() {
    let home = home_with_user_config(None);
    let base = Layered::load(None, &env(home.path(), &[]), &[]).unwrap();
    for (key, value, _) in base.lines() {
        let raw = match value.as_str() {
            "true" => "false".to_owned(),
            "false" => "true".to_owned(),
            _ if key == "retention.max_age" => "7d".to_owned(),
            v if v.starts_with('"') => "random".to_owned(),
            v if v.starts_with('[') => "p,q".to_owned(),
            _ => "9".to_owned(),
        };
        let var = env_name(&key);
        let cfg = Layered::load(None, &env(home.path(), &[(&var, &raw)]), &[]).unwrap();
        assert_eq!(cfg.source(&key), Source::Env(var.clone()), "{key}");
    }
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The examples also hold a systemd unit beside the TOML files.
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_deployment_config_loads() {
    let files = examples();
    assert!(files.len() >= 3, "example configs present");
    let home = home_with_user_config(None);
    let plugins = disktracker_cli::config::registered_plugin_specs().unwrap();
    for f in files {
        let cfg = Layered::load_with_plugins(Some(&f), &env(home.path(), &[]), &[], &plugins)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // Each example must actually set something.
        assert!(
            cfg.lines().iter().any(|l| l.2 == f.to_string_lossy()),
            "{}",
            f.display()
        );
    }
}

#[test]
fn sizes_and_durations_take_units_in_files_and_variables() {
    let home = home_with_user_config(Some("[diff]\nmin_delta = \"10MiB\"\n"));
    let cfg = Layered::load(None, &env(home.path(), &[]), &[]).unwrap();
    assert_eq!(cfg.config.diff.min_delta, 10 << 20);
    // `config` shows what was written.
    let line = cfg
        .lines()
        .into_iter()
        .find(|l| l.0 == "diff.min_delta")
        .unwrap();
    assert_eq!(line.1, "\"10MiB\"");
    let vars = [
        ("DISKTRACKER_DIFF_MIN_DELTA", "1.5GB"),
        ("DISKTRACKER_RETENTION_MAX_AGE", "2d 12h"),
    ];
    let cfg = Layered::load(None, &env(home.path(), &vars), &[]).unwrap();
    assert_eq!(cfg.config.diff.min_delta, 1_500_000_000);
    assert_eq!(cfg.config.retention.max_age, "2d 12h");
    for (value, says) in [
        ("\"10 parsecs\"", "is not a size"),
        (
            "\"99999999999999999999999\"",
            "larger than the largest size",
        ),
        ("-3", "a size like"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        fs::write(&file, format!("[diff]\nmin_delta = {value}\n")).unwrap();
        let err = Layered::load(Some(&file), &env(home.path(), &[]), &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("diff.min_delta")
                && msg.contains(says)
                && msg.contains(&*file.to_string_lossy()),
            "{value}: {msg}"
        );
    }
    let err = Layered::load(
        None,
        &env(home.path(), &[("DISKTRACKER_DIFF_MIN_DELTA", "lots")]),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("DISKTRACKER_DIFF_MIN_DELTA"),
        "{err}"
    );
}
