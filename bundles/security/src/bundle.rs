//! [`SecurityBundle`]: `unchained.bundles.security`.

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;
use unchained::axum::Router;
use unchained::axum::extract::Request;
use unchained::axum::middleware::Next;
use unchained::axum::response::Response;
use unchained::bundle::BundleCli;
use unchained::config::CoreConfig;
use unchained::prelude::*;
use unchained::service::ServiceType;
use unchained_mail::{Mail, MailConfig};
use unchained_session::SessionManager;

use crate::config::SecurityConfig;
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

/// The middleware installed when the service is missing: answers 500.
async fn refuse_unstarted(_request: Request, _next: Next) -> Response {
    (
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
    )
        .into_response()
}

#[unchained::bundle]
impl Bundle for SecurityBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn dependencies(&self) -> &'static [&'static str] {
        &["unchained.bundles.database", "unchained.bundles.session"]
    }

    /// Its own keys and the mail bundle's `MAIL_*` ones: the bundle
    /// sends mail whether or not `unchained.bundles.mail` is listed, so
    /// the keys have their defaults either way (the same values).
    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        crate::config::defaults_with_mail(env)
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        unchained_mail::config::SECRET_KEYS
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        SecurityConfig::from_config(config)?;
        MailConfig::from_config(config)?;
        Ok(())
    }

    fn routes(&self, ctx: &RouteContext) -> Routes {
        match SecurityConfig::from_config(ctx.config) {
            Ok(config) => crate::routes::routes(&config),
            // validate_config reports the error before any request.
            Err(_) => Routes::new(),
        }
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<Security>()]
    }

    /// Wraps every route in [`security_middleware`](crate::middleware::security_middleware),
    /// given the service this bundle built (not the whole app state).
    fn layer(&self, router: Router<AppState>, state: &AppState) -> Router<AppState> {
        match state.service::<Security>() {
            Some(security) => router.layer(unchained::axum::middleware::from_fn_with_state(
                security.clone(),
                crate::middleware::security_middleware,
            )),
            // `before_build` registers the service and the build checks
            // `provides`, so this cannot happen; if it did, requests are
            // refused rather than served without CSRF checks.
            None => {
                tracing::error!(target: "unchained_security", "no Security service at layer time: refusing every request");
                router.layer(unchained::axum::middleware::from_fn(refuse_unstarted))
            }
        }
    }

    fn models(&self, ctx: &ModelContext) -> Vec<ModelDef> {
        crate::models::model_defs(ctx)
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        crate::templates::TEMPLATES.to_vec()
    }

    fn cli(&self) -> Option<BundleCli> {
        Some(BundleCli::of::<crate::commands::SecurityCommand>())
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let mut config = SecurityConfig::from_config(ctx.config())?;
        // A redirect key naming no route fails `unchained run` here.
        config.resolve_urls(ctx.urls(), ctx.urls().prefix(BUNDLE_NAME))?;
        // Both fail the build, naming the bundle to add, rather than a
        // request later.
        let db = ctx.require::<DatabaseConnection>()?.clone();
        let sessions = ctx.require::<SessionManager>()?.clone();
        let params = config
            .argon2_params()
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let hasher = tokio::task::spawn_blocking(move || PasswordHasher::new(params))
            .await
            .context("prepare the password hasher")??
            .with_limits(config.hash_limits());
        let tokens = token_signer(ctx.config())?;
        // The mail bundle's service when it is listed (and loaded
        // first); otherwise one built from the same MAIL_* keys and
        // registered, which a mail bundle listed later then reuses.
        let mail = Mail::shared(ctx)?;
        tracing::info!(target: "unchained_security", transport = mail.transport_name(), "security bundle ready");
        ctx.insert(Security::new(config, hasher, tokens, mail, db, sessions));
        ctx.add_template_context(crate::page_context::SecurityContext);
        Ok(())
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        // For `Mail::render` in the app's handlers when this bundle built
        // the service (the mail bundle does the same; the first wins).
        if let Some(mail) = app.state().service::<Mail>() {
            mail.attach_templates(app.state().templates());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_declares_the_service_it_registers() {
        assert_eq!(
            SecurityBundle.provides(),
            vec![ServiceType::of::<Security>()]
        );
    }
}
