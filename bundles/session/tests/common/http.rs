//! Real HTTP on 127.0.0.1: serve a test app on a socket, and a minimal
//! HTTP/1.1 client for it (one request per connection), for tests where
//! the app and its clients must be separate, e.g. an app in another
//! process that gets killed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Reply;

/// How long one request may take before the client gives up. Far above
/// the stores' own timeouts (3 to 5 s), so a request that hangs is a bug
/// that shows as an error, not a test that never ends.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `app` on a free port of 127.0.0.1 until the runtime ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// `GET path` on `addr` with the session cookie `cookie`. An `Err` is a
/// request that got no HTTP answer at all (refused, reset, timed out).
pub async fn get(
    addr: SocketAddr,
    cookie_name: &str,
    path: &str,
    cookie: Option<&str>,
) -> std::io::Result<Reply> {
    tokio::time::timeout(REQUEST_TIMEOUT, exchange(addr, cookie_name, path, cookie))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to GET {path} within {REQUEST_TIMEOUT:?}"),
            ))
        })
}

async fn exchange(
    addr: SocketAddr,
    cookie_name: &str,
    path: &str,
    cookie: Option<&str>,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let cookie = cookie
        .map(|c| format!("Cookie: {cookie_name}={c}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // `Connection: close`: the server closes after the response, so the
    // response is everything up to the end of the stream.
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("a response cut before the end of its headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("non-UTF-8 headers"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| bad("no status line"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| bad("a bad header"))?;
        headers.append(
            HeaderName::try_from(name.trim()).map_err(|_| bad("a bad header name"))?,
            HeaderValue::try_from(value.trim()).map_err(|_| bad("a bad header value"))?,
        );
    }
    let body = &raw[split + 4..];
    // The test app's bodies are short strings with a Content-Length; a
    // shorter body is a response cut by a crash, not a full answer.
    if let Some(length) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && body.len() < length
    {
        return Err(bad("a response cut before the end of its body"));
    }
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}
