//! [`SecurityBundle`]: `unchained.bundles.security`.

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;
use unchained::axum::Router;
use unchained::clap::{ArgMatches, Command};
use unchained::config::CoreConfig;
use unchained::prelude::*;
use unchained_session::SessionManager;

use crate::config::SecurityConfig;
use crate::mail::Mailer;
use crate::password::PasswordHasher;
use crate::service::Security;
use crate::tokens::TokenSigner;

/// The bundle's name in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.security";

/// Users, roles, login and account pages for an Unchained app.
///
/// ```toml
/// bundles = ["unchained.bundles.database", "unchained.bundles.session", "unchained.bundles.security", "app"]
///
/// [default]
/// SECURITY_REGISTERABLE = true
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SecurityBundle;

fn token_signer(config: &Config) -> anyhow::Result<TokenSigner> {
    let core: CoreConfig = config.extract()?;
    match core.secret_key {
        Some(key) => {
            let fallbacks: Vec<&str> = core
                .secret_key_fallbacks
                .iter()
                .map(|k| k.expose())
                .collect();
            Ok(TokenSigner::new(key.expose(), &fallbacks))
        }
        None if config.env().is_production() => {
            bail!(
                "SECRET_KEY is not set: the security bundle signs email links with it; set UNCHAINED_SECRET_KEY"
            )
        }
        None => {
            tracing::warn!(
                target: "unchained_security",
                "SECRET_KEY is not set: email links are signed with a random key and die when the app restarts"
            );
            Ok(TokenSigner::random())
        }
    }
}

#[unchained::bundle]
impl Bundle for SecurityBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn dependencies(&self) -> &'static [&'static str] {
        &["unchained.bundles.database", "unchained.bundles.session"]
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        crate::config::defaults(env)
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        &["MAIL_PASSWORD", "MAIL_USERNAME"]
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        SecurityConfig::from_config(config)?;
        Ok(())
    }

    fn routes(&self, ctx: &RouteContext) -> Routes {
        match SecurityConfig::from_config(ctx.config) {
            Ok(config) => crate::routes::routes(&config),
            // validate_config reports the error before any request.
            Err(_) => Routes::new(),
        }
    }

    fn layer(&self, router: Router<AppState>, state: &AppState) -> Router<AppState> {
        router.layer(unchained::axum::middleware::from_fn_with_state(
            state.clone(),
            crate::csrf::csrf_middleware,
        ))
    }

    fn models(&self, ctx: &ModelContext) -> Vec<ModelDef> {
        crate::models::model_defs(ctx)
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        crate::templates::TEMPLATES.to_vec()
    }

    fn commands(&self) -> Vec<Command> {
        crate::commands::commands()
    }

    async fn run_command(
        &self,
        name: &str,
        matches: &ArgMatches,
        ctx: &CommandContext,
    ) -> anyhow::Result<()> {
        let app = ctx.build_app().await?;
        let security = app
            .state()
            .service::<Security>()
            .context("the security bundle did not start: no Security service")?
            .clone();
        let mut out = std::io::stdout();
        crate::commands::run(
            &security,
            name,
            matches,
            &mut out,
            &mut crate::commands::TerminalPassword,
        )
        .await
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let config = SecurityConfig::from_config(ctx.config())?;
        let Some(db) = ctx.get::<DatabaseConnection>().cloned() else {
            bail!(
                "{BUNDLE_NAME} found no database connection: list \"unchained.bundles.database\" before it"
            );
        };
        let Some(sessions) = ctx.get::<SessionManager>().cloned() else {
            bail!(
                "{BUNDLE_NAME} found no session manager: list \"unchained.bundles.session\" before it"
            );
        };
        let params = crate::password::params(&config)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(params))
            .await
            .context("prepare the password hasher")??;
        let tokens = token_signer(ctx.config())?;
        let mailer = Mailer::from_config(&config, ctx.project_root())?;
        tracing::info!(target: "unchained_security", transport = mailer.transport_name(), "security bundle ready");
        ctx.insert(Security::new(config, hasher, tokens, mailer, db, sessions));
        Ok(())
    }
}
