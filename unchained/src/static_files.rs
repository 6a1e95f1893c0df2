//! Static files: every bundle's `static/` folder and the project's own,
//! merged into one tree served under `/static/`, with cache-busting URLs.
//!
//! - A bundle ships its files with
//!   [`Bundle::static_files`](crate::Bundle::static_files) (usually
//!   `Some(unchained::static_folder!("static"))`); the project's `static/`
//!   folder replaces any bundle's file of the same name, and a later bundle
//!   an earlier one's, as templates do.
//! - `{{ static_url('css/style.css') }}` in a template is
//!   `/static/css/style.css?v=<hash>`, the hash being the first 12 hex
//!   digits of the file's SHA-256. A request whose `v` is the file's
//!   current hash is answered with `Cache-Control: public,
//!   max-age=31536000, immutable`; any other request with an `ETag` (the
//!   hash), a `Last-Modified` date and `STATIC_MAX_AGE`, and
//!   `If-None-Match` / `If-Modified-Since` give `304 Not Modified`.
//! - `style.css.br` and `style.css.gz` beside `style.css` are served in its
//!   place, with `Content-Encoding` and `Vary: Accept-Encoding`, when the
//!   client accepts them.
//! - In development the folders are re-read when a file changed (the hash
//!   follows the content); otherwise the index is built once at startup.
//! - A release build embeds the files in the binary (see [`embed`]), so
//!   that one file deploys.
//!
//! Names starting with `.` (`.env`, `.git/`), editors' temporary files and
//! paths with `..` are never served.

mod config;
pub mod embed;
mod hash;
mod index;
mod mime;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use crate::config::{Config, ConfigError, Environment};

pub use config::{STATIC_MAX_AGE, STATIC_URL_PATH, StaticConfig};
pub use embed::{EmbeddedFile, ProjectStaticFiles};
pub use hash::content_hash;

use index::Index;

/// Where a bundle's (or the project's) static files come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StaticSource {
    /// A folder read at runtime; in development it is re-read when a file
    /// changed.
    Folder(PathBuf),
    /// Files compiled into the binary, as `(name, bytes)` with `/`
    /// separators in names.
    Embedded(&'static [EmbeddedFile]),
}

impl StaticSource {
    /// A folder read at runtime.
    pub fn folder(dir: impl Into<PathBuf>) -> Self {
        StaticSource::Folder(dir.into())
    }

    /// Files compiled into the binary.
    pub const fn embedded(files: &'static [EmbeddedFile]) -> Self {
        StaticSource::Embedded(files)
    }
}

/// Static files cannot be indexed or mounted: the message names the folder
/// or route at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StaticError {
    /// A static folder or a file in it cannot be read at startup.
    #[error("cannot read the static {what} {}: {message}", .path.display())]
    Read {
        /// `folder` or `file`.
        what: &'static str,
        /// The folder or file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// `STATIC_URL_PATH` or `STATIC_MAX_AGE` is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bundle's route lies under the static files' URL path.
    #[error(
        "route {route} of bundle {bundle} lies under {url_path}/, where static files are served: \
         move the route, or set STATIC_URL_PATH to another path (\"\" turns static files off)"
    )]
    RouteClash {
        /// The route's path.
        route: String,
        /// The bundle whose route it is.
        bundle: String,
        /// `STATIC_URL_PATH`.
        url_path: String,
    },
}

/// The merged static files of an app: every bundle's and the project's,
/// the project's winning by name. Cheap to clone; handlers reach it as
/// `Service<StaticAssets>`, e.g. to build a URL with [`url`](Self::url).
#[derive(Clone)]
pub struct StaticAssets {
    inner: Arc<Inner>,
}

struct Inner {
    config: StaticConfig,
    index: Index,
}

impl std::fmt::Debug for StaticAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticAssets")
            .field("url_path", &self.inner.config.url_path)
            .finish_non_exhaustive()
    }
}

/// Where a project's own static folder lives, relative to its root.
pub fn app_static_dir(root: &Path) -> PathBuf {
    root.join("static")
}

impl StaticAssets {
    /// Indexes `sources` (bundles' first, in load order; the last wins a
    /// name), with the project's static folder under `root` on top (or
    /// its embedded copy, see [`embed`]). In development folders are
    /// re-read when they change; otherwise every file is hashed now.
    pub fn load(
        config: &Config,
        root: &Path,
        sources: impl IntoIterator<Item = (String, StaticSource)>,
    ) -> Result<Self, StaticError> {
        let static_config = StaticConfig::from_config(config)?;
        let env = config.env();
        let mut layers: Vec<(String, StaticSource)> = sources.into_iter().collect();
        layers.push(("the project".to_owned(), project_source(root, env)));
        let index = Index::build(layers, env == Environment::Development)?;
        Ok(StaticAssets {
            inner: Arc::new(Inner {
                config: static_config,
                index,
            }),
        })
    }

