//! Error pages: 404, 405 and 5xx answers with a body, in the format the
//! client asked for.
//!
//! The factory installs this middleware around every bundle's layers. It
//! turns into a page:
//!
//! - a 404 or 405 with an empty body (the router's own for an unknown path
//!   or method, or a handler's bare `StatusCode::NOT_FOUND`);
//! - a 5xx with an empty body;
//! - a handler's panic, which the layer catches (`catch_unwind`) and makes a
//!   500.
//!
//! A response with a body of its own is left as it is. The page is:
//!
//! - HTML for a client that prefers `text/html` (browsers), from the
//!   templates `errors/<status>.html` or else `errors/error.html`, which
//!   the core ships and a bundle or the project's `templates/` folder
//!   replaces by name;
//! - [RFC 9457] problem details (`application/problem+json`: `type`,
//!   `title`, `status`, `detail`, `instance`, `request_id`) for a client
//!   that prefers JSON, or sends JSON, or for a path under one of
//!   `ERROR_JSON_PATHS` (default `/api/`);
//! - plain text otherwise (`curl`).
//!
//! A 5xx never shows why: no panic message, no error. It shows the
//! request id ([`RequestId`]); the error line logged under [`TARGET`]
//! carries the id and the reason.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, Uri, header};
use serde::Serialize;

use crate::request_id::RequestId;
use crate::state::AppState;
use crate::templates::Templates;

/// The tracing target of the error lines of 5xx answers.
pub const TARGET: &str = "unchained::errors";

/// The core's error templates, by name: the lowest layer, below every
/// bundle's templates and the project's folder.
pub const TEMPLATES: [(&str, &str); 4] = [
    ("errors/404.html", include_str!("error_pages/404.html")),
    ("errors/405.html", include_str!("error_pages/405.html")),
    ("errors/500.html", include_str!("error_pages/500.html")),
    ("errors/error.html", include_str!("error_pages/error.html")),
];

/// What the middleware needs, read once when the app is built.
struct Pages {
    state: AppState,
    json_paths: Vec<String>,
}

/// A handler panicked: the message, for the log line only.
#[derive(Debug, Clone)]
struct Panicked(Arc<str>);

/// Wraps `router` with the panic catcher (inner) and the error pages
/// middleware (outer). `json_paths`: the checked `ERROR_JSON_PATHS`.
pub(crate) fn layer(
    router: Router<AppState>,
    state: &AppState,
    json_paths: Vec<String>,
) -> Router<AppState> {
    let pages = Arc::new(Pages {
        state: state.clone(),
        json_paths,
    });
    // One layer that also catches panics: axum boxes the service once per
    // `Router::layer` call, and each level (and tower-http's panic catcher,
    // which boxes the body too) costs every request an allocation.
    router.layer(ErrorPagesLayer { pages })
}

/// The error pages middleware as a plain tower layer: no boxed future and
/// no service clone per request (what `axum::middleware::from_fn` costs).
#[derive(Clone)]
struct ErrorPagesLayer {
    pages: Arc<Pages>,
}

impl<S> tower::Layer<S> for ErrorPagesLayer {
    type Service = ErrorPagesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorPagesService {
            inner,
            pages: self.pages.clone(),
        }
    }
}

#[derive(Clone)]
struct ErrorPagesService<S> {
    inner: S,
    pages: Arc<Pages>,
}

impl<S> tower::Service<Request> for ErrorPagesService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ErrorPagesFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let asked = Asked::of(&request);
        let inner = &mut self.inner;
        let (inner, panicked) = match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => (Some(future), None),
            Err(payload) => (None, Some(on_panic(payload))),
        };
        ErrorPagesFuture {
            inner,
            panicked,
            page: Some((asked, self.pages.clone())),
        }
    }
}

pin_project_lite::pin_project! {
    /// The app's answer, turned into an error page when it is one (a
    /// panic included).
    struct ErrorPagesFuture<F> {
        #[pin]
        inner: Option<F>,
        // The answer to a panic in the service's `call` itself.
        panicked: Option<Response>,
        page: Option<(Asked, Arc<Pages>)>,
    }
}

