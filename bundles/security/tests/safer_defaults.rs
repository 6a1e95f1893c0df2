//! Defaults that keep a deployed app safe without configuration:
//! `Cache-Control: no-store` on what a logged-in user sees, frame
//! protection on HTML, and password changes that fail closed when the
//! user's other sessions cannot be ended.

mod common;

use common::*;
use http::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unchained_security::tokens::TokenPurpose;
use unchained_session::SessionManager;

async fn api_login(t: &TestApp, client: &unchained::testing::TestClient) {
    let ok = client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status(), 200, "{:?}: {}", t.store, ok.text());
}

#[tokio::test]
async fn responses_to_logged_in_users_are_not_stored() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;

    // Anonymous: the app's own caching rules apply.
    let anonymous = t.client.get("/whoami").await;
    assert_eq!(anonymous.text(), "anonymous");
    assert_eq!(anonymous.header("cache-control"), None);
    // /api/v1/auth/check is about the session whatever the answer.
    let check = t.client.get("/api/v1/auth/check").await;
    assert_eq!(check.status(), 401);
    assert_eq!(check.header("cache-control"), Some("no-store"));

    api_login(&t, &t.client).await;
    for path in [
        "/whoami",
        "/protected",
        "/api/private",
        "/api/v1/auth/check",
    ] {
        let response = t.client.get(path).await;
        assert_eq!(response.status(), 200, "{path}: {}", response.text());
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{path} answered a logged-in user"
        );
    }
    // A refused role is still a logged-in user's answer.
    assert_eq!(
        t.client.get("/admin").await.header("cache-control"),
        Some("no-store")
    );
}

#[tokio::test]
async fn html_pages_cannot_be_framed_by_default() {
    let t = app(|c| c).await;
    let login = t.client.get("/login").await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        login.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
    // Not HTML: nothing to frame.
    let text = t.client.get("/whoami").await;
    assert_eq!(text.header("x-frame-options"), None);
    assert_eq!(text.header("content-security-policy"), None);
}

#[tokio::test]
async fn frame_options_are_configurable() {
    // The core's key, and the bundle's deprecated alias of it.
    for key in ["FRAME_OPTIONS", "SECURITY_FRAME_OPTIONS"] {
        let same = app(|c| c.set(key, "SAMEORIGIN")).await;
        let login = same.client.get("/login").await;
        assert_eq!(login.header("x-frame-options"), Some("SAMEORIGIN"), "{key}");
        assert_eq!(
            login.header("content-security-policy"),
            Some("frame-ancestors 'self'"),
            "{key}"
        );
    }

    let off = app(|c| c.set("SECURITY_FRAME_OPTIONS", "")).await;
    let login = off.client.get("/login").await;
    assert_eq!(login.header("x-frame-options"), None);
    assert_eq!(login.header("content-security-policy"), None);

    let error = unchained_security::SecurityConfig::from_config(
        &unchained::config::Config::builder(unchained::config::Environment::Test)
            .defaults(
                unchained_security::BUNDLE_NAME,
                unchained_security::config::defaults(unchained::config::Environment::Test),
            )
            .set("SECURITY_FRAME_OPTIONS", "ALLOWALL")
            .build(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("SECURITY_FRAME_OPTIONS = \"ALLOWALL\"") && error.contains("SAMEORIGIN"),
        "{error}"
    );
}

/// Sends one command to the local Redis and returns its raw answer.
async fn redis_command(args: &[&str]) -> String {
    let mut stream = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .expect("Redis on 127.0.0.1:6379");
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(command.as_bytes()).await.unwrap();
    let mut answer = vec![0; 512];
    let n = stream.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn a_password_change_fails_when_other_sessions_cannot_be_ended() {
    let t = app_with(Store::Redis, |c| c.set("SECURITY_CHANGEABLE", true)).await;
    let user = t.user("ann@example.com", PASSWORD).await;
    api_login(&t, &t.client).await;
    let other = t.new_client();
    api_login(&t, &other).await;

    // The owner index of the user's sessions becomes a plain string:
    // Redis refuses to list or end them (WRONGTYPE), while each session
    // itself still loads.
    let prefix = t
        .app
        .state()
        .service::<SessionManager>()
        .unwrap()
        .config()
        .key_prefix
        .clone();
    let owner_key = format!("{prefix}owners:{}", user.id);
    assert!(
        redis_command(&["SET", &owner_key, "broken"])
            .await
            .starts_with("+OK")
    );

    let response = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/change-password",
            &json!({"password": PASSWORD, "new_password": "a brand new password"}),
        )
        .await;
    redis_command(&["DEL", &owner_key]).await;
    assert_eq!(response.status(), 503, "{}", response.text());
    let error = response.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("password was not changed") && error.contains("other sessions"),
        "{error}"
    );
    // Nothing changed: the old password is still the password.
    let stored = t.security().find_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password, user.password);
}

