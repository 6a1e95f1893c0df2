//! The [`Bundle`] trait: what one piece of an app contributes.
//!
//! ```
//! use unchained::prelude::*;
//!
//! #[derive(Default)]
//! pub struct HelloBundle;
//!
//! #[unchained::bundle]
//! impl Bundle for HelloBundle {
//!     fn name(&self) -> &'static str {
//!         "hello"
//!     }
//!
//!     fn config_defaults(&self, _env: Environment) -> ConfigDefaults {
//!         ConfigDefaults::new().set("HELLO_GREETING", "Hello")
//!     }
//!
//!     fn routes(&self, _ctx: &RouteContext) -> Routes {
//!         Routes::new().get("/hello", hello)
//!     }
//! }
//!
//! async fn hello(State(app): State<AppState>) -> String {
//!     let greeting: String = app.config().get("HELLO_GREETING").unwrap_or_default();
//!     format!("{greeting}, world")
//! }
//! ```
//!
//! A bundle is found by the name written in `unchained.toml`: the
//! [`bundle`](macro@crate::bundle) attribute registers the type with
//! [`inventory`], and the app factory looks the name up in that registry.

mod build;
mod cli;
mod command;
mod resolved;
mod serve;

use std::path::Path;

use async_trait::async_trait;
use axum::Router;

use crate::config::{Config, ConfigDefaults, Environment};
#[cfg(feature = "orm")]
use crate::models::{ModelContext, ModelDef};
use crate::routes::{RouteContext, Routes};
use crate::server::App;
use crate::service::ServiceType;
use crate::state::AppState;

pub use build::BuildContext;
pub use cli::{BundleCli, BundleCommand};
pub use command::CommandContext;
pub use resolved::ResolvedBundles;
pub use serve::ServeContext;

/// A migration that a bundle ships by hand (data, extensions, triggers).
#[cfg(feature = "orm")]
pub type BundleMigration = Box<dyn sea_orm_migration::MigrationTrait>;

/// One piece of an Unchained app: config defaults, routes, models,
/// migrations, templates, CLI commands and hooks.
///
/// Every method but [`name`](Bundle::name) has a default that contributes
/// nothing, so a bundle implements only what it brings. Register the type
/// with the [`bundle`](macro@crate::bundle) attribute on the `impl` block.
#[async_trait]
pub trait Bundle: Send + Sync + 'static {
    /// The name written in `unchained.toml`, e.g. `unchained.bundles.session`.
    fn name(&self) -> &'static str;

    /// Names of bundles that must be loaded before this one.
    ///
    /// A dependency that is not listed in `unchained.toml` is a startup
    /// error naming both bundles.
    fn dependencies(&self) -> &'static [&'static str] {
        &[]
    }

    /// `true` for the app's own bundle, which always loads last and may
    /// override the config, templates and routes of every other bundle.
    fn is_app(&self) -> bool {
        false
    }

    /// Config defaults for `env`; the lowest layer of the merged config.
    fn config_defaults(&self, _env: Environment) -> ConfigDefaults {
        ConfigDefaults::new()
    }

    /// Keys this bundle reads that have no default (e.g. an optional
    /// cookie domain). With the keys of [`config_defaults`](Bundle::config_defaults)
    /// they tell a misspelt key (`SESSION_TPYE`) from a real one: the app
    /// warns about a key that shares a bundle's prefix but is neither.
    /// Defaults made with `ConfigDefaults::from_struct` already carry the
    /// struct's `None` fields as optional keys; list only the others here.
    fn optional_config_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Config keys whose values are secrets: `unchained config` masks them.
    ///
    /// Keys containing `SECRET`, `PASSWORD` or `TOKEN` are always masked.
    fn secret_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks this bundle's own typed config, so that a wrong value is a
    /// startup error even for commands that never build the app.
    fn validate_config(&self, _config: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    /// HTTP routes of this bundle.
    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
    }

    /// Wraps the whole app router, e.g. with a session layer.
    ///
    /// Layers are applied from the last bundle to the first, so the first
    /// bundle's layer is the outermost one and sees every request first.
    fn layer(&self, router: Router<AppState>, _state: &AppState) -> Router<AppState> {
        router
    }

    /// Database models (tables) this bundle declares; `unchained db migrate`
    /// compares them with the live database. (Core feature `orm`.)
    #[cfg(feature = "orm")]
    fn models(&self, _ctx: &ModelContext) -> Vec<ModelDef> {
        Vec::new()
    }

    /// Hand-written migrations this bundle ships; they run in bundle order.
    /// (Core feature `orm`.)
    #[cfg(feature = "orm")]
    fn migrations(&self, _ctx: &ModelContext) -> Vec<BundleMigration> {
        Vec::new()
    }

    /// Templates as `(name, source)`; a later bundle (and the app's
    /// `templates/` folder) overrides an earlier one of the same name.
    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Static files served under `/static/`, usually
    /// `Some(unchained::static_folder!("static"))`; a later bundle (and the
    /// app's `static/` folder) overrides an earlier one's file of the same
    /// name. See [`static_files`](crate::static_files).
    fn static_files(&self) -> Option<crate::static_files::StaticSource> {
        None
    }

    /// Top-level CLI commands this bundle adds (e.g. `db`, `session`), as
    /// one typed clap enum: `Some(BundleCli::of::<MyCommands>())`.
    fn cli(&self) -> Option<BundleCli> {
        None
    }

    /// Services this bundle registers in [`before_build`](Bundle::before_build)
    /// (with [`BuildContext::insert`]). The app factory checks the promise
    /// after the hook, and a bundle that [requires](BuildContext::require)
    /// one of them and finds it missing is told to add this bundle.
    fn provides(&self) -> Vec<ServiceType> {
        Vec::new()
    }

    /// Runs before the router is built: connect to services and register
    /// them with [`BuildContext::insert`]; take what earlier bundles
    /// registered with [`BuildContext::require`].
    async fn before_build(&self, _ctx: &mut BuildContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs once the app is built, e.g. to start background tasks.
    async fn after_build(&self, _app: &App) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs in `unchained run` only, once the app is built and before it
    /// listens: checks worth telling the developer about, such as
    /// migrations not yet applied. Record them with [`ServeContext::warn`];
    /// they are printed as `warning: ...` and the server starts anyway.
    /// An error stops `unchained run`, so keep to warnings for anything the
    /// app can serve without. Tests and other commands never call it.
    async fn before_serve(&self, _ctx: &mut ServeContext<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One registered bundle type, collected with [`inventory`].
///
/// Created by the [`bundle`](macro@crate::bundle) attribute; not meant to
/// be written by hand.
pub struct BundleEntry {
    /// Makes a fresh instance of the bundle.
    pub construct: fn() -> Box<dyn Bundle>,
    /// `module_path!()` where the bundle was registered, for messages.
    pub module: &'static str,
}

inventory::collect!(BundleEntry);

/// Where a project's templates folder lives, relative to its root.
pub(crate) fn app_templates_dir(root: &Path) -> std::path::PathBuf {
    root.join("templates")
}
