//! [`Routes`]: the HTTP routes a bundle contributes, recorded so that the
//! app factory can list them (`unchained urls`), detect clashes between
//! bundles and let the app bundle override a library bundle's route.
//!
//! ```
//! use unchained::prelude::*;
//!
//! async fn index() -> &'static str {
//!     "hello"
//! }
//!
//! let routes = Routes::new().get("/", index).post("/", index);
//! assert_eq!(routes.len(), 2);
//! ```

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use http::Method;

use crate::config::{Config, Environment};
use crate::state::AppState;

/// Routes cannot be mounted: each message names the bundles and the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A path without its leading `/`.
    #[error(
        "bundle {bundle} declares the route {path:?}, which does not start with `/`: write \"/{path}\""
    )]
    NoLeadingSlash {
        /// The bundle.
        bundle: String,
        /// The path as written.
        path: String,
    },
    /// One bundle declares the same method and path twice.
    #[error("bundle {bundle} declares {method} {path} twice: remove one")]
    Twice {
        /// The bundle.
        bundle: String,
        /// The HTTP method.
        method: String,
        /// The path.
        path: String,
    },
    /// Two library bundles declare the same method and path.
    #[error(
        "route clash: {method} {path} is declared by both {first} and {second}: remove it from one \
         of them, or override it in the app bundle"
    )]
    Clash {
        /// The HTTP method.
        method: String,
        /// The path.
        path: String,
        /// The bundle that declared it first.
        first: String,
        /// The bundle that declared it again.
        second: String,
    },
    /// axum's router refuses the path (e.g. it conflicts with another).
    #[error(
        "bundle {bundle} declares the route {path}, which axum cannot add: {reason}: change one of the paths"
    )]
    Rejected {
        /// The bundle.
        bundle: String,
        /// The path.
        path: String,
        /// The router's reason, with the other path and its bundle.
        reason: String,
    },
}

/// What a bundle sees when it declares its routes.
pub struct RouteContext<'a> {
    /// The merged config.
    pub config: &'a Config,
    /// The environment.
    pub env: Environment,
}

/// The routes of one bundle.
#[derive(Default)]
pub struct Routes {
    entries: Vec<RouteEntry>,
}

struct RouteEntry {
    method: Method,
    path: String,
    handler: &'static str,
    router: MethodRouter<AppState>,
}

macro_rules! method_fn {
    ($(#[$doc:meta] $fn_name:ident => $method:ident),* $(,)?) => {
        $(
            #[$doc]
            pub fn $fn_name<H, T>(self, path: &str, handler: H) -> Self
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                self.on(Method::$method, path, handler)
            }
        )*
    };
}

impl Routes {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    method_fn! {
        /// Adds a `GET` route (which also answers `HEAD`).
        get => GET,
        /// Adds a `POST` route.
        post => POST,
        /// Adds a `PUT` route.
        put => PUT,
        /// Adds a `PATCH` route.
        patch => PATCH,
        /// Adds a `DELETE` route.
        delete => DELETE,
    }

