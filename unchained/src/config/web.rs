//! [`WebConfig`]: the core's keys for what every response gets: the
//! default security headers, CORS and the error pages.
//!
//! Each key has a default in [`core_defaults`](super::core_defaults);
//! [`WebConfig::from_config`] reads them all once, when the app is built,
//! and refuses a wrong value with an error that names the key.

use http::{HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;

use super::error::InvalidValue;
use super::{Config, ConfigDefaults, ConfigError, Environment};

/// `X-Content-Type-Options`: `"nosniff"` (the default) or `""` (not sent).
pub const CONTENT_TYPE_OPTIONS: &str = "CONTENT_TYPE_OPTIONS";
/// Frame protection on HTML responses: `"DENY"` (the default),
/// `"SAMEORIGIN"` or `""` (no frame headers).
pub const FRAME_OPTIONS: &str = "FRAME_OPTIONS";
/// The security bundle's old name for [`FRAME_OPTIONS`], still read when
/// the project sets it and not `FRAME_OPTIONS` (deprecated).
pub const DEPRECATED_FRAME_OPTIONS: &str = "SECURITY_FRAME_OPTIONS";
/// `Referrer-Policy`: `"strict-origin-when-cross-origin"` (the default),
/// any other policy of the standard, or `""` (not sent).
pub const REFERRER_POLICY: &str = "REFERRER_POLICY";
/// `Strict-Transport-Security`'s `max-age`, in seconds: 31536000 (a year)
/// in production, 0 (not sent) elsewhere.
pub const HSTS_MAX_AGE: &str = "HSTS_MAX_AGE";
/// Whether HSTS covers subdomains too (`includeSubDomains`); default true.
pub const HSTS_INCLUDE_SUBDOMAINS: &str = "HSTS_INCLUDE_SUBDOMAINS";
/// The origins allowed to call the app from a browser (CORS); empty (the
/// default) turns CORS off, `["*"]` allows any origin.
pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
/// The methods allowed in cross-origin requests, or `["*"]`.
pub const CORS_ALLOWED_METHODS: &str = "CORS_ALLOWED_METHODS";
/// The request headers allowed in cross-origin requests, or `["*"]`.
pub const CORS_ALLOWED_HEADERS: &str = "CORS_ALLOWED_HEADERS";
/// Whether cross-origin requests may carry cookies; default false.
pub const CORS_ALLOW_CREDENTIALS: &str = "CORS_ALLOW_CREDENTIALS";
/// How long, in seconds, a browser may cache a preflight's answer; 0: no
/// `Access-Control-Max-Age` header.
pub const CORS_MAX_AGE: &str = "CORS_MAX_AGE";
/// Path prefixes whose error pages are always JSON problem details (an
/// API answers JSON even to a browser); default `["/api/"]`.
pub const ERROR_JSON_PATHS: &str = "ERROR_JSON_PATHS";

/// HSTS's default `max-age` in production: one year.
const HSTS_PRODUCTION_MAX_AGE: u64 = 31_536_000;

/// The policies `Referrer-Policy` accepts.
const REFERRER_POLICIES: [&str; 8] = [
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

/// Adds this module's defaults for `env` to the core's.
pub(crate) fn add_defaults(defaults: ConfigDefaults, env: Environment) -> ConfigDefaults {
    let hsts = if env == Environment::Production {
        HSTS_PRODUCTION_MAX_AGE
    } else {
        0
    };
    defaults
        .set(CONTENT_TYPE_OPTIONS, "nosniff")
        .set(FRAME_OPTIONS, "DENY")
        .set(REFERRER_POLICY, "strict-origin-when-cross-origin")
        .set(HSTS_MAX_AGE, hsts)
        .set(HSTS_INCLUDE_SUBDOMAINS, true)
        .set(CORS_ALLOWED_ORIGINS, Vec::<String>::new())
        .set(
            CORS_ALLOWED_METHODS,
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        )
        .set(CORS_ALLOWED_HEADERS, ["content-type", "authorization"])
        .set(CORS_ALLOW_CREDENTIALS, false)
        .set(CORS_MAX_AGE, 600)
        .set(ERROR_JSON_PATHS, ["/api/"])
}

/// Who may show the app's HTML pages in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePolicy {
    /// Nobody: `X-Frame-Options: DENY`, `frame-ancestors 'none'`.
    Deny,
    /// The app's own pages: `X-Frame-Options: SAMEORIGIN`,
    /// `frame-ancestors 'self'`.
    SameOrigin,
}

impl FramePolicy {
    /// The `X-Frame-Options` value.
    pub fn x_frame_options(self) -> &'static str {
        match self {
            FramePolicy::Deny => "DENY",
            FramePolicy::SameOrigin => "SAMEORIGIN",
        }
    }

    /// The `Content-Security-Policy` value that says the same.
    pub fn content_security_policy(self) -> &'static str {
        match self {
            FramePolicy::Deny => "frame-ancestors 'none'",
            FramePolicy::SameOrigin => "frame-ancestors 'self'",
        }
    }
}

