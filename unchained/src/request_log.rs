//! The request log: one line per request, `GET /hello/ada 200 1.2ms`, at
//! INFO under the target [`TARGET`].
//!
//! `REQUEST_LOG` turns it on; its default is on in development and off
//! elsewhere. When off the middleware is not installed at all, so a
//! deployed app pays nothing for it.

use std::fmt;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{Method, StatusCode};

use crate::config::{Config, ConfigError, Environment, REQUEST_LOG};
use crate::state::AppState;

/// The tracing target of request lines: `RUST_LOG=unchained::request=off`
/// silences them, `RUST_LOG=warn,unchained::request=info` keeps only them.
pub const TARGET: &str = "unchained::request";

/// Whether `config` turns the request log on. A config built without the
/// core's defaults (e.g. by hand in a test) gets the same default: on in
/// development only.
pub fn enabled(config: &Config) -> Result<bool, ConfigError> {
    if !config.contains(REQUEST_LOG) {
        return Ok(config.env() == Environment::Development);
    }
    config.get(REQUEST_LOG)
}

/// Wraps `router` with the request log middleware.
pub(crate) fn layer(router: Router<AppState>) -> Router<AppState> {
    router.layer(axum::middleware::from_fn(log_request))
}

async fn log_request(request: Request, next: Next) -> Response {
    // `RUST_LOG` may have turned the target off: then not even the path
    // is copied.
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: a query string may carry a token (a password reset
    // link), and logs are read by more people than the app's users.
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let line = RequestLine {
        method: &method,
        path: &path,
        status: response.status(),
        elapsed: started.elapsed(),
    };
    tracing::info!(target: TARGET, "{line}");
    response
}

/// One line of the request log: `GET /hello/ada 200 1.2ms`.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The request's path, without its query string.
    pub path: &'a str,
    /// The response's status.
    pub status: StatusCode,
    /// From the request entering the middleware to the response leaving
    /// the app's layers.
    pub elapsed: Duration,
}

impl fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.method,
            self.path,
            self.status.as_u16(),
            Elapsed(self.elapsed)
        )
    }
}

/// A duration as people read it in a log: `850µs`, `1.2ms`, `2.35s`.
struct Elapsed(Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        if micros < 1_000 {
            write!(f, "{micros}µs")
        } else if micros < 1_000_000 {
            write!(f, "{:.1}ms", self.0.as_secs_f64() * 1_000.0)
        } else {
            write!(f, "{:.2}s", self.0.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_method_path_status_and_duration() {
        let line = |millis: f64| {
            RequestLine {
                method: &Method::GET,
                path: "/hello/ada",
                status: StatusCode::OK,
                elapsed: Duration::from_secs_f64(millis / 1_000.0),
            }
            .to_string()
        };
        assert_eq!(line(1.2), "GET /hello/ada 200 1.2ms");
        assert_eq!(line(0.85), "GET /hello/ada 200 850µs");
        assert_eq!(line(2_346.0), "GET /hello/ada 200 2.35s");
    }

    #[test]
    fn a_wrong_value_names_the_key() {
        let config = Config::builder(Environment::Development)
            .set(REQUEST_LOG, "loud")
            .build();
        let err = enabled(&config).unwrap_err().to_string();
        assert!(err.contains(REQUEST_LOG), "{err}");
    }

    #[test]
    fn defaults_follow_the_environment() {
        for (env, on) in [
            (Environment::Development, true),
            (Environment::Production, false),
            (Environment::Test, false),
        ] {
            let with_core = Config::builder(env).core_defaults().build();
            assert_eq!(enabled(&with_core).ok(), Some(on), "{env}");
            let without = Config::builder(env).build();
            assert_eq!(enabled(&without).ok(), Some(on), "{env}");
        }
    }
}
