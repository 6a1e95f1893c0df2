//! [`SessionBundle`]: `unchained.bundles.session`, the session layer of an
//! Unchained app, built from config.

use std::sync::Arc;

use anyhow::bail;
use unchained::App;
use unchained::axum::Router;
use unchained::bundle::BundleCli;
use unchained::config::CoreConfig;
use unchained::prelude::*;

use crate::command::SessionCommand;
use crate::config::{SessionConfig, SessionType};
use crate::manager::SessionManager;
use crate::signer::CookieSigner;
use crate::store::{
    FilesystemStore, MemoryStore, NullStore, SessionStore, SqlStore, session_table,
};

/// The bundle's name in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.session";

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
    Ok(Arc::new(crate::store::RedisStore::new(
        &session.redis_url,
        &session.key_prefix,
    )?))
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

fn read_config(config: &Config) -> anyhow::Result<SessionConfig> {
    let typed: SessionConfig = config.extract()?;
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

#[unchained::bundle]
impl Bundle for SessionBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        ConfigDefaults::from_struct(&SessionConfig {
            // Secure cookies in production; plain http://localhost works
            // in development.
            cookie_secure: env.is_production(),
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
        tracing::info!(target: "unchained_session", store = kind.as_str(), "session store ready");
        let signer = signer(ctx.config(), &session)?;
        let manager = SessionManager::new(session, store, signer).map_err(anyhow::Error::msg)?;
        ctx.insert(manager);
        Ok(())
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        if let Some(manager) = app.state().service::<SessionManager>()
            && let Some(every) = manager.config().cleanup_interval
        {
            manager.spawn_cleanup_task(every);
        }
        Ok(())
    }
}
