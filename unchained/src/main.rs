//! The `unchained` command a user installs once.
//!
//! Outside a project it offers `unchained new`; inside one it runs the
//! project's own binary, which embeds the same CLI plus the project's
//! bundles and their commands.

fn main() -> std::process::ExitCode {
    unchained::cli::launcher_main()
}
