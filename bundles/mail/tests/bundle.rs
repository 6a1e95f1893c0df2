//! The bundle in an app: handlers send through `Service<Mail>`, bodies
//! come from templates the app overrides by name, tests read the outbox
//! through the `TestClient`, and a second bundle defers delivery through
//! a queue it installs.

use std::sync::{Arc, Mutex};

use unchained::prelude::*;
use unchained::testing::TestClient;
use unchained_mail::testing::{clear_outbox, outbox, wait_for_outbox};
use unchained_mail::{Attachment, BoxFuture, Mail, MailBundle, MailQueue, Message};

/// The app: a contact form that mails the team.
#[derive(Default)]
struct ContactApp;

async fn contact(mail: Service<Mail>) -> Result<&'static str, ServerError> {
    let message = mail
        .render("contact/notice", context! { who => "Ann <script>" })?
        .to("team@example.com")
        .subject("New contact")
        .attach(Attachment::new("note.txt", "text/plain", b"hello".to_vec()));
    mail.send(message).await?;
    Ok("sent")
}

#[unchained::async_trait]
impl Bundle for ContactApp {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("contact/notice.txt", "{{ who }} wrote in."),
            ("contact/notice.html", "<p>{{ who }} wrote in.</p>"),
        ]
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().post("/contact", contact)
    }
}

/// Stands in for a jobs bundle: installs a queue on the app's `Mail`.
#[derive(Default)]
struct QueueBundle {
    queue: Arc<MemoryQueue>,
}

/// Keeps queued messages as JSON, as a jobs table would.
#[derive(Default)]
struct MemoryQueue(Mutex<Vec<String>>);

impl MailQueue for MemoryQueue {
    fn enqueue(&self, message: Message) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_string(&message)?;
            self.0
                .lock()
                .map_err(|_| anyhow::anyhow!("queue lock poisoned"))?
                .push(json);
            Ok(())
        })
    }
}

#[unchained::async_trait]
impl Bundle for QueueBundle {
    fn name(&self) -> &'static str {
        "test.queue"
    }

    fn dependencies(&self) -> &'static [&'static str] {
        &[unchained_mail::BUNDLE_NAME]
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        let mail = ctx.require::<Mail>()?;
        mail.defer_through(self.queue.clone())?;
        Ok(())
    }
}

async fn client(bundles: Vec<Arc<dyn Bundle>>) -> TestClient {
    let app = unchained::app::build_with(bundles, |c| c, Environment::Test)
        .await
        .expect("build the app");
    TestClient::new(app)
}

#[tokio::test]
async fn a_handler_sends_rendered_mail_that_the_test_reads_from_the_outbox() {
    let client = client(vec![Arc::new(MailBundle), Arc::new(ContactApp)]).await;
    assert!(outbox(&client).unwrap().is_empty());
    let answer = client.post_form("/contact", &[]).await;
    assert_eq!(answer.text(), "sent");
    let sent = wait_for_outbox(&client, 1).await.unwrap();
    assert_eq!(sent.len(), 1);
    let mail = &sent[0];
    assert_eq!(mail.to, ["team@example.com"]);
    assert_eq!(mail.subject, "New contact");
    assert_eq!(mail.from.as_deref(), Some("no-reply@localhost"));
    assert_eq!(mail.text.as_deref(), Some("Ann <script> wrote in."));
    assert_eq!(
        mail.html.as_deref(),
        Some("<p>Ann &lt;script&gt; wrote in.</p>")
    );
    assert_eq!(mail.attachments[0].filename, "note.txt");
    assert_eq!(mail.attachments[0].data, b"hello");
    clear_outbox(&client).unwrap();
    assert!(outbox(&client).unwrap().is_empty());
}

#[tokio::test]
async fn another_bundle_defers_delivery_and_its_worker_delivers() {
    let queue_bundle = QueueBundle::default();
    let queue = queue_bundle.queue.clone();
    let client = client(vec![
        Arc::new(MailBundle),
        Arc::new(queue_bundle),
        Arc::new(ContactApp),
    ])
    .await;
    assert_eq!(client.post_form("/contact", &[]).await.text(), "sent");
    assert!(outbox(&client).unwrap().is_empty(), "queued, not delivered");
    let jobs: Vec<String> = queue.0.lock().unwrap().drain(..).collect();
    assert_eq!(jobs.len(), 1);

    // The worker: each stored job back into a message, delivered now.
    let mail = client
        .app()
        .unwrap()
        .state()
        .service::<Mail>()
        .unwrap()
        .clone();
    assert!(mail.is_deferred());
    for job in jobs {
        let message: Message = serde_json::from_str(&job).unwrap();
        mail.deliver_now(message).await.unwrap();
    }
    let sent = outbox(&client).unwrap();
    assert_eq!(sent[0].subject, "New contact");
    assert_eq!(
        sent[0].attachments[0].data, b"hello",
        "bytes survive the queue"
    );
}

#[tokio::test]
async fn the_outbox_helper_says_what_is_missing() {
    let without_mail = client(vec![Arc::new(ContactApp)]).await;
    let err = outbox(&without_mail).unwrap_err().to_string();
    assert!(err.contains("unchained.bundles.mail"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().display().to_string();
    let app = unchained::app::build_with(
        vec![Arc::new(MailBundle), Arc::new(ContactApp)],
        move |c| c.set("MAIL_TRANSPORT", "file").set("MAIL_FILE_DIR", folder),
        Environment::Test,
    )
    .await
    .unwrap();
    let file_client = TestClient::new(app);
    let err = outbox(&file_client).unwrap_err().to_string();
    assert!(
        err.contains("file transport") && err.contains("MAIL_TRANSPORT"),
        "{err}"
    );
    assert_eq!(file_client.post_form("/contact", &[]).await.text(), "sent");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one .eml file");
}

#[tokio::test]
async fn a_bad_config_stops_the_build_naming_the_keys() {
    let err = unchained::app::build_with(
        vec![Arc::new(MailBundle)],
        |c| c.set("MAIL_USE_TLS", true).set("MAIL_USE_SSL", true),
        Environment::Test,
    )
    .await
    .err()
    .expect("the build fails")
    .to_string();
    assert!(
        err.contains("MAIL_USE_TLS") && err.contains("MAIL_USE_SSL"),
        "{err}"
    );
}
