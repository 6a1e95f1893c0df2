fn main() -> std::process::ExitCode {
    hello::main()
}
