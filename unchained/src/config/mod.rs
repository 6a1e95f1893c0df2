//! Layered configuration, built with [`figment`].
//!
//! Lowest layer first:
//! 1. the core's own defaults ([`core_defaults`]), then each bundle's
//!    [`ConfigDefaults`], in bundle order;
//! 2. the `[default]` section of `unchained.toml`, then the section of the
//!    current [`Environment`] (`[development]`, `[production]`, `[test]`);
//! 3. environment variables `UNCHAINED_<KEY>`.
//!
//! Keys are Flask's UPPER_CASE names (`SECRET_KEY`, `SESSION_TYPE`, ...).
//! Each bundle reads its own typed struct with [`Config::extract`]:
//!
//! ```
//! use unchained::config::{Config, ConfigDefaults, Environment};
//!
//! #[derive(serde::Deserialize)]
//! struct Greeting {
//!     #[serde(rename = "GREETING")]
//!     greeting: String,
//! }
//!
//! let config = Config::builder(Environment::Test)
//!     .defaults("hello", ConfigDefaults::new().set("GREETING", "hi"))
//!     .build();
//! let typed: Greeting = config.extract().unwrap();
//! assert_eq!(typed.greeting, "hi");
//! ```

mod defaults;
mod env_vars;
mod environment;
mod error;
mod file;
mod secret;
pub mod web;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;

pub use defaults::ConfigDefaults;
pub use env_vars::EnvVars;
pub use environment::Environment;
pub use error::ConfigError;
pub use file::ConfigFile;
pub use secret::{CoreConfig, SecretKey, check_production_secret, mask_url_password};
pub use web::WebConfig;

/// The keys the core itself reads.
pub const CORE_KEYS: [&str; 17] = [
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    REQUEST_LOG,
    STATIC_URL_PATH,
    STATIC_MAX_AGE,
    // Response headers, CORS and error pages (`web`).
    web::CONTENT_TYPE_OPTIONS,
    web::FRAME_OPTIONS,
    web::DEPRECATED_FRAME_OPTIONS,
    web::REFERRER_POLICY,
    web::HSTS_MAX_AGE,
    web::HSTS_INCLUDE_SUBDOMAINS,
    web::CORS_ALLOWED_ORIGINS,
    web::CORS_ALLOWED_METHODS,
    web::CORS_ALLOWED_HEADERS,
    web::CORS_ALLOW_CREDENTIALS,
    web::CORS_MAX_AGE,
    web::ERROR_JSON_PATHS,
];

/// The core's key that turns the request log on: one line per request
/// (method, path, status, duration) at INFO under `unchained::request`.
pub const REQUEST_LOG: &str = "REQUEST_LOG";

/// The URL path static files are served under (default `/static`); `""`
/// turns them off. See the `static_files` module.
pub const STATIC_URL_PATH: &str = "STATIC_URL_PATH";

/// Seconds a browser may reuse a static file fetched without its
/// `static_url` hash (default 0: `Cache-Control: no-cache`).
pub const STATIC_MAX_AGE: &str = "STATIC_MAX_AGE";

/// The core's own defaults for `env`, the lowest layer of a project's
/// config, below every bundle's.
pub fn core_defaults(env: Environment) -> ConfigDefaults {
    // A line per request helps while developing; deployed apps usually
    // have a proxy that logs requests already, so it costs nothing there
    // unless asked for.
    let defaults = ConfigDefaults::new()
        .set(REQUEST_LOG, env == Environment::Development)
        .set(STATIC_URL_PATH, "/static")
        .set(STATIC_MAX_AGE, 0);
    web::add_defaults(defaults, env)
}

pub use crate::suggest::closest;

/// How `unchained config` names the source of the core's defaults.
const CORE_DEFAULTS_NAME: &str = "core defaults";

/// The prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "UNCHAINED_";

