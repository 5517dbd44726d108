//! `disktracker-markdown`: the stock command line plus `--format markdown`.
//! Naming the reporter crate is what links it, and so registers it.
use disktracker_example_reporter as _;
fn main() -> std::process::ExitCode {
    disktracker_defaults::main()
}