/// `Strict-Transport-Security`, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hsts {
    /// `max-age`, in seconds (never 0 here: 0 turns HSTS off).
    pub max_age: u64,
    /// Whether `includeSubDomains` is added.
    pub include_subdomains: bool,
}

impl Hsts {
    /// The header's value, e.g. `max-age=31536000; includeSubDomains`.
    pub fn header_value(&self) -> String {
        if self.include_subdomains {
            format!("max-age={}; includeSubDomains", self.max_age)
        } else {
            format!("max-age={}", self.max_age)
        }
    }
}

/// A CORS list: everything (`["*"]`) or the values listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowList<T> {
    /// `["*"]`.
    Any,
    /// The values as written, checked.
    List(Vec<T>),
}

/// CORS, when [`CORS_ALLOWED_ORIGINS`] is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    /// The allowed origins (`scheme://host[:port]`).
    pub origins: AllowList<HeaderValue>,
    /// The allowed methods.
    pub methods: AllowList<Method>,
    /// The allowed request headers.
    pub headers: AllowList<HeaderName>,
    /// Whether credentials (cookies) are allowed.
    pub allow_credentials: bool,
    /// Seconds a preflight's answer may be cached; 0: not said.
    pub max_age: u64,
}

/// The core's response settings, read and checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebConfig {
    /// Whether `X-Content-Type-Options: nosniff` is sent.
    pub nosniff: bool,
    /// Frame protection on HTML responses; `None`: off.
    pub frame_policy: Option<FramePolicy>,
    /// The `Referrer-Policy` value; `None`: not sent.
    pub referrer_policy: Option<String>,
    /// HSTS; `None`: not sent.
    pub hsts: Option<Hsts>,
    /// CORS; `None`: off.
    pub cors: Option<CorsSettings>,
    /// Path prefixes whose error pages are JSON.
    pub error_json_paths: Vec<String>,
    /// What the config should change, e.g. a deprecated key still in use:
    /// logged as warnings when the app is built.
    pub warnings: Vec<String>,
}

impl WebConfig {
    /// The defaults for `env`, as a config with only the core's defaults
    /// reads them.
    pub fn defaults_for(env: Environment) -> Self {
        let config = super::Config::builder(env).core_defaults().build();
        // The core's own defaults are valid: a test holds them to it.
        WebConfig::from_config(&config).unwrap_or(WebConfig {
            nosniff: true,
            frame_policy: Some(FramePolicy::Deny),
            referrer_policy: Some("strict-origin-when-cross-origin".to_owned()),
            hsts: None,
            cors: None,
            error_json_paths: vec!["/api/".to_owned()],
            warnings: Vec::new(),
        })
    }

    /// Reads and checks every key; a key without a value (a config built
    /// without the core's defaults) gets its default for the config's
    /// environment. A wrong value is an error naming the key.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let defaults = add_defaults(ConfigDefaults::new(), config.env());
        let reader = Reader { config, defaults };
        let mut warnings = Vec::new();

