//! [`MailConfig`]: the `MAIL_*` keys, named like Flask-Mail's, with their
//! defaults and checks.

use serde::{Deserialize, Serialize};
use unchained::config::{Config, ConfigDefaults, Environment};

/// How mail leaves the app (`MAIL_TRANSPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TransportKind {
    /// Through the SMTP server `MAIL_SERVER:MAIL_PORT` (production default).
    Smtp,
    /// One `.eml` file per message under `MAIL_FILE_DIR`, announced in the
    /// log (development default).
    File,
    /// Kept in memory for tests to read (test default).
    Outbox,
}

impl TransportKind {
    /// The name written in `MAIL_TRANSPORT`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Smtp => "smtp",
            TransportKind::File => "file",
            TransportKind::Outbox => "outbox",
        }
    }
}

/// How the SMTP connection is encrypted, from `MAIL_USE_TLS` and
/// `MAIL_USE_SSL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// `MAIL_USE_TLS`: a plain connection upgraded with STARTTLS, which
    /// must succeed (usually port 587).
    StartTls,
    /// `MAIL_USE_SSL`: TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// Neither: no encryption, only for a relay on the same host or a test
    /// server.
    None,
}

/// The mail bundle's options. Each key is written once, here: the name on
/// the field, the default in [`MailConfig::defaults_for`]; the bundle's
/// config defaults are that value serialized ([`defaults`]).
#[derive(Clone, Deserialize, Serialize)]
pub struct MailConfig {
    /// `MAIL_TRANSPORT`: `smtp`, `file` or `outbox`.
    #[serde(rename = "MAIL_TRANSPORT")]
    pub transport: TransportKind,
    /// `MAIL_FILE_DIR`: folder of the file transport, relative to the
    /// project root.
    #[serde(rename = "MAIL_FILE_DIR")]
    pub file_dir: String,
    /// `MAIL_SERVER`: SMTP host.
    #[serde(rename = "MAIL_SERVER")]
    pub server: String,
    /// `MAIL_PORT`: SMTP port.
    #[serde(rename = "MAIL_PORT")]
    pub port: u16,
    /// `MAIL_USE_TLS`: upgrade the connection with STARTTLS (required).
    #[serde(rename = "MAIL_USE_TLS")]
    pub use_tls: bool,
    /// `MAIL_USE_SSL`: TLS from the first byte.
    #[serde(rename = "MAIL_USE_SSL")]
    pub use_ssl: bool,
    /// `MAIL_USERNAME`: SMTP login; empty for none.
    #[serde(rename = "MAIL_USERNAME")]
    pub username: String,
    /// `MAIL_PASSWORD`: SMTP password (masked by `unchained config`, never
    /// logged).
    #[serde(rename = "MAIL_PASSWORD")]
    pub password: String,
    /// `MAIL_DEFAULT_SENDER`: the `From` of messages that name none.
    #[serde(rename = "MAIL_DEFAULT_SENDER")]
    pub default_sender: String,
    /// `MAIL_SECURITY`: the security bundle's former key (`starttls`,
    /// `tls` or `none`), still read when `MAIL_USE_TLS` and
    /// `MAIL_USE_SSL` are not set; no default.
    #[serde(rename = "MAIL_SECURITY")]
    pub legacy_security: Option<String>,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("file_dir", &self.file_dir)
            .field("server", &self.server)
            .field("port", &self.port)
            .field("use_tls", &self.use_tls)
            .field("use_ssl", &self.use_ssl)
            .field("username", &mask(&self.username))
            .field("password", &mask(&self.password))
            .field("default_sender", &self.default_sender)
            .field("legacy_security", &self.legacy_security)
            .finish()
    }
}

/// `"***"` for a set secret, `""` for an empty one.
fn mask(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "***" }
}

/// Keys whose values are secrets (`unchained config` masks them).
pub const SECRET_KEYS: &[&str] = &["MAIL_PASSWORD", "MAIL_USERNAME"];

/// The bundle's config defaults for `env`.
pub fn defaults(env: Environment) -> ConfigDefaults {
    ConfigDefaults::from_struct(&MailConfig::defaults_for(env))
}

impl MailConfig {
    /// Every option at its default for `env`. Unlike Flask-Mail (port 25,
    /// no TLS), SMTP defaults to the submission port with STARTTLS
    /// required, so that a production app that sets only `MAIL_SERVER`
    /// never sends a password in clear.
    pub fn defaults_for(env: Environment) -> Self {
        MailConfig {
            transport: match env {
                Environment::Production => TransportKind::Smtp,
                Environment::Test => TransportKind::Outbox,
                _ => TransportKind::File,
            },
            file_dir: "tmp/mail".into(),
            server: "localhost".into(),
            port: 587,
            use_tls: true,
            use_ssl: false,
            username: String::new(),
            password: String::new(),
            default_sender: "no-reply@localhost".into(),
            legacy_security: None,
        }
    }

