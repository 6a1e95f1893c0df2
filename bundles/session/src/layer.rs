//! [`SessionLayer`]: the middleware that gives each request a
//! [`Session`] and saves it after the handler.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Request, StatusCode, header};
use tower::{Layer, Service};

use crate::cookie::{self, RawCookies};
use crate::manager::SessionManager;
use crate::session::{CookieAction, Session};

/// Wraps a router so that handlers can take a [`Session`]; made by
/// [`SessionManager::layer`].
///
/// Per request it keeps the `Cookie` headers unparsed and does nothing
/// else until a handler touches the session. After the handler it saves
/// changes, sets or expires the cookie (with `Cache-Control: no-store`),
/// adds `Vary: Cookie` when the session was read, and turns the response
/// into 503 if the store failed.
#[derive(Clone, Debug)]
pub struct SessionLayer {
    manager: SessionManager,
}

impl SessionLayer {
    pub(crate) fn new(manager: SessionManager) -> Self {
        SessionLayer { manager }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The service made by [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
}

impl<S> Service<Request<Body>> for SessionService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        self.manager.count_request();
        let session = Session::new(
            self.manager.clone(),
            RawCookies::from_headers(request.headers()),
        );
        request.extensions_mut().insert(session.clone());
        // Calling the inner service here, on the instance that was polled
        // ready, avoids cloning it per request; its future owns everything
        // it needs.
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(finish(&session, response).await)
        })
    }
}

async fn finish(session: &Session, mut response: Response) -> Response {
    let commit = session.commit().await;
    let manager = session.manager();
    if !commit.read {
        return response;
    }
    if commit.failed {
        // The log already says why (store operation failed).
        response = (
            StatusCode::SERVICE_UNAVAILABLE,
            "session store unavailable, try again shortly",
        )
            .into_response();
    }
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    let config = manager.config();
    let set_cookie = match commit.cookie {
        CookieAction::Keep => None,
        CookieAction::Set { id, expires } => {
            let expires = config.permanent.then_some(expires);
            cookie::set_cookie(
                config,
                manager.shared.signer.as_ref(),
                &id,
                expires,
                chrono::Utc::now(),
            )
        }
        CookieAction::Expire => cookie::expire_cookie(config),
    };
    if let Some(value) = set_cookie {
        headers.append(header::SET_COOKIE, value);
        // A response carrying a session cookie must never be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
