//! [`JobsBundle`]: `unchained.bundles.jobs`: the [`Jobs`] service from
//! config, the `worker` and `jobs` commands.

use unchained::App;
use unchained::bundle::BundleCli;
use unchained::prelude::*;

use crate::backend::Store;
use crate::command::JobsCommand;
use crate::config::{DATABASE_BUNDLE, JobsConfig, read_config, resolve_url};
use crate::service::Jobs;

/// The bundle's name in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.jobs";

/// Background jobs for an Unchained app.
///
/// ```toml
/// bundles = ["unchained.bundles.database", "unchained.bundles.jobs", "app"]
///
/// [default]
/// JOBS_MAX_ATTEMPTS = 5
/// JOBS_SCHEDULE = [{ job = "reports.daily", cron = "0 0 6 * * *" }]
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct JobsBundle;

#[unchained::bundle]
impl Bundle for JobsBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        ConfigDefaults::from_struct(&JobsConfig {
            // Tests see a job's effect before the request returns, without
            // a worker process.
            inline: env == Environment::Test,
            ..JobsConfig::default()
        })
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        read_config(config)?;
        Ok(())
    }

    fn cli(&self) -> Option<BundleCli> {
        Some(BundleCli::of::<JobsCommand>())
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<Jobs>()]
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let config = read_config(ctx.config())?;
        let has_database = ctx.has_bundle(DATABASE_BUNDLE);
        let url = resolve_url(ctx.config(), &config, has_database)?;
        let store = match url {
            Some(url) => {
                // The same database as SeaORM's: share its pool.
                let database_url = ctx.config().get::<String>("DATABASE_URL").ok();
                let shared = (database_url.as_deref() == Some(url.as_str()))
                    .then(|| ctx.get::<sea_orm::DatabaseConnection>())
                    .flatten();
                Some(Store::open(&url, shared, &config).await?)
            }
            None if config.inline => None,
            None => anyhow::bail!(
                "the jobs bundle has no job store: set JOBS_URL (postgres://..., sqlite:... or redis://...), list \
                 \"{DATABASE_BUNDLE}\" before \"{BUNDLE_NAME}\" to use DATABASE_URL, or set JOBS_INLINE = true"
            ),
        };
        ctx.insert(Jobs::new(store, config));
        Ok(())
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        if let Some(jobs) = app.state().service::<Jobs>() {
            jobs.attach(app.state().clone());
        }
        // After the build, so the mail bundle's place in the list does not
        // matter: its `Mail` exists by now, if the app has one.
        crate::mail_job::defer_mail(app.state())?;
        Ok(())
    }
}
