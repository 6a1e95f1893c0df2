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
//!
//! # Names and prefixes
//!
//! Every route has an endpoint name, `<bundle>.<handler>`: the last part
//! of the bundle's name (`security` for `unchained.bundles.security`,
//! `app` for a bundle called `app`) and the handler function's name.
//! [`Routes::name`] replaces the handler part; closures have no name
//! unless given one. Several methods of one path may share a name (a
//! `GET` page and the `POST` of its form); two paths may not.
//! [`Urls::url_for`](crate::urls::Urls::url_for) turns a name back into a
//! path.
//!
//! Any bundle can be mounted below a URL prefix with the config key
//! `<BUNDLE>_URL_PREFIX` ([`url_prefix_key`]), e.g.
//! `SECURITY_URL_PREFIX = "/auth"`: every route of the bundle moves below
//! it (`/login` becomes `/auth/login`, `/` becomes `/auth`).

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use http::Method;

use crate::config::{Config, Environment};
use crate::state::AppState;
use crate::urls::Urls;

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
    /// An endpoint name given with [`Routes::name`] that is empty or has
    /// characters other than letters, digits, `_` and `-` (the bundle's part
    /// and the `.` are added by the app).
    #[error(
        "bundle {bundle} names the route {path} {name:?}: a route name is letters, digits, `_` and `-` \
         (the bundle's part, `{short}.`, is added for you)"
    )]
    BadName {
        /// The bundle.
        bundle: String,
        /// The route's path.
        path: String,
        /// The name as written.
        name: String,
        /// The bundle's short name.
        short: String,
    },
    /// [`Routes::name`] called before any route was added.
    #[error(
        "bundle {bundle} calls .name({name:?}) before adding a route: call it after .get(...) or .post(...)"
    )]
    NameWithoutRoute {
        /// The bundle.
        bundle: String,
        /// The name.
        name: String,
    },
    /// Two routes with different paths have the same endpoint name.
    #[error(
        "route name clash: {name} names both {first} and {second}: give one of them another name with \
         .name(\"...\")"
    )]
    DuplicateName {
        /// The endpoint name.
        name: String,
        /// The first route: method, path and bundle.
        first: String,
        /// The second route: method, path and bundle.
        second: String,
    },
    /// A `<BUNDLE>_URL_PREFIX` config value that is not a URL prefix.
    #[error("{key} = {value}: {reason}")]
    BadPrefix {
        /// The config key.
        key: String,
        /// The value, as written.
        value: String,
        /// What is wrong and how to fix it.
        reason: String,
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
    /// A `.name(...)` called before any route.
    misnamed: Option<String>,
}

struct RouteEntry {
    method: Method,
    path: String,
    handler: &'static str,
    /// Given with [`Routes::name`]; else the handler's function name.
    name: Option<String>,
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
            name: None,
            router: axum::routing::on(filter, handler),
        });
        self
    }

    /// Names the route added last: its endpoint name becomes
    /// `<bundle>.<name>` instead of `<bundle>.<handler fn>`. A page and
    /// the `POST` of its form may share one name.
    ///
    /// ```
    /// use unchained::prelude::*;
    ///
    /// async fn login_page() -> &'static str { "form" }
    /// async fn login_submit() -> &'static str { "done" }
    ///
    /// // Both answer to `security.login` in a bundle called `...security`.
    /// let routes = Routes::new()
    ///     .get("/login", login_page)
    ///     .name("login")
    ///     .post("/login", login_submit)
    ///     .name("login");
    /// assert_eq!(routes.len(), 2);
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        match self.entries.last_mut() {
            Some(entry) => entry.name = Some(name.to_owned()),
            None => self.misnamed = Some(name.to_owned()),
        }
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
    /// The endpoint name, e.g. `app.index`; `None` for an unnamed closure.
    pub name: Option<String>,
    /// The bundle that contributed the route.
    pub bundle: String,
    /// The bundle whose route this one replaced, if any.
    pub overrides: Option<String>,
}

/// The part of a bundle's name its routes' names start with: the last
/// `.`-separated part (`security` for `unchained.bundles.security`).
///
/// ```
/// assert_eq!(unchained::routes::short_name("unchained.bundles.security"), "security");
/// assert_eq!(unchained::routes::short_name("app"), "app");
/// ```
pub fn short_name(bundle: &str) -> &str {
    bundle.rsplit('.').next().unwrap_or(bundle)
}

