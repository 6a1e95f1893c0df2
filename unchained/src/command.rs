//! [`CommandContext`]: what a bundle's CLI command can reach.

use std::path::Path;

use crate::app::{App, LoadedApp};
use crate::config::Config;
use crate::error::Error;
use crate::registry::ResolvedBundles;

/// Handed to [`Bundle::run_command`](crate::Bundle::run_command): the
/// project, its resolved bundles and merged config, and a way to build
/// the app when the command needs its services.
pub struct CommandContext {
    loaded: LoadedApp,
}

impl CommandContext {
    /// Wraps a loaded app.
    pub fn new(loaded: LoadedApp) -> Self {
        CommandContext { loaded }
    }

    /// The merged config.
    pub fn config(&self) -> &Config {
        self.loaded.config()
    }

    /// The project's root folder.
    pub fn project_root(&self) -> &Path {
        self.loaded.root()
    }

    /// The bundles in load order.
    pub fn bundles(&self) -> &ResolvedBundles {
        self.loaded.bundles()
    }

    /// The loaded (not yet built) app.
    pub fn loaded(&self) -> &LoadedApp {
        &self.loaded
    }

    /// Builds the app: runs every bundle's hooks (connects to databases).
    pub async fn build_app(&self) -> Result<App, Error> {
        self.loaded.build().await
    }
}
