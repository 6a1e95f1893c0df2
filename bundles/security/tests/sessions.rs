//! Session safety on every session store: replayed cookies after logout,
//! fixation, and what `Set-Cookie` may carry.

mod common;

use common::*;
use http::Method;
use serde_json::json;

/// Log in, copy the cookie, log out, replay the copy: anonymous (HTML
/// redirect to /login, JSON 401).
async fn replay_after_logout(store: Store) {
    let t = app_with(store, |c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    let response = login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303, "{store:?}: {}", response.text());
    assert_eq!(
        t.client.get("/protected").await.text(),
        "protected:ann@example.com",
        "{store:?}"
    );
    let copy = t.client.cookie("session").expect("session cookie");

    let out = post_with_csrf(&t.client, "/logout", "/logout", &[]).await;
    assert_eq!(out.status(), 303, "{store:?}");

    let attacker = t.new_client();
    attacker.set_cookie("session", &copy);
    let html = attacker.get("/protected").await;
    assert_eq!(html.status(), 303, "{store:?}");
    assert!(
        html.header("location").unwrap().starts_with("/login?next="),
        "{store:?}"
    );
    attacker.set_cookie("session", &copy);
    let api = attacker.get("/api/v1/auth/check").await;
    assert_eq!(api.status(), 401, "{store:?}");
    attacker.set_cookie("session", &copy);
    assert_eq!(
        attacker.get("/api/private").await.status(),
        401,
        "{store:?}"
    );
}

/// The id held before login is dead after login.
async fn no_fixation(store: Store) {
    let t = app_with(store, |c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    // Showing the login form stores nothing; writing to the session
    // (a cart, a theme) does.
    let token = csrf(&t.client, "/login").await;
    assert_eq!(t.client.cookie("session"), None, "{store:?}");
    assert_eq!(t.client.get("/remember").await.text(), "remembered");
    let before = t.client.cookie("session").expect("a pre-login session");
    let response = t
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
    assert_eq!(response.status(), 303, "{store:?}");
    let after = t.client.cookie("session").unwrap();
    assert_ne!(
        before, after,
        "{store:?}: login must issue a new session id"
    );
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");

    let attacker = t.new_client();
    attacker.set_cookie("session", &before);
    assert_eq!(
        attacker.get("/api/v1/auth/check").await.status(),
        401,
        "{store:?}"
    );
    assert_eq!(whoami(&attacker).await, "anonymous", "{store:?}");
    // And the old id is gone from the store itself.
    let manager = t.security().sessions().clone();
    let live = manager.list_owner_sessions("1").await.unwrap();
    assert_eq!(live.len(), 1, "{store:?}");
    assert!(!before.contains(&live[0].id), "{store:?}");
}

#[tokio::test]
async fn replay_after_logout_memory() {
    replay_after_logout(Store::Memory).await;
}

#[tokio::test]
async fn replay_after_logout_filesystem() {
    replay_after_logout(Store::Filesystem).await;
}

#[tokio::test]
async fn replay_after_logout_sqlite() {
    replay_after_logout(Store::Sqlite).await;
}

#[tokio::test]
async fn replay_after_logout_redis() {
    replay_after_logout(Store::Redis).await;
}

#[tokio::test]
async fn replay_after_logout_postgres() {
    replay_after_logout(Store::Postgres).await;
}

#[tokio::test]
async fn replay_after_logout_mysql() {
    replay_after_logout(Store::Mysql).await;
}

#[tokio::test]
async fn no_fixation_memory() {
    no_fixation(Store::Memory).await;
}

#[tokio::test]
async fn no_fixation_filesystem() {
    no_fixation(Store::Filesystem).await;
}

#[tokio::test]
async fn no_fixation_sqlite() {
    no_fixation(Store::Sqlite).await;
}

#[tokio::test]
async fn no_fixation_redis() {
    no_fixation(Store::Redis).await;
}

#[tokio::test]
async fn no_fixation_postgres() {
    no_fixation(Store::Postgres).await;
}

#[tokio::test]
async fn no_fixation_mysql() {
    no_fixation(Store::Mysql).await;
}

#[tokio::test]
async fn api_logout_also_kills_the_cookie_copy() {
    let t = app_with(Store::Sqlite, |c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    t.client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let copy = t.client.cookie("session").unwrap();
    t.client
        .json(Method::POST, "/api/v1/auth/logout", &json!({}))
        .await;
    let attacker = t.new_client();
    attacker.set_cookie("session", &copy);
    assert_eq!(attacker.get("/api/v1/auth/check").await.status(), 401);
}

#[tokio::test]
async fn no_secret_ever_reaches_a_set_cookie_header() {
    let t = app_with(Store::Sqlite, |c| {
        c.set("SECURITY_REGISTERABLE", true)
            .set("SECURITY_CHANGEABLE", true)
    })
    .await;
    let email = "carol@example.com";
    let new_password = "carol's new secret";
    let mut set_cookies: Vec<String> = Vec::new();
    let mut record = |r: &unchained::testing::TestResponse| set_cookies.extend(r.set_cookies());

    let page = t.client.get("/register").await;
    record(&page);
    let token = csrf_in(&page.text());
    let registered = t
        .client
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(registered.status(), 303);
    record(&registered);
    let page = t.client.get("/logout").await;
    record(&page);
    let out = t
        .client
        .post_form("/logout", &[("csrf_token", &csrf_in(&page.text()))])
        .await;
    record(&out);
    let page = t.client.get("/login").await;
    record(&page);
    let logged_in = t
        .client
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf_in(&page.text())),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(logged_in.status(), 303);
    record(&logged_in);
    let page = t.client.get("/change-password").await;
    record(&page);
    let changed = t
        .client
        .post_form(
            "/change-password",
            &[
                ("csrf_token", &csrf_in(&page.text())),
                ("password", PASSWORD),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_eq!(changed.status(), 303);
    record(&changed);
    let api_login = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": email, "password": new_password}),
        )
        .await;
    assert_eq!(api_login.status(), 200);
    record(&api_login);
    let page = t.client.get("/logout").await;
    record(&page);
    let out = t
        .client
        .post_form("/logout", &[("csrf_token", &csrf_in(&page.text()))])
        .await;
    record(&out);

    assert!(!set_cookies.is_empty());
    let user = t
        .security()
        .find_user_by_email(email)
        .await
        .unwrap()
        .unwrap();
    let hash = user.password.clone();
    let hash_part = hash.rsplit('$').next().unwrap().to_owned();
    for header in &set_cookies {
        let lower = header.to_lowercase();
        for secret in [
            PASSWORD,
            new_password,
            "carol",
            "example.com",
            &hash,
            &hash_part,
            "argon2",
        ] {
            assert!(
                !lower.contains(&secret.to_lowercase()),
                "{header:?} contains {secret:?}"
            );
        }
        let value = header.split(';').next().unwrap();
        let (name, value) = value.split_once('=').unwrap();
        if name == "csrf_token" {
            // The anonymous CSRF seed: random, and the same length
            // whatever the user.
            assert_eq!(value.len(), 43, "{header}");
            continue;
        }
        assert_eq!(
            name, "session",
            "only the session and CSRF cookies are set: {header}"
        );
        assert!(
            value.is_empty() || value != user.id.to_string(),
            "the cookie is not the user id: {header}"
        );
        assert!(
            value.len() >= 20 || value.is_empty(),
            "opaque random id: {header}"
        );
    }
}
