//! The bundle's mail through the mail bundle's `Mail`: the reset email
//! arrives in the test outbox as text and HTML and both links work, the
//! sender and templates can be changed, and the app has one `Mail`
//! whether the mail bundle is listed (before or after) or not.

mod common;

use common::*;
use unchained::config::{Config, Environment};
use unchained_mail::Mail;
use unchained_mail::testing::{SentMail, clear_outbox, wait_for_outbox};
use unchained_security::SecurityConfig;

/// The `href` of the first link in `html` whose target contains `part`,
/// as a browser reads it (entities decoded).
fn href(html: &str, part: &str) -> String {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|raw| {
            raw.replace("&#x2f;", "/")
                .replace("&#x27;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .find(|url| url.contains(part))
        .unwrap_or_else(|| panic!("no link with {part} in:\n{html}"))
}

/// The path of `url` (`http://localhost:5000/x` -> `/x`).
fn path_of(url: &str) -> String {
    let rest = url
        .strip_prefix("http://localhost:5000")
        .unwrap_or_else(|| panic!("{url} is not under SECURITY_EXTERNAL_URL"));
    rest.to_owned()
}

async fn request_reset(t: &TestApp, email: &str) -> SentMail {
    let answer = post_with_csrf(
        &t.client,
        "/forgot-password",
        "/forgot-password",
        &[("email", email)],
    )
    .await;
    assert_eq!(answer.status(), 200, "{}", answer.text());
    let sent = wait_for_outbox(&t.client, 1).await.unwrap();
    assert_eq!(sent.len(), 1);
    sent.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_reset_mail_arrives_as_text_and_html_and_both_links_work() {
    let t = app(|c| c.set("SECURITY_RECOVERABLE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    let mail = request_reset(&t, "ann@example.com").await;

    assert_eq!(mail.to, ["ann@example.com"]);
    assert_eq!(mail.subject, "Reset your password");
    assert_eq!(
        mail.from.as_deref(),
        Some("no-reply@localhost"),
        "MAIL_DEFAULT_SENDER"
    );
    let text = mail.text.as_deref().expect("a text part");
    let html = mail.html.as_deref().expect("an HTML part");
    assert!(mail.is_multipart());
    assert!(
        text.contains("ann@example.com") && !text.contains("<p>"),
        "{text}"
    );
    assert!(
        html.contains("<a href=") && html.contains("ann@example.com"),
        "{html}"
    );

    let from_text = link_path(text, "/reset-password/");
    let from_html = path_of(&href(html, "/reset-password/"));
    assert_eq!(from_text, from_html, "both parts carry the same link");
    for link in [&from_text, &from_html] {
        let form = t.client.get(link).await;
        assert_eq!(form.status(), 200, "GET {link}: {}", form.text());
        assert!(form.text().contains("password_confirm"), "{}", form.text());
    }

    // The HTML part's link completes the reset.
    let form = t.client.get(&from_html).await;
    let token = csrf_in(&form.text());
    let done = t
        .client
        .post_form(
            &from_html,
            &[
                ("csrf_token", &token),
                ("password", "a brand new secret"),
                ("password_confirm", "a brand new secret"),
            ],
        )
        .await;
    assert_eq!(done.status(), 303, "{}", done.text());
    let other = t.new_client();
    let login = login(&other, "ann@example.com", "a brand new secret").await;
    assert_eq!(login.status(), 303, "{}", login.text());
    assert_eq!(whoami(&other).await, "user:ann@example.com");
}

#[tokio::test]
async fn security_email_sender_overrides_mail_default_sender() {
    let t = app(|c| {
        c.set("SECURITY_RECOVERABLE", true)
            .set("MAIL_DEFAULT_SENDER", "Site <site@example.com>")
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    let mail = request_reset(&t, "ann@example.com").await;
    assert_eq!(mail.from.as_deref(), Some("Site <site@example.com>"));

    let t = app(|c| {
        c.set("SECURITY_RECOVERABLE", true)
            .set("MAIL_DEFAULT_SENDER", "Site <site@example.com>")
            .set("SECURITY_EMAIL_SENDER", "Accounts <accounts@example.com>")
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    let mail = request_reset(&t, "ann@example.com").await;
    assert_eq!(
        mail.from.as_deref(),
        Some("Accounts <accounts@example.com>")
    );
}

#[tokio::test]
async fn the_app_has_one_mail_wherever_the_mail_bundle_is_listed() {
    for at in [
        MailBundleAt::Unlisted,
        MailBundleAt::Before,
        MailBundleAt::After,
    ] {
        let t =
            app_with_mail_bundle(Store::Memory, at, |c| c.set("SECURITY_RECOVERABLE", true)).await;
        let registered = t
            .app
            .state()
            .service::<Mail>()
            .expect("a Mail service")
            .clone();
        let security = t.security();
        let used = security.mail();
        assert_eq!(used.transport_name(), "outbox", "{at:?}");
        t.user("ann@example.com", PASSWORD).await;
        request_reset(&t, "ann@example.com").await;
        // The security bundle's mail is in the registered service's outbox:
        // one service, one outbox.
        assert_eq!(registered.outbox().unwrap().len(), 1, "{at:?}");
        assert_eq!(used.outbox().unwrap().len(), 1, "{at:?}");
        clear_outbox(&t.client).unwrap();
        assert!(registered.outbox().unwrap().is_empty(), "{at:?}");
        // Mail::render has the app's templates once the app is built.
        let rendered = registered
            .render(
                "security/email/confirm_email",
                unchained::minijinja::context! { email => "x@example.com", link => "http://l/confirm/t" },
            )
            .unwrap();
        assert!(rendered.text.is_some() && rendered.html.is_some(), "{at:?}");
    }
}

#[tokio::test]
async fn an_app_overrides_the_html_mail_by_name() {
    // The app bundle's templates load last, like the project's folder.
    let t = app(|c| c.set("SECURITY_RECOVERABLE", true)).await;
    let mut templates = t.app.state().templates().clone();
    templates
        .add(
            "app",
            "security/email/reset_password.html",
            "<p>Custom: {{ link }}</p>",
        )
        .unwrap();
    let message = unchained_mail::Message::new()
        .to("ann@example.com")
        .render(
            &templates,
            "security/email/reset_password",
            unchained::minijinja::context! { link => "L", email => "ann@example.com", within_minutes => 60 },
        )
        .unwrap();
    assert_eq!(message.html.as_deref(), Some("<p>Custom: L</p>"));
    assert!(message.text.unwrap().contains("within 60 minutes"));
}

#[tokio::test]
async fn bad_mail_config_is_refused() {
    let built = Config::builder(Environment::Test)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Test),
        )
        .set("SECURITY_EMAIL_SENDER", "not an address")
        .build();
    let err = SecurityConfig::from_config(&built).unwrap_err();
    assert!(err.to_string().contains("SECURITY_EMAIL_SENDER"), "{err}");
    let production = Config::builder(Environment::Production)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Production),
        )
        .set("SECURITY_RECOVERABLE", true)
        .build();
    let err = SecurityConfig::from_config(&production).unwrap_err();
    assert!(err.to_string().contains("SECURITY_EXTERNAL_URL"), "{err}");
    let weak = Config::builder(Environment::Test)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Test),
        )
        .set("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", 1)
        .build();
    assert!(
        SecurityConfig::from_config(&weak)
            .unwrap_err()
            .to_string()
            .contains("ARGON2")
    );
}

#[tokio::test]
async fn mail_keys_are_checked_without_the_mail_bundle() {
    // The security bundle alone still refuses a contradictory MAIL_* config.
    let db = unchained_database::testing::TestDatabase::sqlite()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let err = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(unchained_session::SessionBundle),
            std::sync::Arc::new(unchained_security::SecurityBundle),
        ],
        move |c| {
            c.set("DATABASE_URL", url)
                .set("SESSION_TYPE", "memory")
                .set("MAIL_USE_TLS", true)
                .set("MAIL_USE_SSL", true)
        },
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
