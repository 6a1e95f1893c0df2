//! [`ServeContext`]: what `before_serve` hooks see when `unchained run` is
//! about to listen.

use std::path::Path;

use super::ResolvedBundles;
use crate::config::Config;
use crate::server::App;

/// What [`Bundle::before_serve`](super::Bundle::before_serve) hooks see:
/// the built app, the bundles and the project, and a place for warnings
/// that `unchained run` prints before it starts serving.
///
/// ```
/// use unchained::bundle::ServeContext;
///
/// async fn before_serve(ctx: &mut ServeContext<'_>) -> anyhow::Result<()> {
///     if ctx.config().get::<String>("GREETING").is_err() {
///         ctx.warn("GREETING is not set: pages will greet nobody");
///     }
///     Ok(())
/// }
/// ```
pub struct ServeContext<'a> {
    app: &'a App,
    root: &'a Path,
    bundles: &'a ResolvedBundles,
    warnings: Vec<String>,
}

impl<'a> ServeContext<'a> {
    pub(crate) fn new(app: &'a App, root: &'a Path, bundles: &'a ResolvedBundles) -> Self {
        ServeContext {
            app,
            root,
            bundles,
            warnings: Vec::new(),
        }
    }

    /// The built app: its services are in `app().state()`.
    pub fn app(&self) -> &App {
        self.app
    }

    /// The merged config.
    pub fn config(&self) -> &Config {
        self.app.state().config()
    }

    /// The project's root folder.
    pub fn project_root(&self) -> &Path {
        self.root
    }

    /// The bundles in load order.
    pub fn bundles(&self) -> &ResolvedBundles {
        self.bundles
    }

    /// Records a warning, printed as `warning: MESSAGE` before the server
    /// starts; it does not stop the server.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    pub(crate) fn into_warnings(self) -> Vec<String> {
        self.warnings
    }
}