impl<F, E> std::future::Future for ErrorPagesFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.as_pin_mut() {
            Some(inner) => match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(std::task::Poll::Pending) => return std::task::Poll::Pending,
                Ok(std::task::Poll::Ready(answer)) => answer?,
                Err(payload) => on_panic(payload),
            },
            None => match this.panicked.take() {
                Some(response) => response,
                None => return std::task::Poll::Pending,
            },
        };
        let Some((asked, pages)) = this.page.take() else {
            // Polled again after it finished: a caller's bug, answered
            // without a panic.
            return std::task::Poll::Ready(Ok(response));
        };
        std::task::Poll::Ready(Ok(error_page(&pages, asked, response)))
    }
}

/// The response to a panic: an empty 500 that [`error_pages`] renders,
/// marked with the panic's message for its log line.
fn on_panic(payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message: Arc<str> = if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).into()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str().into()
    } else {
        "(a panic without a message)".into()
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.extensions_mut().insert(Panicked(message));
    response
}

/// What the page needs from the request, kept while the app answers:
/// cheap copies (shared bytes), read only when a page is made.
struct Asked {
    method: Method,
    uri: Uri,
    accept: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    id: Option<RequestId>,
}

impl Asked {
    fn of(request: &Request) -> Asked {
        let headers = request.headers();
        Asked {
            method: request.method().clone(),
            uri: request.uri().clone(),
            accept: headers.get(header::ACCEPT).cloned(),
            content_type: headers.get(header::CONTENT_TYPE).cloned(),
            id: request.extensions().get::<RequestId>().cloned(),
        }
    }
}

/// `response` as the client gets it: an error page in its place when it
/// is a panic, or a 404, 405 or 5xx with an empty body.
fn error_page(pages: &Pages, asked: Asked, response: Response) -> Response {
    let status = response.status();
    let panicked = response.extensions().get::<Panicked>().cloned();
    let handled = status == StatusCode::NOT_FOUND
        || status == StatusCode::METHOD_NOT_ALLOWED
        || status.is_server_error();
    if panicked.is_none() && !(handled && response.body().size_hint().exact() == Some(0)) {
        return response;
    }
    let format = Format::of(&asked, &pages.json_paths);
    let (method, path) = (&asked.method, asked.uri.path());
    let id = asked.id.unwrap_or_else(RequestId::generate);
    if status.is_server_error() {
        match &panicked {
            Some(Panicked(message)) => tracing::error!(
                target: TARGET,
                request_id = %id,
                "{method} {path} {}: the handler panicked: {message}",
                status.as_u16()
            ),
            None => tracing::error!(
                target: TARGET,
                request_id = %id,
                "{method} {path} {}: answered with an empty body",
                status.as_u16()
            ),
        }
    }
    let (mut parts, _) = response.into_parts();
    // A 405's `Allow` header is added outside every layer, by the router
    // itself: it is kept, and not known here.
    let problem = Problem::new(status, method, path, &id);
    let (content_type, body) = match format {
        Format::Html => (
            "text/html; charset=utf-8",
            problem.html(pages.state.templates()),
        ),
        Format::Json => ("application/problem+json", problem.json()),
        Format::Text => ("text/plain; charset=utf-8", problem.text()),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body))
}

/// The format of an error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
    Text,
}

