//! Shared set-up of the security bundle's HTTP tests: a fresh database per
//! test, a chosen session store, a small app with protected routes, and a
//! folder receiving mail.

#![allow(dead_code)]

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use unchained::axum::handler::Handler;
use unchained::config::ConfigBuilder;
use unchained::prelude::*;
use unchained::testing::{TestClient, TestResponse};
use unchained_database::DatabaseBundle;
use unchained_database::testing::TestDatabase;
use unchained_security::{
    CsrfToken, CurrentUser, MaybeUser, Security, SecurityBundle, roles_accepted, roles_required,
};
use unchained_session::SessionBundle;

/// Which session store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Filesystem,
    Sqlite,
    Redis,
    Postgres,
    Mysql,
}

/// A small app bundle with routes behind the guards.
#[derive(Default)]
pub struct GuardedApp;

async fn whoami_handler(user: MaybeUser) -> String {
    match user.0 {
        Some(u) => format!("user:{}", u.email()),
        None => "anonymous".to_owned(),
    }
}

async fn protected(user: CurrentUser) -> String {
    format!("protected:{}", user.email())
}

async fn admin() -> &'static str {
    "admin area"
}

async fn staff() -> &'static str {
    "staff area"
}

async fn app_form_page(csrf: CsrfToken) -> String {
    csrf.0
}

async fn app_form_submit() -> &'static str {
    "form accepted"
}

/// A note, as the notes form sends it.
#[derive(serde::Deserialize, garde::Validate)]
struct Note {
    #[garde(length(min = 1, max = 50))]
    title: String,
    #[garde(skip)]
    body: String,
}

async fn new_note(page: Page) -> Response {
    page.render("notes/new.html", context! {}).await
}

async fn create_note(
    page: Page,
    session: unchained_session::Session,
    form: Form<Note>,
) -> Result<Response, unchained_session::SessionError> {
    match form.into_valid() {
        Ok(note) => {
            let saved = format!("Note {} saved ({} bytes).", note.title, note.body.len());
            session.flash("success", saved).await?;
            Ok(Redirect::to("/notes").into_response())
        }
        Err(invalid) => Ok(page
            .render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "notes/new.html",
                context! { form => invalid },
            )
            .await),
    }
}

async fn list_notes(page: Page) -> Response {
    page.render("notes/list.html", context! {}).await
}

async fn api_private(user: CurrentUser) -> unchained::axum::Json<serde_json::Value> {
    unchained::axum::Json(serde_json::json!({ "email": user.email() }))
}

#[unchained::async_trait]
impl Bundle for GuardedApp {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "notes/new.html",
                r#"{% from "forms.html" import field, form_errors %}<form method="post" action="/notes">{{ csrf_field() }}{{ form_errors(form) }}{{ field(form, "title") }}{{ field(form, "body", kind="textarea") }}{{ field(form, "pin_password", kind="password") }}</form>"#,
            ),
            (
                "notes/list.html",
                r#"{% for category, message in get_flashed_messages(with_categories=true) %}<p class="flash {{ category }}">{{ message }}</p>{% endfor %}<p>user: {{ current_user or "anonymous" }}</p>"#,
            ),
        ]
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
            .get("/", whoami_handler)
            .get("/whoami", whoami_handler)
            .get("/protected", protected)
            .get("/admin", admin.layer(roles_required(["admin"])))
            .get("/staff", staff.layer(roles_accepted(["admin", "staff"])))
            .get("/app-form", app_form_page)
            .post("/app-form", app_form_submit)
            .get("/api/private", api_private)
            .get("/remember", remember)
            .get("/notes/new", new_note)
            .post("/notes", create_note)
            .get("/notes", list_notes)
    }
}

/// Writes to the session of a visitor who may not be logged in (like a
/// cart or a theme choice): the one way an anonymous visitor gets a
/// stored session.
async fn remember(
    session: unchained_session::Session,
) -> Result<&'static str, unchained_session::SessionError> {
    session.insert("theme", "dark").await?;
    Ok("remembered")
}

/// A running test app.
pub struct TestApp {
    pub client: TestClient,
    pub app: App,
    pub db: TestDatabase,
    pub mail: tempfile::TempDir,
    pub store: Store,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// The bundle's service.
    pub fn security(&self) -> Security {
        self.app
            .state()
            .service::<Security>()
            .expect("security service")
            .clone()
    }

    /// A fresh client (own cookie jar) for the same app.
    pub fn new_client(&self) -> TestClient {
        TestClient::new(self.app.clone())
    }

    /// Creates an active, confirmed user.
    pub async fn user(
        &self,
        email: &str,
        password: &str,
    ) -> unchained_security::models::user::Model {
        self.security()
            .create_user(email, password, true, true)
            .await
            .expect("create user")
    }

    /// Emails sent so far, oldest first, each as its headers and both
    /// bodies in one string (`To: ...`, `Subject: ...`, the text, the
    /// HTML), read from the mail outbox (the test transport).
    pub fn mails(&self) -> Vec<String> {
        unchained_mail::testing::outbox(&self.client)
            .expect("the test app's mail goes to the outbox")
            .iter()
            .map(show_mail)
            .collect()
    }

    /// The messages sent so far, as the outbox keeps them.
    pub fn sent(&self) -> Vec<unchained_mail::testing::SentMail> {
        unchained_mail::testing::outbox(&self.client)
            .expect("the test app's mail goes to the outbox")
    }

