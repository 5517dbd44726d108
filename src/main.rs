fn main() -> std::process::ExitCode {
    disktracker_defaults::main()
}