impl Format {
    /// A path under `json_paths` gets JSON; otherwise the type `Accept`
    /// (its first header) prefers of HTML and JSON (by `q`; HTML on a
    /// tie); without either there, JSON for a JSON request body and text
    /// for anything else.
    fn of(asked: &Asked, json_paths: &[String]) -> Format {
        let path = asked.uri.path();
        if json_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()) || p.strip_suffix('/') == Some(path))
        {
            return Format::Json;
        }
        let accept = asked.accept.as_ref().and_then(|v| v.to_str().ok());
        let (mut html, mut json) = (0.0_f32, 0.0_f32);
        if let Some(value) = accept {
            for item in value.split(',') {
                let mut params = item.split(';');
                let media = params
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                let q = params
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0)
                    .clamp(0.0, 1.0);
                if media == "text/html" || media == "application/xhtml+xml" {
                    html = html.max(q);
                } else if media == "application/json" || media.ends_with("+json") {
                    json = json.max(q);
                }
            }
        }
        if html > 0.0 && html >= json {
            return Format::Html;
        }
        if json > 0.0 {
            return Format::Json;
        }
        let json_body = asked
            .content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.starts_with("application/json") || v.contains("+json")
            });
        if json_body {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// What every format of a page says.
#[derive(Debug, Serialize)]
struct Problem {
    status: u16,
    title: &'static str,
    detail: &'static str,
    method: String,
    path: String,
    request_id: String,
}

impl Problem {
    fn new(status: StatusCode, method: &Method, path: &str, id: &RequestId) -> Self {
        Problem {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            detail: detail(status),
            method: method.to_string(),
            path: path.to_owned(),
            request_id: id.to_string(),
        }
    }

    fn html(&self, templates: &Templates) -> String {
        let specific = format!("errors/{}.html", self.status);
        let name = if templates.contains(&specific) {
            specific.as_str()
        } else {
            "errors/error.html"
        };
        match templates.render(name, self) {
            Ok(html) => html,
            Err(error) => {
                tracing::error!(
                    target: TARGET,
                    request_id = %self.request_id,
                    template = name,
                    "the error page template failed to render: {error}"
                );
                // Built from fixed texts and the id's safe characters:
                // nothing to escape.
                format!(
                    "<!doctype html>\n<title>{status} {title}</title>\n<h1>{status} {title}</h1>\n\
                     <p>{detail}</p>\n<p>Request id: <code>{id}</code></p>\n",
                    status = self.status,
                    title = self.title,
                    detail = self.detail,
                    id = self.request_id,
                )
            }
        }
    }

    fn json(&self) -> String {
        serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": self.path,
            "request_id": self.request_id,
        })
        .to_string()
    }

    fn text(&self) -> String {
        let mut text = format!("{} {}\n{}\n", self.status, self.title, self.detail);
        if self.status >= 500 {
            text.push_str(&format!("Request id: {}\n", self.request_id));
        }
        text
    }
}

/// What a page says about `status`, never why it happened.
fn detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => {
            "The requested URL was not found on the server. If you entered the URL by hand, \
             please check your spelling and try again."
        }
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for the requested URL.",
        StatusCode::INTERNAL_SERVER_ERROR => {
            "The server encountered an internal error and was unable to complete your request."
        }
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => {
            "The server could not get an answer from a service it depends on. Please try again later."
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "The server cannot handle the request right now. Please try again later."
        }
        _ => "The server could not complete your request.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(accept: Option<&str>, content_type: Option<&str>, path: &str) -> Format {
        let value = |v: &str| HeaderValue::from_str(v).expect("a header value");
        let asked = Asked {
            method: Method::GET,
            uri: path.parse().expect("a path"),
            accept: accept.map(value),
            content_type: content_type.map(value),
            id: None,
        };
        Format::of(&asked, &["/api/".to_owned()])
    }

    #[test]
    fn the_format_follows_accept_the_body_and_the_path() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(format(Some(browser), None, "/x"), Format::Html);
        assert_eq!(format(Some("application/json"), None, "/x"), Format::Json);
        assert_eq!(
            format(Some("text/html;q=0.5, application/json"), None, "/x"),
            Format::Json
        );
        assert_eq!(
            format(Some("application/problem+json"), None, "/x"),
            Format::Json
        );
        assert_eq!(format(Some("*/*"), None, "/x"), Format::Text);
        assert_eq!(format(None, None, "/x"), Format::Text);
        assert_eq!(format(None, Some("application/json"), "/x"), Format::Json);
        assert_eq!(format(Some(browser), None, "/api/users"), Format::Json);
        assert_eq!(format(Some(browser), None, "/api"), Format::Json);
        assert_eq!(format(Some(browser), None, "/apiary"), Format::Html);
        assert_eq!(
            format(Some("text/html;q=0, application/json;q=0"), None, "/x"),
            Format::Text
        );
    }

    #[test]
    fn a_broken_template_still_gives_a_page() {
        let mut templates = Templates::new();
        templates
            .add("app", "errors/500.html", "{{ missing.field.deeper }}")
            .expect("it compiles");
        let problem = Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Method::GET,
            "/",
            &RequestId::generate(),
        );
        let html = problem.html(&templates);
        assert!(html.contains("500 Internal Server Error"), "{html}");
        assert!(html.contains(&problem.request_id), "{html}");
    }
}
