//! # Unchained
//!
//! A bundle-based web framework on [axum], in the spirit of Flask-Unchained.
//! A project lists its bundles in `unchained.toml`; the app factory loads
//! them in dependency order, merges each bundle's config defaults with the
//! project's config and the environment, mounts every bundle's routes into
//! one axum router, and runs their hooks.
//!
//! ```
//! use unchained::prelude::*;
//!
//! #[derive(Default)]
//! pub struct AppBundle;
//!
//! #[unchained::bundle]
//! impl Bundle for AppBundle {
//!     fn name(&self) -> &'static str {
//!         "app"
//!     }
//!
//!     fn is_app(&self) -> bool {
//!         true
//!     }
//!
//!     fn routes(&self, _ctx: &RouteContext) -> Routes {
//!         Routes::new().get("/", || async { "Hello from Unchained" })
//!     }
//! }
//! ```
//!
//! The pieces, one module each: [`bundle`] (the trait), [`registry`]
//! (finding and ordering bundles), [`config`] (layered config), [`app`]
//! (the factory), [`server`] (the built app), [`routes`], [`state`],
//! [`service`] (typed service access), [`urls`] (route names, `url_for`), [`request_log`], [`request_id`],
//! [`error_pages`], [`headers`] (default response headers, CORS), [`templates`], `models` (with the
//! `orm` feature), [`cli`] (the `unchained` command) and [`testing`] (a
//! test client).
//! `ARCHITECTURE.md` and `docs/architecture.md` show how they connect.

#![warn(missing_docs)]

pub mod app;
pub mod bundle;
pub mod cli;
pub mod command;
pub mod config;
mod error;
pub mod error_pages;
pub mod form;
pub mod headers;
#[cfg(feature = "orm")]
pub mod models;
pub mod page;
pub mod project;
pub mod registry;
pub mod request_id;
pub mod request_log;
pub mod routes;
pub mod server;
pub mod server_error;
pub mod service;
pub mod state;
pub mod static_files;
mod suggest;
pub mod templates;
pub mod testing;
pub mod urls;

pub use app::{AppFactory, LoadedApp};
#[cfg(feature = "orm")]
pub use bundle::BundleMigration;
pub use bundle::{BuildContext, Bundle, BundleEntry, CommandContext, ServeContext};
pub use error::Error;
pub use server::App;
pub use server_error::ServerError;
pub use service::{MissingService, Service};
pub use unchained_macros::{bundle, project, static_folder};

/// Re-exported for the [`bundle`](macro@bundle) attribute's expansion.
#[doc(hidden)]
pub use inventory;

/// Re-exports a bundle or an app usually needs.
pub mod prelude {
    pub use crate::bundle::{BuildContext, Bundle, CommandContext, ServeContext};
    pub use crate::config::{Config, ConfigDefaults, Environment};
    pub use crate::form::{Form, InvalidForm};
    #[cfg(feature = "orm")]
    pub use crate::models::{ModelContext, ModelDef};
    pub use crate::page::Page;
    pub use crate::routes::{RouteContext, Routes};
    pub use crate::server::App;
    pub use crate::server_error::ServerError;
    pub use crate::service::{Service, ServiceType};
    pub use crate::state::AppState;
    pub use crate::urls::{UrlError, Urls};
    pub use async_trait::async_trait;
    pub use axum::extract::{Json, Path, Query, State};
    pub use axum::response::{Html, IntoResponse, Redirect, Response};
    pub use http::StatusCode;
    pub use minijinja::context;
}

/// Re-exported: [`Bundle`]'s hooks return `anyhow::Result`.
pub use anyhow;
/// Re-exported so bundles implement [`Bundle`] without naming the crate.
pub use async_trait::async_trait;
/// Re-exported so bundles and apps use the same axum.
pub use axum;
/// Re-exported for bundles' CLI commands.
pub use clap;
/// Re-exported so handlers name status codes and headers without a
/// dependency of their own.
pub use http;
/// Re-exported: the template engine (`minijinja::context!` builds a
/// template's context).
pub use minijinja;