/// The config key that mounts `bundle` below a URL prefix:
/// `<SHORT NAME>_URL_PREFIX`, upper case, `-` as `_`.
///
/// ```
/// use unchained::routes::url_prefix_key;
/// assert_eq!(url_prefix_key("unchained.bundles.security"), "SECURITY_URL_PREFIX");
/// assert_eq!(url_prefix_key("acme.blog-posts"), "BLOG_POSTS_URL_PREFIX");
/// ```
pub fn url_prefix_key(bundle: &str) -> String {
    format!(
        "{}_URL_PREFIX",
        short_name(bundle).replace('-', "_").to_ascii_uppercase()
    )
}

/// The URL prefix `bundle` is mounted at, from the config key
/// [`url_prefix_key`]: `""` when unset or empty; otherwise a path that
/// starts with `/`, does not end with one and has only letters, digits,
/// `-`, `.`, `_`, `~` and `/` (no `{param}`). A wrong value is an error
/// naming the key.
///
/// ```
/// use unchained::config::{Config, ConfigDefaults, Environment};
/// use unchained::routes::url_prefix;
///
/// let config = Config::builder(Environment::Test)
///     .defaults("app", ConfigDefaults::new().set("SECURITY_URL_PREFIX", "/auth"))
///     .build();
/// assert_eq!(url_prefix(&config, "unchained.bundles.security").unwrap(), "/auth");
/// assert_eq!(url_prefix(&config, "app").unwrap(), "");
/// ```
pub fn url_prefix(config: &Config, bundle: &str) -> Result<String, RouteError> {
    let key = url_prefix_key(bundle);
    if !config.contains(&key) {
        return Ok(String::new());
    }
    let bad = |value: String, reason: &str| RouteError::BadPrefix {
        key: key.clone(),
        value,
        reason: reason.to_owned(),
    };
    let value: String = config.get(&key).map_err(|_| {
        bad(
            "(not a string)".to_owned(),
            "write the prefix as a string, e.g. \"/auth\"",
        )
    })?;
    let shown = format!("{value:?}");
    if value.is_empty() {
        Ok(value)
    } else if !value.starts_with('/') {
        Err(bad(
            shown,
            &format!(
                "a URL prefix starts with `/`: write \"/{}\"",
                value.trim_matches('/')
            ),
        ))
    } else if value.ends_with('/') {
        Err(bad(
            shown,
            &format!(
                "a URL prefix does not end with `/`: write {:?} (or \"\" for none)",
                value.trim_end_matches('/')
            ),
        ))
    } else if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '_' | '~')))
    {
        Err(bad(
            shown,
            &format!(
                "a URL prefix is a plain path of letters, digits, `-`, `.`, `_` and `~`: remove {c:?} \
                 (path parameters are not allowed)"
            ),
        ))
    } else if value.contains("//") {
        Err(bad(shown, "a URL prefix has no empty segment (`//`)"))
    } else {
        Ok(value)
    }
}

/// Collects every bundle's routes into one router.
#[derive(Default)]
pub(crate) struct RouteTable {
    // (path, method) -> route, kept in insertion order by `order`.
    routes: BTreeMap<(String, String), (usize, RouteInfo, MethodRouter<AppState>)>,
    next: usize,
    /// Endpoint name -> the first route that took it.
    names: BTreeMap<String, RouteInfo>,
    /// Bundle -> URL prefix, for the bundles that have one.
    prefixes: BTreeMap<String, String>,
}

