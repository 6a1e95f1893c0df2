//! [`MailBundle`]: `unchained.bundles.mail`.

use unchained::bundle::BundleCli;
use unchained::prelude::*;

use crate::config::{MailConfig, SECRET_KEYS};
use crate::service::Mail;

/// The bundle's name in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.mail";

/// The [`Mail`] service, the `MAIL_*` keys and `unchained mail send-test`.
///
/// ```toml
/// bundles = ["unchained.bundles.mail", "app"]
///
/// [production]
/// MAIL_SERVER = "smtp.example.com"
/// MAIL_DEFAULT_SENDER = "Example <no-reply@example.com>"
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct MailBundle;

#[unchained::bundle]
impl Bundle for MailBundle {
    fn name(&self) -> &'static str {
        BUNDLE_NAME
    }

    fn config_defaults(&self, env: Environment) -> ConfigDefaults {
        crate::config::defaults(env)
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        SECRET_KEYS
    }

    fn validate_config(&self, config: &Config) -> anyhow::Result<()> {
        MailConfig::from_config(config)?;
        Ok(())
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<Mail>()]
    }

    fn cli(&self) -> Option<BundleCli> {
        Some(BundleCli::of::<crate::command::MailCommand>())
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        // Reuses a Mail an earlier bundle registered (the security bundle
        // builds one when it is listed first), so the app has one.
        Mail::shared(ctx)?;
        Ok(())
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        if let Some(mail) = app.state().service::<Mail>() {
            mail.attach_templates(app.state().templates());
        }
        Ok(())
    }
}
