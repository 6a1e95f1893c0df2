//! Server-side sessions for Unchained (and any axum app): the cookie
//! carries only an opaque random id, the data stays in a store, and ending
//! a session on the server ends it for everyone holding the cookie.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use unchained_session::{Session, SessionError, SessionManager};
//! use unchained_session::config::SessionConfig;
//! use unchained_session::store::MemoryStore;
//!
//! async fn count(session: Session) -> Result<String, SessionError> {
//!     let n: i64 = session.get("n").await?.unwrap_or(0);
//!     session.insert("n", n + 1).await?;
//!     Ok((n + 1).to_string())
//! }
//!
//! let manager = SessionManager::new(SessionConfig::default(), Arc::new(MemoryStore::new()), None).unwrap();
//! let app: Router = Router::new().route("/count", get(count)).layer(manager.layer());
//! ```
//!
//! In an Unchained project, list `unchained.bundles.session` in
//! `unchained.toml` instead: the bundle builds the manager from config and
//! installs the layer. See `docs/bundles/session.md` for every option and
//! behaviour.

#![warn(missing_docs)]

// The request path runs one way: `layer` -> `session` (handler API) ->
// `commit` (end-of-request engine) -> `manager` -> `store`, with `cookie`,
// `id`, `codec`, `config` and `signer` as leaves below them. No module
// imports one above it; `../shared/tools/module-cycles.py` checks that.
#[cfg(feature = "bundle")]
mod bundle;
pub mod cleanup;
pub mod codec;
#[cfg(feature = "bundle")]
pub mod command;
mod commit;
pub mod config;
mod cookie;
pub mod flash;
mod id;
mod layer;
mod manager;
mod session;
mod signer;
pub mod store;

#[cfg(feature = "bundle")]
pub use bundle::{BUNDLE_NAME, PRODUCTION_COOKIE_NAME, SessionBundle, check_store};
pub use config::ConfigError;
pub use id::{SessionId, generate_id, is_valid_id};
pub use layer::{ResponseFuture, SessionLayer, SessionService};
pub use manager::SessionManager;
pub use session::{MissingSessionLayer, Session, SessionError};
pub use signer::{CookieSigner, SignerError};
