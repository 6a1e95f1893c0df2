//! [`ConfigFile`]: the `[default]` and per-environment sections of
//! `unchained.toml`.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use super::{ConfigError, Environment};

/// Top-level keys of `unchained.toml` that are not config sections.
pub(crate) const MANIFEST_KEYS: [&str; 2] = ["bundles", "bundle_crates"];

/// The config sections of a project's `unchained.toml`:
///
/// ```toml
/// bundles = ["app"]
///
/// [default]          # every environment
/// SESSION_TYPE = "sqlalchemy"
///
/// [production]       # only when UNCHAINED_ENV=production
/// SESSION_COOKIE_SECURE = true
/// ```
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    sections: Map<Profile, Dict>,
}

impl ConfigFile {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the content of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: Dict = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut sections = Map::new();
        for (key, value) in table {
            if MANIFEST_KEYS.contains(&key.as_str()) {
                continue;
            }
            let profile = match key.as_str() {
                "default" => Profile::Default,
                other => match other.parse::<Environment>() {
                    Ok(env) if env.as_str() == other => env.profile(),
                    _ => {
                        return Err(ConfigError::UnknownSection {
                            path: path.to_owned(),
                            section: key,
                        });
                    }
                },
            };
            let Value::Dict(_, dict) = value else {
                return Err(ConfigError::UnknownSection {
                    path: path.to_owned(),
                    section: key,
                });
            };
            sections.insert(profile, dict);
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            sections,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Provider for ConfigFile {
    fn metadata(&self) -> Metadata {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config file".to_owned());
        Metadata::from(name, Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(self.sections.clone())
    }
}
