//! Mail as jobs: with the mail and jobs bundles listed, `Mail::send`
//! stores a `mail.send` job and a worker delivers it; a message the SMTP
//! server never takes lands in the dead-letter state; inline mode (the
//! test default) delivers before the request returns.

use std::sync::Arc;
use std::time::Duration;

use unchained::config::Environment;
use unchained::prelude::*;
use unchained::testing::TestClient;
use unchained_database::DatabaseBundle;
use unchained_jobs::backend::StatusFilter;
use unchained_jobs::{Jobs, JobsBundle};
use unchained_mail::testing::{outbox, wait_for_outbox};
use unchained_mail::{Attachment, Mail, MailBundle, Message};

/// The app: `GET /send` sends one message with an attachment.
#[derive(Default)]
struct MailingApp;

#[unchained::bundle]
impl Bundle for MailingApp {
    fn name(&self) -> &'static str {
        "jobs_mail_test_app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/send", send)
    }
}

async fn send(mail: Service<Mail>) -> Result<&'static str, ServerError> {
    mail.send(
        Message::new()
            .to("ada@example.com")
            .subject("Your report")
            .text("See the attachment.")
            .html("<p>See the attachment.</p>")
            .attach(Attachment::new(
                "report.csv",
                "text/csv",
                b"a,b\n1,2\n".to_vec(),
            )),
    )
    .await?;
    Ok("sent")
}

/// The app on a fresh SQLite file, mail and jobs both listed.
async fn app(dir: &tempfile::TempDir, settings: &[(&str, serde_json::Value)]) -> unchained::App {
    let bundles: Vec<Arc<dyn Bundle>> = vec![
        Arc::new(DatabaseBundle),
        Arc::new(MailBundle),
        Arc::new(JobsBundle),
        Arc::new(MailingApp),
    ];
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let settings: Vec<(String, serde_json::Value)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    unchained::app::build_with(
        bundles,
        move |mut builder| {
            builder = builder.set("DATABASE_URL", url);
            for (key, value) in settings {
                builder = builder.set(&key, value);
            }
            builder
        },
        Environment::Test,
    )
    .await
    .unwrap()
}

/// Runs a worker on `app`'s state until the returned sender is dropped
/// or fired.
fn start_worker(app: &unchained::App) -> tokio::sync::oneshot::Sender<()> {
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let jobs = state.service::<Jobs>().unwrap().clone();
        let options = unchained_jobs::worker::WorkerOptions::from_config(jobs.config());
        unchained_jobs::worker::run(state, options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_sent_by_a_worker_as_a_mail_send_job() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, &[("JOBS_INLINE", false.into())]).await;
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let client = TestClient::new(app);

    let response = client.get("/send").await;
    assert_eq!(response.status(), 200, "{}", response.text());
    // The request stored a job and delivered nothing itself.
    assert!(outbox(&client).unwrap().is_empty());
    let store = jobs.store().unwrap();
    let pending = store.list(Some(StatusFilter::Pending), 10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].name, "mail.send");

    let stop = start_worker(client.app().unwrap());
    let sent = wait_for_outbox(&client, 1).await.unwrap();
    assert_eq!(sent[0].to, ["ada@example.com"]);
    assert_eq!(sent[0].subject, "Your report");
    assert_eq!(sent[0].html.as_deref(), Some("<p>See the attachment.</p>"));
    assert_eq!(sent[0].attachments[0].data, b"a,b\n1,2\n");
    assert!(
        sent[0].from.is_some(),
        "the sender was filled in before queueing"
    );
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_the_server_refuses_ends_in_the_dead_letter_state() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app(
        &dir,
        &[
            ("JOBS_INLINE", false.into()),
            ("JOBS_MAX_ATTEMPTS", 2.into()),
            ("JOBS_BACKOFF_BASE", 1.into()),
            ("MAIL_TRANSPORT", "smtp".into()),
            ("MAIL_SERVER", "127.0.0.1".into()),
            ("MAIL_PORT", closed.into()),
            ("MAIL_USE_TLS", false.into()),
        ],
    )
    .await;
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let client = TestClient::new(app);
    assert_eq!(client.get("/send").await.status(), 200);

    let stop = start_worker(client.app().unwrap());
    let store = jobs.store().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let dead = store.list(Some(StatusFilter::Dead), 10).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused mail never reached the dead-letter state: {:?}",
            store.list(None, 10).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead[0].name, "mail.send");
    assert_eq!(dead[0].attempts, 2);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_mode_delivers_before_the_request_returns() {
    let dir = tempfile::tempdir().unwrap();
    // JOBS_INLINE is on by default in the test environment.
    let app = app(&dir, &[]).await;
    assert!(
        app.state().service::<Mail>().unwrap().is_deferred(),
        "the jobs bundle took mail delivery over"
    );
    let client = TestClient::new(app);
    assert_eq!(client.get("/send").await.status(), 200);
    let sent = outbox(&client).unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Your report");
}
