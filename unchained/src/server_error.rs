//! [`ServerError`]: what a handler returns when something it relies on
//! (the database, a store) fails: logged with its cause, answered with a
//! bare `500 Internal Server Error`, so that `?` works on any error.
//!
//! ```
//! use unchained::prelude::*;
//!
//! async fn report() -> Result<Response, ServerError> {
//!     let text = std::fs::read_to_string("report.txt")?;
//!     Ok(Html(text).into_response())
//! }
//! # let _ = Routes::new().get("/report", report);
//! ```
//!
//! A failure with an answer of its own (a post that does not exist, a
//! session store that is down and answers 503) is better returned as
//! that answer: `ServerError` only says the server failed.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A handler's failure that is the server's fault; see the
/// [module docs](self). Any error converts into it with `?`.
#[derive(Debug)]
pub struct ServerError(anyhow::Error);

impl ServerError {
    /// The cause.
    pub fn cause(&self) -> &anyhow::Error {
        &self.0
    }
}

impl<E: Into<anyhow::Error>> From<E> for ServerError {
    fn from(error: E) -> Self {
        ServerError(error.into())
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        tracing::error!(error = format!("{:#}", self.0), "request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler's body that fails on `?`.
    fn parse(text: &str) -> Result<i32, ServerError> {
        Ok(text.parse::<i32>()?)
    }

    #[tokio::test]
    async fn any_error_answers_500_without_its_details() {
        let error = parse("forty-two").expect_err("not a number");
        assert!(error.cause().to_string().contains("invalid digit"));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("a body");
        assert_eq!(&body[..], b"Internal Server Error");
    }
}
