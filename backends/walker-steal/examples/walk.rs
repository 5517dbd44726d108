//! Walks a tree with a registered walker and aggregates it, for timing.
//!
//! ```text
//! cargo build --release -p disktracker-walker-steal --examples
//! target/release/examples/walk ROOT [THREADS] [WALKER]
//! ```
//!
//! Prints the root's totals on stdout and the phase timings on stderr.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use disktracker::{WalkContext, WalkOptions};
use disktracker_engine::ScanTree;
// Link both walkers so their registrations are present.
use disktracker_walker_jwalk as _;
use disktracker_walker_steal as _;

fn run() -> disktracker::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let usage = || {
        disktracker::Error::new(
            disktracker::ErrorKind::Usage,
            "usage: walk ROOT [THREADS] [WALKER]",
        )
    };
    let root = PathBuf::from(args.next().ok_or_else(usage)?);
    let mut opts = WalkOptions::default();
    if let Some(t) = args.next() {
        opts.threads = t
            .to_str()
            .and_then(|t| t.parse().ok())
            .filter(|&t| t > 0)
            .ok_or_else(usage)?;
    }
    let name = args
        .next()
        .map_or_else(|| "steal".into(), |w| w.to_string_lossy().into_owned());
    let walker = (disktracker::registry::walkers()?.get(&name)?.create)(
        &disktracker::PluginSettings::empty(&name),
    )?;
    let root = disktracker_engine::resolve_root(&root)?;

    let start = Instant::now();
    let out = walker.walk(&root, &opts, &WalkContext::default())?;
    let walked = start.elapsed();
    let tree = ScanTree::from_walk(out)?;
    let total = start.elapsed();

    let s = tree.stats(0);
    println!(
        "{} dirs, {} files, {} bytes disk usage, {} bytes apparent, {} errors",
        tree.len(),
        s.file_count,
        s.total_bytes,
        s.total_apparent,
        tree.error_count()
    );
    eprintln!(
        "walker {name}, {} threads: walk {:.3} s, aggregate {:.3} s",
        opts.threads,
        walked.as_secs_f64(),
        (total - walked).as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walk: {e}");
            ExitCode::FAILURE
        }
    }
}
