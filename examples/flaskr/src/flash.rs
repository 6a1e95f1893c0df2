//! Flash messages: a message stored in the session by one request and
//! shown (then forgotten) by the next page that renders.

use serde::{Deserialize, Serialize};
use unchained_session::{Session, SessionError};

const KEY: &str = "_flashes";

/// One message with its category (`message`, `error`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The category, used as a CSS class.
    pub category: String,
    /// The text.
    pub message: String,
}

/// Adds a message for the next page.
pub async fn flash(session: &Session, category: &str, message: &str) -> Result<(), SessionError> {
    let mut flashes: Vec<Flash> = session.get(KEY).await?.unwrap_or_default();
    flashes.push(Flash {
        category: category.to_owned(),
        message: message.to_owned(),
    });
    session.insert(KEY, flashes).await
}

/// Takes every pending message (they are shown once).
pub async fn take_flashes(session: &Session) -> Result<Vec<Flash>, SessionError> {
    let flashes: Option<Vec<Flash>> = session.get(KEY).await?;
    if flashes.is_some() {
        session.remove(KEY).await?;
    }
    Ok(flashes.unwrap_or_default())
}
