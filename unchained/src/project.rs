//! [`Project`]: a folder with an `unchained.toml`, and what that file lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The file that marks a project's root.
pub const MANIFEST: &str = "unchained.toml";

/// Crates of the bundles that ship with Unchained, by bundle name.
pub const BUILTIN_BUNDLE_CRATES: [(&str, &str); 3] = [
    ("unchained.bundles.database", "unchained-database"),
    ("unchained.bundles.session", "unchained-session"),
    ("unchained.bundles.security", "unchained-security"),
];

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
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            what: format!("read {}", path.display()),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses the manifest part of `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            Error::Manifest(format!(
                "{}: {}\nhint: `bundles` is a list of names, e.g. bundles = [\"unchained.bundles.session\", \"app\"]",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        let mut seen = std::collections::HashSet::new();
        for name in &manifest.bundles {
            if !seen.insert(name.as_str()) {
                return Err(Error::Manifest(format!(
                    "{}: bundle {name} is listed twice in bundles: remove one",
                    path.display()
                )));
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
    pub fn load(root: &Path) -> Result<Self, Error> {
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
    pub fn discover() -> Result<Self, Error> {
        if let Ok(root) = std::env::var("UNCHAINED_PROJECT_ROOT") {
            return Self::load(Path::new(&root));
        }
        let cwd = std::env::current_dir().map_err(|e| Error::Io {
            what: "read the current directory".into(),
            message: e.to_string(),
        })?;
        match Self::find_root(&cwd) {
            Some(root) => Self::load(&root),
            None => Err(Error::NoProject(cwd)),
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
