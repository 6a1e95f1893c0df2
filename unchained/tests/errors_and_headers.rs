//! Error pages (404, 405, 500 in HTML, JSON problem details and text),
//! request ids, the default security headers and CORS, as an app built by
//! the factory serves them: in-process and over real HTTP. What is logged
//! is in `error_log.rs`, whose tests all capture the log.

mod common;

use std::sync::Arc;

use common::*;
use http::{HeaderMap, Method, StatusCode};
use serde_json::json;
use unchained::config::ConfigBuilder;
use unchained::prelude::*;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained::request_id::RequestId;
use unchained::testing::{TestClient, TestResponse};

async fn client(config: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> TestClient {
    TestClient::new(
        app_in(Environment::Test, config)
            .await
            .expect("the app builds"),
    )
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_page_in_the_format_asked_for() {
    let client = client(|c| c).await;

    let page = send(&client, Method::GET, "/missing", &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("<h1>404 Not Found</h1>"), "{html}");
    assert!(html.contains("was not found on the server"), "{html}");

    let json = send(
        &client,
        Method::GET,
        "/missing?x=1",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(json.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json.header("content-type"),
        Some("application/problem+json")
    );
    let problem = json.json();
    assert_eq!(problem["type"], "about:blank");
    assert_eq!(problem["title"], "Not Found");
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["instance"], "/missing");
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        problem["request_id"].as_str(),
        json.header("x-request-id"),
        "{problem}"
    );

    // Under /api/, JSON even for a browser.
    let api = send(&client, Method::GET, "/api/nothing", &[("accept", BROWSER)]).await;
    assert_eq!(api.header("content-type"), Some("application/problem+json"));
    assert_eq!(api.json()["status"], 404);

    // curl: text.
    let text = send(&client, Method::GET, "/missing", &[("accept", "*/*")]).await;
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        text.text().starts_with("404 Not Found\n"),
        "{}",
        text.text()
    );

    // A handler's bare 404 gets the page; its own body is kept.
    let bare = send(&client, Method::GET, "/bare-404", &[("accept", BROWSER)]).await;
    assert!(bare.text().contains("404 Not Found"), "{}", bare.text());
    let own = send(&client, Method::GET, "/own-404", &[("accept", BROWSER)]).await;
    assert_eq!(own.status(), StatusCode::NOT_FOUND);
    assert_eq!(own.text(), "no such post");
}

