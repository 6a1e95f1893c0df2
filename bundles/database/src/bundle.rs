//! [`DatabaseBundle`]: config defaults, the connection service and the
//! `db` command.

use unchained::Bundle;
use unchained::app::BuildContext;
use unchained::bundle::BundleCli;
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
}
