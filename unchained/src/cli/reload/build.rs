//! Building the project with cargo and finding its executable.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// How a build ended.
pub(super) enum Build {
    /// The project's executable.
    Built(PathBuf),
    /// It failed; cargo has shown why, or the message says it.
    Failed(Option<String>),
}

/// Runs `cargo build` on the project at `root`, showing cargo's progress
/// and rendered errors and warnings on stderr, and reads the executable's
/// path from cargo's JSON messages on stdout.
///
/// An error means cargo could not be started. Cancel-safe: dropping the
/// future kills cargo.
pub(super) async fn build(root: &Path) -> std::io::Result<Build> {
    // As `unchained run` does: a bundle just listed in unchained.toml gets
    // its crate into Cargo.toml (a change the watcher then sees, once).
    if let Err(message) = crate::cli::build::prepare(root) {
        return Ok(Build::Failed(Some(message)));
    }
    let manifest = root.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics");
    // Scripts and tests that only want the command's own output.
    if std::env::var_os("UNCHAINED_QUIET_BUILD").is_some() {
        command.arg("--quiet");
    }
    // Cargo's JSON messages on stdout, collected to the end; progress and
    // rendered diagnostics go straight to the terminal on stderr.
    let output = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?
        .wait_with_output()
        .await?;
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(message) => binaries.extend(Binary::from_message(&message)),
            // Not one of cargo's messages: whatever printed it meant it
            // to be read.
            Err(_) => println!("{line}"),
        }
    }
    if !output.status.success() {
        return Ok(Build::Failed(None));
    }
    Ok(choose(root, binaries))
}

/// A `bin` target that cargo built.
struct Binary {
    name: String,
    manifest_path: PathBuf,
    src_path: PathBuf,
    executable: PathBuf,
}

impl Binary {
    /// The binary of a `compiler-artifact` message, if it is one.
    fn from_message(message: &serde_json::Value) -> Option<Binary> {
        if message["reason"] != "compiler-artifact" {
            return None;
        }
        let target = &message["target"];
        let is_bin = target["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"));
        if !is_bin {
            return None;
        }
        Some(Binary {
            name: target["name"].as_str()?.to_owned(),
            manifest_path: PathBuf::from(message["manifest_path"].as_str()?),
            src_path: PathBuf::from(target["src_path"].as_str()?),
            executable: PathBuf::from(message["executable"].as_str()?),
        })
    }
}

/// The project's own binary among those built: the one of its package,
/// `src/main.rs` if it has several (cargo's default binary).
fn choose(root: &Path, binaries: Vec<Binary>) -> Build {
    let manifest = root.join("Cargo.toml");
    let ours: Vec<Binary> = binaries
        .into_iter()
        .filter(|binary| same_file(&binary.manifest_path, &manifest))
        .collect();
    let main = root.join("src").join("main.rs");
    if let Some(binary) = ours.iter().find(|b| same_file(&b.src_path, &main)) {
        return Build::Built(binary.executable.clone());
    }
    match ours.as_slice() {
        [only] => Build::Built(only.executable.clone()),
        [] => Build::Failed(Some(format!(
            "cargo built no binary for {}: a project needs src/main.rs calling the \
             `main` that `unchained::project!()` defines (see `unchained new project`)",
            root.display()
        ))),
        several => Build::Failed(Some(format!(
            "{} has several binaries ({}) and no src/main.rs: `unchained run --reload` \
             does not know which one serves; keep the server's in src/main.rs",
            root.display(),
            several
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether two paths name the same file, however they are spelt.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_binary_from_cargo_messages() {
        let root = Path::new("/nonexistent/demo");
        let artifact = |name: &str, kind: &str, manifest: &str, src: &str| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "manifest_path": manifest,
                "target": { "name": name, "kind": [kind], "src_path": src },
                "executable": format!("/t/debug/{name}"),
            })
        };
        let messages = [
            serde_json::json!({ "reason": "build-script-executed" }),
            artifact("serde", "lib", "/r/serde/Cargo.toml", "/r/serde/src/lib.rs"),
            artifact("tool", "bin", "/r/tool/Cargo.toml", "/r/tool/src/main.rs"),
            artifact(
                "extra",
                "bin",
                "/nonexistent/demo/Cargo.toml",
                "/nonexistent/demo/src/bin/extra.rs",
            ),
            artifact(
                "demo",
                "bin",
                "/nonexistent/demo/Cargo.toml",
                "/nonexistent/demo/src/main.rs",
            ),
        ];
        let binaries: Vec<Binary> = messages.iter().filter_map(Binary::from_message).collect();
        assert_eq!(binaries.len(), 3);
        match choose(root, binaries) {
            Build::Built(executable) => assert_eq!(executable, Path::new("/t/debug/demo")),
            Build::Failed(message) => panic!("no binary chosen: {message:?}"),
        }
        match choose(root, Vec::new()) {
            Build::Failed(Some(message)) => assert!(message.contains("src/main.rs"), "{message}"),
            _ => panic!("a build without binary must fail"),
        }
    }
}
