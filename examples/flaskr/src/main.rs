fn main() -> std::process::ExitCode {
    flaskr::main()
}
