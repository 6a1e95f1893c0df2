//! [`SessionLayer`]: the middleware that gives each request a
//! [`Session`] and saves it after the handler.
//!
//! The top of the request path: the layer makes the [`Session`], and
//! after the handler asks it to commit (the commit engine goes through
//! the manager to the store) and asks the manager for the `Set-Cookie`.
//! Nothing below calls back up here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Request, StatusCode, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::commit::Commit;
use crate::cookie::RawCookies;
use crate::manager::SessionManager;
use crate::session::Session;

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

impl SessionManager {
    /// The tower layer that gives handlers a [`Session`].
    ///
    /// Defined next to the layer rather than in the manager's module, so
    /// that the manager never depends on the layer that calls it.
    pub fn layer(&self) -> SessionLayer {
        SessionLayer {
            manager: self.clone(),
        }
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
    type Future = ResponseFuture<S::Future>;

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
        ResponseFuture {
            handler: self.inner.call(request),
            session: Some(session),
            saving: None,
        }
    }
}

pin_project! {
    /// The response future of [`SessionService`]: the handler's future,
    /// then the save. A request that left its session untouched or only
    /// read it finishes in the same poll as the handler, without
    /// allocating; only a request with something to write or delete boxes
    /// the (asynchronous) save.
    pub struct ResponseFuture<F> {
        #[pin]
        handler: F,
        session: Option<Session>,
        saving: Option<BoxFuture<'static, Response>>,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(saving) = this.saving {
            return saving.as_mut().poll(cx).map(Ok);
        }
        let Ok(response) = ready!(this.handler.poll(cx));
        let Some(session) = this.session.take() else {
            // Like any future, this one must not be polled once it is done.
            panic!("session ResponseFuture polled after completion");
        };
        if let Some(commit) = session.commit_now() {
            return Poll::Ready(Ok(respond(&session, commit, response)));
        }
        let mut saving: BoxFuture<'static, Response> = Box::pin(async move {
            let commit = session.commit().await;
            respond(&session, commit, response)
        });
        let poll = saving.as_mut().poll(cx);
        if poll.is_pending() {
            *this.saving = Some(saving);
        }
        poll.map(Ok)
    }
}

/// The response as the session's end of request makes it: unchanged when
/// the session was not read; otherwise with `Vary: Cookie`, the cookie to
/// set or expire, and 503 if the store failed.
fn respond(session: &Session, commit: Commit, mut response: Response) -> Response {
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
    if let Some(value) = session.manager().cookie_for(commit.cookie) {
        headers.append(header::SET_COOKIE, value);
        // A response carrying a session cookie must never be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