/// The merged config of an app: every layer, in order, for one environment.
#[derive(Clone)]
pub struct Config {
    figment: Figment,
    env: Environment,
    secret_keys: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The figment holds secrets: never print its values here.
        f.debug_struct("Config")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

/// One key of the merged config, as `unchained config` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// The key, e.g. `SESSION_TYPE`.
    pub key: String,
    /// The value as TOML-like text, secrets masked.
    pub display: String,
    /// Where the value came from: a bundle's defaults, a file section or an
    /// environment variable.
    pub source: String,
}

impl Config {
    /// Starts a config for `env`; add layers lowest first.
    pub fn builder(env: Environment) -> ConfigBuilder {
        ConfigBuilder {
            figment: Figment::new().select(env.profile()),
            env,
            secret_keys: Vec::new(),
        }
    }

    /// An empty config for the development environment (for examples and
    /// tests).
    pub fn empty() -> Self {
        Config::builder(Environment::Development).build()
    }

    /// The environment this config was built for.
    pub fn env(&self) -> Environment {
        self.env
    }

    /// The underlying figment, for advanced use.
    pub fn figment(&self) -> &Figment {
        &self.figment
    }

    /// Reads the whole config into a typed struct. Unknown keys are
    /// ignored, so each bundle reads only its own.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.figment.extract().map_err(ConfigError::from_figment)
    }

    /// Reads one key.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        self.figment
            .extract_inner(key)
            .map_err(ConfigError::from_figment)
    }

    /// Whether `key` has a value in any layer.
    pub fn contains(&self, key: &str) -> bool {
        self.figment.find_value(key).is_ok()
    }

    /// Whether `key` was set by the project (a config file, an environment
    /// variable or an override), not only by a bundle's or the core's
    /// defaults: a bundle whose default depends on other keys uses it to
    /// honour an explicit value as written.
    pub fn is_explicit(&self, key: &str) -> bool {
        let Ok(value) = self.figment.find_value(key) else {
            return false;
        };
        match self.figment.get_metadata(value.tag()) {
            Some(meta) => {
                !(meta.name.starts_with(defaults::BUNDLE_DEFAULTS_PREFIX)
                    || meta.name == CORE_DEFAULTS_NAME)
            }
            None => true,
        }
    }

    /// Every key of the merged config, sorted, with secrets masked and the
    /// source of each value.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        let data: Dict = self.figment.extract().unwrap_or_default();
        let mut entries: Vec<ConfigEntry> = data
            .iter()
            .map(|(key, value)| ConfigEntry {
                key: key.clone(),
                display: self.display_value(key, value),
                source: self.source_of(key),
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        entries
    }

    /// The source of `key`'s value, e.g. ``unchained.toml [development]``.
    pub fn source_of(&self, key: &str) -> String {
        let Ok(value) = self.figment.find_value(key) else {
            return "unset".to_owned();
        };
        let tag = value.tag();
        // figment's tags only remember the default and global profiles; a
        // value from a file's environment section comes back without one.
        let profile = tag.profile().unwrap_or_else(|| self.env.profile());
        match self.figment.get_metadata(tag) {
            Some(meta) => describe_source(meta, Some(&profile), key),
            None => "unknown".to_owned(),
        }
    }

    /// Whether `key` holds a secret that must never be printed.
    pub fn is_secret(&self, key: &str) -> bool {
        secret::is_secret_key(key) || self.secret_keys.iter().any(|k| k == key)
    }

    fn display_value(&self, key: &str, value: &Value) -> String {
        if self.is_secret(key) {
            return secret::mask(value);
        }
        secret::mask_url_password(&display(value))
    }
}

/// `environment variable UNCHAINED_X`, `unchained.toml [development]`,
/// `defaults of bundle Y`.
pub(crate) fn describe_source(
    meta: &figment::Metadata,
    profile: Option<&figment::Profile>,
    key: &str,
) -> String {
    if meta.name == "environment variables" {
        return format!("environment variable {ENV_PREFIX}{key}");
    }
    match &meta.source {
        Some(figment::Source::File(path)) => {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            match profile {
                Some(p) if p.is_custom() => format!("{file} [{}]", p.as_str()),
                Some(_) => format!("{file} [default]"),
                None => file,
            }
        }
        _ => meta.name.to_string(),
    }
}

