//! What the error pages and headers tests share: an app whose routes
//! answer in every way an error page or a header can meet (a page, text,
//! an empty 503, its own 404, a panic...), and one request helper.

#![allow(dead_code)]

use std::sync::Arc;

use http::{Method, Request, StatusCode, header};
use unchained::axum::body::Body;
use unchained::config::ConfigBuilder;
use unchained::prelude::*;
use unchained::testing::{TestClient, TestResponse};

pub const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
pub const PANIC_MESSAGE: &str = "database password is hunter2";

pub struct Site;

async fn boom() -> &'static str {
    panic!("{PANIC_MESSAGE}")
}

#[async_trait]
impl Bundle for Site {
    fn name(&self) -> &'static str {
        "site"
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
            .get("/", || async { Html("<p>home</p>") })
            .get("/text", || async { "plain" })
            .get("/boom", boom)
            .get("/empty-503", || async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "5")],
                )
            })
            .get("/own-404", || async {
                (StatusCode::NOT_FOUND, "no such post")
            })
            .get("/bare-404", || async { StatusCode::NOT_FOUND })
            .get("/framed", || async {
                (
                    [
                        (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
                        (header::REFERRER_POLICY, "no-referrer"),
                    ],
                    Html("<p>framed</p>"),
                )
            })
            .get("/id", |id: unchained::request_id::RequestId| async move {
                id.to_string()
            })
            .post("/api/items", || async { "created" })
    }
}

pub async fn app_in(
    env: Environment,
    config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> Result<App, unchained::Error> {
    unchained::app::build_with(vec![Arc::new(Site)], config, env).await
}

pub async fn send(
    client: &TestClient,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client
        .request(request.body(Body::empty()).expect("a request"))
        .await
}
