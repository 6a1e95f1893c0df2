//! [`SecurityConfig`]: every option of the security bundle, read from the
//! merged app config under Flask-Security's names where one exists.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use unchained::config::{Config, ConfigDefaults, Environment};
use unchained::urls::Urls;

/// Longest accepted password, in characters (longer ones are refused
/// before hashing, so a huge body cannot tie up the hasher). It lives with
/// the options because `SECURITY_PASSWORD_LENGTH_MIN` is checked against
/// it; the password module enforces it.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// How many hashes run at once, and how long a request waits for a slot
/// (`SECURITY_HASH_CONCURRENCY`, `SECURITY_HASH_WAIT`); the config owns it
/// so that it is checked here, and the hasher (the password module) takes
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes running at once (at least 1).
    pub concurrency: usize,
    /// Longest wait for a slot; zero answers at once when all are taken.
    pub wait: Duration,
}

impl HashLimits {
    /// One slot per core the process may use, and a 5 second wait.
    pub fn for_this_machine() -> Self {
        HashLimits {
            concurrency: machine_parallelism(),
            wait: Duration::from_secs(5),
        }
    }
}

/// Most hashing slots (and threads) a hasher has.
pub const MAX_CONCURRENCY: usize = 1024;

/// The cores this process may use (`available_parallelism`, 1 when the
/// platform cannot say).
pub fn machine_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Smallest accepted `SECURITY_MAX_FORM_BYTES`: below it even a login
/// form would be refused.
pub const MIN_FORM_BYTES: usize = 1024;

/// Default `SECURITY_MAX_FORM_BYTES`: far above any login or settings
/// form, small enough that a flood of them costs little memory.
pub const DEFAULT_MAX_FORM_BYTES: usize = 64 * 1024;

/// Longest accepted `SECURITY_HASH_WAIT`, in seconds: longer waits are the
/// unbounded queue the limit is there to prevent.
pub const MAX_HASH_WAIT: u64 = 60;