impl RouteTable {
    /// Adds `routes` of `bundle`, each path below `prefix` (`""` or e.g.
    /// `/auth`, as [`url_prefix`] returns it). Two library bundles may not
    /// declare the same method and path; the app bundle may, and wins.
    pub(crate) fn add(
        &mut self,
        bundle: &str,
        is_app: bool,
        prefix: &str,
        routes: Routes,
    ) -> Result<(), RouteError> {
        if let Some(name) = routes.misnamed {
            return Err(RouteError::NameWithoutRoute {
                bundle: bundle.to_owned(),
                name,
            });
        }
        if !prefix.is_empty() {
            self.prefixes.insert(bundle.to_owned(), prefix.to_owned());
        }
        let short = short_name(bundle);
        for entry in routes.entries {
            if !entry.path.starts_with('/') {
                return Err(RouteError::NoLeadingSlash {
                    bundle: bundle.to_owned(),
                    path: entry.path,
                });
            }
            let path = match (prefix, entry.path.as_str()) {
                ("", path) => path.to_owned(),
                (prefix, "/") => prefix.to_owned(),
                (prefix, path) => format!("{prefix}{path}"),
            };
            let name = match &entry.name {
                Some(name) if is_name(name) => Some(format!("{short}.{name}")),
                Some(name) => {
                    return Err(RouteError::BadName {
                        bundle: bundle.to_owned(),
                        path,
                        name: name.clone(),
                        short: short.to_owned(),
                    });
                }
                None => default_name(entry.handler).map(|h| format!("{short}.{h}")),
            };
            let key = (path.clone(), entry.method.to_string());
            let mut info = RouteInfo {
                method: entry.method.to_string(),
                path,
                handler: entry.handler.to_owned(),
                name,
                bundle: bundle.to_owned(),
                overrides: None,
            };
            self.add_name(&info)?;
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

    /// Records `info`'s name; another handler at another path with the
    /// same name is an error naming both routes.
    fn add_name(&mut self, info: &RouteInfo) -> Result<(), RouteError> {
        let Some(name) = &info.name else {
            return Ok(());
        };
        match self.names.get(name) {
            // One handler at two paths (an old URL kept working) keeps the
            // first path for `url_for`, as Flask does.
            Some(first) if first.path != info.path && first.handler != info.handler => {
                let describe =
                    |r: &RouteInfo| format!("{} {} (bundle {})", r.method, r.path, r.bundle);
                Err(RouteError::DuplicateName {
                    name: name.clone(),
                    first: describe(first),
                    second: describe(info),
                })
            }
            Some(_) => Ok(()),
            None => {
                self.names.insert(name.clone(), info.clone());
                Ok(())
            }
        }
    }

    /// The named routes and the bundles' prefixes, for `url_for`.
    pub(crate) fn urls(&self) -> Urls {
        let mut urls = Urls::new();
        for (name, info) in &self.names {
            urls.insert(name, &info.path);
        }
        for (bundle, prefix) in &self.prefixes {
            urls = urls.with_prefix(bundle, prefix);
        }
        urls
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

/// The endpoint part of a handler's type name: its function's name
/// (`index` for `my_app::views::index`); `None` for a closure.
fn default_name(handler: &str) -> Option<&str> {
    let last = handler.rsplit("::").next().unwrap_or(handler);
    is_name(last).then_some(last)
}

/// Letters, digits, `_` and `-`, not empty.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigDefaults;

    async fn index() -> &'static str {
        "index"
    }

    async fn login_page() -> &'static str {
        "form"
    }

    async fn login_submit() -> &'static str {
        "done"
    }

    const SECURITY: &str = "unchained.bundles.security";

    fn names(table: &RouteTable) -> Vec<(String, String, Option<String>)> {
        table
            .infos()
            .into_iter()
            .map(|r| (r.method, r.path, r.name))
            .collect()
    }

    #[test]
    fn routes_are_named_after_the_bundle_and_the_handler_or_their_name() {
        let mut table = RouteTable::default();
        let routes = Routes::new()
            .get("/login", login_page)
            .name("login")
            .post("/login", login_submit)
            .name("login")
            .get("/", index)
            .get("/closure", || async { "x" });
        table.add(SECURITY, false, "", routes).unwrap();
        assert_eq!(
            names(&table),
            vec![
                ("GET".into(), "/login".into(), Some("security.login".into())),
                (
                    "POST".into(),
                    "/login".into(),
                    Some("security.login".into())
                ),
                ("GET".into(), "/".into(), Some("security.index".into())),
                ("GET".into(), "/closure".into(), None),
            ]
        );
        let urls = table.urls();
        assert_eq!(urls.url_for("security.login", &[]).unwrap(), "/login");
        assert_eq!(urls.names().count(), 2);
    }

