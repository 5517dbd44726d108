use disktracker_example_reporter as _;
fn main() -> std::process::ExitCode {
    disktracker_defaults::main()
}