/// The security bundle's options. Each key is written once, here: its
/// name on the field, its default in [`SecurityConfig::defaults_for`], and
/// the bundle's config defaults are that value serialized ([`defaults`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SecurityConfig {
    /// `SECURITY_REGISTERABLE`: `/register` is served.
    #[serde(rename = "SECURITY_REGISTERABLE")]
    pub registerable: bool,
    /// `SECURITY_CHANGEABLE`: `/change-password` is served.
    #[serde(rename = "SECURITY_CHANGEABLE")]
    pub changeable: bool,
    /// `SECURITY_RECOVERABLE`: `/forgot-password` and
    /// `/reset-password/{token}` are served.
    #[serde(rename = "SECURITY_RECOVERABLE")]
    pub recoverable: bool,
    /// `SECURITY_CONFIRMABLE`: new accounts confirm their email address.
    #[serde(rename = "SECURITY_CONFIRMABLE")]
    pub confirmable: bool,
    /// `SECURITY_LOGIN_WITHOUT_CONFIRMATION`: with confirmable on, an
    /// unconfirmed account may still log in.
    #[serde(rename = "SECURITY_LOGIN_WITHOUT_CONFIRMATION")]
    pub login_without_confirmation: bool,
    /// `SECURITY_PASSWORD_LENGTH_MIN`: shortest accepted new password, in
    /// characters.
    #[serde(rename = "SECURITY_PASSWORD_LENGTH_MIN")]
    pub password_length_min: usize,
    /// `SECURITY_PASSWORD_ARGON2_MEMORY_KIB`: argon2id memory cost.
    #[serde(rename = "SECURITY_PASSWORD_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: u32,
    /// `SECURITY_PASSWORD_ARGON2_ITERATIONS`: argon2id time cost.
    #[serde(rename = "SECURITY_PASSWORD_ARGON2_ITERATIONS")]
    pub argon2_iterations: u32,
    /// `SECURITY_PASSWORD_ARGON2_PARALLELISM`: argon2id lanes.
    #[serde(rename = "SECURITY_PASSWORD_ARGON2_PARALLELISM")]
    pub argon2_parallelism: u32,
    /// `SECURITY_LOGIN_URL`: where `auth_required` sends anonymous HTML
    /// requests (with `?next=`). This key and the `SECURITY_POST_*_VIEW`
    /// ones take a path (`/login`) or a route's name (`security.login`,
    /// the default), resolved when the app is built
    /// ([`resolve_urls`](Self::resolve_urls)).
    #[serde(rename = "SECURITY_LOGIN_URL")]
    pub login_url: String,
    /// `SECURITY_POST_LOGIN_VIEW`: redirect after login without `next`.
    #[serde(rename = "SECURITY_POST_LOGIN_VIEW")]
    pub post_login_view: String,
    /// `SECURITY_POST_LOGOUT_VIEW`: redirect after logout.
    #[serde(rename = "SECURITY_POST_LOGOUT_VIEW")]
    pub post_logout_view: String,
    /// `SECURITY_POST_REGISTER_VIEW`: redirect after registering.
    #[serde(rename = "SECURITY_POST_REGISTER_VIEW")]
    pub post_register_view: String,
    /// `SECURITY_POST_CHANGE_VIEW`: redirect after a password change.
    #[serde(rename = "SECURITY_POST_CHANGE_VIEW")]
    pub post_change_view: String,
    /// `SECURITY_POST_RESET_VIEW`: redirect after a password reset.
    #[serde(rename = "SECURITY_POST_RESET_VIEW")]
    pub post_reset_view: String,
    /// `SECURITY_POST_CONFIRM_VIEW`: redirect after confirming an email.
    #[serde(rename = "SECURITY_POST_CONFIRM_VIEW")]
    pub post_confirm_view: String,
    /// `SECURITY_RESET_PASSWORD_WITHIN`: reset links expire after this
    /// many seconds.
    #[serde(rename = "SECURITY_RESET_PASSWORD_WITHIN")]
    pub reset_password_within: u64,
    /// `SECURITY_CONFIRM_EMAIL_WITHIN`: confirmation links expire after
    /// this many seconds.
    #[serde(rename = "SECURITY_CONFIRM_EMAIL_WITHIN")]
    pub confirm_email_within: u64,
    /// `SECURITY_CSRF_ENABLED`: unsafe form requests need a CSRF token.
    #[serde(rename = "SECURITY_CSRF_ENABLED")]
    pub csrf_enabled: bool,
    /// `SECURITY_CSRF_EXEMPT_PATHS`: path prefixes the CSRF check skips
    /// (e.g. a webhook receiver).
    #[serde(rename = "SECURITY_CSRF_EXEMPT_PATHS")]
    pub csrf_exempt_paths: Vec<String>,
    /// `SECURITY_MAX_FORM_BYTES`: largest body the CSRF check reads to
    /// find a form's token; a larger one gets 413. A token sent in the
    /// `X-CSRF-Token` header lets a bigger body (an upload) through
    /// unread.
    #[serde(rename = "SECURITY_MAX_FORM_BYTES")]
    pub max_form_bytes: usize,
    /// `SECURITY_HASH_CONCURRENCY`: password hashes running at once; 0
    /// means one per core (`available_parallelism`).
    #[serde(rename = "SECURITY_HASH_CONCURRENCY")]
    pub hash_concurrency: usize,
    /// `SECURITY_HASH_WAIT`: seconds a request waits for a hashing slot
    /// before 503 with `Retry-After`; 0 answers at once.
    #[serde(rename = "SECURITY_HASH_WAIT")]
    pub hash_wait: u64,
    /// `SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT`: password attempts (login
    /// and change-password) for one email within the window before
    /// further attempts get 429; 0 turns it off. Counted in the
    /// `login_attempts` table, so the limit holds across processes.
    #[serde(rename = "SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT")]
    pub attempts_per_account: u32,
    /// `SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS`: password attempts from one
    /// client address (IPv6: one /64 prefix) within the window; 0 turns
    /// it off.
    #[serde(rename = "SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS")]
    pub attempts_per_address: u32,
    /// `SECURITY_LOGIN_THROTTLE_WINDOW`: the window, in seconds.
    #[serde(rename = "SECURITY_LOGIN_THROTTLE_WINDOW")]
    pub throttle_window: u64,
    /// `SECURITY_CLIENT_ADDRESS_HEADER`: header set by a trusted reverse
    /// proxy that carries the client address (its last value is used),
    /// e.g. `X-Forwarded-For`; empty means the TCP peer address.
    #[serde(rename = "SECURITY_CLIENT_ADDRESS_HEADER")]
    pub client_address_header: String,
    /// `SECURITY_FRAME_OPTIONS`: deprecated alias of the core's
    /// `FRAME_OPTIONS`, which adds frame protection to every app's HTML
    /// (with or without this bundle). No default: when the project sets
    /// it and not `FRAME_OPTIONS`, the core uses its value (`"DENY"`,
    /// `"SAMEORIGIN"` or `""`) and logs a deprecation warning.
    #[serde(rename = "SECURITY_FRAME_OPTIONS")]
    pub frame_options: Option<String>,
    /// `SECURITY_EXTERNAL_URL`: scheme and host that links in emails start
    /// with, e.g. `https://example.com`. Never taken from the request's
    /// `Host` header.
    #[serde(rename = "SECURITY_EXTERNAL_URL")]
    pub external_url: String,
    /// `SECURITY_EMAIL_SENDER`: the `From` address of the bundle's mail;
    /// unset, the mail bundle's `MAIL_DEFAULT_SENDER`. How mail is sent
    /// (`MAIL_SERVER`, `MAIL_TRANSPORT`, ...) is the mail bundle's config
    /// (`unchained_mail::MailConfig`), read whether or not that bundle is
    /// listed.
    #[serde(rename = "SECURITY_EMAIL_SENDER")]
    pub email_sender: Option<String>,
    /// The URL prefix the bundle's routes are mounted at
    /// (`SECURITY_URL_PREFIX`, read by the core): `""` or e.g. `/auth`.
    /// Not a key of its own: [`resolve_urls`](Self::resolve_urls) sets it.
    #[serde(skip)]
    pub url_prefix: String,
}

