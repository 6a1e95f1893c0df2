//! How a failed handler answers: 404 and 403 as pages, store and database
//! failures logged and answered without details.

use unchained::axum::http::StatusCode;
use unchained::axum::response::{IntoResponse, Response};
use unchained_session::SessionError;

/// A handler failure.
#[derive(Debug)]
pub enum AppError {
    /// No such post.
    NotFound,
    /// The post belongs to someone else.
    Forbidden,
    /// The database failed.
    Database(sea_orm::DbErr),
    /// The session store failed (503 when it is down).
    Session(SessionError),
    /// `url_for` named no route (a bug in the app).
    Url(unchained::urls::UrlError),
}

impl From<unchained::urls::UrlError> for AppError {
    fn from(e: unchained::urls::UrlError) -> Self {
        AppError::Url(e)
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::Database(e)
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        AppError::Session(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "Post not found.").into_response(),
            AppError::Forbidden => {
                (StatusCode::FORBIDDEN, "You can only change your own posts.").into_response()
            }
            AppError::Database(e) => {
                tracing::error!(error = %e, "database query failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
            AppError::Session(e) => e.into_response(),
            AppError::Url(e) => {
                tracing::error!(error = %e, "url_for failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
        }
    }
}
