//! Bounded work over real HTTP: form bodies past `SECURITY_MAX_FORM_BYTES`
//! get 413 without being buffered, and password hashing runs in at most
//! `SECURITY_HASH_CONCURRENCY` slots, answering 503 with `Retry-After`
//! past `SECURITY_HASH_WAIT`.
//!
//! Memory is measured on a server in a child process (this test binary
//! started again on the ignored `server_process` test), so that the
//! client's own buffers do not count: the parent reads the child's
//! `/proc/PID/status` (`VmRSS`, and `VmHWM` for the peak, reset through
//! `/proc/PID/clear_refs` before the load).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Set in the child: its config overrides, `KEY=VALUE` pairs split by `;`.
const SERVER_ENV: &str = "UNCHAINED_SECURITY_BOUNDED_SERVER";

/// OWASP's argon2id parameters, the bundle's defaults: the tests measure
/// real hashes, not the fast ones the other tests use.
const REAL_ARGON2: [(&str, &str); 2] = [
    ("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", "19456"),
    ("SECURITY_PASSWORD_ARGON2_ITERATIONS", "2"),
];

const MIB: u64 = 1024;

/// The server half: serves the test app on a free port, prints it, and
/// runs until the parent kills it. Does nothing when run by hand.
#[test]
#[ignore = "the server of the other tests, started by them in a child process"]
fn server_process() {
    let Ok(settings) = std::env::var(SERVER_ENV) else {
        return;
    };
    let overrides: Vec<(String, serde_json::Value)> = settings
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            let value = value
                .parse::<i64>()
                .map_or_else(|_| serde_json::json!(value), serde_json::Value::from);
            (key.to_owned(), value)
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let test = common::app(move |mut c| {
            for (key, value) in overrides {
                c = c.set(&key, value);
            }
            c
        })
        .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        println!("LISTENING {port}");
        test.app.clone().serve_on(listener).await.expect("serve");
    });
}

/// A server in a child process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(settings: &[(&str, &str)]) -> Server {
        let settings: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "server_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVER_ENV, settings.join(";"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("server stdout");
        // Read on a thread, so a server that never listens fails the test
        // after a while instead of hanging it; the thread keeps draining
        // stdout so the child never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have written `test server_process ... ` first.
                if let Some((_, port)) = line.split_once("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                panic!("the server process did not start listening: {other:?}");
            }
        };
        Server { child, port }
    }

    /// A `/proc/PID/status` field, in KiB.
    fn kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    /// Resets the peak (`VmHWM`) to the current RSS; false where the
    /// kernel does not allow it (the peak then includes start-up).
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a request sends after its head.
enum Payload {
    Bytes(Vec<u8>),
    /// `n` bytes of `a&a&...`, as fast as the socket takes them.
    Filler(usize),
    /// The same in 64 KiB chunks (`Transfer-Encoding: chunked`).
    Chunked(usize),
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    /// The reply in `bytes`, once its head and (by `Content-Length`) its
    /// body are complete.
    fn parse(bytes: &[u8], complete_only: bool) -> Option<Reply> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let body = &bytes[end + 4..];
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let mut reply = Reply {
            status,
            head,
            body: String::new(),
        };
        let length = reply.header("content-length").and_then(|v| v.parse().ok());
        if complete_only && length.is_none_or(|n: usize| body.len() < n) {
            return None;
        }
        reply.body = String::from_utf8_lossy(body).into_owned();
        Some(reply)
    }
}

fn filler(n: usize) -> Vec<u8> {
    b"a&".iter().copied().cycle().take(n).collect()
}

/// Writes `head` and `payload`.
async fn write_request(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    head: String,
    payload: Payload,
) -> std::io::Result<()> {
    writer.write_all(head.as_bytes()).await?;
    match payload {
        Payload::Bytes(bytes) => writer.write_all(&bytes).await?,
        Payload::Filler(mut left) => {
            let chunk = filler(64 * 1024);
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n]).await?;
                left -= n;
            }
        }
        Payload::Chunked(mut left) => {
            let chunk = filler(64 * 1024);
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                writer.write_all(&chunk[..n]).await?;
                writer.write_all(b"\r\n").await?;
                left -= n;
            }
            writer.write_all(b"0\r\n\r\n").await?;
        }
    }
    Ok(())
}

