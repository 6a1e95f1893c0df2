//! [`Error`]: the framework's own failures, each saying how to fix it.

use std::path::PathBuf;

use crate::config::ConfigError;

/// A failure while loading a project, resolving bundles or building the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `unchained.toml` in this folder or above.
    #[error(
        "no unchained.toml found in {} or any parent folder: run this inside a project, or create one with `unchained new project NAME`",
        .0.display()
    )]
    NoProject(PathBuf),
    /// `unchained.toml` is malformed.
    #[error("{0}")]
    Manifest(String),
    /// A file could not be read or written.
    #[error("cannot {what}: {message}")]
    Io {
        /// What was being done, e.g. `read unchained.toml`.
        what: String,
        /// The operating system's message.
        message: String,
    },
    /// A bundle problem: unknown, missing dependency, cycle, clash.
    #[error("{0}")]
    Bundle(String),
    /// A route problem: clash or invalid path.
    #[error("{0}")]
    Route(String),
    /// A config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bundle's hook failed.
    // The message carries the whole chain (`{error:#}`); the field is not a
    // `source`, so reports that print causes do not repeat it.
    #[error("bundle {bundle}: {error:#}")]
    Hook {
        /// The bundle whose hook failed.
        bundle: String,
        /// What went wrong.
        error: anyhow::Error,
    },
}
