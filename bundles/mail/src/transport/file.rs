//! [`FileTransport`]: development mail, one `.eml` file per message.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::{Delivery, MailTransport};
use crate::error::MailError;
use crate::message::Message;

/// Writes each message to `<dir>/<timestamp>-<random>.eml` (the raw
/// message, which any mail client opens) and logs the recipients, subject
/// and file; never the body, whose links may be secrets.
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
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(
        &self,
        message: &Message,
        default_from: &Mailbox,
    ) -> Result<Delivery, MailError> {
        let built = crate::mime::build(message, default_from)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError::File {
                path: self.dir.clone(),
                message: e.to_string(),
            })?;
        // Sorted by name is sorted by time; the random part keeps two
        // messages of the same microsecond apart.
        let name = format!(
            "{}-{:016x}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            rand::random::<u64>()
        );
        let path = self.dir.join(name);
        tokio::fs::write(&path, built.formatted())
            .await
            .map_err(|e| MailError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
        tracing::info!(
            target: "unchained_mail",
            to = %super::recipients(message),
            subject = %message.subject,
            file = %path.display(),
            "email written to file (MAIL_TRANSPORT = \"file\")"
        );
        Ok(Delivery::File { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Attachment;

    #[tokio::test]
    async fn each_message_is_one_eml_file_in_a_created_folder() {
        let root = tempfile::tempdir().unwrap();
        let transport = FileTransport::new(root.path().join("nested/mail"));
        let from: Mailbox = "site@example.com".parse().unwrap();
        let message = Message::new()
            .to("ann@example.com")
            .subject("Hello file")
            .text("plain")
            .html("<p>rich</p>")
            .attach(Attachment::new("a.txt", "text/plain", b"attached".to_vec()));
        let first = transport.deliver(&message, &from).await.unwrap();
        transport.deliver(&message, &from).await.unwrap();
        let Delivery::File { path } = first else {
            panic!("the file transport wrote no file: {first:?}");
        };
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("eml"));
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(
            raw.contains("Subject: Hello file") && raw.contains("To: ann@example.com"),
            "{raw}"
        );
        assert!(
            raw.contains("multipart/alternative") && raw.contains("filename=\"a.txt\""),
            "{raw}"
        );
        assert_eq!(std::fs::read_dir(transport.dir()).unwrap().count(), 2);
    }

    #[tokio::test]
    async fn an_unwritable_folder_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("file");
        std::fs::write(&blocker, "not a folder").unwrap();
        let transport = FileTransport::new(blocker.join("mail"));
        let from: Mailbox = "site@example.com".parse().unwrap();
        let err = transport
            .deliver(&Message::new().to("a@example.com").text("t"), &from)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MAIL_FILE_DIR") && err.contains("file"),
            "{err}"
        );
    }
}
