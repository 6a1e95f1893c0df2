//! The database bundle of Unchained, named `unchained.bundles.database`.
//!
//! It brings:
//! - a SeaORM [`DatabaseConnection`](sea_orm::DatabaseConnection) built
//!   from `DATABASE_URL` and the pool options of [`DatabaseConfig`],
//!   registered as a service so handlers use the [`Db`] extractor and other
//!   bundles call `ctx.get::<sea_orm::DatabaseConnection>()`;
//! - `unchained db migrate -m MSG`: compares the models of all enabled
//!   bundles with the live database and writes one readable migration file
//!   into `db/migrations/` ([`autogen`]);
//! - `unchained db upgrade|downgrade|current|history|drop|reset`
//!   ([`runner`], [`commands`]);
//! - a warning from `unchained run` when the database lacks migrations
//!   ([`startup`]);
//! - with the `testing` feature, [`testing::TestDatabase`]: a fresh database
//!   per test on SQLite, PostgreSQL or MySQL/MariaDB.
//!
//! A project's migration files register themselves with
//! [`register_migration!`], so a new file needs no list to be edited.

#![warn(missing_docs)]

pub mod autogen;
mod bundle;
pub mod commands;
pub mod config;
pub mod connect;
pub mod diff;
mod extract;
pub mod registry;
pub mod runner;
pub mod schema;
pub mod startup;
#[cfg(feature = "testing")]
pub mod testing;
pub mod writer;

pub use bundle::DatabaseBundle;
pub use config::DatabaseConfig;
pub use connect::{ConnectError, connect, connect_url};
pub use extract::Db;
pub use registry::ProjectMigration;

/// sea-orm-migration, re-exported so that a project's migration files need
/// no dependency of their own: `use unchained_database::migration::prelude::*;`.
pub use sea_orm_migration as migration;

/// Re-exported for [`register_migration!`]; not meant to be used directly.
#[doc(hidden)]
pub use inventory as __inventory;

/// The bundle's name, as written in `unchained.toml`.
pub const BUNDLE_NAME: &str = "unchained.bundles.database";