    /// The config these files are served with.
    pub fn config(&self) -> &StaticConfig {
        &self.inner.config
    }

    /// `/static/<name>?v=<hash>`: the cache-busting URL of file `name`
    /// (e.g. `css/style.css`). An unknown name is an error naming the
    /// closest known ones.
    pub fn url(&self, name: &str) -> Result<String, String> {
        let name = name.trim_start_matches('/');
        if !self.inner.config.enabled() {
            return Err(format!(
                "static_url('{name}'): static files are off (STATIC_URL_PATH is \"\")"
            ));
        }
        match self.inner.index.find(name) {
            Some(found) => Ok(format!(
                "{}/{}?v={}",
                self.inner.config.url_path,
                serve::encode_path(name),
                found.file.hash
            )),
            None => Err(self.unknown(name)),
        }
    }

    /// The content hash of file `name`, if there is one.
    pub fn hash(&self, name: &str) -> Option<String> {
        self.inner
            .index
            .find(name)
            .map(|found| found.file.hash.to_string())
    }

    /// Every file name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.inner.index.names()
    }

    fn unknown(&self, name: &str) -> String {
        let names = self.names();
        let mut close: Vec<&str> = names
            .iter()
            .filter(|n| {
                let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
                base(n) == base(name)
            })
            .map(String::as_str)
            .collect();
        if let Some(near) = crate::config::closest(name, &names)
            && !close.contains(&near)
        {
            close.push(near);
        }
        let hint = if close.is_empty() {
            format!(
                "put it in the project's static/ folder ({} files known)",
                names.len()
            )
        } else {
            format!("did you mean {}?", close.join(", "))
        };
        format!("static_url('{name}'): no static file {name}: {hint}")
    }

    /// Adds the `static_url(name)` function to `templates`.
    pub fn register_template_function(&self, templates: &mut crate::templates::Templates) {
        let assets = self.clone();
        templates
            .environment_mut()
            .add_function("static_url", move |name: &str| {
                // Safe: the path is plain characters and the name
                // percent-encoded, so nothing needs HTML escaping.
                assets
                    .url(name)
                    .map(minijinja::Value::from_safe_string)
                    .map_err(|message| {
                        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message)
                    })
            });
    }

    /// The router serving `STATIC_URL_PATH/{*path}`, to merge into the
    /// app's after checking that no route of `routes` lies under it; an
    /// empty router when static files are off.
    pub fn router<S: Clone + Send + Sync + 'static>(
        &self,
        routes: &[crate::routes::RouteInfo],
    ) -> Result<Router<S>, StaticError> {
        if !self.inner.config.enabled() {
            return Ok(Router::new());
        }
        let pattern = format!("{}/{{*path}}", self.inner.config.url_path);
        let mut matcher = matchit::Router::new();
        for (i, route) in routes.iter().enumerate() {
            // A route axum would refuse is reported by the route table.
            let _ = matcher.insert(route.path.clone(), i);
        }
        if let Err(matchit::InsertError::Conflict { with }) =
            matcher.insert(pattern.clone(), routes.len())
        {
            let route = routes.iter().find(|r| r.path == with);
            return Err(StaticError::RouteClash {
                route: with,
                bundle: route.map(|r| r.bundle.clone()).unwrap_or_default(),
                url_path: self.inner.config.url_path.clone(),
            });
        }
        Ok(Router::new()
            .route(&pattern, axum::routing::get(serve::serve))
            .with_state(self.clone()))
    }
}

/// The project's layer: its embedded copy when the binary has one (a
/// release build), except in development where the folder, when it exists,
/// wins so that edits show; else the folder.
fn project_source(root: &Path, env: Environment) -> StaticSource {
    let dir = app_static_dir(root);
    match embed::project_files() {
        Some(files) if env != Environment::Development || !dir.is_dir() => {
            StaticSource::Embedded(files)
        }
        _ => StaticSource::Folder(dir),
    }
}

impl StaticConfig {
    /// Reads and checks `STATIC_URL_PATH` and `STATIC_MAX_AGE`.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config::read(config)
    }
}
