fn main() -> std::process::ExitCode {
    session_bench::main()
}
