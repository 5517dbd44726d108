//! The conformance suite every [`Reporter`](disktracker::Reporter) must
//! pass, over the report data of [`crate::reports`]:
//!
//! * every kind it declares ([`ReporterPlugin::renders`]) renders, for full
//!   and for empty data, as UTF-8 text, the same each time;
//! * every kind it does not declare is refused with
//!   [`io::ErrorKind::Unsupported`], not a panic;
//! * hostile names (not UTF-8, a newline, `=SUM(A1)`, `-rf`, U+202E, ESC),
//!   in paths and in every other piece of outside text (hosts, walker and
//!   plugin names, OS messages, configuration lines), never reach the output
//!   raw: no control character, no bidirectional control, and no more line
//!   breaks or tabs than the same report with plain names;
//! * a writer that fails makes `render` return that error, and a closed pipe
//!   is reported as [`io::ErrorKind::BrokenPipe`].
//!
//! A third-party reporter runs it from its own tests (`tests/conformance.rs`,
//! with `disktracker-testkit` as a dev-dependency), after linking its crate
//! for the registration (`use my_reporter as _;`):
//!
//! ```no_run
//! use disktracker_testkit::reporter_conformance::{plugin, run_all};
//!
//! #[test]
//! fn conformance() {
//!     run_all(plugin("my-format"));
//! }
//! ```

use std::fs::File;
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use disktracker::registry::Plugin as _;
use disktracker::registry::{self, ReporterPlugin};
use disktracker::{RenderOptions, Report, ReportKind, Reporter, SizeKind};

use crate::reports::Fixtures;

/// Every check, by name.
pub const CHECKS: &[crate::Check<ReporterPlugin>] = &[
    ("declares_each_kind_once", declares_each_kind_once),
    (
        "declared_kinds_render_full_data",
        declared_kinds_render_full_data,
    ),
    (
        "declared_kinds_render_empty_data",
        declared_kinds_render_empty_data,
    ),
    ("rendering_is_repeatable", rendering_is_repeatable),
    (
        "undeclared_kinds_are_unsupported",
        undeclared_kinds_are_unsupported,
    ),
    (
        "hostile_names_never_reach_the_output_raw",
        hostile_names_never_reach_the_output_raw,
    ),
    (
        "a_failing_writer_is_an_error_not_a_panic",
        a_failing_writer_is_an_error_not_a_panic,
    ),
    ("a_closed_pipe_is_broken_pipe", a_closed_pipe_is_broken_pipe),
];

/// Runs every check against `plugin` (see [`crate::run_checks`]).
pub fn run_all(plugin: &'static ReporterPlugin) {
    crate::run_checks(plugin, CHECKS);
}

/// The registered reporter called `name` (see [`crate::registered`]).
pub fn plugin(name: &str) -> &'static ReporterPlugin {
    crate::registered(registry::reporters(), name)
}

/// The reporter, created with its default settings.
pub fn create(plugin: &ReporterPlugin) -> Box<dyn Reporter> {
    let settings = plugin
        .default_settings()
        .expect("the reporter's default settings are valid");
    (plugin.create)(&settings).expect("the reporter is created from its default settings")
}

/// `render`, with a panic turned into a failure that names the report.
fn render(
    reporter: &dyn Reporter,
    name: &str,
    report: &Report<'_>,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match catch_unwind(AssertUnwindSafe(|| reporter.render(report, opts, out))) {
        Ok(result) => result,
        Err(_) => panic!("{name}: rendering a {} report panicked", report.kind()),
    }
}

/// The output of a report it declares, failing the check on an error.
fn output(reporter: &dyn Reporter, name: &str, report: &Report<'_>, kind: SizeKind) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = render(reporter, name, report, &RenderOptions::new(kind), &mut out) {
        panic!(
            "{name} declares {} reports but fails to render one: {e}",
            report.kind()
        );
    }
    out
}

/// The report of `kind` in `fixtures` (they hold one of every kind).
fn report_of(fixtures: &Fixtures, kind: ReportKind) -> Report<'_> {
    fixtures
        .report(kind)
        .unwrap_or_else(|| panic!("the fixtures have no {kind} report"))
}

fn declares_each_kind_once(p: &'static ReporterPlugin) {
    assert!(!p.renders.is_empty(), "{} declares no report kind", p.name);
    for (i, kind) in p.renders.iter().enumerate() {
        assert!(
            !p.renders[..i].contains(kind),
            "{} declares {kind} twice",
            p.name
        );
    }
}

fn declared_kinds_render(p: &'static ReporterPlugin, fixtures: &Fixtures) {
    let reporter = create(p);
    for &kind in p.renders {
        for size in [SizeKind::DiskUsage, SizeKind::Apparent] {
            let out = output(&*reporter, p.name, &report_of(fixtures, kind), size);
            assert!(!out.is_empty(), "{}: empty output for {kind}", p.name);
            if let Err(e) = std::str::from_utf8(&out) {
                panic!("{}: {kind} output is not UTF-8 ({e})", p.name);
            }
        }
    }
}

