//! [`Project`]: a folder with an `unchained.toml`, and what that file lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod builtin;
pub mod cargo_toml;
pub mod edit;
pub mod needs;
pub mod sync;

pub use builtin::{BUILTIN_BUNDLES, BuiltinBundle};
pub use sync::sync_dependencies;

/// The file that marks a project's root.
pub const MANIFEST: &str = "unchained.toml";

/// Crates of the bundles that ship with Unchained, by bundle name.
pub const BUILTIN_BUNDLE_CRATES: [(&str, &str); 5] = [
    ("unchained.bundles.database", "unchained-database"),
    ("unchained.bundles.session", "unchained-session"),
    ("unchained.bundles.mail", "unchained-mail"),
    ("unchained.bundles.security", "unchained-security"),
    ("unchained.bundles.jobs", "unchained-jobs"),
];

/// Finding or reading a project failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// No `unchained.toml` in this folder or above.
    #[error(
        "no unchained.toml found in {} or any parent folder: run this inside a project, or create one with `unchained new project NAME`",
        .0.display()
    )]
    NotFound(PathBuf),
    /// `unchained.toml` (or the current directory) could not be read.
    #[error("cannot read {}: {message}", .path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The current directory could not be read.
    #[error("cannot read the current directory: {0}")]
    CurrentDir(String),
    /// `unchained.toml` is not valid TOML or its `bundles` is not a list.
    #[error(
        "{}: {message}\nhint: `bundles` is a list of names, e.g. bundles = [\"unchained.bundles.session\", \"app\"]",
        .path.display()
    )]
    Invalid {
        /// The manifest.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A file to edit (`Cargo.toml`, `unchained.toml`) is not valid TOML.
    #[error(
        "{} is not valid TOML: {message}\nhint: fix the file, then run the command again",
        .path.display()
    )]
    NotToml {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A file cannot take an edit as it stands, e.g. its `dependencies`
    /// is not a table; the message says what to change.
    #[error("{}: {message}", .path.display())]
    CannotEdit {
        /// The file.
        path: PathBuf,
        /// What is in the way and what to do.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {}: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// A third-party bundle is listed, but the crate `[bundle_crates]`
    /// maps it to is not a dependency.
    #[error(
        "bundle {bundle} is listed in unchained.toml but not compiled in: [bundle_crates] maps it to \
         the crate `{krate}`, which is not in [dependencies] of Cargo.toml\n\
         hint: add it there (a path, git or version dependency), or remove {bundle} from bundles"
    )]
    NotADependency {
        /// The bundle's name.
        bundle: String,
        /// Its crate.
        krate: String,
    },
    /// A name under `unchained.bundles.` that no built-in bundle has.
    #[error(
        "bundle {bundle} is listed in unchained.toml, but Unchained has no built-in bundle of that name{}: \
         the built-in bundles are {}",
        .suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default(),
        builtin::BUILTIN_BUNDLES.map(|b| b.name).join(", ")
    )]
    UnknownBuiltin {
        /// The listed name.
        bundle: String,
        /// The nearest built-in name.
        suggestion: Option<String>,
    },
    /// A bundle is listed twice.
    #[error("{}: bundle {bundle} is listed twice in bundles: remove one", .path.display())]
    ListedTwice {
        /// The manifest.
        path: PathBuf,
        /// The bundle's name.
        bundle: String,
    },
}

/// The bundle list of `unchained.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    /// Bundle names in the order written.
    #[serde(default)]
    pub bundles: Vec<String>,
    /// Crates of third-party bundles: bundle name to crate name.
    #[serde(default)]
    pub bundle_crates: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads the manifest part of `unchained.toml` at `path`.
    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        Self::parse(path, &read(path)?)
    }

    /// Parses the manifest part of `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProjectError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ProjectError::Invalid {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for name in &manifest.bundles {
            if !seen.insert(name.as_str()) {
                return Err(ProjectError::ListedTwice {
                    path: path.to_owned(),
                    bundle: name.clone(),
                });
            }
        }
        Ok(manifest)
    }

    /// The crate that provides bundle `name`, if known.
    pub fn crate_of(&self, name: &str) -> Option<String> {
        self.bundle_crates.get(name).cloned().or_else(|| {
            BUILTIN_BUNDLE_CRATES
                .iter()
                .find(|(bundle, _)| *bundle == name)
                .map(|(_, krate)| (*krate).to_owned())
        })
    }
}

/// The text of the file `path`.
fn read(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|e| ProjectError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// A project on disk: its root folder and its manifest.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `unchained.toml`.
    pub root: PathBuf,
    /// What `unchained.toml` lists.
    pub manifest: Manifest,
}

impl Project {
    /// Loads the project whose root is `root`.
    pub fn load(root: &Path) -> Result<Self, ProjectError> {
        let manifest = Manifest::load(&root.join(MANIFEST))?;
        Ok(Project {
            root: root.to_owned(),
            manifest,
        })
    }

    /// Finds the project containing `start` (it or one of its parents).
    pub fn find_root(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .find(|dir| dir.join(MANIFEST).is_file())
            .map(Path::to_owned)
    }

    /// The project around the current directory, or `UNCHAINED_PROJECT_ROOT`.
    pub fn discover() -> Result<Self, ProjectError> {
        if let Ok(root) = std::env::var("UNCHAINED_PROJECT_ROOT") {
            return Self::load(Path::new(&root));
        }
        let cwd = std::env::current_dir().map_err(|e| ProjectError::CurrentDir(e.to_string()))?;
        match Self::find_root(&cwd) {
            Some(root) => Self::load(&root),
            None => Err(ProjectError::NotFound(cwd)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The proc-macro crate cannot share this constant; its copy must match.
    #[test]
    fn macro_crate_knows_the_same_builtin_bundle_crates() {
        let source = include_str!("../../unchained-macros/src/project.rs");
        for (bundle, krate) in BUILTIN_BUNDLE_CRATES {
            assert!(
                source.contains(&format!("(\"{bundle}\", \"{krate}\")")),
                "unchained-macros/src/project.rs lacks ({bundle}, {krate})"
            );
        }
    }

    #[test]
    fn the_crate_table_and_the_bundle_table_agree() {
        let from_table: Vec<(&str, &str)> =
            BUILTIN_BUNDLES.iter().map(|b| (b.name, b.krate)).collect();
        assert_eq!(from_table, BUILTIN_BUNDLE_CRATES);
    }

    #[test]
    fn third_party_bundle_crates_come_from_the_manifest() {
        let manifest = Manifest::parse(
            Path::new("unchained.toml"),
            "bundles = [\"acme.audit\", \"app\"]\n[bundle_crates]\n\"acme.audit\" = \"acme-audit\"\n",
        )
        .unwrap();
        assert_eq!(
            manifest.crate_of("acme.audit").as_deref(),
            Some("acme-audit")
        );
        assert_eq!(
            manifest.crate_of("unchained.bundles.session").as_deref(),
            Some("unchained-session")
        );
        assert_eq!(manifest.crate_of("app"), None);
    }

    #[test]
    fn a_malformed_bundle_list_says_what_it_should_look_like() {
        let err = Manifest::parse(Path::new("unchained.toml"), "bundles = \"app\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unchained.toml") && err.contains("bundles = [\""),
            "{err}"
        );
    }
}
