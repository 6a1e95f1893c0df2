//! [`SmtpTransport`]: mail through an SMTP server, with lettre.

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::MailTransport;
use crate::config::{MailSecurity, SecurityConfig};

/// Sends through `MAIL_SERVER:MAIL_PORT` (pooled connections).
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport").finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// The transport the `MAIL_*` options describe. Nothing connects until
    /// the first message.
    pub fn from_config(config: &SecurityConfig) -> anyhow::Result<Self> {
        let host = config.mail_server.as_str();
        let builder = match config.mail_security {
            MailSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| anyhow::anyhow!("MAIL_SERVER {host:?}: {e}"))?,
            MailSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| anyhow::anyhow!("MAIL_SERVER {host:?}: {e}"))?,
            MailSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(config.mail_port);
        if !config.mail_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.mail_username.clone(),
                config.mail_password.clone(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
        })
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn deliver(&self, message: Message, to: &str, subject: &str) -> anyhow::Result<()> {
        self.inner
            .send(message)
            .await
            .map_err(|e| anyhow::anyhow!("SMTP delivery failed: {e}"))?;
        tracing::info!(target: "unchained_security::mail", to, subject, "email sent by SMTP");
        Ok(())
    }
}
