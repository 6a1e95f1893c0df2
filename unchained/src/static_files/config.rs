//! `STATIC_URL_PATH` and `STATIC_MAX_AGE`: where static files are served
//! and how long a browser may keep a file fetched without a hash.

use serde::Deserialize;

use crate::config::{Config, ConfigError};

pub use crate::config::{STATIC_MAX_AGE, STATIC_URL_PATH};

/// The static files' config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct StaticConfig {
    /// `STATIC_URL_PATH`: `/static`, or `""` when static files are off.
    #[serde(rename = "STATIC_URL_PATH", default = "default_url_path")]
    pub url_path: String,
    /// `STATIC_MAX_AGE`, in seconds.
    #[serde(rename = "STATIC_MAX_AGE", default)]
    pub max_age: u64,
}

impl Default for StaticConfig {
    fn default() -> Self {
        StaticConfig {
            url_path: default_url_path(),
            max_age: 0,
        }
    }
}

fn default_url_path() -> String {
    "/static".to_owned()
}

impl StaticConfig {
    /// Whether static files are served at all.
    pub fn enabled(&self) -> bool {
        !self.url_path.is_empty()
    }
}

pub(super) fn read(config: &Config) -> Result<StaticConfig, ConfigError> {
    let mut static_config: StaticConfig = config.extract()?;
    // `/static/` and `/static` are the same prefix.
    let trimmed = static_config.url_path.trim_end_matches('/');
    if trimmed.is_empty() && !static_config.url_path.is_empty() {
        return Err(invalid(
            config,
            "\"/\" would hide every route: use a path such as \"/static\", or \"\" to turn static files off",
        ));
    }
    static_config.url_path = trimmed.to_owned();
    let path = &static_config.url_path;
    if !path.is_empty() {
        if !path.starts_with('/') {
            return Err(invalid(
                config,
                &format!("{path:?} must start with `/`, e.g. \"/static\""),
            ));
        }
        // Plain characters only: the path goes into URLs and HTML
        // attributes unescaped.
        if let Some(c) = path
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '_' | '~')))
        {
            return Err(invalid(
                config,
                &format!("{path:?} contains {c:?}: use a plain path such as \"/static\""),
            ));
        }
    }
    Ok(static_config)
}

fn invalid(config: &Config, problem: &str) -> ConfigError {
    ConfigError::Rule(format!(
        "invalid config value for {STATIC_URL_PATH} (from {}): {problem}",
        config.source_of(STATIC_URL_PATH)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn read_with(url_path: &str) -> Result<StaticConfig, ConfigError> {
        read(
            &Config::builder(Environment::Test)
                .set(STATIC_URL_PATH, url_path)
                .build(),
        )
    }

    #[test]
    fn url_path_is_checked_and_trimmed() {
        assert_eq!(read_with("/assets/").unwrap().url_path, "/assets");
        assert!(!read_with("").unwrap().enabled());
        for bad in ["static", "/", "/st{x}", "/a b", "/a\"b", "/<x>"] {
            let error = read_with(bad).unwrap_err().to_string();
            assert!(error.contains("STATIC_URL_PATH"), "{bad}: {error}");
        }
        let none = read(&Config::builder(Environment::Test).build()).unwrap();
        assert_eq!(none, StaticConfig::default());
    }
}
