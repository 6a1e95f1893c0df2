//! The security bundle mounted below `SECURITY_URL_PREFIX = "/auth"`:
//! pages, the JSON API, its CSRF exemption, the redirect to the login page,
//! mail links and `url_for` all move below the prefix; the redirect keys
//! take route names.

mod common;

use common::*;
use http::Method;
use serde_json::json;

async fn at_auth() -> TestApp {
    app(|c| {
        c.set("SECURITY_URL_PREFIX", "/auth")
            .set("SECURITY_REGISTERABLE", true)
            .set("SECURITY_RECOVERABLE", true)
            // A route's name, not a path: the app's `protected` handler.
            .set("SECURITY_POST_LOGIN_VIEW", "app.protected")
    })
    .await
}

#[tokio::test]
async fn pages_links_and_the_login_redirect_are_below_the_prefix() {
    let t = at_auth().await;
    t.user("ann@example.com", PASSWORD).await;

    assert_eq!(t.client.get("/login").await.status(), 404);
    let page = t.client.get("/auth/login").await;
    assert_eq!(page.status(), 200, "{}", page.text());
    let html = page.text();
    for link in [
        "action=\"/auth/login\"",
        "href=\"/auth/forgot-password\"",
        "href=\"/auth/register\"",
    ] {
        assert!(html.contains(link), "{link} in:\n{html}");
    }

    let guarded = t.client.get("/protected").await;
    assert_eq!(guarded.status(), 303);
    assert_eq!(
        guarded.header("location"),
        Some("/auth/login?next=/protected")
    );

    // The HTML form still needs its CSRF token below the prefix.
    let forged = t
        .client
        .post_form(
            "/auth/login",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status(), 400, "{}", forged.text());

    let token = csrf(&t.client, "/auth/login").await;
    let done = t
        .client
        .post_form(
            "/auth/login",
            &[
                ("csrf_token", &token),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status(), 303, "{}", done.text());
    // SECURITY_POST_LOGIN_VIEW = "app.protected", resolved to its path.
    assert_eq!(done.header("location"), Some("/protected"));
    let sessions = t.client.get("/auth/sessions").await;
    assert!(
        sessions.text().contains("action=\"/auth/logout\""),
        "{}",
        sessions.text()
    );
}

#[tokio::test]
async fn the_json_api_and_its_csrf_exemption_follow_the_prefix() {
    let t = at_auth().await;
    t.user("ann@example.com", PASSWORD).await;
    let anonymous = t.client.get("/auth/api/v1/auth/check").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json()["error"], "authentication required");

    // Exempt from the CSRF check (a form gets the API's 415, not the
    // check's 400) below the prefix, and only there.
    let form = t
        .client
        .post_form("/auth/api/v1/auth/login", &[("email", "ann@example.com")])
        .await;
    assert_eq!(form.status(), 415, "{}", form.text());
    // The old place has nothing mounted: the router's 404 page.
    let old_place = t
        .client
        .post_form("/api/v1/auth/login", &[("email", "ann@example.com")])
        .await;
    assert_eq!(old_place.status(), 404, "{}", old_place.text());
    // Outside the prefix, forms are checked as ever.
    let elsewhere = t.client.post_form("/app-form", &[("x", "1")]).await;
    assert_eq!(elsewhere.status(), 400, "{}", elsewhere.text());

    let ok = t
        .client
        .json(
            Method::POST,
            "/auth/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
    let check = t.client.get("/auth/api/v1/auth/check").await;
    assert_eq!(check.json()["authenticated"], true);
}

#[tokio::test]
async fn url_for_and_mail_links_use_the_prefix() {
    let t = at_auth().await;
    let state = t.app.state();
    assert_eq!(
        state.url_for("security.login", &[("next", "/x")]).unwrap(),
        "/auth/login?next=%2Fx"
    );
    assert_eq!(
        state.url_for("security.api_login", &[]).unwrap(),
        "/auth/api/v1/auth/login"
    );
    assert_eq!(
        state
            .url_for("security.reset_password", &[("token", "abc")])
            .unwrap(),
        "/auth/reset-password/abc"
    );
    assert_eq!(state.urls().prefix("unchained.bundles.security"), "/auth");

    t.user("ann@example.com", PASSWORD).await;
    post_with_csrf(
        &t.client,
        "/auth/forgot-password",
        "/auth/forgot-password",
        &[("email", "ann@example.com")],
    )
    .await;
    let mails = t.wait_for_mails(1).await;
    let link = link_path(&mails[0], "/auth/reset-password/");
    let page = t.client.get(&link).await;
    assert_eq!(page.status(), 200, "{link}: {}", page.text());
    assert!(
        page.text().contains(&format!("action=\"{link}\"")),
        "{}",
        page.text()
    );
}

#[tokio::test]
async fn a_redirect_key_naming_no_route_fails_the_build_with_close_names() {
    let err = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(unchained_session::SessionBundle),
            std::sync::Arc::new(unchained_security::SecurityBundle),
        ],
        |c| {
            c.set("SESSION_TYPE", "memory")
                .set("SECURITY_POST_LOGOUT_VIEW", "security.logot")
        },
        unchained::config::Environment::Test,
    )
    .await
    .err()
    .expect("must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("SECURITY_POST_LOGOUT_VIEW")
            && message.contains("\"security.logot\"")
            && message.contains("did you mean security.logout"),
        "{message}"
    );
}
