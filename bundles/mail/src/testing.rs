//! Test helpers: the mail an app sent, read through its [`TestClient`].
//! In the test environment `MAIL_TRANSPORT` defaults to `outbox`, so
//! every message stays in memory.
//!
//! ```no_run
//! # async fn demo(client: unchained::testing::TestClient) -> anyhow::Result<()> {
//! use unchained_mail::testing::{clear_outbox, wait_for_outbox};
//!
//! client.post_form("/contact", &[("message", "hello")]).await;
//! let sent = wait_for_outbox(&client, 1).await?;
//! assert_eq!(sent[0].to, ["team@example.com"]);
//! assert!(sent[0].html.as_deref().unwrap_or_default().contains("hello"));
//! clear_outbox(&client)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use anyhow::Context;
use unchained::testing::TestClient;

use crate::message::Message;
use crate::service::Mail;
use crate::transport::Outbox;

/// A message as the outbox kept it: every field of the [`Message`], its
/// sender filled in.
pub type SentMail = Message;

/// How long [`wait_for_outbox`] waits.
pub const WAIT: Duration = Duration::from_secs(5);

fn outbox_of(client: &TestClient) -> anyhow::Result<Outbox> {
    let app = client.app().context(
        "the outbox needs a TestClient built from an app (TestClient::new or for_project)",
    )?;
    let mail = app.state().service::<Mail>().context(
        "the app has no Mail service: list unchained.bundles.mail (or a bundle that sends mail)",
    )?;
    mail.outbox().cloned().with_context(|| {
        format!(
            "the app's mail goes through the {} transport, not the outbox: set MAIL_TRANSPORT = \"outbox\" \
             (the default in the test environment)",
            mail.transport_name()
        )
    })
}

/// Every message the app sent so far, oldest first.
pub fn outbox(client: &TestClient) -> anyhow::Result<Vec<SentMail>> {
    Ok(outbox_of(client)?.messages())
}

/// Forgets the messages sent so far.
pub fn clear_outbox(client: &TestClient) -> anyhow::Result<()> {
    outbox_of(client)?.clear();
    Ok(())
}

/// Waits (up to [`WAIT`]) until the app sent at least `n` messages, and
/// returns them: for mail sent in the background, as the security bundle
/// sends it.
pub async fn wait_for_outbox(client: &TestClient, n: usize) -> anyhow::Result<Vec<SentMail>> {
    let outbox = outbox_of(client)?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sent = outbox.messages();
        if sent.len() >= n {
            return Ok(sent);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "expected {n} message(s) in the outbox within {WAIT:?}, found {}",
                sent.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