fn declared_kinds_render_full_data(p: &'static ReporterPlugin) {
    declared_kinds_render(p, &Fixtures::new());
}

fn declared_kinds_render_empty_data(p: &'static ReporterPlugin) {
    declared_kinds_render(p, &Fixtures::empty());
}

fn rendering_is_repeatable(p: &'static ReporterPlugin) {
    let reporter = create(p);
    let f = Fixtures::new();
    for &kind in p.renders {
        let report = report_of(&f, kind);
        let first = output(&*reporter, p.name, &report, SizeKind::DiskUsage);
        let again = output(&*reporter, p.name, &report, SizeKind::DiskUsage);
        assert!(
            first == again,
            "{}: two renderings of the same {kind} report differ",
            p.name
        );
    }
}

fn undeclared_kinds_are_unsupported(p: &'static ReporterPlugin) {
    let reporter = create(p);
    for fixtures in [Fixtures::new(), Fixtures::empty()] {
        for report in fixtures.reports() {
            if p.renders(report.kind()) {
                continue;
            }
            let mut out = Vec::new();
            match render(
                &*reporter,
                p.name,
                &report,
                &RenderOptions::default(),
                &mut out,
            ) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                Err(e) => panic!(
                    "{}: an undeclared {} report fails with {:?} ({e}), not Unsupported",
                    p.name,
                    report.kind(),
                    e.kind()
                ),
                Ok(()) => panic!(
                    "{} renders {} reports without declaring them in `renders`",
                    p.name,
                    report.kind()
                ),
            }
        }
    }
}

/// Characters that must never reach the output raw: controls other than
/// the line and cell separators, and the bidirectional controls.
fn forbidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn hostile_names_never_reach_the_output_raw(p: &'static ReporterPlugin) {
    let reporter = create(p);
    let (hostile, tame) = (Fixtures::hostile(), Fixtures::tame());
    for &kind in p.renders {
        let out = output(
            &*reporter,
            p.name,
            &report_of(&hostile, kind),
            SizeKind::DiskUsage,
        );
        let plain = output(
            &*reporter,
            p.name,
            &report_of(&tame, kind),
            SizeKind::DiskUsage,
        );
        let text = std::str::from_utf8(&out)
            .unwrap_or_else(|e| panic!("{}: {kind} output is not UTF-8 ({e})", p.name));
        if let Some(c) = text.chars().find(|&c| forbidden(c)) {
            panic!(
                "{}: {kind} output holds a raw {c:?} from a hostile name:\n{}",
                p.name,
                text.escape_debug()
            );
        }
        let lone_cr = text
            .match_indices('\r')
            .any(|(i, _)| !text[i..].starts_with("\r\n"));
        assert!(
            !lone_cr,
            "{}: {kind} output holds a lone carriage return",
            p.name
        );
        for (sep, what) in [(b'\n', "line feeds"), (b'\t', "tabs")] {
            let count = |b: &[u8]| b.iter().filter(|&&c| c == sep).count();
            assert_eq!(
                count(&out),
                count(&plain),
                "{}: {kind} output holds more {what} with hostile names than with plain \
                 ones: a name reached it raw:\n{}",
                p.name,
                text.escape_debug()
            );
        }
    }
}

/// A writer that takes `budget` bytes, then fails like a full disk.
struct Failing {
    budget: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left (test writer)",
            ));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn a_failing_writer_is_an_error_not_a_panic(p: &'static ReporterPlugin) {
    let reporter = create(p);
    let f = Fixtures::new();
    let opts = RenderOptions::default();
    for &kind in p.renders {
        let report = report_of(&f, kind);
        let len = output(&*reporter, p.name, &report, opts.size_kind).len();
        for budget in [0, 1, len / 2, len.saturating_sub(1), len] {
            let result = render(&*reporter, p.name, &report, &opts, &mut Failing { budget });
            match result {
                Ok(()) => assert!(
                    budget >= len,
                    "{}: {kind} ({len} bytes) into a writer that failed after {budget}: \
                     the error was lost",
                    p.name
                ),
                Err(e) => assert_eq!(
                    e.kind(),
                    io::ErrorKind::StorageFull,
                    "{}: {kind} into a writer failing after {budget} bytes: \
                     the writer's error became {e}",
                    p.name
                ),
            }
        }
    }
}

fn a_closed_pipe_is_broken_pipe(p: &'static ReporterPlugin) {
    let reporter = create(p);
    let f = Fixtures::new();
    for &kind in p.renders {
        let (read, write) = rustix::pipe::pipe().expect("a pipe");
        drop(read);
        let mut pipe = File::from(write);
        let result = render(
            &*reporter,
            p.name,
            &report_of(&f, kind),
            &RenderOptions::default(),
            &mut pipe,
        );
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!(
                "{}: {kind} into a closed pipe fails with {:?} ({e}), not BrokenPipe",
                p.name,
                e.kind()
            ),
            Ok(()) => panic!("{}: {kind} into a closed pipe succeeded", p.name),
        }
    }
}
