//! HTML routes, flags and guards through the in-process test client.

mod common;

use common::*;
use http::{Request, header};
use unchained::axum::body::Body;

#[tokio::test]
async fn login_and_logout_through_html_forms() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    assert_eq!(whoami(&t.client).await, "anonymous");

    let page = t.client.get("/login").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .contains("<form method=\"post\" action=\"/login\">")
    );

    let response = login(&t.client, "Ann@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.header("location"), Some("/"));
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
    // Logged in: the login page sends you on.
    assert_eq!(t.client.get("/login").await.status(), 303);

    // GET /logout only asks; POST logs out.
    let ask = t.client.get("/logout").await;
    assert_eq!(ask.status(), 200);
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
    let token = csrf_in(&ask.text());
    let out = t
        .client
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.header("location"), Some("/"));
    assert_eq!(whoami(&t.client).await, "anonymous");
}

#[tokio::test]
async fn redirects_after_login_and_logout_are_configurable() {
    let t = app(|c| {
        c.set("SECURITY_POST_LOGIN_VIEW", "/welcome")
            .set("SECURITY_POST_LOGOUT_VIEW", "/bye")
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    let response = login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(response.header("location"), Some("/welcome"));
    let out = post_with_csrf(&t.client, "/logout", "/logout", &[]).await;
    assert_eq!(out.header("location"), Some("/bye"));
}

#[tokio::test]
async fn a_bad_redirect_config_is_a_startup_error() {
    let err = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(unchained_session::SessionBundle),
            std::sync::Arc::new(unchained_security::SecurityBundle),
        ],
        |c| {
            c.set("SESSION_TYPE", "memory")
                .set("SECURITY_POST_LOGIN_VIEW", "https://evil.example")
        },
        unchained::config::Environment::Test,
    )
    .await
    .err()
    .expect("must fail");
    assert!(
        err.to_string().contains("SECURITY_POST_LOGIN_VIEW"),
        "{err}"
    );
}

