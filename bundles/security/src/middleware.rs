//! The bundle's request middleware and the guard layers for single
//! handlers: [`auth_required`], [`roles_required`], [`roles_accepted`].
//!
//! ```ignore
//! use unchained::axum::handler::Handler;
//! use unchained_security::{roles_accepted, roles_required};
//!
//! async fn admin() -> &'static str { "admin area" }
//! async fn reports() -> &'static str { "reports" }
//!
//! Routes::new()
//!     .get("/admin", admin.layer(roles_required(["admin"])))
//!     .get("/reports", reports.layer(roles_accepted(["admin", "analyst"])))
//! ```
//!
//! A missing login is answered as the extractors answer it (redirect to
//! the login page, or 401 for JSON); a missing role gives 403.
//!
//! # How the guard layers reach the service
//!
//! A tower layer put on one handler (`handler.layer(...)`) is not given
//! the router's state, so it cannot take `Service<Security>` as an
//! extractor would. The contract instead: [`security_middleware`], which
//! the bundle installs around every route with the [`Security`] service
//! it built (`Bundle::layer`), inserts that service, and only that, into
//! each request's extensions before the handler runs; the guard layers
//! read it from there. A guard layer on a router without the bundle's
//! middleware finds no service, logs why, and answers 500. The extractors
//! do not depend on this: they read the app state.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::request::Parts;
use http::{HeaderValue, header};
use tower::{Layer, Service};

use crate::config::SecurityConfig;
use crate::csrf::cookie::{CookieSettings, CsrfCookie};
use crate::extract::{AuthError, UserSeen, require_user, wants_json_from};
use crate::service::Security;

/// The bundle's middleware around every route: makes [`Security`]
/// reachable by the guard layers (see the module docs for this contract),
/// reads the CSRF cookie and runs the CSRF check (`csrf::check_request`);
/// on the way out it sets the CSRF cookie when a page issued one, and adds
/// the header of [`protect_response`].
pub async fn security_middleware(
    State(security): State<Security>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(security.clone());
    let user_seen = UserSeen::default();
    request.extensions_mut().insert(user_seen.clone());
    let csrf_cookie = Arc::new(CsrfCookie::from_headers(
        security.tokens(),
        CookieSettings::for_sessions(security.sessions().config()),
        request.headers(),
    ));
    request.extensions_mut().insert(csrf_cookie.clone());
    let mut response = match crate::csrf::check_request(security.config(), request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    if let Some(cookie) = csrf_cookie.set_cookie() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    protect_response(security.config(), user_seen.get(), &mut response);
    response
}

/// The header every response through the bundle gets, only where the
/// handler did not set it itself: `Cache-Control: no-store` when the
/// request had a logged-in user, so no browser or shared cache keeps a
/// page made for one user (the back button after logout, a proxy serving
/// it to the next visitor).
///
/// Frame protection (`X-Frame-Options`, `Content-Security-Policy:
/// frame-ancestors`) moved to the core, which adds it to every app's HTML
/// per `FRAME_OPTIONS` (`unchained::headers::protect_frames`);
/// `SECURITY_FRAME_OPTIONS` is its deprecated alias. `_config` is kept so
/// that callers need not change.
pub fn protect_response(_config: &SecurityConfig, logged_in: bool, response: &mut Response) {
    let headers = response.headers_mut();
    if logged_in && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// What a guard layer requires.
#[derive(Debug, Clone)]
enum Rule {
    LoggedIn,
    AllRoles(Vec<String>),
    AnyRole(Vec<String>),
}

/// A layer that refuses requests not meeting its rule; see
/// [`auth_required`], [`roles_required`], [`roles_accepted`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    rule: Arc<Rule>,
}

/// Requires a logged-in user.
pub fn auth_required() -> AuthLayer {
    AuthLayer {
        rule: Arc::new(Rule::LoggedIn),
    }
}

/// Requires a logged-in user holding *every* role in `roles` (403 otherwise).
pub fn roles_required<I, R>(roles: I) -> AuthLayer
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    AuthLayer {
        rule: Arc::new(Rule::AllRoles(roles.into_iter().map(Into::into).collect())),
    }
}

/// Requires a logged-in user holding *at least one* role in `roles`
/// (403 otherwise).
pub fn roles_accepted<I, R>(roles: I) -> AuthLayer
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    AuthLayer {
        rule: Arc::new(Rule::AnyRole(roles.into_iter().map(Into::into).collect())),
    }
}

impl AuthLayer {
    async fn check(&self, parts: &mut Parts) -> Result<(), AuthError> {
        let Some(security) = parts.extensions.get::<Security>().cloned() else {
            tracing::error!(
                target: "unchained_security",
                "a guard layer (auth_required, roles_required, roles_accepted) ran without the security \
                 bundle's middleware: load unchained.bundles.security and register the route through it"
            );
            return Err(AuthError::Internal);
        };
        let user = require_user(parts, &security).await?;
        let ok = match &*self.rule {
            Rule::LoggedIn => true,
            Rule::AllRoles(roles) => roles.iter().all(|r| user.has_role(r)),
            Rule::AnyRole(roles) => roles.iter().any(|r| user.has_role(r)),
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                json: wants_json_from(parts, &security),
            })
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was not polled ready stays behind; the ready one
        // serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match layer.check(&mut parts).await {
                Ok(()) => inner
                    .call(Request::from_parts(parts, body))
                    .await
                    .map(IntoResponse::into_response),
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::handler::Handler;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    async fn secret() -> &'static str {
        "secret"
    }

    fn html(headers: &[(header::HeaderName, &'static str)]) -> Response {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        for (name, value) in headers {
            response
                .headers_mut()
                .insert(name.clone(), HeaderValue::from_static(value));
        }
        response
    }

    #[test]
    fn protect_response_keeps_what_the_handler_set() {
        let config =
            crate::config::SecurityConfig::defaults_for(unchained::config::Environment::Test);
        let mut plain = html(&[]);
        protect_response(&config, true, &mut plain);
        assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-store");
        // Frame protection is the core's now (`unchained::headers`).
        assert!(!plain.headers().contains_key(header::X_FRAME_OPTIONS));
        assert!(
            !plain
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );

        let mut own = html(&[(header::CACHE_CONTROL, "private, max-age=60")]);
        protect_response(&config, true, &mut own);
        assert_eq!(own.headers()[header::CACHE_CONTROL], "private, max-age=60");

        let mut anonymous = html(&[]);
        protect_response(&config, false, &mut anonymous);
        assert!(!anonymous.headers().contains_key(header::CACHE_CONTROL));
    }

    #[tokio::test]
    async fn guard_layers_without_the_bundle_middleware_refuse_with_500() {
        // No `security_middleware` outside: the contract is broken, and
        // the guard must not let the request through.
        for layer in [
            auth_required(),
            roles_required(["admin"]),
            roles_accepted(["admin"]),
        ] {
            let router = Router::new().route("/", get(secret.layer(layer)));
            let response = router
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}