    /// Waits (up to 5 s) until at least `n` emails were sent.
    pub async fn wait_for_mails(&self, n: usize) -> Vec<String> {
        match unchained_mail::testing::wait_for_outbox(&self.client, n).await {
            Ok(sent) => sent.iter().map(show_mail).collect(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A sent message as text: headers, then the text body, then the HTML.
pub fn show_mail(mail: &unchained_mail::testing::SentMail) -> String {
    format!(
        "From: {}\nTo: {}\nSubject: {}\n\n{}\n\n{}\n",
        mail.from.as_deref().unwrap_or_default(),
        mail.to.join(", "),
        mail.subject,
        mail.text.as_deref().unwrap_or_default(),
        mail.html.as_deref().unwrap_or_default()
    )
}

/// The path of the link in `mail` that starts with `prefix` (e.g.
/// `/reset-password/`), e.g. `/reset-password/abc.def`.
pub fn link_path(mail: &str, prefix: &str) -> String {
    let start = mail
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{mail}"));
    mail[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

/// Builds an app on `store` with fast argon2 parameters; `configure`
/// adds options.
pub async fn app_with(
    store: Store,
    configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestApp {
    app_with_mail_bundle(store, MailBundleAt::Unlisted, configure).await
}

/// Where the mail bundle is listed, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailBundleAt {
    /// Not listed: the security bundle builds its own `Mail`.
    Unlisted,
    /// Before the security bundle.
    Before,
    /// After the security bundle (and before the app).
    After,
}

/// [`app_with`], with the mail bundle listed where `mail` says.
pub async fn app_with_mail_bundle(
    store: Store,
    mail_bundle: MailBundleAt,
    configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestApp {
    let db = match store {
        Store::Postgres => TestDatabase::postgres().await,
        Store::Mysql => TestDatabase::mysql().await,
        _ => TestDatabase::sqlite().await,
    }
    .expect("test database");
    unchained_security::models::create_tables(db.connection())
        .await
        .expect("create tables");
    let session_type = match store {
        Store::Memory => "memory",
        Store::Filesystem => "filesystem",
        Store::Redis => "redis",
        _ => "sqlalchemy",
    };
    if session_type == "sqlalchemy" {
        let (table, indexes) =
            unchained_session::store::session_table(db.backend(), "flask_sessions");
        db.connection()
            .execute(&table)
            .await
            .expect("session table");
        for index in indexes {
            db.connection()
                .execute(&index)
                .await
                .expect("session index");
        }
    }
    let mail = tempfile::tempdir().expect("mail dir");
    let mut prefix = [0u8; 8];
    rand::fill(&mut prefix);
    let prefix: String = prefix.iter().map(|b| format!("{b:02x}")).collect();
    let url = db.url().to_owned();
    let mail_dir = mail.path().display().to_string();
    let session_dir = mail.path().join("sessions").display().to_string();
    let mut bundles: Vec<Arc<dyn Bundle>> = vec![
        Arc::new(DatabaseBundle),
        Arc::new(SessionBundle),
        Arc::new(SecurityBundle),
    ];
    match mail_bundle {
        MailBundleAt::Unlisted => {}
        MailBundleAt::Before => bundles.insert(2, Arc::new(unchained_mail::MailBundle)),
        MailBundleAt::After => bundles.push(Arc::new(unchained_mail::MailBundle)),
    }
    bundles.push(Arc::new(GuardedApp));
    let app = unchained::app::build_with(
        bundles,
        move |c| {
            configure(
                c.set("DATABASE_URL", url)
                    .set(
                        "SECRET_KEY",
                        "test-secret-key-for-the-security-bundle-tests",
                    )
                    .set("SESSION_TYPE", session_type)
                    .set("SESSION_KEY_PREFIX", format!("test-security-{prefix}:"))
                    .set("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", 64)
                    .set("SECURITY_PASSWORD_ARGON2_ITERATIONS", 1)
                    .set("SESSION_FILE_DIR", session_dir)
                    .set("MAIL_FILE_DIR", mail_dir),
            )
        },
        Environment::Test,
    )
    .await
    .expect("build the app");
    TestApp {
        client: TestClient::new(app.clone()),
        app,
        db,
        mail,
        store,
    }
}

/// [`app_with`] on the memory store.
pub async fn app(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> TestApp {
    app_with(Store::Memory, configure).await
}

/// The CSRF token in an HTML page.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf_token in:\n{page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// GETs `page` and returns its CSRF token.
pub async fn csrf(client: &TestClient, page: &str) -> String {
    let response = client.get(page).await;
    assert_eq!(response.status(), 200, "GET {page}: {}", response.text());
    csrf_in(&response.text())
}

/// Logs in through the HTML form; returns the response.
pub async fn login(client: &TestClient, email: &str, password: &str) -> TestResponse {
    let token = csrf(client, "/login").await;
    client
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
            ],
        )
        .await
}

/// Posts an HTML form to `path` with the CSRF token of `page`.
pub async fn post_with_csrf(
    client: &TestClient,
    page: &str,
    path: &str,
    form: &[(&str, &str)],
) -> TestResponse {
    let token = csrf(client, page).await;
    let mut fields: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    fields.extend_from_slice(form);
    client.post_form(path, &fields).await
}

/// Who the client is, per `/whoami`.
pub async fn whoami(client: &TestClient) -> String {
    client.get("/whoami").await.text()
}
