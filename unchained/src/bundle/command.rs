//! [`CommandContext`]: what a bundle's CLI command can reach.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use super::ResolvedBundles;
use crate::config::Config;
use crate::error::Error;
use crate::server::App;

/// Builds the app on demand; the factory hands it over, so that this
/// module needs nothing of the factory (which itself uses bundles).
pub(crate) type AppBuilder =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<App, Error>> + Send>> + Send + Sync>;

/// Handed to a bundle's [`BundleCommand::run`](super::BundleCommand::run): the
/// project, its resolved bundles and merged config, and a way to build
/// the app when the command needs its services.
///
/// Made by `LoadedApp::command_context`.
#[derive(Clone)]
pub struct CommandContext {
    config: Config,
    root: PathBuf,
    bundles: ResolvedBundles,
    build: AppBuilder,
}

impl CommandContext {
    pub(crate) fn new(
        config: Config,
        root: PathBuf,
        bundles: ResolvedBundles,
        build: AppBuilder,
    ) -> Self {
        CommandContext {
            config,
            root,
            bundles,
            build,
        }
    }

    /// The merged config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The project's root folder.
    pub fn project_root(&self) -> &Path {
        &self.root
    }

    /// The bundles in load order.
    pub fn bundles(&self) -> &ResolvedBundles {
        &self.bundles
    }

    /// Builds the app: runs every bundle's hooks (connects to databases).
    pub async fn build_app(&self) -> Result<App, Error> {
        (self.build)().await
    }
}
