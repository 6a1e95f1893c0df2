//! The request log as an app serves it: installed by the factory when
//! `REQUEST_LOG` is on (by default in development only), one line per
//! request under `unchained::request`, never the query string.

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use tower::ServiceExt;
use unchained::axum::body::Body;
use unchained::config::{ConfigBuilder, REQUEST_LOG};
use unchained::prelude::*;

struct Hello;

#[async_trait]
impl Bundle for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/hello/{name}", || async { "hi" })
    }
}

/// Everything the app logs while serving `GET uri` once.
async fn logged(
    env: Environment,
    config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    uri: &str,
) -> String {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, so a thread-local subscriber sees
    // everything the app logs.
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = unchained::app::build_with(vec![Arc::new(Hello)], config, env)
        .await
        .expect("the app builds");
    let request = http::Request::get(uri)
        .body(Body::empty())
        .expect("a request");
    let response = app.router().oneshot(request).await.expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn development_logs_each_request_without_its_query_string() {
    let out = logged(Environment::Development, |b| b, "/hello/ada?token=s3cr3t").await;
    assert!(out.contains("unchained::request"), "{out}");
    assert!(out.contains("GET /hello/ada 200 "), "{out}");
    assert!(!out.contains("s3cr3t"), "the query string leaked: {out}");
}

#[tokio::test]
async fn other_environments_log_no_request_unless_asked() {
    for env in [Environment::Production, Environment::Test] {
        let config = |b: ConfigBuilder| b.set("SECRET_KEY", "x".repeat(40));
        let out = logged(env, config, "/hello/ada").await;
        assert!(!out.contains("GET /hello/ada"), "{env}: {out}");
    }
    let out = logged(
        Environment::Production,
        |b| b.set("SECRET_KEY", "x".repeat(40)).set(REQUEST_LOG, true),
        "/hello/ada",
    )
    .await;
    assert!(out.contains("GET /hello/ada 200 "), "{out}");
    let out = logged(
        Environment::Development,
        |b| b.set(REQUEST_LOG, false),
        "/hello/ada",
    )
    .await;
    assert!(!out.contains("GET /hello/ada"), "{out}");
}
