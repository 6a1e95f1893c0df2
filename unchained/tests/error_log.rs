//! What an error and a request log: a 500's ERROR line carries the
//! request id and the cause the page does not show; the request log line
//! carries the id. Every test here captures the log with a thread-local
//! subscriber (a test without one, running in parallel, could make
//! tracing cache a callsite as disabled).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use http::{Method, StatusCode};
use unchained::config::REQUEST_LOG;
use unchained::prelude::*;
use unchained::testing::TestClient;

/// A subscriber that keeps every line logged, on this thread.
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

impl Captured {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }

    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[tokio::test]
async fn a_panic_is_a_500_page_with_the_request_id_and_no_internals() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    // Development: the request log is on too.
    let app = app_in(Environment::Development, |c| c)
        .await
        .expect("the app builds");
    let client = TestClient::new(app);

    let page = send(&client, Method::GET, "/boom", &[("accept", BROWSER)]).await;
    assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = page
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    let html = page.text();
    assert!(html.contains("500 Internal Server Error"), "{html}");
    assert!(html.contains(&id), "the page shows the id: {html}");
    assert!(!html.contains("hunter2"), "the panic leaked: {html}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    let log = captured.text();
    let error_line = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("GET /boom 500"))
        .unwrap_or_else(|| panic!("no error line: {log}"));
    assert!(error_line.contains(&id), "{error_line}");
    assert!(error_line.contains(PANIC_MESSAGE), "{error_line}");
    assert!(error_line.contains("unchained::errors"), "{error_line}");
    let request_line = log
        .lines()
        .find(|l| l.contains("unchained::request:") && l.contains("GET /boom 500"))
        .unwrap_or_else(|| panic!("no request line: {log}"));
    assert!(request_line.contains(&id), "{request_line}");

    let json = send(
        &client,
        Method::GET,
        "/boom",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(json.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let problem = json.json();
    assert_eq!(problem["status"], 500);
    assert_eq!(problem["request_id"].as_str(), json.header("x-request-id"));
    assert!(!json.text().contains("hunter2"), "{}", json.text());
    let text = send(&client, Method::GET, "/boom", &[]).await;
    assert!(text.text().contains("Request id: "), "{}", text.text());
    assert!(!text.text().contains("hunter2"));
}

#[tokio::test]
async fn the_request_log_line_carries_the_id() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let app = app_in(Environment::Test, |c| c.set(REQUEST_LOG, true))
        .await
        .expect("the app builds");
    let client = TestClient::new(app);
    let answer = send(
        &client,
        Method::GET,
        "/text",
        &[("x-request-id", "trace-7")],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let log = captured.text();
    let line = log
        .lines()
        .find(|l| l.contains("GET /text 200"))
        .unwrap_or_else(|| panic!("no request line: {log}"));
    assert!(line.contains("request_id=trace-7"), "{line}");
}
