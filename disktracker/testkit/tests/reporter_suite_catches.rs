//! The reporter conformance suite catches what it promises to: broken
//! reporters, each registered here (in a test binary of their own), fail
//! exactly the checks their fault concerns and pass the others.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::panic::catch_unwind;

use disktracker::registry::ReporterPlugin;
use disktracker::report::unsupported;
use disktracker::{RenderOptions, Report, ReportKind, Reporter};
use disktracker_testkit::reporter_conformance::{CHECKS, plugin, run_all};
use rstest::rstest;

/// Writes the rows of a `show` report, one path per line.
fn rows(
    report: &Report<'_>,
    out: &mut dyn Write,
    path: impl Fn(&[u8]) -> String,
) -> io::Result<()> {
    match report {
        Report::Top(t) => {
            writeln!(out, "PATH")?;
            for r in &t.rows {
                writeln!(out, "{}", path(&r.path))?;
            }
            Ok(())
        }
        _ => Err(unsupported("test", report)),
    }
}

fn escaped(p: &[u8]) -> String {
    disktracker::path::escape_bytes(p).into_owned()
}

/// Prints paths as they are (lossily decoded): newlines, ESC and U+202E raw.
struct RawPaths;
impl Reporter for RawPaths {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        rows(r, out, |p| String::from_utf8_lossy(p).into_owned())
    }
}

/// Escapes paths, except that a newline stays a newline.
struct RawNewlines;
impl Reporter for RawNewlines {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        rows(r, out, |p| escaped(p).replace(r"\x0a", "\n"))
    }
}

/// Panics on the kinds it does not declare.
struct Panicky;
impl Reporter for Panicky {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        match r {
            Report::Top(_) => rows(r, out, escaped),
            _ => panic!("not a top report"),
        }
    }
}

/// Ignores the writer's errors.
struct Swallows;
impl Reporter for Swallows {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = Vec::new();
        rows(r, &mut buf, escaped)?;
        let _ = out.write_all(&buf);
        Ok(())
    }
}

/// Declares `diff` but cannot render it; renders `show` without declaring it.
struct Misdeclared;
impl Reporter for Misdeclared {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        rows(r, out, escaped)
    }
}

/// Turns every writer error into a generic one.
struct Rewraps;
impl Reporter for Rewraps {
    fn render(&self, r: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        rows(r, out, escaped).map_err(|e| match e.kind() {
            io::ErrorKind::Unsupported => e,
            _ => io::Error::other(format!("cannot write: {e}")),
        })
    }
}

const TOP: &[ReportKind] = &[ReportKind::Top];

/// Registers `$t` as a reporter of `show` reports called `$name`.
macro_rules! top_reporter {
    ($name:literal, $t:expr) => {
        disktracker::register_reporter!(ReporterPlugin::new($name, "", TOP, |_| Ok(Box::new($t))));
    };
}
top_reporter!("raw-paths", RawPaths);
top_reporter!("raw-newlines", RawNewlines);
top_reporter!("panicky", Panicky);
top_reporter!("swallows", Swallows);
top_reporter!("rewraps", Rewraps);
disktracker::register_reporter!(ReporterPlugin::new(
    "misdeclared",
    "",
    &[ReportKind::Diff, ReportKind::Diff],
    |_| Ok(Box::new(Misdeclared))
));

#[rstest]
#[case::raw_paths("raw-paths", &["hostile_names_never_reach_the_output_raw"])]
#[case::raw_newlines("raw-newlines", &["hostile_names_never_reach_the_output_raw"])]
#[case::panicky("panicky", &["undeclared_kinds_are_unsupported"])]
#[case::swallows("swallows", &["a_failing_writer_is_an_error_not_a_panic", "a_closed_pipe_is_broken_pipe"])]
#[case::misdeclared("misdeclared", &[
    "declares_each_kind_once",
    "declared_kinds_render_full_data",
    "declared_kinds_render_empty_data",
    "rendering_is_repeatable",
    "undeclared_kinds_are_unsupported",
    "hostile_names_never_reach_the_output_raw",
    "a_failing_writer_is_an_error_not_a_panic",
    "a_closed_pipe_is_broken_pipe",
])]
#[case::rewraps("rewraps", &["a_failing_writer_is_an_error_not_a_panic", "a_closed_pipe_is_broken_pipe"])]
fn the_suite_fails_exactly_the_broken_checks(#[case] name: &str, #[case] broken: &[&str]) {
    let failure = catch_unwind(|| run_all(plugin(name))).expect_err("the suite fails");
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    let listed = message.rsplit(": ").next().unwrap_or_default();
    let failed: BTreeSet<&str> = listed.split(", ").collect();
    let want: BTreeSet<&str> = broken.iter().copied().collect();
    assert_eq!(failed, want, "{message}");
    assert!(want.iter().all(|w| CHECKS.iter().any(|(c, _)| c == w)));
}
