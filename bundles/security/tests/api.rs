//! The JSON API under `/api/v1/auth/`.

mod common;

use common::*;
use http::{Method, Request, header};
use serde_json::json;
use unchained::axum::body::Body;

#[tokio::test]
async fn login_check_and_logout_with_json() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    let anonymous = t.client.get("/api/v1/auth/check").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json()["error"], "authentication required");

    let wrong = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": "nope nope"}),
        )
        .await;
    assert_eq!(wrong.status(), 400);
    let unknown = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ghost@example.com", "password": "nope nope"}),
        )
        .await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(
        wrong.json(),
        unknown.json(),
        "same answer for wrong password and unknown email"
    );
    assert_eq!(wrong.json()["error"], "Invalid email or password.");

    let ok = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(ok.json()["user"]["email"], "ann@example.com");
    assert!(ok.json()["user"].get("password").is_none());
    let check = t.client.get("/api/v1/auth/check").await;
    assert_eq!(check.status(), 200);
    assert_eq!(check.json()["authenticated"], true);
    assert_eq!(check.json()["user"]["roles"], json!([]));

    let out = t
        .client
        .json(Method::POST, "/api/v1/auth/logout", &json!({}))
        .await;
    assert_eq!(out.status(), 200);
    assert_eq!(t.client.get("/api/v1/auth/check").await.status(), 401);
}

#[tokio::test]
async fn only_json_is_accepted() {
    let t = app(|c| {
        c.set("SECURITY_CHANGEABLE", true)
            .set("SECURITY_RECOVERABLE", true)
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/change-password",
        "/api/v1/auth/forgot-password",
        "/api/v1/auth/reset-password",
        "/api/v1/auth/sessions/end",
        "/api/v1/auth/sessions/end-others",
    ] {
        let form = t
            .client
            .post_form(
                path,
                &[("email", "ann@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(form.status(), 415, "{path}: {}", form.text());
        assert!(
            form.json()["error"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
        let plain = Request::post(path)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(t.client.request(plain).await.status(), 415, "{path}");
        let none = Request::post(path).body(Body::from("{}")).unwrap();
        assert_eq!(t.client.request(none).await.status(), 415, "{path}");
    }
    assert_eq!(t.client.get("/api/v1/auth/check").await.status(), 401);
    let broken = Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let broken = t.client.request(broken).await;
    assert_eq!(broken.status(), 400);
    assert!(
        broken.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
}

#[tokio::test]
async fn api_login_is_throttled() {
    let t = app(|c| c.set("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", 2)).await;
    t.user("ann@example.com", PASSWORD).await;
    for _ in 0..2 {
        t.client
            .json(
                Method::POST,
                "/api/v1/auth/login",
                &json!({"email": "ann@example.com", "password": "x"}),
            )
            .await;
    }
    let refused = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn api_change_password_ends_other_sessions() {
    let off = app(|c| c).await;
    assert_eq!(
        off.client
            .json(Method::POST, "/api/v1/auth/change-password", &json!({}))
            .await
            .status(),
        404
    );
    let t = app(|c| c.set("SECURITY_CHANGEABLE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    let anonymous = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/change-password",
            &json!({"password": PASSWORD, "new_password": "x"}),
        )
        .await;
    assert_eq!(anonymous.status(), 401);
    let other = t.new_client();
    for client in [&t.client, &other] {
        client
            .json(
                Method::POST,
                "/api/v1/auth/login",
                &json!({"email": "ann@example.com", "password": PASSWORD}),
            )
            .await;
    }
    let short = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/change-password",
            &json!({"password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.status(), 400);
    let ok = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/change-password",
            &json!({"password": PASSWORD, "new_password": "another long secret"}),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(t.client.get("/api/v1/auth/check").await.status(), 200);
    assert_eq!(other.get("/api/v1/auth/check").await.status(), 401);
}

#[tokio::test]
async fn api_forgot_and_reset_password() {
    let t = app(|c| c.set("SECURITY_RECOVERABLE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    let unknown = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/forgot-password",
            &json!({"email": "ghost@example.com"}),
        )
        .await;
    let known = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/forgot-password",
            &json!({"email": "ann@example.com"}),
        )
        .await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(unknown.json(), known.json());
    let mails = t.wait_for_mails(1).await;
    let link = link_path(&mails[0], "/reset-password/");
    let token = link.trim_start_matches("/reset-password/");
    let bad = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/reset-password",
            &json!({"token": "a.b", "password": "whatever long"}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let ok = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "api new secret"}),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
    let again = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "api newer secret"}),
        )
        .await;
    assert_eq!(again.status(), 400, "single use");
    let login = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": "api new secret"}),
        )
        .await;
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn api_lists_and_ends_sessions() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    assert_eq!(t.client.get("/api/v1/auth/sessions").await.status(), 401);
    let phone = t.new_client();
    let tablet = t.new_client();
    for client in [&t.client, &phone, &tablet] {
        client
            .json(
                Method::POST,
                "/api/v1/auth/login",
                &json!({"email": "ann@example.com", "password": PASSWORD}),
            )
            .await;
    }
    let list = t.client.get("/api/v1/auth/sessions").await.json();
    let sessions = list["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for s in &sessions {
        assert!(
            s["created_at"].is_string()
                && s["last_seen_at"].is_string()
                && s["user_agent"].is_string()
        );
        // The handle is not the session id held in a cookie.
        for client in [&t.client, &phone, &tablet] {
            let cookie = client.cookie("session").unwrap();
            assert!(!cookie.contains(s["id"].as_str().unwrap()));
        }
    }
    let phone_id = phone.get("/api/v1/auth/sessions").await.json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .clone();
    let ended = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/sessions/end",
            &json!({"id": phone_id}),
        )
        .await;
    assert_eq!(ended.status(), 200);
    assert_eq!(phone.get("/api/v1/auth/check").await.status(), 401);
    let missing = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/sessions/end",
            &json!({"id": "00"}),
        )
        .await;
    assert_eq!(missing.status(), 404);
    let others = t
        .client
        .json(Method::POST, "/api/v1/auth/sessions/end-others", &json!({}))
        .await;
    assert_eq!(others.json()["ended"], 1);
    assert_eq!(tablet.get("/api/v1/auth/check").await.status(), 401);
    assert_eq!(t.client.get("/api/v1/auth/check").await.status(), 200);
    // Ending the current session by its handle logs out.
    let me = t.client.get("/api/v1/auth/sessions").await.json()["sessions"][0]["id"].clone();
    let own = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/sessions/end",
            &json!({"id": me}),
        )
        .await;
    assert_eq!(own.json()["current"], true);
    assert_eq!(t.client.get("/api/v1/auth/check").await.status(), 401);
}

#[tokio::test]
async fn unconfirmed_and_disabled_accounts_get_403_from_the_api() {
    let t = app(|c| c.set("SECURITY_CONFIRMABLE", true)).await;
    let security = t.security();
    security
        .create_user("new@example.com", PASSWORD, true, false)
        .await
        .unwrap();
    let unconfirmed = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(unconfirmed.status(), 403);
    let off = security
        .create_user("off@example.com", PASSWORD, false, true)
        .await
        .unwrap();
    assert!(!off.active);
    let disabled = t
        .client
        .json(
            Method::POST,
            "/api/v1/auth/login",
            &json!({"email": "off@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(disabled.status(), 403);
    assert_eq!(disabled.json()["error"], "This account is disabled.");
}
