//! A minimal HTTP/1.1 client with a cookie jar, for end-to-end tests
//! against a server on 127.0.0.1 (no client library: the tests see the
//! exact headers and cookies a browser would).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A minimal HTTP/1.1 client with a cookie jar, on 127.0.0.1.
pub struct Http {
    /// The server's port.
    pub port: u16,
    /// Cookies received so far, by name; sent with every request.
    pub cookies: BTreeMap<String, String>,
}

/// A response.
pub struct Page {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Page {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The value of the page's hidden `csrf_token` field.
    pub fn csrf_token(&self) -> String {
        let field = "name=\"csrf_token\" value=\"";
        let start = self
            .body
            .find(field)
            .unwrap_or_else(|| panic!("no csrf_token field in:\n{}", self.body))
            + field.len();
        let end = self.body[start..].find('"').expect("a closing quote") + start;
        self.body[start..end].to_owned()
    }
}

impl Http {
    /// A client of the server on `port`, with an empty cookie jar.
    pub fn new(port: u16) -> Http {
        Http {
            port,
            cookies: BTreeMap::new(),
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None)
    }

    /// `POST path` with a url-encoded form.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send("POST", path, Some(body))
    }

    /// One request; panics (failing the test) if the server does not answer.
    pub fn send(&mut self, method: &str, path: &str, form: Option<String>) -> Page {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        let body = form.unwrap_or_default();
        if method == "POST" {
            request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {raw:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        for (_, value) in headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        {
            let pair = value.split(';').next().unwrap_or_default();
            let Some((name, val)) = pair.split_once('=') else {
                continue;
            };
            let expired = val.is_empty() || value.to_ascii_lowercase().contains("max-age=0");
            if expired {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), val.trim().to_owned());
            }
        }
        Page {
            status,
            headers,
            body,
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
