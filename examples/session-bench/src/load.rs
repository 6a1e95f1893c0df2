//! A small closed-loop load generator on loopback: `connections` keep-alive
//! HTTP/1.1 connections each send `GET path` back to back for `duration`.
//!
//! The numbers in `docs/performance.md` come from `shared/bench-peers`
//! (wrk, pinned cores, peers in the same run); this generator is for quick
//! local looks and for the smoke test that keeps the benchmark runnable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Requests answered with 2xx.
    pub ok: u64,
    /// Requests answered otherwise, or connections that failed.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl Report {
    /// Successful requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs the load; `cookie` (a `name=value` pair) is sent with every request.
pub async fn run(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    connections: usize,
    duration: Duration,
) -> Report {
    let request = match cookie {
        Some(c) => format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {c}\r\n\r\n"),
        None => format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    };
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move { connection_loop(addr, request.into_bytes(), deadline).await })
        })
        .collect();
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for worker in workers {
        match worker.await {
            Ok((o, e, l)) => {
                ok += o;
                errors += e;
                latencies.extend(l);
            }
            Err(_) => errors += 1,
        }
    }
    latencies.sort_unstable();
    let p99 = latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    Report {
        ok,
        errors,
        elapsed: start.elapsed(),
        p99,
    }
}

async fn connection_loop(
    addr: SocketAddr,
    request: Vec<u8>,
    deadline: Instant,
) -> (u64, u64, Vec<Duration>) {
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return (0, 1, latencies);
    };
    let _ = stream.set_nodelay(true);
    let mut buffer = vec![0u8; 16 * 1024];
    while Instant::now() < deadline {
        let sent = Instant::now();
        if stream.write_all(&request).await.is_err() {
            errors += 1;
            break;
        }
        match read_response(&mut stream, &mut buffer).await {
            Some(status) if (200..300).contains(&status) => ok += 1,
            Some(_) => errors += 1,
            None => {
                errors += 1;
                break;
            }
        }
        latencies.push(sent.elapsed());
    }
    (ok, errors, latencies)
}

/// Reads one response with a `content-length` body; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> Option<u16> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        let text = &buffer[..filled];
        let Some(head_end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            if filled == buffer.len() {
                return None;
            }
            continue;
        };
        let head = std::str::from_utf8(&text[..head_end]).ok()?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if filled >= head_end + 4 + length {
            return Some(status);
        }
    }
}
