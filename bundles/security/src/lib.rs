//! The security bundle of Unchained, named `unchained.bundles.security`:
//! user accounts and roles, argon2id passwords, login/logout,
//! registration, password change and reset, email confirmation, CSRF
//! protection, login throttling, and a list of one's active sessions.
//!
//! It needs `unchained.bundles.database` (the tables) and
//! `unchained.bundles.session` (server-side sessions):
//!
//! ```toml
//! bundles = ["unchained.bundles.database", "unchained.bundles.session", "unchained.bundles.security", "app"]
//! ```
//!
//! Protecting a route:
//!
//! ```ignore
//! use unchained::axum::handler::Handler;
//! use unchained_security::{CurrentUser, MaybeUser, auth_required, roles_accepted};
//!
//! async fn dashboard(user: CurrentUser) -> String { format!("hi {}", user.email()) }
//! async fn home(user: MaybeUser) -> String { format!("logged in: {}", user.0.is_some()) }
//! async fn reports() -> &'static str { "reports" }
//!
//! Routes::new()
//!     .get("/", home)
//!     .get("/dashboard", dashboard)
//!     .get("/reports", reports.layer(roles_accepted(["admin", "analyst"])))
//! ```
//!
//! `docs/bundles/security.md` lists every option, route, template and
//! command.

#![warn(missing_docs)]

pub mod auth;
mod bundle;
pub mod commands;
pub mod config;
pub mod csrf;
pub mod flows;
pub mod guards;
pub mod mail;
pub mod models;
pub mod password;
pub mod redirect;
pub mod routes;
pub mod service;
pub mod templates;
pub mod testing;
pub mod throttle;
pub mod tokens;

pub use bundle::{BUNDLE_NAME, SecurityBundle};
pub use config::SecurityConfig;
pub use csrf::CsrfToken;
pub use guards::{
    AuthError, AuthLayer, AuthUser, CurrentUser, MaybeUser, auth_required, roles_accepted,
    roles_required,
};
pub use service::Security;