        let nosniff = match reader.get::<String>(CONTENT_TYPE_OPTIONS)?.trim() {
            "" => false,
            v if v.eq_ignore_ascii_case("nosniff") => true,
            other => {
                return Err(reader.invalid(
                    CONTENT_TYPE_OPTIONS,
                    format!("{other:?} is not a value of X-Content-Type-Options: use \"nosniff\", or \"\" to send no header"),
                ));
            }
        };

        let frame_key =
            if !config.is_explicit(FRAME_OPTIONS) && config.is_explicit(DEPRECATED_FRAME_OPTIONS) {
                warnings.push(format!(
                "{DEPRECATED_FRAME_OPTIONS} is deprecated: rename it to {FRAME_OPTIONS}, which the \
                 core reads for every app"
            ));
                DEPRECATED_FRAME_OPTIONS
            } else {
                if config.is_explicit(DEPRECATED_FRAME_OPTIONS) {
                    warnings.push(format!(
                    "{DEPRECATED_FRAME_OPTIONS} is deprecated and ignored: {FRAME_OPTIONS} is set; \
                     remove {DEPRECATED_FRAME_OPTIONS}"
                ));
                }
                FRAME_OPTIONS
            };
        let frame_value: String = reader.get(frame_key)?;
        let frame_policy = match frame_value.trim() {
            "" => None,
            v if v.eq_ignore_ascii_case("DENY") => Some(FramePolicy::Deny),
            v if v.eq_ignore_ascii_case("SAMEORIGIN") => Some(FramePolicy::SameOrigin),
            other => {
                return Err(reader.invalid(
                    frame_key,
                    format!(
                        "{other:?} is not a frame policy: use \"DENY\", \"SAMEORIGIN\", or \"\" to \
                         send no frame headers"
                    ),
                ));
            }
        };

        let referrer: String = reader.get(REFERRER_POLICY)?;
        let referrer_policy = match referrer.trim().to_ascii_lowercase() {
            v if v.is_empty() => None,
            v if REFERRER_POLICIES.contains(&v.as_str()) => Some(v),
            _ => {
                return Err(reader.invalid(
                    REFERRER_POLICY,
                    format!(
                        "{referrer:?} is not a referrer policy: use one of {}, or \"\" to send no header",
                        REFERRER_POLICIES.join(", ")
                    ),
                ));
            }
        };

        let max_age: u64 = reader.get(HSTS_MAX_AGE)?;
        let include_subdomains: bool = reader.get(HSTS_INCLUDE_SUBDOMAINS)?;
        let hsts = (max_age > 0).then_some(Hsts {
            max_age,
            include_subdomains,
        });

        let cors = reader.cors()?;

        let error_json_paths: Vec<String> = reader.get(ERROR_JSON_PATHS)?;
        if let Some(bad) = error_json_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(reader.invalid(
                ERROR_JSON_PATHS,
                format!("{bad:?} is not a path prefix: each starts with /, e.g. \"/api/\""),
            ));
        }

        Ok(WebConfig {
            nosniff,
            frame_policy,
            referrer_policy,
            hsts,
            cors,
            error_json_paths,
            warnings,
        })
    }
}

/// Reads keys with the module's defaults under them.
struct Reader<'a> {
    config: &'a Config,
    defaults: ConfigDefaults,
}