/// Path prefix of the JSON API, which refuses anything but JSON itself,
/// below the bundle's URL prefix (see [`SecurityConfig::is_api_path`]).
pub const API_PREFIX: &str = "/api/v1/auth/";

/// The keys that hold a redirect target: a path or a route's name.
pub const REDIRECT_KEYS: [&str; 7] = [
    "SECURITY_LOGIN_URL",
    "SECURITY_POST_LOGIN_VIEW",
    "SECURITY_POST_LOGOUT_VIEW",
    "SECURITY_POST_REGISTER_VIEW",
    "SECURITY_POST_CHANGE_VIEW",
    "SECURITY_POST_RESET_VIEW",
    "SECURITY_POST_CONFIRM_VIEW",
];

/// The bundle's own config defaults for `env` (the `SECURITY_*` keys).
pub fn defaults(env: Environment) -> ConfigDefaults {
    ConfigDefaults::from_struct(&SecurityConfig::defaults_for(env))
}

/// [`defaults`] and the mail bundle's (`MAIL_*`): what the bundle
/// declares, since it sends mail with or without the mail bundle listed.
pub fn defaults_with_mail(env: Environment) -> ConfigDefaults {
    /// Both structs as one map of keys.
    #[derive(Serialize)]
    struct Both {
        #[serde(flatten)]
        security: SecurityConfig,
        #[serde(flatten)]
        mail: unchained_mail::MailConfig,
    }
    ConfigDefaults::from_struct(&Both {
        security: SecurityConfig::defaults_for(env),
        mail: unchained_mail::MailConfig::defaults_for(env),
    })
}

impl SecurityConfig {
    /// Every option at its default for `env`.
    pub fn defaults_for(env: Environment) -> Self {
        let production = env.is_production();
        SecurityConfig {
            registerable: false,
            changeable: false,
            recoverable: false,
            confirmable: false,
            login_without_confirmation: false,
            password_length_min: 8,
            // OWASP's recommended argon2id minimum: 19 MiB, 2 passes, 1 lane.
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            // Names, so that they follow SECURITY_URL_PREFIX.
            login_url: "security.login".into(),
            post_login_view: "/".into(),
            post_logout_view: "/".into(),
            post_register_view: "/".into(),
            post_change_view: "/".into(),
            post_reset_view: "security.login".into(),
            post_confirm_view: "security.login".into(),
            reset_password_within: 3_600,
            confirm_email_within: 5 * 86_400,
            csrf_enabled: true,
            csrf_exempt_paths: Vec::new(),
            // A login or account form is well under 1 KiB; 64 KiB leaves
            // room for app forms with long text fields.
            max_form_bytes: DEFAULT_MAX_FORM_BYTES,
            hash_concurrency: 0,
            hash_wait: 5,
            attempts_per_account: 5,
            attempts_per_address: 30,
            throttle_window: 900,
            client_address_header: String::new(),
            // Deprecated: the core's FRAME_OPTIONS has the default.
            frame_options: None,
            // Links in mail need the real address in production: no guess.
            external_url: if production {
                String::new()
            } else {
                "http://localhost:5000".into()
            },
            // MAIL_DEFAULT_SENDER unless set.
            email_sender: None,
            url_prefix: String::new(),
        }
    }
}

