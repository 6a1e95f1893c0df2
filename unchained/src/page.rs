//! [`Page`]: renders a template with what every page of the app shares
//! (the current user, the CSRF token, flash messages...), so that a
//! handler passes only its own data.
//!
//! ```
//! use unchained::prelude::*;
//!
//! async fn index(page: Page) -> Response {
//!     // `current_user`, `csrf_token`, `get_flashed_messages()`... are there
//!     // too, from the bundles that provide them.
//!     page.render("index.html", context! { title => "Home" }).await
//! }
//! # let _ = Routes::new().get("/", index);
//! ```
//!
//! Bundles contribute with a [`TemplateContext`], registered in their
//! `before_build` hook with
//! [`BuildContext::add_template_context`](crate::BuildContext::add_template_context).
//! It runs when a handler takes a [`Page`] (not on every request), and
//! its values should be lazy where they cost something: a value the
//! template never reads should neither query a store nor set a cookie.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use minijinja::Value;
use serde::Serialize;

use crate::state::AppState;

/// One request's contribution to its templates, made by a bundle's
/// [`TemplateContext`].
#[async_trait]
pub trait RequestContext: Send + Sync {
    /// Names and values the templates see. A handler's own value of the
    /// same name wins.
    fn values(&self) -> Vec<(&'static str, Value)>;

    /// Runs after a template rendered, e.g. to forget the flash messages
    /// the page showed. A failure is answered as the returned response.
    async fn after_render(&self) -> Result<(), Response> {
        Ok(())
    }
}

/// Makes each request's [`RequestContext`]; a bundle registers one with
/// [`BuildContext::add_template_context`](crate::BuildContext::add_template_context).
#[async_trait]
pub trait TemplateContext: Send + Sync + 'static {
    /// The contribution to the templates of the request with `parts`. An
    /// `Err` is sent instead of the page (e.g. a store that is down).
    async fn for_request(
        &self,
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Box<dyn RequestContext>, Response>;
}

/// Every bundle's [`TemplateContext`], in load order (a service).
#[derive(Clone, Default)]
pub struct TemplateContexts(pub(crate) Vec<Arc<dyn TemplateContext>>);

/// A handler's way to render a template with the app's shared per-request
/// values; see the [module docs](self).
pub struct Page {
    app: AppState,
    contexts: Vec<Box<dyn RequestContext>>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("contexts", &self.contexts.len())
            .finish_non_exhaustive()
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let providers = app
            .service::<TemplateContexts>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let mut contexts = Vec::with_capacity(providers.len());
        for provider in providers {
            contexts.push(provider.for_request(parts, app).await?);
        }
        Ok(Page {
            app: app.clone(),
            contexts,
        })
    }
}

impl Page {
    /// The app.
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// The shared values, as one map (what [`render`](Self::render) adds
    /// to the handler's context).
    pub fn shared(&self) -> Value {
        self.contexts
            .iter()
            .flat_map(|c| c.values())
            .collect::<std::collections::BTreeMap<&str, Value>>()
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect()
    }

    /// Renders template `name` with `context` and the shared values (the
    /// handler's win on a name clash) as an HTML response; a template
    /// error is logged and answered with 500.
    pub async fn render(&self, name: &str, context: impl Serialize) -> Response {
        let merged = minijinja::value::merge_maps([Value::from_serialize(&context), self.shared()]);
        let response = self.app.render(name, merged);
        if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
            return response;
        }
        for context in &self.contexts {
            if let Err(refused) = context.after_render().await {
                return refused;
            }
        }
        response
    }

    /// [`render`](Self::render) with another status, e.g. 422 for a form
    /// shown again with its errors.
    pub async fn render_with_status(
        &self,
        status: StatusCode,
        name: &str,
        context: impl Serialize,
    ) -> Response {
        let mut response = self.render(name, context).await;
        if response.status().is_success() {
            *response.status_mut() = status;
        }
        response
    }
}
