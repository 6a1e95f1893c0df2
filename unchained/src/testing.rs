//! Test helpers for apps and bundles: boot the app in-process and make
//! requests in one line, with a cookie jar.
//!
//! ```no_run
//! use unchained::testing::TestClient;
//!
//! # async fn demo() -> Result<(), unchained::Error> {
//! let client = TestClient::for_project(env!("CARGO_MANIFEST_DIR")).await?;
//! let page = client.get("/").await;
//! assert_eq!(page.status(), 200);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use cookie::Cookie;
use http::{HeaderMap, Method, Request, StatusCode, header};
use tower::ServiceExt;

use crate::app::AppFactory;
use crate::config::{ConfigBuilder, Environment};
use crate::error::Error;
use crate::project::Project;
use crate::registry::BundleRegistry;
use crate::server::App;

/// An in-process client for an app, keeping cookies between requests like
/// a browser.
pub struct TestClient {
    router: Router,
    app: Option<App>,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl TestClient {
    /// Builds the project at `root` in the test environment (its
    /// `[test]` section applies) with every compiled-in bundle it lists.
    pub async fn for_project(root: impl AsRef<Path>) -> Result<Self, Error> {
        Self::for_project_with(root, |config| config).await
    }

    /// Like [`for_project`](Self::for_project), with config set on top of
    /// every other layer:
    ///
    /// ```no_run
    /// # async fn demo(url: &str) -> Result<(), unchained::Error> {
    /// let client = unchained::testing::TestClient::for_project_with(env!("CARGO_MANIFEST_DIR"), |c| {
    ///     c.set("DATABASE_URL", url)
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn for_project_with(
        root: impl AsRef<Path>,
        adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Result<Self, Error> {
        let project = Project::load(root.as_ref())?;
        let loaded = AppFactory::load_with(
            &project.root,
            &project.manifest,
            &BundleRegistry::from_inventory()?,
            Environment::Test,
            adjust,
        )?;
        Ok(Self::new(loaded.build().await?))
    }

    /// A client for an already built app.
    pub fn new(app: App) -> Self {
        TestClient {
            router: app.router(),
            app: Some(app),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// A client for a bare router.
    pub fn from_router(router: Router) -> Self {
        TestClient {
            router,
            app: None,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The app under test, when built from one.
    pub fn app(&self) -> Option<&App> {
        self.app.as_ref()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, Body::empty()).await
    }

    /// `POST path` with an HTML form body.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> TestResponse {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            Method::POST,
            path,
            Some("application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    /// `method path` with a JSON body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        value: &serde_json::Value,
    ) -> TestResponse {
        self.send(
            method,
            path,
            Some("application/json"),
            Body::from(value.to_string()),
        )
        .await
    }

    /// Sends any request; the jar's cookies are added and `Set-Cookie`
    /// headers of the response update the jar.
    pub async fn request(&self, mut request: Request<Body>) -> TestResponse {
        if let Some(value) = self.cookie_header().and_then(|c| c.parse().ok()) {
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        self.store_cookies(&parts.headers);
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get(name).cloned()
    }

    /// Puts `name=value` into the jar (e.g. to replay an old cookie).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar().insert(name.to_owned(), value.to_owned());
    }

    /// Empties the jar.
    pub fn clear_cookies(&self) {
        self.jar().clear();
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        match builder.body(body) {
            Ok(request) => self.request(request).await,
            Err(e) => TestResponse {
                status: StatusCode::BAD_REQUEST,
                headers: HeaderMap::new(),
                body: format!("invalid test request to {path}: {e}").into_bytes(),
            },
        }
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.cookies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.jar();
        if jar.is_empty() {
            return None;
        }
        Some(
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn store_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.jar();
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = Cookie::parse(text.to_owned()) else {
                continue;
            };
            let expired = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie
                    .expires_datetime()
                    .is_some_and(|at| at <= cookie::time::OffsetDateTime::now_utc());
            if expired {
                jar.remove(cookie.name());
            } else {
                jar.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }
}

/// A response as a test sees it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl TestResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