    /// Adds a route for any method.
    ///
    /// # Panics
    /// When `method` is not one axum can route (e.g. `CONNECT` is fine,
    /// a custom extension method is not): a bug in the bundle's code.
    pub fn on<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("axum cannot route the method {method}"));
        self.entries.push(RouteEntry {
            method,
            path: path.to_owned(),
            handler: short_type_name(std::any::type_name::<H>()),
            router: axum::routing::on(filter, handler),
        });
        self
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One route of the built app, as `unchained urls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: String,
    /// Path pattern, e.g. `/posts/{id}`.
    pub path: String,
    /// The handler function's path, e.g. `flaskr::views::index`.
    pub handler: String,
    /// The bundle that contributed the route.
    pub bundle: String,
    /// The bundle whose route this one replaced, if any.
    pub overrides: Option<String>,
}

/// Collects every bundle's routes into one router.
#[derive(Default)]
pub(crate) struct RouteTable {
    // (path, method) -> route, kept in insertion order by `order`.
    routes: BTreeMap<(String, String), (usize, RouteInfo, MethodRouter<AppState>)>,
    next: usize,
}

impl RouteTable {
    /// Adds `routes` of `bundle`. Two library bundles may not declare the
    /// same method and path; the app bundle may, and wins.
    pub(crate) fn add(
        &mut self,
        bundle: &str,
        is_app: bool,
        routes: Routes,
    ) -> Result<(), RouteError> {
        for entry in routes.entries {
            if !entry.path.starts_with('/') {
                return Err(RouteError::NoLeadingSlash {
                    bundle: bundle.to_owned(),
                    path: entry.path,
                });
            }
            let key = (entry.path.clone(), entry.method.to_string());
            let mut info = RouteInfo {
                method: entry.method.to_string(),
                path: entry.path,
                handler: entry.handler.to_owned(),
                bundle: bundle.to_owned(),
                overrides: None,
            };
            if let Some((order, existing, _)) = self.routes.get(&key) {
                if existing.bundle == bundle {
                    return Err(RouteError::Twice {
                        bundle: bundle.to_owned(),
                        method: info.method,
                        path: info.path,
                    });
                }
                if !is_app {
                    return Err(RouteError::Clash {
                        method: info.method,
                        path: info.path,
                        first: existing.bundle.clone(),
                        second: bundle.to_owned(),
                    });
                }
                info.overrides = Some(existing.bundle.clone());
                let order = *order;
                self.routes.insert(key, (order, info, entry.router));
            } else {
                self.routes.insert(key, (self.next, info, entry.router));
                self.next += 1;
            }
        }
        Ok(())
    }

    /// The routes in the order they were declared.
    pub(crate) fn infos(&self) -> Vec<RouteInfo> {
        let mut infos: Vec<&(usize, RouteInfo, MethodRouter<AppState>)> =
            self.routes.values().collect();
        infos.sort_by_key(|(order, _, _)| *order);
        infos.into_iter().map(|(_, info, _)| info.clone()).collect()
    }

    /// Builds the axum router, first checking that no two paths conflict
    /// (axum would panic on them).
    pub(crate) fn into_router(self) -> Result<Router<AppState>, RouteError> {
        let mut by_path: Vec<(String, String, MethodRouter<AppState>)> = Vec::new();
        let mut entries: Vec<(usize, RouteInfo, MethodRouter<AppState>)> =
            self.routes.into_values().collect();
        entries.sort_by_key(|(order, _, _)| *order);
        for (_, info, router) in entries {
            match by_path.iter_mut().find(|(path, _, _)| *path == info.path) {
                Some((_, _, existing)) => {
                    let merged = std::mem::take(existing).merge(router);
                    *existing = merged;
                }
                None => by_path.push((info.path.clone(), info.bundle.clone(), router)),
            }
        }
        let mut matcher = matchit::Router::new();
        for (path, bundle, _) in &by_path {
            if let Err(e) = matcher.insert(path.as_str(), bundle.clone()) {
                let other = match &e {
                    matchit::InsertError::Conflict { with } => {
                        let owner = by_path
                            .iter()
                            .find(|(p, _, _)| p == with)
                            .map(|(_, b, _)| b.as_str())
                            .unwrap_or("another bundle");
                        format!(" (conflicts with {with} of {owner})")
                    }
                    _ => String::new(),
                };
                return Err(RouteError::Rejected {
                    bundle: bundle.clone(),
                    path: path.clone(),
                    reason: format!("{e}{other}"),
                });
            }
        }
        let mut router = Router::new();
        for (path, _, method_router) in by_path {
            router = router.route(&path, method_router);
        }
        Ok(router)
    }
}

/// `my_app::views::index` stays as is; closures and generic noise are
/// shortened to something a person can read in `unchained urls`.
fn short_type_name(name: &'static str) -> &'static str {
    name.split('<').next().unwrap_or(name)
}
