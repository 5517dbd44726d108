//! The `disktracker` binary: the CLI with every first-party plugin linked in.

fn main() -> std::process::ExitCode {
    disktracker_defaults::main()
}
