//! [`SessionBundle`]: `unchained.bundles.session`, the session layer of an
//! Unchained app, built from config.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use unchained::App;
use unchained::axum::Router;
use unchained::bundle::BundleCli;
use unchained::config::{CoreConfig, mask_url_password};
use unchained::prelude::*;

use crate::command::SessionCommand;
use crate::config::{SessionConfig, SessionType};
use crate::id::SessionId;
use crate::manager::SessionManager;
use crate::signer::CookieSigner;
use crate::store::{
    FilesystemStore, MemoryStore, NullStore, SessionStore, SqlStore, session_table,
};

/// The bundle's name in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.session";

/// The jobs bundle's name: when listed, it runs the periodic cleanup.
const JOBS_BUNDLE: &str = "unchained.bundles.jobs";

/// The database bundle's name, needed by `SESSION_TYPE = "sqlalchemy"`.
pub const DATABASE_BUNDLE: &str = "unchained.bundles.database";

/// Server-side sessions for an Unchained app.
///
/// ```toml
/// bundles = ["unchained.bundles.database", "unchained.bundles.session", "app"]
///
/// [default]
/// SESSION_TYPE = "sqlalchemy"
/// SESSION_SQLALCHEMY_TABLE = "flask_sessions"
/// ```
///
/// In `before_build` it builds the store named by `SESSION_TYPE` and
/// registers a [`SessionManager`] service (other bundles require it in
/// their `before_build` with `ctx.require::<SessionManager>()`, handlers
/// take `Service<SessionManager>`); its [`layer`](Bundle::layer)
/// wraps the whole app so every handler can take a
/// [`Session`](crate::Session).
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionBundle;

/// `SESSION_TYPE`, or the default: `sqlalchemy` when the database bundle is
/// loaded, else `memory`.
fn resolve_type(config: &SessionConfig, has_database: bool) -> SessionType {
    config.session_type.unwrap_or(if has_database {
        SessionType::Sqlalchemy
    } else {
        SessionType::Memory
    })
}

/// The Redis store for `SESSION_TYPE = "redis"`.
#[cfg(feature = "redis")]
fn redis_store(session: &SessionConfig) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(Arc::new(crate::store::RedisStore::from_config(session)?))
}

/// Without the `redis` feature there is no Redis store: say how to get one.
#[cfg(not(feature = "redis"))]
fn redis_store(_: &SessionConfig) -> anyhow::Result<Arc<dyn SessionStore>> {
    bail!(
        "SESSION_TYPE = \"redis\" needs the Redis store, which this build of unchained-session leaves out\n\
         hint: build with the `unchained` command and this setting in place (e.g. `unchained build --release` \
         with UNCHAINED_SESSION_TYPE=redis set): it turns on the `redis` feature of unchained-session in \
         Cargo.toml; or choose another SESSION_TYPE"
    )
}

/// The session cookie's default name in production, where the cookie
/// can be a `__Host-` cookie (see the session bundle's docs).
pub const PRODUCTION_COOKIE_NAME: &str = "__Host-session";

/// The name used when [`PRODUCTION_COOKIE_NAME`] cannot apply: the one
/// Flask uses, and this bundle's default outside production.
const PLAIN_COOKIE_NAME: &str = "session";

/// The bundle's typed config, checked.
///
/// In production the defaults name the cookie `__Host-session`: browsers
/// accept a `__Host-` cookie only when it is `Secure`, has `Path=/` and no
/// `Domain`, so a sibling subdomain (or a man in the middle on plain http)
/// cannot plant one that this app would read. When the project's other
/// cookie settings rule that out (a `SESSION_COOKIE_DOMAIN`, another path,
/// `SESSION_COOKIE_SECURE = false`) the default falls back to `session`
/// rather than failing; a `SESSION_COOKIE_NAME` the project sets is always
/// used as written.
fn read_config(config: &Config) -> anyhow::Result<SessionConfig> {
    let mut typed: SessionConfig = config.extract()?;
    if typed.cookie_name == PRODUCTION_COOKIE_NAME
        && !config.is_explicit("SESSION_COOKIE_NAME")
        && (typed.cookie_domain.is_some() || typed.cookie_path != "/" || !typed.cookie_secure)
    {
        typed.cookie_name = PLAIN_COOKIE_NAME.to_owned();
    }
    typed.validate().map_err(anyhow::Error::msg)?;
    Ok(typed)
}

