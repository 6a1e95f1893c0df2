//! Typed access to the services bundles register: the [`Service`]
//! extractor for handlers, and [`MissingService`], the error a bundle gets
//! at build time when something it needs is not there.
//!
//! ```
//! use unchained::prelude::*;
//!
//! #[derive(Clone)]
//! struct Greeting(&'static str);
//!
//! async fn hello(Service(greeting): Service<Greeting>) -> String {
//!     format!("{}, world", greeting.0)
//! }
//! # let _ = Routes::new().get("/", hello);
//! ```
//!
//! A bundle registers a service in its `before_build` hook with
//! [`BuildContext::insert`](crate::BuildContext::insert) and lists its type
//! in [`Bundle::provides`](crate::Bundle::provides). A bundle that needs a
//! service calls [`BuildContext::require`](crate::BuildContext::require) in
//! its own `before_build`: when no loaded bundle provides it, the app fails
//! to build (at `unchained run`, before any request) with an error naming
//! the bundle to add. Handlers then take [`Service<T>`], which the build
//! has already guaranteed.

use std::any::TypeId;
use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::project::MANIFEST;
use crate::state::AppState;

/// The type of a service, as a bundle declares it in
/// [`Bundle::provides`](crate::Bundle::provides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceType {
    id: TypeId,
    name: &'static str,
}

impl ServiceType {
    /// The service type `T`.
    pub fn of<T: Send + Sync + 'static>() -> Self {
        ServiceType {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }

    /// The type's Rust name, e.g. `unchained_session::SessionManager`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn id(&self) -> TypeId {
        self.id
    }
}

/// Which compiled-in bundle provides which service type: the hint in a
/// [`MissingService`] error.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_type: HashMap<TypeId, &'static str>,
}

impl Providers {
    /// Records that bundle `bundle` provides `service`.
    pub fn add(&mut self, bundle: &'static str, service: ServiceType) {
        self.by_type.entry(service.id()).or_insert(bundle);
    }

    /// The bundle that provides `service`, if any compiled-in one does.
    pub fn of(&self, service: ServiceType) -> Option<&'static str> {
        self.by_type.get(&service.id()).copied()
    }
}

/// A service that a bundle needs is not registered.
///
/// At build time (from [`BuildContext::require`](crate::BuildContext::require))
/// it fails the build; as a request rejection (from [`Service`]) it is a
/// 500 whose cause is logged, since the build should have caught it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct MissingService {
    /// The missing service's type name.
    pub service: &'static str,
    /// The bundle that needs it, when known.
    pub needed_by: Option<&'static str>,
    /// A compiled-in bundle that provides it, when there is one.
    pub provider: Option<&'static str>,
    /// Whether that bundle is loaded (then it loads too late).
    pub provider_loaded: bool,
}

impl MissingService {
    fn message(&self) -> String {
        let who = match self.needed_by {
            Some(bundle) => format!("bundle {bundle} needs"),
            None => "a handler needs".to_owned(),
        };
        let fix = match self.provider {
            Some(provider) if self.provider_loaded => format!(
                "{provider} provides it but loads later: add \"{provider}\" to the dependencies() of {}",
                self.needed_by.unwrap_or("the bundle that needs it")
            ),
            Some(provider) => format!(
                "add \"{provider}\" to bundles in {MANIFEST}, before {}",
                self.needed_by.unwrap_or("the bundle that needs it")
            ),
            None => "register it with BuildContext::insert in the before_build hook of a \
                     bundle loaded earlier, and list it in that bundle's provides()"
                .to_owned(),
        };
        format!(
            "{who} the service {}, which no loaded bundle provides: {fix}",
            self.service
        )
    }
}

impl IntoResponse for MissingService {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    }
}

/// Extracts a service that a bundle registered, cloned out of the app
/// state (services are handles: cheap to clone).
///
/// Works on any router whose state gives an [`AppState`] (`AppState:
/// FromRef<S>`), which every Unchained router does.
#[derive(Debug, Clone)]
pub struct Service<T>(pub T);

impl<T> std::ops::Deref for Service<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S, T> FromRequestParts<S> for Service<T>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = MissingService;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        app.service::<T>()
            .cloned()
            .map(Service)
            .ok_or_else(|| MissingService {
                service: std::any::type_name::<T>(),
                needed_by: None,
                provider: None,
                provider_loaded: false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_bundle_to_add() {
        let missing = MissingService {
            service: "unchained_security::Security",
            needed_by: Some("app"),
            provider: Some("unchained.bundles.security"),
            provider_loaded: false,
        };
        assert_eq!(
            missing.to_string(),
            "bundle app needs the service unchained_security::Security, which no loaded bundle \
             provides: add \"unchained.bundles.security\" to bundles in unchained.toml, before app"
        );
    }

    #[test]
    fn without_a_provider_the_message_says_how_to_register_one() {
        let missing = MissingService {
            service: "my_app::Mailer",
            needed_by: Some("app"),
            provider: None,
            provider_loaded: false,
        };
        assert!(
            missing
                .to_string()
                .ends_with("register it with BuildContext::insert in the before_build hook of a bundle loaded earlier, and list it in that bundle's provides()"),
            "{missing}"
        );
    }

    #[test]
    fn providers_remember_the_first_bundle_per_type() {
        struct A;
        let mut providers = Providers::default();
        providers.add("first", ServiceType::of::<A>());
        providers.add("second", ServiceType::of::<A>());
        assert_eq!(providers.of(ServiceType::of::<A>()), Some("first"));
        assert_eq!(providers.of(ServiceType::of::<u8>()), None);
    }
}
