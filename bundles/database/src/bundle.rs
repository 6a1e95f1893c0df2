//! [`DatabaseBundle`]: config defaults, the connection service, the `db`
//! command and the pending-migrations warning of `unchained run`.

use unchained::Bundle;
use unchained::app::BuildContext;
use unchained::bundle::{BundleCli, ServeContext};
use unchained::config::{Config, ConfigDefaults, Environment};
use unchained::service::ServiceType;

use crate::config::{self, DatabaseConfig};
use crate::connect::connect;

/// The database bundle, `unchained.bundles.database`.
///
/// In `before_build` it opens the pool of `DATABASE_URL` and registers the
/// [`sea_orm::DatabaseConnection`] itself as a service: handlers use the
/// [`Db`](crate::Db) extractor, other bundles
/// `ctx.require::<sea_orm::DatabaseConnection>()` in their `before_build`.
/// In `before_serve` (`unchained run` only) it warns about migrations the
/// database has not applied ([`startup`](crate::startup)).
#[derive(Debug, Default, Clone, Copy)]
pub struct DatabaseBundle;

#[unchained::bundle]
#[async_trait::async_trait]
impl Bundle for DatabaseBundle {
    fn name(&self) -> &'static str {
        crate::BUNDLE_NAME
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        config::defaults(env)
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        let typed = DatabaseConfig::from_config(config)?;
        crate::connect::backend_of(&typed.url)?;
        Ok(())
    }

    fn cli(&self) -> Option<BundleCli> {
        Some(BundleCli::of::<crate::commands::DatabaseCommand>())
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<sea_orm::DatabaseConnection>()]
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let typed = DatabaseConfig::from_config(ctx.config())?;
        let conn = connect(&typed, ctx.project_root()).await?;
        ctx.insert(conn);
        Ok(())
    }

    async fn before_serve(&self, ctx: &mut ServeContext<'_>) -> anyhow::Result<()> {
        // before_build registered it, or the build failed before this.
        let Some(conn) = ctx.app().state().service::<sea_orm::DatabaseConnection>() else {
            return Ok(());
        };
        let outcome =
            crate::startup::pending_migrations_warning(conn, ctx.bundles(), ctx.config()).await;
        match outcome {
            Ok(Some(warning)) => ctx.warn(warning),
            Ok(None) => {}
            // The app may serve fine all the same: say so, do not stop it.
            Err(error) => ctx.warn(format!(
                "could not check the database for pending migrations: {error:#}"
            )),
        }
        Ok(())
    }
}
