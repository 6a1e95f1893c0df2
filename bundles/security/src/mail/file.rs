//! [`FileTransport`]: development mail, one `.eml` file per message.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::Message;

use super::MailTransport;

/// Writes each message to `<dir>/<timestamp>-<random>.eml` and logs the
/// recipient, subject and file (not the body, whose links are secrets).
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Messages go to `dir`, created on first use.
    pub fn new(dir: PathBuf) -> Self {
        FileTransport { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, message: Message, to: &str, subject: &str) -> anyhow::Result<()> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| anyhow::anyhow!("create the mail folder {}: {e}", self.dir.display()))?;
        let suffix = crate::crypto::random_bytes::<6>();
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            crate::crypto::hex(&suffix)
        );
        let path = self.dir.join(name);
        tokio::fs::write(&path, message.formatted())
            .await
            .map_err(|e| anyhow::anyhow!("write the message {}: {e}", path.display()))?;
        tracing::info!(
            target: "unchained_security::mail",
            to,
            subject,
            file = %path.display(),
            "email written to file (MAIL_TRANSPORT = \"file\")"
        );
        Ok(())
    }
}