    #[test]
    fn a_prefix_moves_every_path_and_url_for_follows() {
        let mut table = RouteTable::default();
        let routes = Routes::new()
            .get("/", index)
            .get("/login", login_page)
            .get("/reset/{token}", login_submit);
        table.add(SECURITY, false, "/auth", routes).unwrap();
        table
            .add("app", true, "", Routes::new().get("/", index))
            .unwrap();
        let paths: Vec<String> = table.infos().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/auth", "/auth/login", "/auth/reset/{token}", "/"]);
        let urls = table.urls();
        assert_eq!(urls.prefix(SECURITY), "/auth");
        assert_eq!(urls.prefix("app"), "");
        assert_eq!(
            urls.url_for("security.login_submit", &[("token", "t"), ("next", "/")])
                .unwrap(),
            "/auth/reset/t?next=%2F"
        );
        assert_eq!(urls.url_for("app.index", &[]).unwrap(), "/");
        assert_eq!(urls.url_for("security.index", &[]).unwrap(), "/auth");
        assert!(table.into_router().is_ok());
    }

    #[test]
    fn the_app_overriding_a_route_keeps_both_names() {
        let mut table = RouteTable::default();
        table
            .add(SECURITY, false, "", Routes::new().get("/login", login_page))
            .unwrap();
        table
            .add("app", true, "", Routes::new().get("/login", index))
            .unwrap();
        let infos = table.infos();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].name.as_deref(), Some("app.index"));
        assert_eq!(infos[0].overrides.as_deref(), Some(SECURITY));
        let urls = table.urls();
        assert_eq!(urls.url_for("security.login_page", &[]).unwrap(), "/login");
        assert_eq!(urls.url_for("app.index", &[]).unwrap(), "/login");
    }

    #[test]
    fn a_name_on_two_paths_is_an_error_naming_both_routes() {
        let mut table = RouteTable::default();
        let routes = Routes::new()
            .get("/a", login_page)
            .name("page")
            .get("/b", login_submit)
            .name("page");
        let error = table
            .add("acme.blog", false, "", routes)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("blog.page") && error.contains("GET /a") && error.contains("GET /b"),
            "{error}"
        );
        // The same handler at two paths: the first path is its URL.
        let mut table = RouteTable::default();
        let routes = Routes::new().get("/", index).get("/index", index);
        table.add("app", true, "", routes).unwrap();
        assert_eq!(table.urls().url_for("app.index", &[]).unwrap(), "/");
    }

    #[test]
    fn bad_names_fail_with_the_bundle_and_the_fix() {
        let mut table = RouteTable::default();
        let error = table
            .add(
                "app",
                true,
                "",
                Routes::new().get("/", index).name("app.home"),
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"app.home\"") && error.contains("`app.`"),
            "{error}"
        );
        let error = table
            .add("app", true, "", Routes::new().name("home"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("before adding a route"), "{error}");
    }

    #[test]
    fn url_prefixes_are_checked_and_the_error_names_the_key() {
        let prefix = |value: &str| {
            let config = Config::builder(Environment::Test)
                .defaults(
                    "app",
                    ConfigDefaults::new().set("SECURITY_URL_PREFIX", value),
                )
                .build();
            url_prefix(&config, SECURITY).map_err(|e| e.to_string())
        };
        assert_eq!(prefix("/auth").unwrap(), "/auth");
        assert_eq!(prefix("/a/b-c").unwrap(), "/a/b-c");
        assert_eq!(prefix("").unwrap(), "");
        for (value, fix) in [
            ("auth", "write \"/auth\""),
            ("auth/", "starts with `/`: write \"/auth\""),
            ("/auth/", "write \"/auth\""),
            ("/", "write \"\""),
            ("/{id}", "remove '{'"),
            ("/a b", "remove ' '"),
            ("/a//b", "`//`"),
        ] {
            let error = prefix(value).unwrap_err();
            assert!(
                error.starts_with("SECURITY_URL_PREFIX = ") && error.contains(fix),
                "{value}: {error}"
            );
        }
        let config = Config::builder(Environment::Test)
            .defaults("app", ConfigDefaults::new().set("APP_URL_PREFIX", 3))
            .build();
        let error = url_prefix(&config, "app").unwrap_err().to_string();
        assert!(
            error.contains("APP_URL_PREFIX") && error.contains("string"),
            "{error}"
        );
    }
}