/// Reads until a complete reply, the end of the stream, or an error.
async fn read_reply(reader: &mut tokio::net::tcp::OwnedReadHalf) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        if Reply::parse(&received, true).is_some() {
            return received;
        }
    }
}

/// Sends `head` and `payload` on a new connection and reads the reply,
/// writing and reading at once: a server that answers before reading the
/// whole body is seen to do so.
async fn exchange(port: u16, head: String, payload: Payload) -> Reply {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let write = async move {
        // A write error is the server closing early; the reply says why.
        let _ = write_request(&mut writer, head, payload).await;
        // Keep the write side open until the reply is read: hyper drops a
        // connection whose client half-closes before it answers.
        std::future::pending::<()>().await;
        writer
    };
    let read = tokio::time::timeout(Duration::from_secs(120), read_reply(&mut reader));
    let received = tokio::select! {
        received = read => received.expect("no complete answer within 120 s"),
        _ = write => unreachable!("writing never ends"),
    };
    Reply::parse(&received, false).unwrap_or_else(|| {
        panic!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

fn post_head(path: &str, content_type: &str, length: Option<usize>, cookie: &str) -> String {
    let length = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{length}Cookie: {cookie}\r\n\
         Connection: close\r\n\r\n"
    )
}

/// A login through the JSON API (no CSRF token needed).
async fn api_login(port: u16, email: &str) -> Reply {
    let body = serde_json::json!({ "email": email, "password": "not the password" }).to_string();
    let head = post_head(
        "/api/v1/auth/login",
        "application/json",
        Some(body.len()),
        "",
    );
    exchange(port, head, Payload::Bytes(body.into_bytes())).await
}

/// A session: its cookie header and its CSRF token, from `GET /login`.
async fn session(port: u16) -> (String, String) {
    let head = "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_owned();
    let reply = exchange(port, head, Payload::Bytes(Vec::new())).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let cookie = reply
        .head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("set-cookie").then_some(v)
        })
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    (cookie, common::csrf_in(&reply.body))
}

/// A login through the HTML form.
async fn form_login(port: u16, cookie: &str, token: &str, email: &str) -> Reply {
    let body = format!("csrf_token={token}&email={email}&password=not+the+password");
    let head = post_head(
        "/login",
        "application/x-www-form-urlencoded",
        Some(body.len()),
        cookie,
    );
    exchange(port, head, Payload::Bytes(body.into_bytes())).await
}