fn signer(config: &Config, session: &SessionConfig) -> anyhow::Result<Option<CookieSigner>> {
    if !session.use_signer {
        return Ok(None);
    }
    let core: CoreConfig = config.extract()?;
    let Some(key) = core.secret_key else {
        bail!(
            "SESSION_USE_SIGNER is on but SECRET_KEY is not set: set SECRET_KEY (e.g. UNCHAINED_SECRET_KEY)"
        );
    };
    let fallbacks: Vec<&str> = core
        .secret_key_fallbacks
        .iter()
        .map(|k| k.expose())
        .collect();
    CookieSigner::new(key.expose(), &fallbacks)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

/// How long the startup check waits for the store's answer: long enough
/// for a store across a network, short enough not to hold up a start.
const STARTUP_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where `store` keeps sessions, for the startup warning: the Redis URL or
/// the database URL with its password masked, or the folder.
fn store_location(store: &dyn SessionStore, session: &SessionConfig, config: &Config) -> String {
    match store.name() {
        "redis" => format!(
            "redis{} at {} (SESSION_REDIS)",
            if session.redis_cluster {
                " cluster"
            } else {
                ""
            },
            session
                .redis_urls()
                .into_iter()
                .map(mask_url_password)
                .collect::<Vec<_>>()
                .join(",")
        ),
        "sqlalchemy" => match config.get::<String>("DATABASE_URL") {
            Ok(url) => format!(
                "table {} at {} (DATABASE_URL)",
                session.sql_table,
                mask_url_password(&url)
            ),
            Err(_) => format!("table {} (DATABASE_URL)", session.sql_table),
        },
        "filesystem" => format!("folder {} (SESSION_FILE_DIR)", session.file_dir.display()),
        other => other.to_owned(),
    }
}

/// Whether the build already logged [`check_store`]'s warning, so that
/// `unchained run` does not print it a second time before serving.
struct StoreWarnedAtBuild(bool);

/// Reads one random id from `store` and returns a warning (naming the
/// store, its URL with the password masked, and the error) when that
/// fails; `None` when it works. Without it a store that is down
/// at startup is only noticed when requests start getting 503.
///
/// Only the stores that live outside this process are asked; the app
/// starts either way, as each request reconnects (see the stores' docs).
pub async fn check_store(
    store: &dyn SessionStore,
    session: &SessionConfig,
    config: &Config,
) -> Option<String> {
    if !matches!(store.name(), "redis" | "sqlalchemy" | "filesystem") {
        return None;
    }
    let probe = SessionId::generate(crate::config::MIN_ID_BYTES);
    let error = match tokio::time::timeout(STARTUP_CHECK_TIMEOUT, store.load(&probe)).await {
        Ok(Ok(_)) => return None,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {} s", STARTUP_CHECK_TIMEOUT.as_secs()),
    };
    Some(format!(
        "the session store failed a test read at startup: {} ({error}); the app starts anyway and \
         requests that use the session get 503 until the store works: start the store (for a missing \
         table, run `unchained db upgrade`), or fix SESSION_TYPE and its settings",
        store_location(store, session, config)
    ))
}

#[unchained::bundle]
impl Bundle for SessionBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        let production = env.is_production();
        ConfigDefaults::from_struct(&SessionConfig {
            // Secure cookies in production; plain http://localhost works
            // in development.
            cookie_secure: production,
            // A `__Host-` cookie in production (see `read_config`, which
            // falls back to "session" where one cannot work); development
            // keeps Flask's name, as its cookie is not `Secure`.
            cookie_name: if production {
                PRODUCTION_COOKIE_NAME
            } else {
                PLAIN_COOKIE_NAME
            }
            .to_owned(),
            ..SessionConfig::default()
        })
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        let session = read_config(config)?;
        signer(config, &session)?;
        if session.session_type == Some(SessionType::Redis) {
            redis_store(&session)?;
        }
        Ok(())
    }

    fn layer(&self, router: Router<AppState>, state: &AppState) -> Router<AppState> {
        match state.service::<SessionManager>() {
            Some(manager) => router.layer(manager.layer()),
            None => {
                // before_build always registers the manager or fails the
                // build, so this is only reachable by a custom app factory.
                tracing::error!(target: "unchained_session", "no SessionManager service: sessions are disabled");
                router
            }
        }
    }

    fn models(&self, ctx: &ModelContext) -> Vec<ModelDef> {
        // `models` is asked for by `unchained db`, so the database bundle is
        // loaded and an unset SESSION_TYPE means sqlalchemy.
        let Ok(session) = ctx.config.extract::<SessionConfig>() else {
            return Vec::new();
        };
        if resolve_type(&session, true) != SessionType::Sqlalchemy {
            return Vec::new();
        }
        let (table, indexes) = session_table(ctx.backend, &session.sql_table);
        vec![ModelDef { table, indexes }]
    }

    fn cli(&self) -> Option<BundleCli> {
        Some(BundleCli::of::<SessionCommand>())
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<SessionManager>()]
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let session = read_config(ctx.config())?;
        let has_database = ctx.has_bundle(DATABASE_BUNDLE);
        let kind = resolve_type(&session, has_database);
        let store: Arc<dyn SessionStore> = match kind {
            SessionType::Null => Arc::new(NullStore),
            SessionType::Memory => {
                if ctx.env().is_production() {
                    tracing::warn!(
                        target: "unchained_session",
                        "SESSION_TYPE is memory in production: sessions are lost on restart and not shared \
                         between processes; use sqlalchemy or redis"
                    );
                }
                Arc::new(MemoryStore::new())
            }
            SessionType::Filesystem => {
                let dir = ctx.project_root().join(&session.file_dir);
                Arc::new(FilesystemStore::new(dir, session.file_mode))
            }
            SessionType::Redis => redis_store(&session)?,
            SessionType::Sqlalchemy => {
                if !has_database {
                    bail!(
                        "SESSION_TYPE = \"sqlalchemy\" needs the database bundle: add \"{DATABASE_BUNDLE}\" \
                         before \"{BUNDLE_NAME}\" to bundles in unchained.toml"
                    );
                }
                let db = ctx.require::<sea_orm::DatabaseConnection>()?;
                Arc::new(SqlStore::new(db.clone(), &session.sql_table)?)
            }
        };
        let warned = match check_store(store.as_ref(), &session, ctx.config()).await {
            None => {
                tracing::info!(target: "unchained_session", store = kind.as_str(), "session store ready");
                false
            }
            Some(warning) => {
                tracing::warn!(target: "unchained_session", "{warning}");
                true
            }
        };
        ctx.insert(StoreWarnedAtBuild(warned));
        ctx.add_template_context(crate::flash::FlashContext);
        let signer = signer(ctx.config(), &session)?;
        let manager = SessionManager::new(session, store, signer).map_err(anyhow::Error::msg)?;
        ctx.insert(manager);
        Ok(())
    }

    /// Asks the store again just before `unchained run` listens: a store
    /// down now and fine at build is printed with the other warnings; one
    /// that was already reported at build is not printed twice (and one
    /// that came up since is said to answer now).
    async fn before_serve(&self, ctx: &mut ServeContext<'_>) -> anyhow::Result<()> {
        let Some(manager) = ctx.app().state().service::<SessionManager>().cloned() else {
            return Ok(());
        };
        let warned = ctx
            .app()
            .state()
            .service::<StoreWarnedAtBuild>()
            .is_some_and(|w| w.0);
        match check_store(manager.store().as_ref(), manager.config(), ctx.config()).await {
            // The build's log line already said it, moments ago.
            Some(_) if warned => {}
            Some(warning) => ctx.warn(warning),
            None if warned => {
                tracing::info!(target: "unchained_session", "the session store answers now")
            }
            None => {}
        }
        Ok(())
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        // With the jobs bundle listed, the cleanup is its `session.cleanup`
        // job (once per interval for the whole app), not a loop per process.
        if let Some(manager) = app.state().service::<SessionManager>()
            && !app.state().bundles().contains(&JOBS_BUNDLE)
            && let Some(every) = manager.config().cleanup_interval
        {
            manager.spawn_cleanup_task(every);
        }
        Ok(())
    }
}
