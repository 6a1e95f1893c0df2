//! [`ConfigDefaults`]: the values a bundle brings, lowest config layer.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::Environment;

/// Config values a bundle provides for one environment.
///
/// ```
/// use unchained::config::ConfigDefaults;
///
/// let defaults = ConfigDefaults::new()
///     .set("SESSION_TYPE", "sqlalchemy")
///     .set("PERMANENT_SESSION_LIFETIME", 31 * 24 * 3600);
/// assert!(defaults.contains("SESSION_TYPE"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigDefaults {
    values: Dict,
    /// Keys a bundle reads that have no default (from [`from_struct`](Self::from_struct)).
    optional: Vec<String>,
}

impl ConfigDefaults {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key = value`; `value` is anything serde can serialize.
    ///
    /// # Panics
    /// When `value` cannot be represented as a config value (a map with
    /// non-string keys): that is a bug in the bundle, found by its tests.
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = Value::serialize(value)
            .unwrap_or_else(|e| panic!("config default {key} cannot be serialized: {e}"));
        self.values.insert(key.to_owned(), value);
        self
    }

    /// Every field of `config` as a default, keyed by its serde name: a
    /// bundle's typed config struct, serialized with the same `rename`s it
    /// is read with, so each key is written once (name on the field,
    /// default in the struct's constructor, docs on the field). Fields
    /// serialized as `None` have no default: they are recorded as
    /// [optional keys](Self::optional_keys) instead.
    ///
    /// ```
    /// use unchained::config::ConfigDefaults;
    ///
    /// #[derive(serde::Serialize)]
    /// struct GreetingConfig {
    ///     #[serde(rename = "GREETING_TEXT")]
    ///     text: String,
    ///     #[serde(rename = "GREETING_TIMES")]
    ///     times: u32,
    ///     #[serde(rename = "GREETING_SIGNATURE")]
    ///     signature: Option<String>,
    /// }
    ///
    /// let defaults = ConfigDefaults::from_struct(&GreetingConfig {
    ///     text: "hello".into(),
    ///     times: 1,
    ///     signature: None,
    /// });
    /// assert_eq!(defaults.keys().collect::<Vec<_>>(), ["GREETING_TEXT", "GREETING_TIMES"]);
    /// assert_eq!(defaults.optional_keys().collect::<Vec<_>>(), ["GREETING_SIGNATURE"]);
    /// ```
    ///
    /// # Panics
    /// When `config` does not serialize to a map of keys (e.g. it is a
    /// number): that is a bug in the bundle, found by its first test.
    pub fn from_struct(config: &impl serde::Serialize) -> Self {
        let value = Value::serialize(config)
            .unwrap_or_else(|e| panic!("a config struct cannot be serialized: {e}"));
        let Value::Dict(_, values) = value else {
            panic!("a config struct must serialize to a map of keys");
        };
        let (unset, values): (Dict, Dict) = values
            .into_iter()
            .partition(|(_, v)| matches!(v, Value::Empty(..)));
        ConfigDefaults {
            values,
            optional: unset.into_keys().collect(),
        }
    }

    /// Keys the bundle reads that have no default (e.g. an optional cookie
    /// domain): with the keys that have one, they tell a misspelt key from
    /// a real one.
    pub fn optional_keys(&self) -> impl Iterator<Item = &str> {
        self.optional.iter().map(String::as_str)
    }

    /// Whether `key` has a default.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The keys with a default.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub(crate) fn into_provider(self, bundle: &str, _env: Environment) -> BundleDefaults {
        self.into_named_provider(format!("{BUNDLE_DEFAULTS_PREFIX}{bundle}"))
    }

    /// A provider whose values `unchained config` attributes to `name`.
    pub(crate) fn into_named_provider(self, name: String) -> BundleDefaults {
        BundleDefaults {
            name,
            values: self.values,
        }
    }
}

/// How `unchained config` names the source of a bundle's defaults, before
/// the bundle's name; `Config::is_explicit` tells them from the project's
/// own values by it.
pub(crate) const BUNDLE_DEFAULTS_PREFIX: &str = "defaults of bundle ";

/// A figment provider for one bundle's defaults.
pub(crate) struct BundleDefaults {
    name: String,
    values: Dict,
}

impl Provider for BundleDefaults {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// One value set by code on top of every layer (tests, CLI flags).
pub(crate) struct Overrides {
    values: Dict,
}

impl Overrides {
    pub(crate) fn new(key: &str, value: Value) -> Self {
        let mut values = Dict::new();
        values.insert(key.to_owned(), value);
        Overrides { values }
    }
}

impl Provider for Overrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("set by code")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Global.collect(self.values.clone()))
    }
}
