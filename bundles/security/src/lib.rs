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
//!
//! # Layers
//!
//! Modules import only from layers below their own (checked by
//! `shared/tools/module-cycles.py`):
//!
//! 1. `crypto`, `redirect`, `models`, `throttle`, `config`: building
//!    blocks; `config` owns the password limits and argon2 parameters.
//! 2. `password`, `tokens`, `csrf` (tokens in the session, the form
//!    check).
//! 3. `service`: [`Security`], users, roles and a user's sessions.
//! 4. `auth` (login, logout) and `flows` (registration, password change
//!    and reset, confirmation).
//! 5. `extract` (the user extractors) and `middleware` (the bundle's
//!    request middleware, the guard layers).
//! 6. `routes`, `commands`, `testing`, and the bundle itself.
//!
//! Mail (confirmation, password reset) goes through `unchained-mail`'s
//! `Mail` service: the one `unchained.bundles.mail` registers when it is
//! listed, or else one the bundle builds from the same `MAIL_*` keys
//! (and registers, so handlers and tests reach it too). Each message is
//! rendered from `security/email/NAME.txt` and `NAME.html`, both
//! overridable.
//!
//! Handlers reach the service with `unchained::service::Service<Security>`;
//! the bundle's `before_build` requires the database connection and the
//! session manager, so a missing one fails the build, not a request.

#![warn(missing_docs)]

pub mod auth;
mod bundle;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod csrf;
pub mod extract;
pub mod flows;
pub mod middleware;
pub mod models;
mod page_context;
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
pub use csrf::{Csrf, CsrfToken};
pub use extract::{AuthError, AuthUser, CurrentUser, MaybeUser};
pub use middleware::{AuthLayer, auth_required, roles_accepted, roles_required};
pub use service::Security;
