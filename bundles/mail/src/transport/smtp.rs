//! [`SmtpTransport`]: mail through an SMTP server, with lettre's async
//! (tokio) transport.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Delivery, MailTransport};
use crate::config::{MailConfig, SmtpSecurity};
use crate::error::MailError;
use crate::message::Message;

/// Sends through `MAIL_SERVER:MAIL_PORT`, encrypted as `MAIL_USE_TLS` /
/// `MAIL_USE_SSL` say, logging in when `MAIL_USERNAME` is set. lettre pools
/// connections; nothing connects until the first message.
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    port: u16,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials: they stay inside lettre.
        f.debug_struct("SmtpTransport")
            .field("server", &self.server)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// The transport the `MAIL_*` options describe.
    pub fn from_config(config: &MailConfig) -> Result<Self, MailError> {
        let host = config.server.trim();
        let refused = |e: lettre::transport::smtp::Error| MailError::Smtp {
            server: host.to_owned(),
            port: config.port,
            message: format!("MAIL_SERVER {host:?} cannot be used for TLS: {e}"),
        };
        let builder = match config.security() {
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(refused)?
            }
            SmtpSecurity::Implicit => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(refused)?
            }
            // Named "dangerous" by lettre because nothing is encrypted:
            // the config asked for it with both keys false.
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(config.port);
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
            server: host.to_owned(),
            port: config.port,
        })
    }

    /// `MAIL_SERVER`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `MAIL_PORT`.
    pub fn port(&self) -> u16 {
        self.port
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn deliver(
        &self,
        message: &Message,
        default_from: &Mailbox,
    ) -> Result<Delivery, MailError> {
        let built = crate::mime::build(message, default_from)?;
        self.inner.send(built).await.map_err(|e| MailError::Smtp {
            server: self.server.clone(),
            port: self.port,
            message: e.to_string(),
        })?;
        tracing::info!(
            target: "unchained_mail",
            to = %super::recipients(message),
            subject = %message.subject,
            server = %self.server,
            port = self.port,
            "email sent by SMTP"
        );
        Ok(Delivery::Smtp {
            server: self.server.clone(),
            port: self.port,
        })
    }
}
