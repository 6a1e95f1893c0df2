//! `unchained mail send-test ADDRESS`: checks the mail settings by
//! sending a short message through the configured transport.

use std::io::Write;

use unchained::bundle::{BundleCommand, CommandContext};
use unchained::clap;

use crate::message::Message;
use crate::service::Mail;
use crate::transport::Delivery;

/// The mail bundle's top-level command.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum MailCommand {
    /// Send mail from the command line
    #[command(subcommand)]
    Mail(MailSubcommand),
}

/// `unchained mail ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum MailSubcommand {
    /// Send a short test message (text and HTML) through the configured
    /// transport and say where it went
    SendTest {
        /// Where to send it, e.g. you@example.com
        address: String,
    },
}

impl BundleCommand for MailCommand {
    async fn run(self, ctx: &CommandContext) -> anyhow::Result<()> {
        match self {
            MailCommand::Mail(MailSubcommand::SendTest { address }) => {
                // Built from the config alone: the test checks the mail
                // settings and needs no database or other service.
                let mail = Mail::from_app_config(ctx.config(), ctx.project_root())?;
                send_test(&mail, &address, &mut std::io::stdout()).await
            }
        }
    }
}

/// The test message for `address`.
pub fn test_message(address: &str) -> Message {
    Message::new()
        .to(address)
        .subject("Unchained test message")
        .text(
            "This is a test message sent by `unchained mail send-test`.\n\
             If you can read it, the app's mail settings work.\n",
        )
        .html(
            "<p>This is a test message sent by <code>unchained mail send-test</code>.</p>\
             <p>If you can read it, the app's mail settings work.</p>",
        )
}

/// Sends the test message to `address` through `mail`, now (even when a
/// queue defers the app's mail), and writes where it went to `out`.
pub async fn send_test(
    mail: &Mail,
    address: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    crate::address::check("ADDRESS", address)?;
    let delivery = mail
        .deliver_now(test_message(address))
        .await
        .map_err(|e| anyhow::anyhow!("the test message to {address} was not sent: {e}"))?;
    writeln!(out, "Sent a test message to {address}: {delivery}.")?;
    if delivery == Delivery::Outbox {
        writeln!(
            out,
            "Nothing left this process: set MAIL_TRANSPORT = \"smtp\" (and MAIL_SERVER) to send real mail."
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn send_test_reports_where_the_message_went() {
        let mail = Mail::in_memory("site@example.com".parse().unwrap());
        let mut out = Vec::new();
        send_test(&mail, "ann@example.com", &mut out).await.unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.contains("Sent a test message to ann@example.com")
                && printed.contains("outbox"),
            "{printed}"
        );
        let sent = mail.outbox().unwrap().messages();
        assert!(sent[0].text.is_some() && sent[0].html.is_some());
        let err = send_test(&mail, "nobody", &mut Vec::new())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("ADDRESS \"nobody\""), "{err}");
    }
}
