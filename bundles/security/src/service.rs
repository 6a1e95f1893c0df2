//! [`Security`]: the bundle's service (config, hasher, token signer,
//! mail, throttle, database and session manager), and the user, role
//! and session operations the routes and the CLI share.
//!
//! The bundle registers it in `before_build` and declares it in
//! `provides`, so handlers take it with
//! `unchained::service::Service<Security>` and never find it missing.
//! It sits above the building blocks (config, crypto, models, password,
//! tokens, throttle; mail is `unchained-mail`'s) and below everything that serves requests.

mod activity;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, Set,
};
use unchained_mail::Mail;
use unchained_session::SessionManager;

use crate::config::SecurityConfig;
use crate::models::{normalize_email, role, user, user_role};
use crate::password::PasswordHasher;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenSigner;

pub use activity::{ActiveSession, SessionsError, session_handle};

/// How often a session's "last seen" is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The security bundle's service; handlers reach it with the
/// `Service<Security>` extractor. Cheap to clone.
#[derive(Clone)]
pub struct Security {
    inner: Arc<Inner>,
}

struct Inner {
    config: SecurityConfig,
    hasher: PasswordHasher,
    tokens: TokenSigner,
    mail: Mail,
    throttle: LoginThrottle,
    db: DatabaseConnection,
    sessions: SessionManager,
    touched: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("hasher", &self.inner.hasher)
            .field("mail", &self.inner.mail)
            .finish_non_exhaustive()
    }
}

