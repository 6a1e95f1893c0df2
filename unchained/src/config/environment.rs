//! The environment an app runs in, picked by `UNCHAINED_ENV`.

use std::fmt;
use std::str::FromStr;

use figment::Profile;

/// The environment an app runs in. Each has its own section in
/// `unchained.toml`; `UNCHAINED_ENV` picks one (default: development).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// Local development (the default).
    Development,
    /// A deployed app: refuses to start without a real `SECRET_KEY`.
    Production,
    /// Automated tests.
    Test,
}

impl Environment {
    /// Every environment, in the order docs list them.
    pub const ALL: [Environment; 3] = [
        Environment::Development,
        Environment::Production,
        Environment::Test,
    ];

    /// The name used in `UNCHAINED_ENV` and as the section of `unchained.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }

    /// Reads `UNCHAINED_ENV`; development when unset.
    pub fn from_env() -> Result<Self, UnknownEnvironment> {
        match std::env::var("UNCHAINED_ENV") {
            Ok(value) if !value.trim().is_empty() => value.parse(),
            _ => Ok(Environment::Development),
        }
    }

    /// The figment profile of this environment.
    pub fn profile(self) -> Profile {
        Profile::const_new(self.as_str())
    }

    /// Whether this is production.
    pub fn is_production(self) -> bool {
        self == Environment::Production
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `UNCHAINED_ENV` named an environment that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("UNCHAINED_ENV={0:?} is not an environment: use development, production or test")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            "test" | "testing" => Ok(Environment::Test),
            _ => Err(UnknownEnvironment(s.to_owned())),
        }
    }
}