impl SecurityConfig {
    /// Reads and checks the options from the merged config.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let typed: SecurityConfig = config.extract()?;
        typed.validate()?;
        Ok(typed)
    }

    /// Checks values that parse but make no sense; the error names the key
    /// and the fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.password_length_min == 0 {
            anyhow::bail!(
                "SECURITY_PASSWORD_LENGTH_MIN is 0: set it to at least 1 (8 or more is advised)"
            );
        }
        if self.password_length_min > MAX_PASSWORD_CHARS {
            anyhow::bail!(
                "SECURITY_PASSWORD_LENGTH_MIN is {}, above the longest accepted password ({}): lower it",
                self.password_length_min,
                MAX_PASSWORD_CHARS
            );
        }
        self.argon2_params().map_err(|e| {
            anyhow::anyhow!(
                "SECURITY_PASSWORD_ARGON2_* are not valid argon2 parameters ({e}): memory must be at least \
                 8 KiB per lane, iterations at least 1, parallelism 1 to 16777215"
            )
        })?;
        for (key, value) in REDIRECT_KEYS.into_iter().zip(self.redirect_targets()) {
            let is_name = !value.starts_with('/')
                && value.contains('.')
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !is_name && crate::redirect::safe_path(value).is_none() {
                anyhow::bail!(
                    "{key} = {value:?} is neither a path on this site nor a route's name: write a path \
                     starting with `/`, e.g. \"/\", or a name such as \"security.login\" (`unchained urls` \
                     lists them)"
                );
            }
        }
        if self.max_form_bytes < MIN_FORM_BYTES {
            anyhow::bail!(
                "SECURITY_MAX_FORM_BYTES is {}: set at least {MIN_FORM_BYTES} (the default is 65536)",
                self.max_form_bytes
            );
        }
        if self.hash_concurrency > MAX_CONCURRENCY {
            anyhow::bail!(
                "SECURITY_HASH_CONCURRENCY is {}: set at most {} (0 means one per core, the advised value)",
                self.hash_concurrency,
                MAX_CONCURRENCY
            );
        }
        if self.hash_wait > MAX_HASH_WAIT {
            anyhow::bail!(
                "SECURITY_HASH_WAIT is {} seconds: set at most {MAX_HASH_WAIT} (a few seconds is advised)",
                self.hash_wait
            );
        }
        self.frame_policy()?;
        if self.throttle_window == 0 {
            anyhow::bail!("SECURITY_LOGIN_THROTTLE_WINDOW is 0: set a window in seconds, e.g. 900");
        }
        if self.reset_password_within == 0 || self.confirm_email_within == 0 {
            anyhow::bail!(
                "SECURITY_RESET_PASSWORD_WITHIN and SECURITY_CONFIRM_EMAIL_WITHIN must be at least 1 second"
            );
        }
        if (self.recoverable || self.confirmable) && !self.external_url.starts_with("http") {
            anyhow::bail!(
                "SECURITY_EXTERNAL_URL is {:?} but SECURITY_RECOVERABLE or SECURITY_CONFIRMABLE sends links by \
                 email: set it to the site's address, e.g. \"https://example.com\"",
                self.external_url
            );
        }
        if let Some(sender) = &self.email_sender
            && let Err(e) = unchained_mail::address::check("SECURITY_EMAIL_SENDER", sender)
        {
            anyhow::bail!("{e}; or remove it to send as MAIL_DEFAULT_SENDER");
        }
        Ok(())
    }

    fn redirect_targets(&self) -> [&String; 7] {
        [
            &self.login_url,
            &self.post_login_view,
            &self.post_logout_view,
            &self.post_register_view,
            &self.post_change_view,
            &self.post_reset_view,
            &self.post_confirm_view,
        ]
    }

    /// Turns the redirect keys ([`REDIRECT_KEYS`]) that name a route into
    /// that route's path, from the app's routes, and records `url_prefix`,
    /// the prefix the bundle is mounted at (`urls.prefix(BUNDLE_NAME)`). A
    /// name that is no route's fails the build, naming the key and the
    /// nearest names.
    pub fn resolve_urls(&mut self, urls: &Urls, url_prefix: &str) -> anyhow::Result<()> {
        self.url_prefix = url_prefix.to_owned();
        let targets = [
            &mut self.login_url,
            &mut self.post_login_view,
            &mut self.post_logout_view,
            &mut self.post_register_view,
            &mut self.post_change_view,
            &mut self.post_reset_view,
            &mut self.post_confirm_view,
        ];
        for (key, target) in REDIRECT_KEYS.into_iter().zip(targets) {
            let path = urls.resolve_target(key, target)?;
            if crate::redirect::safe_path(&path).is_none() {
                anyhow::bail!(
                    "{key} = {target:?} leads to {path:?}, which is not a path on this site"
                );
            }
            *target = path;
        }
        Ok(())
    }

    /// Whether `path` is below the JSON API (`<prefix>/api/v1/auth/`),
    /// which takes JSON only and so needs no CSRF token.
    pub fn is_api_path(&self, path: &str) -> bool {
        path.strip_prefix(self.url_prefix.as_str())
            .is_some_and(|rest| rest.starts_with(API_PREFIX))
    }

    /// The argon2 parameters `SECURITY_PASSWORD_ARGON2_*` ask for; the
    /// config owns them so that [`validate`](Self::validate) can check them
    /// without depending on the hasher.
    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
    }

    /// The hashing limits `SECURITY_HASH_CONCURRENCY` and
    /// `SECURITY_HASH_WAIT` ask for (concurrency 0: one per core).
    pub fn hash_limits(&self) -> HashLimits {
        HashLimits {
            concurrency: match self.hash_concurrency {
                0 => machine_parallelism(),
                n => n,
            },
            wait: Duration::from_secs(self.hash_wait),
        }
    }

    /// `SECURITY_FRAME_OPTIONS` (deprecated) as the pair of headers it
    /// asks for: the `X-Frame-Options` value and the
    /// `Content-Security-Policy` one; `None` when unset or `""`; an error
    /// naming the key for any other value ([`validate`](Self::validate)
    /// refuses it at startup). The core sends them (`FRAME_OPTIONS`).
    pub fn frame_policy(&self) -> anyhow::Result<Option<(&'static str, &'static str)>> {
        let Some(value) = &self.frame_options else {
            return Ok(None);
        };
        let value = value.trim();
        if value.eq_ignore_ascii_case("DENY") {
            Ok(Some(("DENY", "frame-ancestors 'none'")))
        } else if value.eq_ignore_ascii_case("SAMEORIGIN") {
            Ok(Some(("SAMEORIGIN", "frame-ancestors 'self'")))
        } else if value.is_empty() {
            Ok(None)
        } else {
            anyhow::bail!(
                "SECURITY_FRAME_OPTIONS = {value:?} is not a frame policy: use \"DENY\", \"SAMEORIGIN\", \
                 or \"\" to send no frame headers (the key is deprecated: set FRAME_OPTIONS instead)"
            )
        }
    }

    /// The external URL without a trailing slash.
    pub fn external_base(&self) -> &str {
        self.external_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod defaults_tests {
    use super::*;

    #[test]
    fn defaults_are_the_typed_config_serialized() {
        for env in [Environment::Development, Environment::Production] {
            let config = Config::builder(env)
                .defaults("unchained.bundles.security", defaults(env))
                .build();
            let read: SecurityConfig = config.extract().unwrap();
            assert_eq!(
                format!("{read:?}"),
                format!("{:?}", SecurityConfig::defaults_for(env))
            );
        }
        // SECURITY_FRAME_OPTIONS (deprecated) and SECURITY_EMAIL_SENDER
        // (MAIL_DEFAULT_SENDER unless set) have no default; the MAIL_*
        // keys are the mail bundle's.
        assert_eq!(defaults(Environment::Test).keys().count(), 28);
        let with_mail = defaults_with_mail(Environment::Test);
        assert_eq!(with_mail.keys().count(), 28 + 9);
        assert!(
            with_mail.contains("MAIL_TRANSPORT") && with_mail.contains("SECURITY_REGISTERABLE")
        );
        let optional: Vec<&str> = with_mail.optional_keys().collect();
        for key in [
            "SECURITY_EMAIL_SENDER",
            "SECURITY_FRAME_OPTIONS",
            "MAIL_SECURITY",
        ] {
            assert!(optional.contains(&key), "{key} in {optional:?}");
        }
        assert!(
            defaults(Environment::Test)
                .optional_keys()
                .any(|k| k == "SECURITY_EMAIL_SENDER")
        );
    }
}
