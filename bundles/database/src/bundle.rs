//! [`DatabaseBundle`]: config defaults, the connection service and the
//! `db` command.

use clap::{ArgMatches, Command};
use unchained::Bundle;
use unchained::app::BuildContext;
use unchained::command::CommandContext;
use unchained::config::{Config, ConfigDefaults, Environment};

use crate::config::{self, DatabaseConfig};
use crate::connect::connect;

/// The database bundle, `unchained.bundles.database`.
///
/// In `before_build` it opens the pool of `DATABASE_URL` and registers the
/// [`sea_orm::DatabaseConnection`] itself as a service: handlers use the
/// [`Db`](crate::Db) extractor, other bundles
/// `ctx.get::<sea_orm::DatabaseConnection>()`.
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

    fn commands(&self) -> Vec<Command> {
        vec![crate::commands::db_command()]
    }

    async fn run_command(
        &self,
        name: &str,
        matches: &ArgMatches,
        ctx: &CommandContext,
    ) -> anyhow::Result<()> {
        match name {
            "db" => crate::commands::run(matches, ctx).await,
            other => anyhow::bail!("the database bundle has no command `{other}`"),
        }
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let typed = DatabaseConfig::from_config(ctx.config())?;
        let conn = connect(&typed, ctx.project_root()).await?;
        ctx.insert(conn);
        Ok(())
    }
}
