//! Generates the deterministic benchmark tree from the command line:
//!
//!     cargo run --release -p disktracker-testkit --bin gen_tree -- OUT NFILES SEED
//!
//! OUT must not exist or be empty. Prints the tree's summary as JSON (also
//! written to `OUT.manifest.json`) and, on stderr, how long it took.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use disktracker_testkit::treegen::generate;

const USAGE: &str = "usage: gen_tree OUT NFILES SEED (OUT must not exist or be empty)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, nfiles, seed] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (Ok(nfiles), Ok(seed)) = (nfiles.parse::<u64>(), seed.parse::<u64>()) else {
        eprintln!("gen_tree: NFILES and SEED must be whole numbers\n{USAGE}");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    match generate(&PathBuf::from(out), nfiles, seed) {
        Ok(summary) => {
            match serde_json::to_string_pretty(&summary) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("gen_tree: cannot print the summary: {e}"),
            }
            eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_tree: cannot generate the tree in {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
