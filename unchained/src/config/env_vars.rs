//! [`EnvVars`]: the `UNCHAINED_<KEY>` layer of the config.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::ENV_PREFIX;

/// Variables with the prefix that steer the tooling rather than the app.
pub const RESERVED: [&str; 3] = ["ENV", "PROJECT_ROOT", "QUIET_BUILD"];

/// Config values from environment variables `UNCHAINED_<KEY>`.
///
/// Values are read like TOML scalars: `true`, `42`, `1.5`, `[a, b]`;
/// anything else is a string.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    values: Dict,
}

impl EnvVars {
    /// The process's environment.
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Given `(name, value)` pairs (names with the prefix), e.g. in tests.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut values = Dict::new();
        for (name, value) in pairs {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_uppercase();
            if key.is_empty() || RESERVED.contains(&key.as_str()) {
                continue;
            }
            let parsed: Value = value.parse().unwrap_or_else(|_| Value::from(value.clone()));
            values.insert(key, parsed);
        }
        EnvVars { values }
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // Global: above every file section, whatever the environment.
        Ok(Profile::Global.collect(self.values.clone()))
    }
}
