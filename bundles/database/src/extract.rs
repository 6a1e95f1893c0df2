//! The [`Db`] extractor: the app's connection pool in a handler.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sea_orm::DatabaseConnection;
use unchained::state::AppState;

/// The app's database connection pool, for a handler:
///
/// ```
/// use unchained_database::Db;
///
/// async fn health(Db(db): Db) -> &'static str {
///     if db.ping().await.is_ok() { "ok" } else { "database down" }
/// }
/// # let _ = unchained::routes::Routes::new().get("/health", health);
/// ```
///
/// The pool is cheap to clone. Rejects with 500 when the database bundle
/// is not enabled (no connection was registered).
#[derive(Clone, Debug)]
pub struct Db(pub DatabaseConnection);

impl std::ops::Deref for Db {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.0
    }
}

impl FromRequestParts<AppState> for Db {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.service::<DatabaseConnection>().cloned().map(Db).ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "no database connection: add \"unchained.bundles.database\" to bundles in unchained.toml",
        ))
    }
}