impl Reader<'_> {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        if self.config.contains(key) {
            return self.config.get(key);
        }
        Config::builder(self.config.env())
            .defaults("core", self.defaults.clone())
            .build()
            .get(key)
    }

    fn invalid(&self, key: &str, problem: String) -> ConfigError {
        let source = self
            .config
            .contains(key)
            .then(|| self.config.source_of(key));
        ConfigError::Invalid(vec![InvalidValue {
            key: key.to_owned(),
            source,
            problem,
        }])
    }

    fn cors(&self) -> Result<Option<CorsSettings>, ConfigError> {
        let origins: Vec<String> = self.get(CORS_ALLOWED_ORIGINS)?;
        if origins.is_empty() {
            return Ok(None);
        }
        let allow_credentials: bool = self.get(CORS_ALLOW_CREDENTIALS)?;
        let origins = self.list(CORS_ALLOWED_ORIGINS, &origins, allow_credentials, |o| {
            check_origin(o).and_then(|o| HeaderValue::from_str(&o).map_err(|e| e.to_string()))
        })?;
        let methods: Vec<String> = self.get(CORS_ALLOWED_METHODS)?;
        let methods = self.list(CORS_ALLOWED_METHODS, &methods, allow_credentials, |m| {
            Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| "not an HTTP method".to_owned())
        })?;
        let headers: Vec<String> = self.get(CORS_ALLOWED_HEADERS)?;
        let headers = self.list(CORS_ALLOWED_HEADERS, &headers, allow_credentials, |h| {
            HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| "not a header name".to_owned())
        })?;
        let max_age: u64 = self.get(CORS_MAX_AGE)?;
        Ok(Some(CorsSettings {
            origins,
            methods,
            headers,
            allow_credentials,
            max_age,
        }))
    }

    /// A CORS list: `["*"]` alone (refused with credentials, which the
    /// CORS standard forbids with a wildcard), or values each `parse`
    /// accepts.
    fn list<T>(
        &self,
        key: &str,
        values: &[String],
        allow_credentials: bool,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<AllowList<T>, ConfigError> {
        if values.iter().any(|v| v.trim() == "*") {
            if values.len() > 1 {
                return Err(self.invalid(
                    key,
                    "\"*\" allows everything: list it alone, or list the values without it"
                        .to_owned(),
                ));
            }
            if allow_credentials {
                return Err(self.invalid(
                    key,
                    format!(
                        "\"*\" cannot be combined with {CORS_ALLOW_CREDENTIALS} = true (browsers \
                         refuse it): list the values, or turn credentials off"
                    ),
                ));
            }
            return Ok(AllowList::Any);
        }
        values
            .iter()
            .map(|v| parse(v).map_err(|problem| self.invalid(key, format!("{v:?}: {problem}"))))
            .collect::<Result<Vec<T>, _>>()
            .map(AllowList::List)
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, no path.
fn check_origin(origin: &str) -> Result<String, String> {
    let origin = origin.trim();
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("an origin is scheme://host[:port], e.g. \"https://example.com\"".to_owned());
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '@'])
        && rest.chars().all(|c| c.is_ascii_graphic());
    if !scheme_ok || !rest_ok {
        return Err(
            "an origin is scheme://host[:port] without a path, e.g. \"https://example.com\""
                .to_owned(),
        );
    }
    Ok(origin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(env: Environment, set: &[(&str, serde_json::Value)]) -> Result<WebConfig, String> {
        let mut builder = Config::builder(env).core_defaults();
        for (key, value) in set {
            builder = builder.set(key, value);
        }
        WebConfig::from_config(&builder.build()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_safe_and_hsts_is_for_production_only() {
        for env in [Environment::Development, Environment::Test] {
            let config = web(env, &[]).unwrap();
            assert!(config.nosniff);
            assert_eq!(config.frame_policy, Some(FramePolicy::Deny));
            assert_eq!(
                config.referrer_policy.as_deref(),
                Some("strict-origin-when-cross-origin")
            );
            assert_eq!(config.hsts, None, "{env}");
            assert_eq!(config.cors, None);
            assert!(config.warnings.is_empty());
        }
        let production = web(Environment::Production, &[]).unwrap();
        assert_eq!(
            production.hsts.map(|h| h.header_value()).as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
        // Without the core's defaults in the config: the same values.
        let bare = WebConfig::from_config(&Config::builder(Environment::Production).build());
        assert_eq!(bare.as_ref().ok(), Some(&production));
        assert_eq!(WebConfig::defaults_for(Environment::Production), production);
    }

    #[test]
    fn wrong_values_name_the_key() {
        use serde_json::json;
        for (key, value, expected) in [
            (CONTENT_TYPE_OPTIONS, json!("sniff"), "nosniff"),
            (FRAME_OPTIONS, json!("ALLOWALL"), "SAMEORIGIN"),
            (REFERRER_POLICY, json!("everywhere"), "no-referrer"),
            (HSTS_MAX_AGE, json!(-1), "expected"),
            (HSTS_MAX_AGE, json!("a year"), "expected"),
            (ERROR_JSON_PATHS, json!(["api"]), "starts with /"),
        ] {
            let error = web(Environment::Test, &[(key, value)]).unwrap_err();
            assert!(
                error.contains(key) && error.contains(expected),
                "{key}: {error}"
            );
        }
    }

    #[test]
    fn cors_is_off_by_default_and_refuses_a_wildcard_with_credentials() {
        use serde_json::json;
        let on = web(
            Environment::Test,
            &[(CORS_ALLOWED_ORIGINS, json!(["https://app.example"]))],
        )
        .unwrap();
        let cors = on.cors.expect("CORS on");
        assert_eq!(
            cors.origins,
            AllowList::List(vec![HeaderValue::from_static("https://app.example")])
        );
        assert!(!cors.allow_credentials);

        let any = web(Environment::Test, &[(CORS_ALLOWED_ORIGINS, json!(["*"]))]).unwrap();
        assert_eq!(any.cors.map(|c| c.origins), Some(AllowList::Any));

        let error = web(
            Environment::Test,
            &[
                (CORS_ALLOWED_ORIGINS, json!(["*"])),
                (CORS_ALLOW_CREDENTIALS, json!(true)),
            ],
        )
        .unwrap_err();
        assert!(
            error.contains(CORS_ALLOWED_ORIGINS) && error.contains(CORS_ALLOW_CREDENTIALS),
            "{error}"
        );
        let error = web(
            Environment::Test,
            &[
                (CORS_ALLOWED_ORIGINS, json!(["https://app.example"])),
                (CORS_ALLOWED_HEADERS, json!(["*"])),
                (CORS_ALLOW_CREDENTIALS, json!(true)),
            ],
        )
        .unwrap_err();
        assert!(error.contains(CORS_ALLOWED_HEADERS), "{error}");
        for (key, value) in [
            (CORS_ALLOWED_ORIGINS, json!(["app.example"])),
            (CORS_ALLOWED_ORIGINS, json!(["https://app.example/path"])),
            (CORS_ALLOWED_ORIGINS, json!(["*", "https://app.example"])),
            (CORS_ALLOWED_METHODS, json!(["GE T"])),
            (CORS_ALLOWED_HEADERS, json!(["bad header"])),
            (CORS_MAX_AGE, json!("ten minutes")),
            (CORS_ALLOW_CREDENTIALS, json!("yes please")),
        ] {
            let mut set = vec![(key, value)];
            if key != CORS_ALLOWED_ORIGINS {
                set.push((CORS_ALLOWED_ORIGINS, json!(["https://app.example"])));
            }
            let error = web(Environment::Test, &set).unwrap_err();
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn the_security_bundles_key_is_a_deprecated_alias() {
        use serde_json::json;
        let old = web(
            Environment::Test,
            &[(DEPRECATED_FRAME_OPTIONS, json!("SAMEORIGIN"))],
        )
        .unwrap();
        assert_eq!(old.frame_policy, Some(FramePolicy::SameOrigin));
        assert!(old.warnings[0].contains("deprecated"), "{:?}", old.warnings);
        let both = web(
            Environment::Test,
            &[
                (DEPRECATED_FRAME_OPTIONS, json!("SAMEORIGIN")),
                (FRAME_OPTIONS, json!("")),
            ],
        )
        .unwrap();
        assert_eq!(both.frame_policy, None);
        assert!(both.warnings[0].contains("ignored"), "{:?}", both.warnings);
        let error = web(
            Environment::Test,
            &[(DEPRECATED_FRAME_OPTIONS, json!("ALLOWALL"))],
        )
        .unwrap_err();
        assert!(error.contains(DEPRECATED_FRAME_OPTIONS), "{error}");
    }
}
