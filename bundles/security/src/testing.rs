//! Test helpers for apps that use the security bundle.
//!
//! ```no_run
//! # async fn demo(client: unchained::testing::TestClient) -> anyhow::Result<()> {
//! use unchained_security::Security;
//! use unchained_security::testing::login_as;
//!
//! let app = client.app().expect("a client built from an app");
//! let security = app.state().service::<Security>().expect("the security bundle");
//! let user = security.create_user("ada@example.com", "a long password", true, true).await?;
//! login_as(&client, &user).await?; // the client's next requests are Ada's
//! assert_eq!(client.get("/sessions").await.status(), 200);
//!
//! // A form post needs the CSRF token: ask the client, not the HTML.
//! let token = unchained_security::testing::csrf_token(&client).await?;
//! let done = client.post_form("/logout", &[("csrf_token", token.as_str())]).await;
//! assert_eq!(done.status(), 303);
//! # Ok(()) }
//! ```

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, header};
use tower::ServiceExt;
use unchained::testing::TestClient;
use unchained_session::{Session, SessionManager};

use crate::models::user;

/// Logs `user` in for `client` without the login form: a session is made
/// in the app's own session store exactly as a real login makes it
/// (fresh id, user id stored, owner tagged), and its cookie is put into
/// the client's jar.
pub async fn login_as(client: &TestClient, user: &user::Model) -> anyhow::Result<()> {
    let app = client.app().context(
        "login_as needs a TestClient built from an app (TestClient::new or for_project)",
    )?;
    let manager = app
        .state()
        .service::<SessionManager>()
        .context("login_as needs unchained.bundles.session in the app")?
        .clone();
    let user = user.clone();
    // A one-route router on the same session manager (and so the same
    // store) as the app: the session it makes is the app's.
    let login = Router::new()
        .route(
            "/",
            post(move |session: Session| async move {
                crate::auth::login(&session, &user).await.map(|()| "ok")
            }),
        )
        .layer(manager.layer());
    let response = login
        .oneshot(Request::post("/").body(Body::empty())?)
        .await
        .context("the login request failed")?;
    anyhow::ensure!(
        response.status().is_success(),
        "login_as: the session store answered {}",
        response.status()
    );
    let mut set = false;
    for value in response.headers().get_all(header::SET_COOKIE) {
        let text = value
            .to_str()
            .context("a Set-Cookie header that is not text")?;
        if let Some((name, rest)) = text.split_once('=') {
            let value = rest.split(';').next().unwrap_or_default();
            client.set_cookie(name.trim(), value.trim());
            set = true;
        }
    }
    anyhow::ensure!(set, "login_as: no session cookie was set");
    Ok(())
}

/// The CSRF token that a form shown to `client` right now would carry:
/// the logged-in session's own token, or else the anonymous token of the
/// client's CSRF cookie (a cookie is put into the jar when it has none).
/// Tests post forms with it instead of reading it out of a page's HTML.
pub async fn csrf_token(client: &TestClient) -> anyhow::Result<String> {
    let app = client.app().context(
        "csrf_token needs a TestClient built from an app (TestClient::new or for_project)",
    )?;
    let security = app
        .state()
        .service::<crate::Security>()
        .context("csrf_token needs unchained.bundles.security in the app")?
        .clone();
    let manager = security.sessions().clone();
    let cookie_name = manager.config().cookie_name.clone();
    if let Some(session_cookie) = client.cookie(&cookie_name) {
        // Read the session's token through the app's own session layer.
        let read = Router::new()
            .route(
                "/",
                axum::routing::get(|session: Session| async move {
                    session
                        .get::<String>(crate::csrf::SESSION_KEY)
                        .await
                        .map(Option::unwrap_or_default)
                }),
            )
            .layer(manager.layer());
        let response = read
            .oneshot(
                Request::get("/")
                    .header(header::COOKIE, format!("{cookie_name}={session_cookie}"))
                    .body(Body::empty())?,
            )
            .await
            .context("reading the session failed")?;
        anyhow::ensure!(
            response.status().is_success(),
            "csrf_token: the session store answered {}",
            response.status()
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1024).await?;
        let token = String::from_utf8(bytes.to_vec())?;
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let settings = crate::csrf::cookie::CookieSettings::for_sessions(security.sessions().config());
    let seed = match client.cookie(settings.name()) {
        Some(seed) => seed,
        None => {
            let seed = crate::crypto::random_token();
            client.set_cookie(settings.name(), &seed);
            seed
        }
    };
    Ok(security.tokens().csrf_token(&seed))
}