#[tokio::test]
async fn a_wrong_method_gets_a_405_page_with_its_allow_header() {
    let client = client(|c| c).await;
    let page = send(&client, Method::POST, "/text", &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = page.header("allow").expect("an Allow header").to_owned();
    assert!(allow.contains("GET"), "{allow}");
    let html = page.text();
    assert!(html.contains("405 Method Not Allowed"), "{html}");

    let json = send(
        &client,
        Method::DELETE,
        "/api/items",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(json.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json.json()["title"], "Method Not Allowed");
}

#[tokio::test]
async fn the_projects_template_replaces_the_core_page() {
    let root = tempfile::tempdir().expect("temp dir");
    let errors = root.path().join("templates").join("errors");
    std::fs::create_dir_all(&errors).expect("templates/errors");
    std::fs::write(
        errors.join("404.html"),
        "<h1>Lost at sea</h1><p>{{ status }}: {{ title }} ({{ method }}).</p>",
    )
    .expect("write the override");
    let bundles = BundleRegistry::from_bundles(vec![Arc::new(Site) as Arc<dyn Bundle>])
        .and_then(|registry| {
            registry.resolve(&Manifest {
                bundles: vec!["site".to_owned()],
                ..Manifest::default()
            })
        })
        .expect("the bundle resolves");
    let config = unchained::config::Config::builder(Environment::Test)
        .core_defaults()
        .build();
    let app = unchained::LoadedApp::from_parts(root.path().to_owned(), bundles, config)
        .build()
        .await
        .expect("the app builds");
    let client = TestClient::new(app);
    let page = send(&client, Method::GET, "/nowhere", &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        page.text(),
        "<h1>Lost at sea</h1><p>404: Not Found (GET).</p>"
    );
    // The other pages are still the core's.
    let wrong = send(&client, Method::POST, "/text", &[("accept", BROWSER)]).await;
    assert!(wrong.text().contains("405 Method Not Allowed"));
}

#[tokio::test]
async fn an_empty_5xx_gets_a_page_and_keeps_its_headers() {
    let client = client(|c| c).await;
    let page = send(&client, Method::GET, "/empty-503", &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.header("retry-after"), Some("5"));
    let html = page.text();
    assert!(html.contains("503 Service Unavailable"), "{html}");
    assert!(
        html.contains(page.header("x-request-id").unwrap_or("?")),
        "{html}"
    );
}

#[tokio::test]
async fn request_ids_are_made_or_taken_when_safe() {
    let client = client(|c| c).await;
    let own = send(
        &client,
        Method::GET,
        "/id",
        &[("x-request-id", "lb-42.a_b")],
    )
    .await;
    assert_eq!(own.text(), "lb-42.a_b");
    assert_eq!(own.header("x-request-id"), Some("lb-42.a_b"));

    for unsafe_id in ["<script>alert(1)</script>", &"x".repeat(100)] {
        let replaced = send(&client, Method::GET, "/id", &[("x-request-id", unsafe_id)]).await;
        let id = replaced.header("x-request-id").expect("an id");
        assert_ne!(id, unsafe_id);
        assert_eq!(replaced.text(), id);
        assert!(RequestId::from_incoming(id).is_some());
    }
    let a = send(&client, Method::GET, "/id", &[]).await;
    let b = send(&client, Method::GET, "/id", &[]).await;
    assert_ne!(a.text(), b.text());
}

fn security_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            [
                "x-content-type-options",
                "x-frame-options",
                "content-security-policy",
                "referrer-policy",
                "strict-transport-security",
            ]
            .contains(&name.as_str())
        })
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn security_headers_are_on_by_default_and_the_handlers_own_win() {
    let client = client(|c| c).await;
    let html = client.get("/").await;
    assert_eq!(
        security_headers(html.headers()),
        pairs(&[
            ("content-security-policy", "frame-ancestors 'none'"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
        ])
    );
    // Not HTML: nothing to frame.
    let text = client.get("/text").await;
    assert_eq!(
        security_headers(text.headers()),
        pairs(&[
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("x-content-type-options", "nosniff"),
        ])
    );
    let own = client.get("/framed").await;
    assert_eq!(
        security_headers(own.headers()),
        pairs(&[
            ("referrer-policy", "no-referrer"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "SAMEORIGIN"),
        ])
    );

    let configured = self::client(|c| {
        c.set("CONTENT_TYPE_OPTIONS", "")
            .set("FRAME_OPTIONS", "SAMEORIGIN")
            .set("REFERRER_POLICY", "no-referrer")
    })
    .await;
    assert_eq!(
        security_headers(configured.get("/").await.headers()),
        pairs(&[
            ("content-security-policy", "frame-ancestors 'self'"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "SAMEORIGIN"),
        ])
    );
    let off = self::client(|c| c.set("FRAME_OPTIONS", "").set("REFERRER_POLICY", "")).await;
    assert_eq!(
        security_headers(off.get("/").await.headers()),
        pairs(&[("x-content-type-options", "nosniff")])
    );
}

#[tokio::test]
async fn hsts_is_sent_in_production_only() {
    let secret = |c: ConfigBuilder| c.set("SECRET_KEY", "k".repeat(48));
    let production = TestClient::new(
        app_in(Environment::Production, secret)
            .await
            .expect("the app builds"),
    );
    assert_eq!(
        production
            .get("/text")
            .await
            .header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    // Error pages get the headers too.
    let missing = production.get("/missing").await;
    assert_eq!(
        missing.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(missing.header("x-content-type-options"), Some("nosniff"));

    let short = TestClient::new(
        app_in(Environment::Production, |c| {
            secret(c)
                .set("HSTS_MAX_AGE", 300)
                .set("HSTS_INCLUDE_SUBDOMAINS", false)
        })
        .await
        .expect("the app builds"),
    );
    assert_eq!(
        short.get("/text").await.header("strict-transport-security"),
        Some("max-age=300")
    );
    let off = TestClient::new(
        app_in(Environment::Production, |c| {
            secret(c).set("HSTS_MAX_AGE", 0)
        })
        .await
        .expect("the app builds"),
    );
    assert_eq!(
        off.get("/text").await.header("strict-transport-security"),
        None
    );
    for env in [Environment::Development, Environment::Test] {
        let app = TestClient::new(app_in(env, |c| c).await.expect("the app builds"));
        assert_eq!(
            app.get("/text").await.header("strict-transport-security"),
            None,
            "{env}"
        );
    }
}

async fn preflight(client: &TestClient, origin: &str, method: &str) -> TestResponse {
    send(
        client,
        Method::OPTIONS,
        "/api/items",
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", "content-type"),
        ],
    )
    .await
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_the_config() {
    let off = client(|c| c).await;
    let answer = preflight(&off, "https://app.example", "POST").await;
    assert_eq!(answer.header("access-control-allow-origin"), None);

    let on = client(|c| {
        c.set("CORS_ALLOWED_ORIGINS", ["https://app.example"])
            .set("CORS_ALLOW_CREDENTIALS", true)
            .set("CORS_MAX_AGE", 120)
    })
    .await;
    let allowed = preflight(&on, "https://app.example", "POST").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(allowed.header("access-control-max-age"), Some("120"));
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    assert!(
        allowed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("content-type"))
    );
    // The preflight answer has the default headers too.
    assert_eq!(allowed.header("x-content-type-options"), Some("nosniff"));

    let refused = preflight(&on, "https://evil.example", "POST").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    // The actual request: the header on the answer, error pages included.
    let actual = send(
        &on,
        Method::GET,
        "/api/missing",
        &[("origin", "https://app.example")],
    )
    .await;
    assert_eq!(actual.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        actual.header("access-control-expose-headers"),
        Some("x-request-id")
    );

    let any = client(|c| c.set("CORS_ALLOWED_ORIGINS", ["*"])).await;
    let answer = preflight(&any, "https://anyone.example", "PUT").await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn wrong_values_stop_the_build_naming_the_key() {
    for (key, value) in [
        ("FRAME_OPTIONS", json!("ALLOWALL")),
        ("REFERRER_POLICY", json!("sometimes")),
        ("CONTENT_TYPE_OPTIONS", json!("sniff")),
        ("HSTS_MAX_AGE", json!("forever")),
        ("CORS_ALLOWED_ORIGINS", json!(["example.com"])),
        ("ERROR_JSON_PATHS", json!(["api"])),
    ] {
        let error = app_in(Environment::Test, |c| c.set(key, &value))
            .await
            .err()
            .unwrap_or_else(|| panic!("{key} = {value} was accepted"))
            .to_string();
        assert!(error.contains(key), "{key}: {error}");
    }
    let error = app_in(Environment::Test, |c| {
        c.set("CORS_ALLOWED_ORIGINS", ["*"])
            .set("CORS_ALLOW_CREDENTIALS", true)
    })
    .await
    .err()
    .expect("a wildcard with credentials is refused")
    .to_string();
    assert!(
        error.contains("CORS_ALLOWED_ORIGINS") && error.contains("CORS_ALLOW_CREDENTIALS"),
        "{error}"
    );
}

/// One HTTP/1.1 request over TCP; the raw answer.
async fn raw_http(addr: std::net::SocketAddr, request: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("a read timeout");
        stream
            .write_all(request.as_bytes())
            .expect("send the request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read the answer");
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("the request thread")
}

#[tokio::test]
async fn over_http_a_panic_is_a_500_page_and_the_server_goes_on() {
    let app = app_in(Environment::Test, |c| c)
        .await
        .expect("the app builds");
    let listener = unchained::app::bind("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("the address");
    let server = tokio::spawn(app.serve_on(listener));

    let boom = raw_http(
        addr,
        "GET /boom HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        boom.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{boom}"
    );
    let lower = boom.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-request-id: "), "{boom}");
    assert!(
        lower.contains("\r\nx-content-type-options: nosniff\r\n"),
        "{boom}"
    );
    assert!(boom.contains("500 Internal Server Error</h1>"), "{boom}");
    assert!(!boom.contains("hunter2"), "{boom}");

    let missing = raw_http(
        addr,
        "GET /missing HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
    assert!(
        missing
            .to_ascii_lowercase()
            .contains("\r\ncontent-type: application/problem+json\r\n"),
        "{missing}"
    );
    assert!(missing.contains("\"status\":404"), "{missing}");

    let home = raw_http(
        addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(home.starts_with("HTTP/1.1 200 OK\r\n"), "{home}");
    server.abort();
}