/// Renders a figment value the way a user would write it in TOML.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(_, s) => format!("{s:?}"),
        Value::Char(_, c) => format!("{:?}", c.to_string()),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match n.to_f64() {
            Some(f) if n.to_i128().is_none() => f.to_string(),
            _ => n.to_i128().map(|i| i.to_string()).unwrap_or_default(),
        },
        Value::Empty(_, _) => "(empty)".to_owned(),
        Value::Dict(_, d) => {
            let inner: Vec<String> = d
                .iter()
                .map(|(k, v)| format!("{k} = {}", display(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        Value::Array(_, a) => {
            let inner: Vec<String> = a.iter().map(display).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// Builds a [`Config`] layer by layer, lowest first.
pub struct ConfigBuilder {
    figment: Figment,
    env: Environment,
    secret_keys: Vec<String>,
}

impl ConfigBuilder {
    /// Adds the core's own defaults ([`core_defaults`]); `unchained config`
    /// shows them as `core defaults`.
    pub fn core_defaults(mut self) -> Self {
        self.figment = self
            .figment
            .merge(core_defaults(self.env).into_named_provider(CORE_DEFAULTS_NAME.to_owned()));
        self
    }

    /// Adds a bundle's defaults.
    pub fn defaults(mut self, bundle: &str, defaults: ConfigDefaults) -> Self {
        self.figment = self.figment.merge(defaults.into_provider(bundle, self.env));
        self
    }

    /// Marks keys as secret (masked by `unchained config`).
    pub fn secret_keys<'a>(mut self, keys: impl IntoIterator<Item = &'a str>) -> Self {
        self.secret_keys.extend(keys.into_iter().map(str::to_owned));
        self
    }

    /// Adds the `[default]` and environment sections of a config file.
    pub fn file(mut self, file: &ConfigFile) -> Self {
        self.figment = self.figment.merge(file.clone());
        self
    }

    /// Adds environment variables `UNCHAINED_<KEY>` (`UNCHAINED_ENV` itself
    /// picks the environment and is not a config key).
    pub fn env_vars(self) -> Self {
        self.env_vars_from(EnvVars::from_process())
    }

    /// Adds the given environment variables (for tests).
    pub fn env_vars_from(mut self, vars: EnvVars) -> Self {
        self.figment = self.figment.merge(vars);
        self
    }

    /// Sets one value on top of every other layer (used by tests and the
    /// CLI's `--set`).
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = figment::value::Value::serialize(value)
            .unwrap_or_else(|e| figment::value::Value::from(format!("(unserializable: {e})")));
        self.figment = self.figment.merge(defaults::Overrides::new(key, value));
        self
    }

    /// Finishes the config.
    pub fn build(self) -> Config {
        Config {
            figment: self.figment,
            env: self.env,
            secret_keys: self.secret_keys,
        }
    }
}

/// Loads the merged config of the project at `root` for `env`:
/// `defaults` (one entry per bundle, in bundle order), then the project's
/// `unchained.toml`, then the environment.
pub fn load(
    root: &Path,
    env: Environment,
    defaults: impl IntoIterator<Item = (String, ConfigDefaults, &'static [&'static str])>,
) -> Result<Config, ConfigError> {
    Ok(builder_for(root, env, defaults)?.build())
}

/// The builder behind [`load`], for callers that add layers on top.
pub fn builder_for(
    root: &Path,
    env: Environment,
    defaults: impl IntoIterator<Item = (String, ConfigDefaults, &'static [&'static str])>,
) -> Result<ConfigBuilder, ConfigError> {
    let file = ConfigFile::load(&root.join(crate::project::MANIFEST))?;
    let mut builder = Config::builder(env).core_defaults();
    for (bundle, bundle_defaults, secrets) in defaults {
        builder = builder
            .defaults(&bundle, bundle_defaults)
            .secret_keys(secrets.iter().copied());
    }
    Ok(builder.file(&file).env_vars())
}

/// The path of a project's config file, for messages.
pub fn manifest_path(root: &Path) -> PathBuf {
    root.join(crate::project::MANIFEST)
}

#[cfg(test)]
mod tests;