#[tokio::test]
async fn next_is_honoured_only_for_same_site_paths() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    for (next, expected) in [
        ("/protected?tab=2", "/protected?tab=2"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let client = t.new_client();
        let token = csrf(&client, "/login").await;
        let response = client
            .post_form(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(response.header("location"), Some(expected), "next={next}");
    }
    // The login page keeps a safe next in its form and drops a foreign one.
    let page = t.new_client().get("/login?next=%2Fprotected").await.text();
    // (minijinja escapes `/` as `&#x2f;` in HTML.)
    assert!(
        page.contains("name=\"next\" value=\"&#x2f;protected\""),
        "{page}"
    );
    let page = t
        .new_client()
        .get("/login?next=https%3A%2F%2Fevil.example")
        .await
        .text();
    assert!(!page.contains("evil.example"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    let wrong = login(&t.client, "ann@example.com", "wrong password").await;
    let unknown = login(&t.client, "nobody@example.com", "wrong password").await;
    assert_eq!(wrong.status(), 200);
    assert_eq!(unknown.status(), 200);
    assert!(wrong.text().contains("Invalid email or password."));
    assert!(unknown.text().contains("Invalid email or password."));
    // Same page apart from the echoed email and the CSRF token.
    let strip = |s: String, email: &str| s.replace(email, "EMAIL").replace(&csrf_in(&s), "TOKEN");
    assert_eq!(
        strip(wrong.text(), "ann@example.com"),
        strip(unknown.text(), "nobody@example.com")
    );
    assert_eq!(whoami(&t.client).await, "anonymous");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let t = app(|c| c.set("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", 3)).await;
    t.user("ann@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(
            login(&t.client, "ann@example.com", "nope nope")
                .await
                .status(),
            200
        );
    }
    let refused = login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.header("retry-after").is_some());
    assert!(refused.text().contains("Too many failed login attempts"));
    assert_eq!(whoami(&t.client).await, "anonymous");
    // Unknown emails are throttled alike (no hint that they do not exist).
    for _ in 0..3 {
        login(&t.client, "ghost@example.com", "nope nope").await;
    }
    assert_eq!(
        login(&t.client, "ghost@example.com", "nope nope")
            .await
            .status(),
        429
    );
    // Other accounts are not affected.
    t.user("bob@example.com", PASSWORD).await;
    assert_eq!(
        login(&t.client, "bob@example.com", PASSWORD).await.status(),
        303
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address() {
    let t = app(|c| {
        c.set("SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS", 2)
            .set("SECURITY_CLIENT_ADDRESS_HEADER", "X-Forwarded-For")
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    let attempt = |from: &'static str, email: &'static str, password: &'static str| {
        let client = &t.client;
        async move {
            let token = csrf(client, "/login").await;
            let body = format!(
                "csrf_token={token}&email={}&password={}",
                email.replace('@', "%40"),
                password.replace(' ', "+")
            );
            let request = Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-forwarded-for", from)
                .body(Body::from(body))
                .unwrap();
            client.request(request).await.status()
        }
    };
    assert_eq!(attempt("10.0.0.1", "a@example.com", "x y").await, 200);
    assert_eq!(attempt("10.0.0.1", "b@example.com", "x y").await, 200);
    assert_eq!(attempt("10.0.0.1", "ann@example.com", PASSWORD).await, 429);
    assert_eq!(attempt("10.0.0.2", "ann@example.com", PASSWORD).await, 303);
}

#[tokio::test]
async fn csrf_is_required_on_unsafe_form_requests() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    // No session, no token.
    let bare = t
        .client
        .post_form(
            "/login",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bare.status(), 400);
    assert!(bare.text().contains("CSRF check failed"), "{}", bare.text());
    // A session but a wrong token.
    let token = csrf(&t.client, "/login").await;
    let wrong = t
        .client
        .post_form(
            "/login",
            &[
                ("csrf_token", "wrong"),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(whoami(&t.client).await, "anonymous");
    // The app's own forms are protected too; the header works as well.
    assert_eq!(
        t.client
            .post_form("/app-form", &[("x", "1")])
            .await
            .status(),
        400
    );
    let page_token = t.client.get("/app-form").await.text();
    assert_eq!(page_token, token, "one token per session");
    let ok = t
        .client
        .post_form("/app-form", &[("csrf_token", &page_token)])
        .await;
    assert_eq!(ok.text(), "form accepted");
    let with_header = Request::post("/app-form")
        .header(header::CONTENT_TYPE, "text/plain")
        .header("x-csrf-token", &page_token)
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(t.client.request(with_header).await.text(), "form accepted");
    let multipart = Request::post("/app-form")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
        .body(Body::from(format!(
            "--XYZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{page_token}\r\n--XYZ--\r\n"
        )))
        .unwrap();
    assert_eq!(t.client.request(multipart).await.text(), "form accepted");
    // JSON bodies are not subject to the form check.
    let json = t
        .client
        .json(http::Method::POST, "/app-form", &serde_json::json!({}))
        .await;
    assert_eq!(json.text(), "form accepted");
}

#[tokio::test]
async fn csrf_can_be_disabled_or_exempted() {
    let t = app(|c| c.set("SECURITY_CSRF_EXEMPT_PATHS", vec!["/app-form"])).await;
    assert_eq!(
        t.client.post_form("/app-form", &[("x", "1")]).await.text(),
        "form accepted"
    );
    assert_eq!(
        t.client
            .post_form("/login", &[("email", "a@b.cd")])
            .await
            .status(),
        400
    );
    let t = app(|c| c.set("SECURITY_CSRF_ENABLED", false)).await;
    t.user("ann@example.com", PASSWORD).await;
    let response = t
        .client
        .post_form(
            "/login",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn guards_redirect_html_and_answer_401_to_json() {
    let t = app(|c| c).await;
    let page = t.client.get("/protected?x=1").await;
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.header("location"),
        Some("/login?next=/protected%3Fx%3D1")
    );
    let api = t.client.get("/api/private").await;
    assert_eq!(api.status(), 401);
    assert_eq!(api.json()["error"], "authentication required");
    let accept_json = Request::get("/protected")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.client.request(accept_json).await.status(), 401);
    // Role layers also require a login first.
    assert_eq!(t.client.get("/admin").await.status(), 303);
    assert_eq!(t.client.get("/staff").await.status(), 303);

    t.user("ann@example.com", PASSWORD).await;
    login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(
        t.client.get("/protected").await.text(),
        "protected:ann@example.com"
    );
    assert_eq!(
        t.client.get("/api/private").await.json()["email"],
        "ann@example.com"
    );
    assert_eq!(t.client.get("/admin").await.status(), 403);
    assert_eq!(t.client.get("/staff").await.status(), 403);
    let json_forbidden = Request::get("/admin")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.client.request(json_forbidden).await.status(), 403);
}

#[tokio::test]
async fn roles_required_needs_all_and_roles_accepted_any() {
    let t = app(|c| c).await;
    let security = t.security();
    let ann = t.user("ann@example.com", PASSWORD).await;
    security.create_role("staff", "").await.unwrap();
    security.create_role("admin", "").await.unwrap();
    security.add_role(ann.id, "staff").await.unwrap();
    login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(t.client.get("/staff").await.text(), "staff area");
    assert_eq!(t.client.get("/admin").await.status(), 403);
    security.add_role(ann.id, "admin").await.unwrap();
    assert_eq!(t.client.get("/admin").await.text(), "admin area");
    security.remove_role(ann.id, "staff").await.unwrap();
    assert_eq!(
        t.client.get("/staff").await.text(),
        "staff area",
        "admin is accepted too"
    );
}

#[tokio::test]
async fn registration_follows_its_flag() {
    let off = app(|c| c).await;
    assert_eq!(off.client.get("/register").await.status(), 404);

    let t = app(|c| {
        c.set("SECURITY_REGISTERABLE", true)
            .set("SECURITY_PASSWORD_LENGTH_MIN", 12)
    })
    .await;
    let short = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", "short pw"),
            ("password_confirm", "short pw"),
        ],
    )
    .await;
    assert!(
        short.text().contains("at least 12 characters"),
        "{}",
        short.text()
    );
    let mismatch = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("password_confirm", "other password"),
        ],
    )
    .await;
    assert!(mismatch.text().contains("do not match"));
    let bad_email = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "not-an-email"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert!(bad_email.text().contains("valid email"));
    let ok = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "New@Example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(ok.status(), 303, "{}", ok.text());
    assert_eq!(whoami(&t.client).await, "user:new@example.com");
    let stored = t
        .security()
        .find_user_by_email("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password.starts_with("$argon2id$"));
    assert!(stored.active);

    let other = t.new_client();
    let dup = post_with_csrf(
        &other,
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert!(dup.text().contains("already registered"));
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let off = app(|c| c).await;
    assert_eq!(off.client.get("/change-password").await.status(), 404);

    let t = app(|c| c.set("SECURITY_CHANGEABLE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    assert_eq!(
        t.client.get("/change-password").await.status(),
        303,
        "login required"
    );
    login(&t.client, "ann@example.com", PASSWORD).await;
    let laptop = t.new_client();
    login(&laptop, "ann@example.com", PASSWORD).await;
    assert_eq!(whoami(&laptop).await, "user:ann@example.com");

    let wrong = post_with_csrf(
        &t.client,
        "/change-password",
        "/change-password",
        &[
            ("password", "not it at all"),
            ("new_password", "brand new secret"),
            ("new_password_confirm", "brand new secret"),
        ],
    )
    .await;
    assert!(wrong.text().contains("current password is wrong"));
    let ok = post_with_csrf(
        &t.client,
        "/change-password",
        "/change-password",
        &[
            ("password", PASSWORD),
            ("new_password", "brand new secret"),
            ("new_password_confirm", "brand new secret"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 303, "{}", ok.text());
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
    assert_eq!(whoami(&laptop).await, "anonymous", "other session ended");
    let again = t.new_client();
    assert_eq!(
        login(&again, "ann@example.com", PASSWORD).await.status(),
        200,
        "old password refused"
    );
    assert_eq!(
        login(&again, "ann@example.com", "brand new secret")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn forgot_and_reset_password_with_a_single_use_link() {
    let off = app(|c| c).await;
    assert_eq!(off.client.get("/forgot-password").await.status(), 404);

    let t = app(|c| c.set("SECURITY_RECOVERABLE", true)).await;
    t.user("ann@example.com", PASSWORD).await;
    let phone = t.new_client();
    login(&phone, "ann@example.com", PASSWORD).await;

    let unknown = post_with_csrf(
        &t.client,
        "/forgot-password",
        "/forgot-password",
        &[("email", "ghost@example.com")],
    )
    .await;
    let known = post_with_csrf(
        &t.client,
        "/forgot-password",
        "/forgot-password",
        &[("email", "ann@example.com")],
    )
    .await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(
        unknown.text(),
        known.text(),
        "same answer for known and unknown emails"
    );

    let mails = t.wait_for_mails(1).await;
    assert_eq!(mails.len(), 1, "no mail for the unknown address");
    assert!(mails[0].contains("To: ann@example.com"));
    let link = link_path(&mails[0], "/reset-password/");
    assert!(mails[0].contains(&format!("http://localhost:5000{link}")));

    let form = t.client.get(&link).await;
    assert_eq!(form.status(), 200);
    let token = csrf_in(&form.text());
    let short = t
        .client
        .post_form(
            &link,
            &[
                ("csrf_token", &token),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert!(short.text().contains("at least 8 characters"));
    let done = t
        .client
        .post_form(
            &link,
            &[
                ("csrf_token", &token),
                ("password", "reset new secret"),
                ("password_confirm", "reset new secret"),
            ],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.header("location"), Some("/login"));
    assert_eq!(
        whoami(&phone).await,
        "anonymous",
        "reset ends every session"
    );
    // Single use: the link is dead now.
    let reused = t.client.get(&link).await;
    assert_eq!(reused.status(), 400);
    assert!(reused.text().contains("invalid or has already been used"));
    let forged = t.client.get("/reset-password/abc.def").await;
    assert_eq!(forged.status(), 400);
    assert_eq!(
        login(&t.new_client(), "ann@example.com", "reset new secret")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn reset_links_expire() {
    let t = app(|c| {
        c.set("SECURITY_RECOVERABLE", true)
            .set("SECURITY_RESET_PASSWORD_WITHIN", 1)
    })
    .await;
    t.user("ann@example.com", PASSWORD).await;
    post_with_csrf(
        &t.client,
        "/forgot-password",
        "/forgot-password",
        &[("email", "ann@example.com")],
    )
    .await;
    let mails = t.wait_for_mails(1).await;
    let link = link_path(&mails[0], "/reset-password/");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = t.client.get(&link).await;
    assert_eq!(expired.status(), 400);
    assert!(expired.text().contains("expired"), "{}", expired.text());
}

#[tokio::test]
async fn confirmable_accounts_confirm_their_email_before_login() {
    let t = app(|c| {
        c.set("SECURITY_REGISTERABLE", true)
            .set("SECURITY_CONFIRMABLE", true)
    })
    .await;
    let response = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert!(response.text().contains("Check your email"));
    assert_eq!(
        whoami(&t.client).await,
        "anonymous",
        "not logged in before confirming"
    );
    let refused = login(&t.client, "new@example.com", PASSWORD).await;
    assert!(
        refused.text().contains("not confirmed"),
        "{}",
        refused.text()
    );

    // Registering an existing address looks the same, and mails its owner.
    let again = post_with_csrf(
        &t.new_client(),
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert!(again.text().contains("Check your email"));

    // Ask for another confirmation email.
    assert_eq!(t.client.get("/send-confirmation-email").await.status(), 200);
    post_with_csrf(
        &t.client,
        "/send-confirmation-email",
        "/send-confirmation-email",
        &[("email", "new@example.com")],
    )
    .await;
    let mails = t.wait_for_mails(3).await;
    assert!(mails.iter().any(|m| m.contains("already has one")));
    let confirmations: Vec<&String> = mails.iter().filter(|m| m.contains("/confirm/")).collect();
    assert_eq!(confirmations.len(), 2);
    let link = link_path(confirmations[0], "/confirm/");
    let confirmed = t.client.get(&link).await;
    assert_eq!(confirmed.status(), 303);
    assert_eq!(confirmed.header("location"), Some("/login"));
    assert_eq!(t.client.get(&link).await.status(), 400, "single use");
    let other = link_path(confirmations[1], "/confirm/");
    assert_eq!(
        t.client.get(&other).await.status(),
        400,
        "the second link died with the first"
    );
    let ok = login(&t.client, "new@example.com", PASSWORD).await;
    assert_eq!(ok.status(), 303, "{}", ok.text());
    assert_eq!(whoami(&t.client).await, "user:new@example.com");
}

#[tokio::test]
async fn confirmation_routes_follow_their_flag() {
    let t = app(|c| c).await;
    assert_eq!(t.client.get("/send-confirmation-email").await.status(), 404);
    assert_eq!(t.client.get("/confirm/x.y").await.status(), 404);
}

#[tokio::test]
async fn deactivated_users_lose_their_sessions_and_cannot_log_in() {
    let t = app(|c| c).await;
    let ann = t.user("ann@example.com", PASSWORD).await;
    login(&t.client, "ann@example.com", PASSWORD).await;
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
    t.security().set_active(ann, false).await.unwrap();
    assert_eq!(whoami(&t.client).await, "anonymous");
    let refused = login(&t.client, "ann@example.com", PASSWORD).await;
    assert!(refused.text().contains("disabled"));
    // A wrong password on a disabled account gets the generic message.
    let wrong = login(&t.client, "ann@example.com", "wrong wrong").await;
    assert!(wrong.text().contains("Invalid email or password."));
}

#[tokio::test]
async fn login_rehashes_weaker_hashes() {
    let t = app(|c| c.set("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", 128)).await;
    let security = t.security();
    let weak_hasher = unchained_security::password::PasswordHasher::new(
        argon2::Params::new(64, 1, 1, None).unwrap(),
    )
    .unwrap();
    let ann = t.user("ann@example.com", PASSWORD).await;
    let weak = weak_hasher.hash_blocking(PASSWORD).unwrap();
    let ann = security.set_password(ann, PASSWORD).await.unwrap();
    assert!(ann.password.contains("m=128"));
    // Store the weak hash directly, as an older deployment would have.
    use sea_orm::{ActiveModelTrait, Set};
    let mut model: unchained_security::models::user::ActiveModel = ann.into();
    model.password = Set(weak.clone());
    model.update(security.db()).await.unwrap();

    assert_eq!(
        login(&t.client, "ann@example.com", PASSWORD).await.status(),
        303
    );
    let after = security
        .find_user_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.password, weak);
    assert!(
        after.password.starts_with("$argon2id$v=19$m=128,t=1,p=1$"),
        "{}",
        after.password
    );
}

#[tokio::test]
async fn the_sessions_page_lists_and_ends_sessions() {
    let t = app(|c| c).await;
    t.user("ann@example.com", PASSWORD).await;
    assert_eq!(t.client.get("/sessions").await.status(), 303);
    let phone = t.new_client();
    let tablet = t.new_client();
    for client in [&t.client, &phone, &tablet] {
        login(client, "ann@example.com", PASSWORD).await;
        let request = Request::get("/whoami")
            .header(header::USER_AGENT, "TestBrowser/1.0")
            .body(Body::empty())
            .unwrap();
        client.request(request).await;
    }
    let page = t.client.get("/sessions").await;
    assert_eq!(page.status(), 200);
    let text = page.text();
    assert_eq!(
        text.matches("action=\"/sessions/end\"").count(),
        3,
        "{text}"
    );
    assert!(text.contains("TestBrowser&#x2f;1.0"), "{text}");
    assert!(text.contains("This session"));

    // End the phone's session by its handle (from the API list).
    let list = phone.get("/api/v1/auth/sessions").await.json();
    let phone_id = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = csrf_in(&text);
    let ended = t
        .client
        .post_form(
            "/sessions/end",
            &[("csrf_token", &token), ("id", &phone_id)],
        )
        .await;
    assert_eq!(ended.status(), 303);
    assert_eq!(whoami(&phone).await, "anonymous");
    assert_eq!(whoami(&tablet).await, "user:ann@example.com");

    let token = csrf(&t.client, "/sessions").await;
    t.client
        .post_form("/sessions/end-others", &[("csrf_token", &token)])
        .await;
    assert_eq!(whoami(&tablet).await, "anonymous");
    assert_eq!(whoami(&t.client).await, "user:ann@example.com");
    let page = t.client.get("/sessions").await.text();
    assert_eq!(page.matches("action=\"/sessions/end\"").count(), 1);
}

#[tokio::test]
async fn templates_can_be_overridden_by_the_app() {
    #[derive(Default)]
    struct Override;
    #[unchained::async_trait]
    impl unchained::Bundle for Override {
        fn name(&self) -> &'static str {
            "app"
        }
        fn is_app(&self) -> bool {
            true
        }
        fn templates(&self) -> Vec<(&'static str, &'static str)> {
            vec![(
                "security/login.html",
                "custom login {{ 'with token' if csrf_token else 'without' }}",
            )]
        }
    }
    let db = unchained_database::testing::TestDatabase::sqlite()
        .await
        .unwrap();
    unchained_security::models::create_tables(db.connection())
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(unchained_session::SessionBundle),
            std::sync::Arc::new(unchained_security::SecurityBundle),
            std::sync::Arc::new(Override),
        ],
        |c| c.set("DATABASE_URL", url).set("SESSION_TYPE", "memory"),
        unchained::config::Environment::Test,
    )
    .await
    .unwrap();
    let client = unchained::testing::TestClient::new(app);
    assert_eq!(client.get("/login").await.text(), "custom login with token");
}

#[tokio::test]
async fn the_bundle_needs_the_session_bundle() {
    let err = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(unchained_security::SecurityBundle),
        ],
        |c| c,
        unchained::config::Environment::Test,
    )
    .await
    .err()
    .expect("must fail");
    assert!(
        err.to_string()
            .contains("requires unchained.bundles.session"),
        "{err}"
    );
}

#[tokio::test]
async fn every_post_view_and_the_login_url_are_configurable() {
    let t = app(|c| {
        c.set("SECURITY_REGISTERABLE", true)
            .set("SECURITY_CHANGEABLE", true)
            .set("SECURITY_RECOVERABLE", true)
            .set("SECURITY_CONFIRMABLE", true)
            .set("SECURITY_LOGIN_WITHOUT_CONFIRMATION", true)
            .set("SECURITY_LOGIN_URL", "/account/sign-in")
            .set("SECURITY_POST_REGISTER_VIEW", "/registered")
            .set("SECURITY_POST_CHANGE_VIEW", "/changed")
            .set("SECURITY_POST_RESET_VIEW", "/was-reset")
            .set("SECURITY_POST_CONFIRM_VIEW", "/confirmed")
    })
    .await;
    let guarded = t.client.get("/protected").await;
    assert_eq!(
        guarded.header("location"),
        Some("/account/sign-in?next=/protected")
    );

    // With SECURITY_LOGIN_WITHOUT_CONFIRMATION, registering logs in at once.
    let registered = post_with_csrf(
        &t.client,
        "/register",
        "/register",
        &[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(registered.header("location"), Some("/registered"));
    assert_eq!(whoami(&t.client).await, "user:new@example.com");

    let changed = post_with_csrf(
        &t.client,
        "/change-password",
        "/change-password",
        &[
            ("password", PASSWORD),
            ("new_password", "second secret"),
            ("new_password_confirm", "second secret"),
        ],
    )
    .await;
    assert_eq!(changed.header("location"), Some("/changed"));

    let mails = t.wait_for_mails(1).await;
    let confirm = link_path(&mails[0], "/confirm/");
    assert_eq!(
        t.client.get(&confirm).await.header("location"),
        Some("/confirmed")
    );

    post_with_csrf(
        &t.client,
        "/forgot-password",
        "/forgot-password",
        &[("email", "new@example.com")],
    )
    .await;
    let mails = t.wait_for_mails(2).await;
    let reset = mails
        .iter()
        .find(|m| m.contains("/reset-password/"))
        .unwrap();
    let link = link_path(reset, "/reset-password/");
    let token = csrf_in(&t.client.get(&link).await.text());
    let done = t
        .client
        .post_form(
            &link,
            &[
                ("csrf_token", &token),
                ("password", "third secret"),
                ("password_confirm", "third secret"),
            ],
        )
        .await;
    assert_eq!(done.header("location"), Some("/was-reset"));
}

#[tokio::test]
async fn a_session_bundle_without_a_session_manager_fails_the_build() {
    // Named like the session bundle, so the dependency check passes, but
    // it registers nothing: the security bundle's `require` must stop the
    // build and say what is missing, rather than a request failing later.
    struct NoSessions;
    #[unchained::async_trait]
    impl unchained::Bundle for NoSessions {
        fn name(&self) -> &'static str {
            "unchained.bundles.session"
        }
    }
    let db = unchained_database::testing::TestDatabase::sqlite()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let err = unchained::app::build_with(
        vec![
            std::sync::Arc::new(unchained_database::DatabaseBundle),
            std::sync::Arc::new(NoSessions),
            std::sync::Arc::new(unchained_security::SecurityBundle),
        ],
        |c| c.set("DATABASE_URL", url),
        unchained::config::Environment::Test,
    )
    .await
    .err()
    .expect("must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("SessionManager") && message.contains("unchained.bundles.security"),
        "{message}"
    );
}
