//! Flash messages: a message stored in the session by one request and
//! shown, once, by the next page that renders it.
//!
//! ```
//! use unchained_session::{Session, SessionError};
//!
//! async fn save(session: Session) -> Result<&'static str, SessionError> {
//!     session.flash("success", "Saved.").await?;
//!     Ok("redirect to the next page, which shows it")
//! }
//! ```
//!
//! In templates rendered through `unchained::page::Page`, the session
//! bundle provides Flask's `get_flashed_messages()`:
//!
//! ```jinja
//! {% for category, message in get_flashed_messages(with_categories=true) %}
//!   <p class="flash {{ category }}">{{ message }}</p>
//! {% endfor %}
//! ```
//!
//! A page that calls it forgets the messages it showed (after rendering);
//! a page that does not leaves them for the next one.

use serde::{Deserialize, Serialize};

use crate::session::{Session, SessionError};

/// Session key of the pending messages.
pub const FLASH_KEY: &str = "_flashes";

/// One message with its category (`message`, `error`, `success`...),
/// which pages use as a CSS class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// The category.
    pub category: String,
    /// The text.
    pub message: String,
}

impl Session {
    /// Adds a message for the next page that shows flash messages.
    pub async fn flash(
        &self,
        category: &str,
        message: impl Into<String>,
    ) -> Result<(), SessionError> {
        let mut flashes: Vec<Flash> = self.get(FLASH_KEY).await?.unwrap_or_default();
        flashes.push(Flash {
            category: category.to_owned(),
            message: message.into(),
        });
        self.insert(FLASH_KEY, flashes).await
    }

    /// Takes every pending message: they are shown once.
    pub async fn take_flashes(&self) -> Result<Vec<Flash>, SessionError> {
        let flashes: Option<Vec<Flash>> = self.get(FLASH_KEY).await?;
        if flashes.is_some() {
            self.remove(FLASH_KEY).await?;
        }
        Ok(flashes.unwrap_or_default())
    }
}

#[cfg(feature = "bundle")]
pub(crate) use page::FlashContext;

/// `get_flashed_messages()` in pages (needs the core, so the bundle
/// feature).
#[cfg(feature = "bundle")]
mod page {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::response::{IntoResponse, Response};
    use http::request::Parts;
    use unchained::minijinja::Value;
    use unchained::minijinja::value::Kwargs;
    use unchained::page::{RequestContext, TemplateContext};
    use unchained::state::AppState;

    use super::{FLASH_KEY, Flash};
    use crate::session::Session;

    /// The session bundle's contribution to every page: `get_flashed_messages`.
    pub(crate) struct FlashContext;

    #[unchained::async_trait]
    impl TemplateContext for FlashContext {
        async fn for_request(
            &self,
            parts: &mut Parts,
            _app: &AppState,
        ) -> Result<Box<dyn RequestContext>, Response> {
            let Some(session) = parts.extensions.get::<Session>().cloned() else {
                return Ok(Box::new(PageFlashes::default()));
            };
            // A read: free without a session cookie, and no write either way.
            let flashes: Vec<Flash> = session
                .get(FLASH_KEY)
                .await
                .map_err(IntoResponse::into_response)?
                .unwrap_or_default();
            Ok(Box::new(PageFlashes {
                session: Some(session),
                state: Arc::new(Shown {
                    flashes,
                    shown: AtomicBool::new(false),
                }),
            }))
        }
    }

    #[derive(Default)]
    struct Shown {
        flashes: Vec<Flash>,
        shown: AtomicBool,
    }

    #[derive(Default)]
    struct PageFlashes {
        session: Option<Session>,
        state: Arc<Shown>,
    }

    #[unchained::async_trait]
    impl RequestContext for PageFlashes {
        fn values(&self) -> Vec<(&'static str, Value)> {
            let state = self.state.clone();
            let function = move |kwargs: Kwargs| -> Result<Value, unchained::minijinja::Error> {
                let with_categories: Option<bool> = kwargs.get("with_categories")?;
                let filter: Option<Vec<String>> = kwargs.get("category_filter")?;
                kwargs.assert_all_used()?;
                state.shown.store(true, Ordering::Relaxed);
                let chosen = state.flashes.iter().filter(|f| {
                    filter
                        .as_ref()
                        .is_none_or(|categories| categories.contains(&f.category))
                });
                Ok(if with_categories.unwrap_or(false) {
                    chosen
                        .map(|f| Value::from(vec![f.category.clone(), f.message.clone()]))
                        .collect()
                } else {
                    chosen.map(|f| Value::from(f.message.clone())).collect()
                })
            };
            vec![("get_flashed_messages", Value::from_function(function))]
        }

        async fn after_render(&self) -> Result<(), Response> {
            if let Some(session) = &self.session
                && self.state.shown.load(Ordering::Relaxed)
                && !self.state.flashes.is_empty()
            {
                session
                    .remove(FLASH_KEY)
                    .await
                    .map_err(IntoResponse::into_response)?;
            }
            Ok(())
        }
    }
}
