//! [`ConfigError`]: what went wrong with the config, and how to fix it.

use std::fmt;
use std::path::PathBuf;

use figment::error::Kind;

/// A config problem: each message names the key, the value and where it
/// came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The config file is not valid TOML.
    #[error("{} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A top-level section other than the known ones.
    #[error(
        "{}: unknown section [{section}]: config goes under [default], [development], [production] or [test]",
        path.display()
    )]
    UnknownSection {
        /// The file.
        path: PathBuf,
        /// The section's name.
        section: String,
    },
    /// One or more values have the wrong type or an unknown value.
    #[error("{}", Invalid(.0))]
    Invalid(Vec<InvalidValue>),
    /// A rule across values failed (e.g. production without a secret key).
    #[error("{0}")]
    Rule(String),
}

/// One key whose value could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidValue {
    /// The key, e.g. `SESSION_TYPE`.
    pub key: String,
    /// Where the value came from, e.g. `environment variable UNCHAINED_SESSION_TYPE`.
    pub source: Option<String>,
    /// What is wrong, e.g. ``unknown value "rediss", expected one of `memory`, `redis` ``.
    pub problem: String,
}

struct Invalid<'a>(&'a [InvalidValue]);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, value) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "invalid config value for {}", value.key)?;
            if let Some(source) = &value.source {
                write!(f, " (from {source})")?;
            }
            write!(f, ": {}", value.problem)?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// Turns figment's errors into messages that name key, value and source.
    pub fn from_figment(error: figment::Error) -> Self {
        ConfigError::Invalid(error.into_iter().map(invalid_value).collect())
    }
}

fn invalid_value(error: figment::Error) -> InvalidValue {
    let key = match (&error.kind, error.path.is_empty()) {
        (Kind::MissingField(field), true) => field.to_string(),
        (_, true) => "(config)".to_owned(),
        (_, false) => error.path.join("."),
    };
    let source = error
        .metadata
        .as_ref()
        .map(|meta| super::describe_source(meta, error.profile.as_ref(), &key));
    InvalidValue {
        key,
        source,
        problem: describe(&error.kind),
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => format!("found {actual}, expected {expected}"),
        Kind::InvalidValue(actual, expected) => format!("found {actual}, expected {expected}"),
        Kind::UnknownVariant(value, expected) => format!(
            "unknown value {value:?}, expected one of {}",
            expected
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::MissingField(field) => format!("missing required key {field}"),
        other => other.to_string(),
    }
}