    /// Reads and checks the options from the merged config. The former
    /// `MAIL_SECURITY` key is turned into `MAIL_USE_TLS` / `MAIL_USE_SSL`
    /// here; see [`legacy_warning`](Self::legacy_warning).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut typed: MailConfig = config.extract()?;
        typed.apply_legacy_security(config)?;
        typed.validate(config)?;
        Ok(typed)
    }

    /// `MAIL_SECURITY` (the security bundle's former key) as the two
    /// Flask-Mail keys, unless either of those is set too, which is an
    /// error naming both.
    fn apply_legacy_security(&mut self, config: &Config) -> anyhow::Result<()> {
        let Some(value) = self.legacy_security.clone() else {
            return Ok(());
        };
        for key in ["MAIL_USE_TLS", "MAIL_USE_SSL"] {
            if config.is_explicit(key) {
                anyhow::bail!(
                    "MAIL_SECURITY = {value:?} (from {}) and {key} (from {}) are both set: MAIL_SECURITY is \
                     replaced by MAIL_USE_TLS / MAIL_USE_SSL; remove MAIL_SECURITY",
                    config.source_of("MAIL_SECURITY"),
                    config.source_of(key)
                );
            }
        }
        (self.use_tls, self.use_ssl) = match value.trim().to_ascii_lowercase().as_str() {
            "starttls" => (true, false),
            "tls" => (false, true),
            "none" => (false, false),
            _ => anyhow::bail!(
                "MAIL_SECURITY = {value:?} (from {}) is not a choice, and the key is replaced: remove it and \
                 set MAIL_USE_TLS = true (STARTTLS) or MAIL_USE_SSL = true (implicit TLS), or both false \
                 for no encryption",
                config.source_of("MAIL_SECURITY")
            ),
        };
        Ok(())
    }

    /// The deprecation notice for a set `MAIL_SECURITY`, if any: the
    /// service logs it once when it is built.
    pub fn legacy_warning(&self) -> Option<String> {
        self.legacy_security.as_ref().map(|value| {
            format!(
                "MAIL_SECURITY = {value:?} is deprecated: write MAIL_USE_TLS = {} and MAIL_USE_SSL = {} instead",
                self.use_tls, self.use_ssl
            )
        })
    }

    /// Checks values that parse but make no sense; errors name the key,
    /// where its value came from and the fix.
    pub fn validate(&self, config: &Config) -> anyhow::Result<()> {
        if self.use_tls && self.use_ssl {
            anyhow::bail!(
                "MAIL_USE_TLS (from {}) and MAIL_USE_SSL (from {}) are both true: set one of them to false; \
                 MAIL_USE_SSL is TLS from the first byte (usually port 465), MAIL_USE_TLS is STARTTLS \
                 (usually port 587)",
                config.source_of("MAIL_USE_TLS"),
                config.source_of("MAIL_USE_SSL")
            );
        }
        if let Err(e) = crate::address::check("MAIL_DEFAULT_SENDER", &self.default_sender) {
            anyhow::bail!("{e} (from {})", config.source_of("MAIL_DEFAULT_SENDER"));
        }
        match self.transport {
            TransportKind::Smtp if self.server.trim().is_empty() => anyhow::bail!(
                "MAIL_SERVER is empty (from {}) but MAIL_TRANSPORT is \"smtp\": set it to the SMTP host, \
                 e.g. \"smtp.example.com\"",
                config.source_of("MAIL_SERVER")
            ),
            TransportKind::Smtp if self.port == 0 => anyhow::bail!(
                "MAIL_PORT is 0 (from {}): set the SMTP port, e.g. 587 (STARTTLS) or 465 (MAIL_USE_SSL)",
                config.source_of("MAIL_PORT")
            ),
            TransportKind::File if self.file_dir.trim().is_empty() => anyhow::bail!(
                "MAIL_FILE_DIR is empty (from {}) but MAIL_TRANSPORT is \"file\": set a folder, e.g. \"tmp/mail\"",
                config.source_of("MAIL_FILE_DIR")
            ),
            TransportKind::Outbox if config.env().is_production() => anyhow::bail!(
                "MAIL_TRANSPORT = \"outbox\" (from {}) in production keeps every message in memory and sends \
                 none: set MAIL_TRANSPORT = \"smtp\" and MAIL_SERVER",
                config.source_of("MAIL_TRANSPORT")
            ),
            _ => Ok(()),
        }
    }

    /// The connection's encryption.
    pub fn security(&self) -> SmtpSecurity {
        if self.use_ssl {
            SmtpSecurity::Implicit
        } else if self.use_tls {
            SmtpSecurity::StartTls
        } else {
            SmtpSecurity::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: Environment, pairs: &[(&str, serde_json::Value)]) -> Config {
        let mut builder = Config::builder(env).defaults("unchained.bundles.mail", defaults(env));
        for (key, value) in pairs {
            builder = builder.set(key, value.clone());
        }
        builder.build()
    }

    fn error(env: Environment, pairs: &[(&str, serde_json::Value)]) -> String {
        MailConfig::from_config(&config(env, pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_transport_follows_the_environment() {
        let of = |env| {
            MailConfig::from_config(&config(env, &[]))
                .unwrap()
                .transport
        };
        assert_eq!(of(Environment::Production), TransportKind::Smtp);
        assert_eq!(of(Environment::Development), TransportKind::File);
        assert_eq!(of(Environment::Test), TransportKind::Outbox);
    }

    #[test]
    fn defaults_are_the_typed_config_serialized() {
        assert_eq!(defaults(Environment::Test).keys().count(), 9);
        assert_eq!(
            defaults(Environment::Test)
                .optional_keys()
                .collect::<Vec<_>>(),
            ["MAIL_SECURITY"]
        );
        let read = MailConfig::from_config(&config(Environment::Production, &[])).unwrap();
        assert_eq!(read.security(), SmtpSecurity::StartTls);
        assert_eq!(read.port, 587);
    }

    #[test]
    fn tls_and_ssl_together_name_both_keys() {
        let err = error(
            Environment::Test,
            &[("MAIL_USE_TLS", true.into()), ("MAIL_USE_SSL", true.into())],
        );
        assert!(
            err.contains("MAIL_USE_TLS") && err.contains("MAIL_USE_SSL"),
            "{err}"
        );
        assert!(
            err.contains("set by code"),
            "the error says where the values came from: {err}"
        );
        let ssl = MailConfig::from_config(&config(
            Environment::Test,
            &[
                ("MAIL_USE_TLS", false.into()),
                ("MAIL_USE_SSL", true.into()),
            ],
        ))
        .unwrap();
        assert_eq!(ssl.security(), SmtpSecurity::Implicit);
    }

    #[test]
    fn the_former_mail_security_key_is_still_read() {
        for (value, expected) in [
            ("starttls", SmtpSecurity::StartTls),
            ("tls", SmtpSecurity::Implicit),
            ("none", SmtpSecurity::None),
        ] {
            let read = MailConfig::from_config(&config(
                Environment::Test,
                &[("MAIL_SECURITY", value.into())],
            ))
            .unwrap();
            assert_eq!(read.security(), expected, "{value}");
            assert!(read.legacy_warning().unwrap().contains("MAIL_USE_TLS"));
        }
        let err = error(Environment::Test, &[("MAIL_SECURITY", "ssl".into())]);
        assert!(
            err.contains("MAIL_SECURITY = \"ssl\"") && err.contains("MAIL_USE_SSL = true"),
            "{err}"
        );
        let err = error(
            Environment::Test,
            &[
                ("MAIL_SECURITY", "none".into()),
                ("MAIL_USE_TLS", false.into()),
            ],
        );
        assert!(
            err.contains("MAIL_SECURITY") && err.contains("remove MAIL_SECURITY"),
            "{err}"
        );
    }

    #[test]
    fn nonsense_values_are_refused_with_the_fix() {
        let err = error(
            Environment::Test,
            &[("MAIL_DEFAULT_SENDER", "nobody".into())],
        );
        assert!(
            err.contains("MAIL_DEFAULT_SENDER") && err.contains("\"nobody\""),
            "{err}"
        );
        let err = error(
            Environment::Test,
            &[
                ("MAIL_TRANSPORT", "smtp".into()),
                ("MAIL_SERVER", "".into()),
            ],
        );
        assert!(err.contains("MAIL_SERVER is empty"), "{err}");
        let err = error(Environment::Test, &[("MAIL_TRANSPORT", "pigeon".into())]);
        assert!(
            err.contains("MAIL_TRANSPORT") || err.contains("pigeon"),
            "{err}"
        );
        let err = error(
            Environment::Production,
            &[("MAIL_TRANSPORT", "outbox".into())],
        );
        assert!(err.contains("in production"), "{err}");
    }

    #[test]
    fn debug_output_masks_the_credentials() {
        let read = MailConfig::from_config(&config(
            Environment::Test,
            &[
                ("MAIL_USERNAME", "ann".into()),
                ("MAIL_PASSWORD", "hunter2".into()),
            ],
        ))
        .unwrap();
        let shown = format!("{read:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("ann\""),
            "{shown}"
        );
    }
}