#[tokio::test]
async fn a_password_reset_fails_while_the_session_store_is_down() {
    let t = app_with(Store::Redis, |c| {
        c.set("SECURITY_RECOVERABLE", true)
            // Nothing listens there: every store call fails.
            .set("SESSION_REDIS", "redis://127.0.0.1:1/0")
    })
    .await;
    let user = t.user("ann@example.com", PASSWORD).await;
    let token =
        t.security()
            .tokens()
            .sign(TokenPurpose::ResetPassword, user.id, &user.password, 600);
    let response = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "a brand new password"}),
        )
        .await;
    assert_eq!(response.status(), 503, "{}", response.text());
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("password was not changed"),
        "{}",
        response.text()
    );
    // The token was not used up: the reset can be retried once the store
    // is back.
    let stored = t.security().find_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password, user.password);
}

#[tokio::test]
async fn the_html_change_form_fails_closed_too() {
    let t = app_with(Store::Redis, |c| c.set("SECURITY_CHANGEABLE", true)).await;
    let user = t.user("ann@example.com", PASSWORD).await;
    let done = login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(done.status(), 303, "{}", done.text());
    let prefix = t
        .app
        .state()
        .service::<SessionManager>()
        .unwrap()
        .config()
        .key_prefix
        .clone();
    let owner_key = format!("{prefix}owners:{}", user.id);
    let token = csrf(&t.client, "/change-password").await;
    assert!(
        redis_command(&["SET", &owner_key, "broken"])
            .await
            .starts_with("+OK")
    );
    let response = t
        .client
        .post_form(
            "/change-password",
            &[
                ("csrf_token", &token),
                ("password", PASSWORD),
                ("new_password", "a brand new password"),
                ("new_password_confirm", "a brand new password"),
            ],
        )
        .await;
    redis_command(&["DEL", &owner_key]).await;
    assert_eq!(response.status(), 503, "{}", response.text());
    assert!(
        response.text().contains("password was not changed"),
        "{}",
        response.text()
    );
    let stored = t.security().find_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password, user.password);
}

#[tokio::test]
async fn the_anonymous_csrf_cookie_is_host_only_where_cookies_are_secure() {
    let t = app(|c| c.set("SESSION_COOKIE_SECURE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    let page = t.client.get("/login").await;
    let set = page.set_cookies();
    let csrf_cookie = set
        .iter()
        .find(|c| c.starts_with("__Host-csrf_token="))
        .unwrap_or_else(|| panic!("a __Host-csrf_token cookie: {set:?}"));
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(csrf_cookie.contains(attribute), "{csrf_cookie}");
    }
    assert!(!csrf_cookie.contains("Domain"), "{csrf_cookie}");
    assert!(
        !set.iter().any(|c| c.contains("session=")),
        "no session for the login form: {set:?}"
    );

    // The form token goes with that cookie: the login works.
    let token = csrf_in(&page.text());
    let done = t
        .client
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status(), 303, "{}", done.text());
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
}

#[tokio::test]
async fn forms_signed_under_a_rotated_key_still_pass() {
    // A form rendered before SECRET_KEY moved to SECRET_KEY_FALLBACKS.
    let old = app(|c| c.set("SECRET_KEY", "an old secret key for the test")).await;
    let token = csrf(&old.client, "/login").await;
    let seed = old.client.cookie("csrf_token").expect("the CSRF cookie");

    let rotated = app(|c| {
        c.set("SECRET_KEY", "a new secret key for the test").set(
            "SECRET_KEY_FALLBACKS",
            vec!["an old secret key for the test"],
        )
    })
    .await;
    rotated.user("ann@example.com", PASSWORD).await;
    rotated.client.set_cookie("csrf_token", &seed);
    let form = [
        ("csrf_token", token.as_str()),
        ("email", "ann@example.com"),
        ("password", PASSWORD),
    ];
    assert_eq!(
        rotated.client.post_form("/login", &form).await.status(),
        303
    );

    // Under an unrelated key the same form is refused.
    let other = app(|c| c.set("SECRET_KEY", "some other secret key entirely")).await;
    other.client.set_cookie("csrf_token", &seed);
    assert_eq!(other.client.post_form("/login", &form).await.status(), 400);
}
