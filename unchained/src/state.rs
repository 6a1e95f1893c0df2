//! [`AppState`]: what every handler can reach: the config, the services
//! bundles registered and the templates.
//!
//! ```
//! use unchained::prelude::*;
//!
//! async fn handler(State(app): State<AppState>) -> String {
//!     format!("running in {}", app.config().env())
//! }
//! # let _ = Routes::new().get("/", handler);
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use crate::config::Config;
use crate::templates::Templates;
use crate::urls::{UrlError, Urls};

/// Services registered by bundles, one per type.
#[derive(Default)]
pub struct Services {
    map: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Services {
    /// Registers `value`, replacing an earlier one of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// Whether a service with this type id is registered.
    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.map.contains_key(&id)
    }

    /// The service of type `T`, if registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref())
    }
}

struct Inner {
    config: Config,
    services: Services,
    templates: Templates,
    bundles: Vec<&'static str>,
    urls: Arc<Urls>,
}

/// The shared state of an app; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    pub(crate) fn new(
        config: Config,
        services: Services,
        templates: Templates,
        bundles: Vec<&'static str>,
        urls: Arc<Urls>,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                config,
                services,
                templates,
                bundles,
                urls,
            }),
        }
    }

    /// The merged config.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The service of type `T` that a bundle registered, if any.
    pub fn service<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.services.get()
    }

    /// The templates of every bundle, the app's overriding the others.
    pub fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    /// Names of the loaded bundles, in load order.
    pub fn bundles(&self) -> &[&'static str] {
        &self.inner.bundles
    }

    /// The app's named routes (see [`urls`](crate::urls)).
    pub fn urls(&self) -> &Urls {
        &self.inner.urls
    }

    /// The URL of route `name`, its `{param}` path segments filled from
    /// `params` and the other params in the query string; an unknown name
    /// or a missing parameter is an error naming the endpoint. Templates
    /// have the same as the function `url_for('name', param=value)`.
    ///
    /// ```
    /// use unchained::prelude::*;
    ///
    /// async fn done(State(app): State<AppState>) -> Result<Redirect, String> {
    ///     let to = app
    ///         .url_for("security.login", &[("next", "/posts")])
    ///         .map_err(|e| e.to_string())?;
    ///     Ok(Redirect::to(&to))
    /// }
    /// # let _ = Routes::new().get("/done", done);
    /// ```
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        self.inner.urls.url_for(name, params)
    }

    /// Renders template `name` as an HTML response; a template error is
    /// logged and answered with 500.
    pub fn render(&self, name: &str, context: impl Serialize) -> Response {
        match self.inner.templates.render(name, context) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
        }
    }
}