#[tokio::test]
async fn a_10_mb_form_gets_413_without_being_buffered() {
    const TEN_MB: usize = 10_000_000;
    let server = Server::start(&[]);
    let (cookie, token) = session(server.port).await;
    // Warm up the paths the big requests take.
    let small = form_login(server.port, &cookie, &token, "nobody%40example.com").await;
    assert_eq!(small.status, 200, "{small:?}");
    let rss_before = server.kib("VmRSS");
    let peak_reset = server.reset_peak();

    // Declared size: refused from the header, before the body is read.
    let head = post_head(
        "/login",
        "application/x-www-form-urlencoded",
        Some(TEN_MB),
        &cookie,
    );
    let declared = exchange(server.port, head, Payload::Filler(TEN_MB)).await;
    assert_eq!(declared.status, 413, "{declared:?}");
    assert!(
        declared.body.contains("SECURITY_MAX_FORM_BYTES"),
        "{declared:?}"
    );
    // Chunked, with the session's token (so the check reads the body):
    // cut off as soon as it passes the limit.
    let head = post_head("/login", "application/x-www-form-urlencoded", None, &cookie);
    let chunked = exchange(server.port, head, Payload::Chunked(TEN_MB)).await;
    assert_eq!(chunked.status, 413, "{chunked:?}");
    // Same for a multipart form.
    let head = post_head(
        "/app-form",
        "multipart/form-data; boundary=XX",
        None,
        &cookie,
    );
    let multipart = exchange(server.port, head, Payload::Chunked(TEN_MB)).await;
    assert_eq!(multipart.status, 413, "{multipart:?}");

    let rss_after = server.kib("VmRSS");
    let peak = server.kib("VmHWM");
    eprintln!(
        "10 MB forms: VmRSS {rss_before} -> {rss_after} KiB, peak {peak} KiB (peak reset: {peak_reset})"
    );
    assert!(
        rss_after <= rss_before + 4 * MIB,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    if peak_reset {
        assert!(
            peak <= rss_before + 4 * MIB,
            "peak RSS {peak} KiB, from {rss_before} KiB before the 10 MB forms"
        );
    }
    // A form under the limit still passes, its token found after 60 KB of
    // empty pairs.
    let body = format!(
        "{}csrf_token={token}&email=nobody%40example.com&password=x",
        "&".repeat(60_000)
    );
    let head = post_head(
        "/login",
        "application/x-www-form-urlencoded",
        Some(body.len()),
        &cookie,
    );
    let fine = exchange(server.port, head, Payload::Bytes(body.into_bytes())).await;
    assert_eq!(fine.status, 200, "{fine:?}");
    assert!(fine.body.contains("Invalid email or password"), "{fine:?}");
}

#[tokio::test]
async fn hashing_past_the_wait_answers_503_with_retry_after() {
    // One slot and no wait: logins that overlap a hash are refused at once.
    let mut settings = REAL_ARGON2.to_vec();
    settings.extend([
        ("SECURITY_HASH_CONCURRENCY", "1"),
        ("SECURITY_HASH_WAIT", "0"),
        ("SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS", "0"),
        ("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", "0"),
    ]);
    let server = Server::start(&settings);
    let (cookie, token) = session(server.port).await;
    let port = server.port;
    let api = (0..8).map(|i| {
        tokio::spawn(async move { api_login(port, &format!("api{i}@example.com")).await })
    });
    let html = (0..8).map(|i| {
        let (cookie, token) = (cookie.clone(), token.clone());
        tokio::spawn(async move {
            form_login(port, &cookie, &token, &format!("html{i}%40example.com")).await
        })
    });
    let api: Vec<Reply> = futures::future::join_all(api.collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect();
    let html: Vec<Reply> = futures::future::join_all(html.collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect();
    for (replies, refused_ok) in [(&api, 400), (&html, 200)] {
        let busy: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
        assert!(!busy.is_empty(), "no 503 among {replies:?}");
        assert!(
            replies.iter().any(|r| r.status == refused_ok),
            "no login was checked at all: {replies:?}"
        );
        for reply in &busy {
            assert_eq!(reply.header("retry-after"), Some("1"), "{reply:?}");
            assert!(reply.body.contains("The server is busy"), "{reply:?}");
        }
        assert!(
            replies
                .iter()
                .all(|r| r.status == 503 || r.status == refused_ok),
            "{replies:?}"
        );
    }
}

#[tokio::test]
async fn two_hundred_parallel_unknown_email_logins_stay_under_the_ceiling() {
    let mut settings = REAL_ARGON2.to_vec();
    settings.extend([
        ("SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS", "0"),
        ("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", "0"),
    ]);
    let server = Server::start(&settings);
    let port = server.port;
    // The baseline is the server before its first login: the hashing
    // threads' memory counts against the ceiling, not in the baseline.
    let idle = server.kib("VmRSS");
    let peak_reset = server.reset_peak();
    let warm = api_login(port, "warm@example.com").await;
    assert_eq!(warm.status, 400, "{warm:?}");

    let logins: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(async move { api_login(port, &format!("nobody{i}@example.com")).await })
        })
        .collect();
    let replies: Vec<Reply> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect();
    let peak = server.kib("VmHWM");

    let checked = replies.iter().filter(|r| r.status == 400).count();
    let busy = replies.iter().filter(|r| r.status == 503).count();
    assert_eq!(checked + busy, 200, "{replies:?}");
    assert!(checked > 0, "every login was refused as busy");
    assert!(
        replies
            .iter()
            .filter(|r| r.status == 503)
            .all(|r| r.header("retry-after").is_some())
    );
    // The documented ceiling (docs/bundles/security.md): idle RSS +
    // concurrency x argon2 memory + connections x body limit + 32 MiB of
    // allocator and thread slack.
    let concurrency = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let ceiling = concurrency * 19_456 + 200 * 64 + 32 * MIB;
    eprintln!(
        "200 parallel unknown-email logins: {checked} checked, {busy} busy (503); idle VmRSS {idle} KiB, \
         peak VmHWM {peak} KiB (+{} KiB), ceiling +{ceiling} KiB with {concurrency} slot(s) (peak reset: {peak_reset})",
        peak.saturating_sub(idle)
    );
    assert!(
        peak <= idle + ceiling,
        "peak RSS {peak} KiB is more than {ceiling} KiB above the idle {idle} KiB"
    );
}