/// A user or role operation failed. [`is_user_facing`](Self::is_user_facing)
/// tells the variants whose message is meant for the person who typed the
/// input from those that are the server's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] crate::password::HashError),
    /// The email address is not plausible.
    #[error("{0:?} is not a valid email address.")]
    InvalidEmail(String),
    /// The email address belongs to another account.
    #[error("{0} is already registered.")]
    EmailTaken(String),
    /// The new password breaks the policy.
    #[error(transparent)]
    Password(#[from] crate::password::PolicyError),
    /// The role name is empty, too long or has spaces.
    #[error("{0:?} is not a valid role name: use 1 to 80 characters without spaces")]
    InvalidRoleName(String),
    /// A role of that name exists.
    #[error("role {0} already exists")]
    RoleExists(String),
    /// No role of that name exists.
    #[error("no role called {0}")]
    NoSuchRole(String),
    /// A role to give does not exist; the message says how to create it.
    #[error("no role called {0}: create it with `unchained roles create {0}`")]
    RoleToCreate(String),
    /// The account was deactivated but its sessions could not be ended.
    #[error("the account is deactivated but its sessions could not be ended: {0}")]
    SessionsNotEnded(#[source] SessionsError),
}

impl UserError {
    /// Whether the message is about the input (shown to the user) rather
    /// than a failure on the server side (logged, and answered with a
    /// generic message).
    pub fn is_user_facing(&self) -> bool {
        matches!(
            self,
            UserError::InvalidEmail(_)
                | UserError::EmailTaken(_)
                | UserError::Password(_)
                | UserError::InvalidRoleName(_)
                | UserError::RoleExists(_)
                | UserError::NoSuchRole(_)
                | UserError::RoleToCreate(_)
        )
    }
}

impl Security {
    /// Assembles the service.
    pub fn new(
        config: SecurityConfig,
        hasher: PasswordHasher,
        tokens: TokenSigner,
        mail: Mail,
        db: DatabaseConnection,
        sessions: SessionManager,
    ) -> Self {
        let throttle = LoginThrottle::new(
            db.clone(),
            config.attempts_per_account,
            config.attempts_per_address,
            Duration::from_secs(config.throttle_window),
        );
        Security {
            inner: Arc::new(Inner {
                config,
                hasher,
                tokens,
                mail,
                throttle,
                db,
                sessions,
                touched: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The options in force.
    pub fn config(&self) -> &SecurityConfig {
        &self.inner.config
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The token signer.
    pub fn tokens(&self) -> &TokenSigner {
        &self.inner.tokens
    }

    /// The mail service the bundle's messages go through.
    pub fn mail(&self) -> &Mail {
        &self.inner.mail
    }

    /// The throttle of every route that checks a password.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The session manager.
    pub fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// Whether the "last seen" of session `key` is due for a write now;
    /// records the write time when it is.
    fn touch_due(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut touched = self.inner.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.len() > 100_000 {
            touched.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
        }
        match touched.get(key) {
            Some(at) if now.duration_since(*at) < TOUCH_EVERY => false,
            _ => {
                touched.insert(key.to_owned(), now);
                true
            }
        }
    }

    /// Forgets the "last seen" throttle of session `key`.
    fn forget_touch(&self, key: &str) {
        self.inner
            .touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    // ---- users -------------------------------------------------------

    /// The user with `email` (normalized before the lookup).
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find()
            .filter(user::Column::Email.eq(normalize_email(email)))
            .one(self.db())
            .await
    }

    /// The user with `id`.
    pub async fn find_user(&self, id: i32) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find_by_id(id).one(self.db()).await
    }

    /// Every user, by id.
    pub async fn list_users(&self) -> Result<Vec<user::Model>, DbErr> {
        user::Entity::find()
            .order_by_asc(user::Column::Id)
            .all(self.db())
            .await
    }

    /// Creates a user after checking the email and the password policy.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        active: bool,
        confirmed: bool,
    ) -> Result<user::Model, UserError> {
        let email = normalize_email(email);
        if !crate::models::is_plausible_email(&email) {
            return Err(UserError::InvalidEmail(email));
        }
        crate::password::check_new_password(password, self.config().password_length_min)?;
        if self.find_user_by_email(&email).await?.is_some() {
            return Err(UserError::EmailTaken(email));
        }
        let hash = self.hasher().hash(password).await?;
        let now = Utc::now();
        let model = user::ActiveModel {
            email: Set(email),
            password: Set(hash),
            active: Set(active),
            confirmed_at: Set(confirmed.then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        Ok(model.insert(self.db()).await?)
    }

    /// Stores a new hash for `user` (policy checked); returns the updated row.
    pub async fn set_password(
        &self,
        user: user::Model,
        password: &str,
    ) -> Result<user::Model, UserError> {
        crate::password::check_new_password(password, self.config().password_length_min)?;
        let hash = self.hasher().hash(password).await?;
        self.store_hash(user, hash).await
    }

    /// Stores `hash` as the user's password hash.
    pub(crate) async fn store_hash(
        &self,
        user: user::Model,
        hash: String,
    ) -> Result<user::Model, UserError> {
        let mut model: user::ActiveModel = user.into();
        model.password = Set(hash);
        model.updated_at = Set(Utc::now());
        Ok(model.update(self.db()).await?)
    }

    /// Activates or deactivates `user`; deactivating ends all its sessions.
    pub async fn set_active(
        &self,
        user: user::Model,
        active: bool,
    ) -> Result<user::Model, UserError> {
        let id = user.id;
        let mut model: user::ActiveModel = user.into();
        model.active = Set(active);
        model.updated_at = Set(Utc::now());
        let user = model.update(self.db()).await?;
        if !active {
            self.end_sessions(id, None)
                .await
                .map_err(UserError::SessionsNotEnded)?;
        }
        Ok(user)
    }

    /// Marks `user`'s email as confirmed now.
    pub async fn confirm(&self, user: user::Model) -> Result<user::Model, UserError> {
        let mut model: user::ActiveModel = user.into();
        model.confirmed_at = Set(Some(Utc::now()));
        model.updated_at = Set(Utc::now());
        Ok(model.update(self.db()).await?)
    }

    // ---- roles -------------------------------------------------------

    /// Names of the roles `user_id` holds, sorted.
    pub async fn role_names(&self, user_id: i32) -> Result<Vec<String>, DbErr> {
        let links = user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(user_id))
            .all(self.db())
            .await?;
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i32> = links.iter().map(|l| l.role_id).collect();
        let mut names: Vec<String> = role::Entity::find()
            .filter(role::Column::Id.is_in(ids))
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The role called `name`.
    pub async fn find_role(&self, name: &str) -> Result<Option<role::Model>, DbErr> {
        role::Entity::find()
            .filter(role::Column::Name.eq(name.trim()))
            .one(self.db())
            .await
    }

    /// Every role, by name.
    pub async fn list_roles(&self) -> Result<Vec<role::Model>, DbErr> {
        role::Entity::find()
            .order_by_asc(role::Column::Name)
            .all(self.db())
            .await
    }

    /// Creates role `name`.
    pub async fn create_role(
        &self,
        name: &str,
        description: &str,
    ) -> Result<role::Model, UserError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 80 || name.chars().any(char::is_whitespace) {
            return Err(UserError::InvalidRoleName(name.to_owned()));
        }
        if self.find_role(name).await?.is_some() {
            return Err(UserError::RoleExists(name.to_owned()));
        }
        let model = role::ActiveModel {
            name: Set(name.to_owned()),
            description: Set(description.to_owned()),
            ..Default::default()
        };
        Ok(model.insert(self.db()).await?)
    }

    /// Deletes role `name` (and its links).
    pub async fn delete_role(&self, name: &str) -> Result<(), UserError> {
        let role = self
            .find_role(name)
            .await?
            .ok_or_else(|| UserError::NoSuchRole(name.to_owned()))?;
        user_role::Entity::delete_many()
            .filter(user_role::Column::RoleId.eq(role.id))
            .exec(self.db())
            .await?;
        role.delete(self.db()).await?;
        Ok(())
    }

    /// Gives `user_id` role `name` (no-op if held already).
    pub async fn add_role(&self, user_id: i32, name: &str) -> Result<(), UserError> {
        let role = self
            .find_role(name)
            .await?
            .ok_or_else(|| UserError::RoleToCreate(name.to_owned()))?;
        let held = user_role::Entity::find_by_id((user_id, role.id))
            .one(self.db())
            .await?;
        if held.is_none() {
            let link = user_role::ActiveModel {
                user_id: Set(user_id),
                role_id: Set(role.id),
            };
            link.insert(self.db()).await?;
        }
        Ok(())
    }

    /// Takes role `name` from `user_id`; `true` if it was held.
    pub async fn remove_role(&self, user_id: i32, name: &str) -> Result<bool, UserError> {
        let role = self
            .find_role(name)
            .await?
            .ok_or_else(|| UserError::NoSuchRole(name.to_owned()))?;
        let result = user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id))
            .filter(user_role::Column::RoleId.eq(role.id))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected > 0)
    }
}
