//! [`RequestId`]: one id per request, to find a user's error in the logs.
//!
//! The factory installs this middleware outermost on every app. It takes
//! the request's `X-Request-Id` when a proxy in front set a short, plain
//! one (at most 64 letters, digits, `-`, `_` or `.`), or makes a new
//! random one, and then:
//!
//! - puts it in the request's extensions (handlers take it as an
//!   extractor: `async fn h(id: RequestId)`), and in the request's
//!   `X-Request-Id` header;
//! - opens a tracing span `request{request_id=...}` around the rest of the
//!   app, so every line logged while answering carries it (the request
//!   log's, a 500's);
//! - returns it in the response's `X-Request-Id` header.
//!
//! A 500 page shows it, so a user can quote it and the log line be found.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use tracing::Instrument;

use crate::state::AppState;

/// The header that carries the id, in and out.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id that is kept; a longer one is replaced.
const MAX_INCOMING_LEN: usize = 64;

/// A request's id: random, or the one a proxy in front set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A new random id: 32 hex digits.
    pub fn generate() -> Self {
        RequestId(format!("{:032x}", rand::random::<u128>()).into())
    }

    /// `value` as an id when it is safe to log and show as is: 1 to 64
    /// ASCII letters, digits, `-`, `_` or `.`; `None` otherwise.
    pub fn from_incoming(value: &str) -> Option<Self> {
        let safe = !value.is_empty()
            && value.len() <= MAX_INCOMING_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        safe.then(|| RequestId(value.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The request's id, or a new one when the middleware did not run
    /// (a bare router in a test).
    pub fn of(extensions: &http::Extensions) -> Self {
        extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate)
    }

    fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.0).ok()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId::of(&parts.extensions))
    }
}

/// Wraps `router` with the request id middleware.
pub(crate) fn layer(router: Router<AppState>) -> Router<AppState> {
    router.layer(RequestIdLayer)
}

/// Assigns each request its id: a plain tower layer, so no boxed future
/// or service clone per request (what `axum::middleware::from_fn` costs).
#[derive(Clone, Copy)]
struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Clone)]
struct RequestIdService<S> {
    inner: S,
}

impl<S> tower::Service<Request> for RequestIdService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = request
            .headers()
            .get(&HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestId::from_incoming)
            .unwrap_or_else(RequestId::generate);
        let value = id.header_value();
        match &value {
            Some(value) => request.headers_mut().insert(HEADER, value.clone()),
            None => request.headers_mut().remove(HEADER),
        };
        let span = tracing::error_span!("request", request_id = %id);
        request.extensions_mut().insert(id);
        RequestIdFuture {
            inner: self.inner.call(request).instrument(span),
            value,
        }
    }
}

pin_project_lite::pin_project! {
    /// The app's answer, with the request's id in its `X-Request-Id`.
    struct RequestIdFuture<F> {
        #[pin]
        inner: tracing::instrument::Instrumented<F>,
        value: Option<HeaderValue>,
    }
}

impl<F, E> std::future::Future for RequestIdFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(value) = this.value.take() {
            response.headers_mut().insert(HEADER, value);
        }
        std::task::Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_incoming_ids_are_kept() {
        assert_eq!(
            RequestId::from_incoming("abc-123_x.y").map(|id| id.to_string()),
            Some("abc-123_x.y".to_owned())
        );
        for bad in [
            "",
            "has space",
            "new\nline",
            "<script>",
            "ünï",
            &"x".repeat(65),
        ] {
            assert_eq!(RequestId::from_incoming(bad), None, "{bad:?}");
        }
        let generated = RequestId::generate();
        assert_eq!(generated.as_str().len(), 32);
        assert_ne!(generated, RequestId::generate());
        assert!(RequestId::from_incoming(generated.as_str()).is_some());
    }
}
