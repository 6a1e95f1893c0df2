//! The account flows behind both the HTML pages and the JSON API: login,
//! registration, password change and reset, email confirmation.

use std::time::Duration;

use minijinja::context;
use unchained::state::AppState;
use unchained_session::Session;

use crate::mail::Email;
use crate::models::{normalize_email, user};
use crate::password::PolicyError;
use crate::service::{Security, UserError};
use crate::tokens::{TokenError, TokenPurpose};

/// The one message for a wrong email or password, whichever it was.
pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// The one message for a failure on the server side (the cause is
/// logged, never shown).
pub const SOMETHING_WENT_WRONG: &str = "Something went wrong, please try again.";

/// Why a login was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Unknown email or wrong password (not said which).
    Invalid,
    /// Too many failures; try again after this long.
    Throttled(Duration),
    /// The password was right but the account is deactivated.
    Disabled,
    /// The password was right but the email is not confirmed yet.
    Unconfirmed,
    /// The database or hasher failed (logged).
    Internal,
}

impl LoginFailure {
    /// The message shown to the user.
    pub fn message(&self) -> String {
        match self {
            LoginFailure::Invalid => INVALID_CREDENTIALS.to_owned(),
            LoginFailure::Throttled(after) => format!(
                "Too many failed login attempts. Try again in {} minute(s).",
                after.as_secs().div_ceil(60).max(1)
            ),
            LoginFailure::Disabled => "This account is disabled.".to_owned(),
            LoginFailure::Unconfirmed => {
                "Your email address is not confirmed yet: follow the link we sent you, or ask for a new one."
                    .to_owned()
            }
            LoginFailure::Internal => SOMETHING_WENT_WRONG.to_owned(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> LoginFailure {
    tracing::error!(target: "unchained_security", "login failed on the server side: {e}");
    LoginFailure::Internal
}

/// Checks the credentials (throttled, constant work whether or not the
/// email exists) and upgrades a weak hash. Does not touch the session.
pub async fn check_login(
    security: &Security,
    email: &str,
    password: &str,
    address: &str,
) -> Result<user::Model, LoginFailure> {
    let account = normalize_email(email);
    security
        .throttle()
        .check(&account, address)
        .map_err(|t| LoginFailure::Throttled(t.retry_after))?;
    if password.chars().count() > crate::password::MAX_PASSWORD_CHARS {
        security.throttle().record_failure(&account, address);
        return Err(LoginFailure::Invalid);
    }
    let Some(user) = security
        .find_user_by_email(&account)
        .await
        .map_err(internal)?
    else {
        security.hasher().verify_dummy(password).await;
        security.throttle().record_failure(&account, address);
        return Err(LoginFailure::Invalid);
    };
    let verification = security.hasher().verify(password, &user.password).await;
    if !verification.valid {
        security.throttle().record_failure(&account, address);
        return Err(LoginFailure::Invalid);
    }
    security.throttle().reset_account(&account);
    let user = if verification.needs_rehash {
        let hash = security.hasher().hash(password).await.map_err(internal)?;
        tracing::info!(target: "unchained_security", user_id = user.id, "password hash upgraded to the configured parameters");
        security.store_hash(user, hash).await.map_err(internal)?
    } else {
        user
    };
    if !user.active {
        return Err(LoginFailure::Disabled);
    }
    let config = security.config();
    if config.confirmable && !config.login_without_confirmation && user.confirmed_at.is_none() {
        return Err(LoginFailure::Unconfirmed);
    }
    Ok(user)
}

/// Why a registration, password change, reset or confirmation failed.
/// The message (`Display`) is shown to the user as it is; server-side
/// causes are logged where they happen and shown as
/// [`SOMETHING_WENT_WRONG`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The email address is not plausible.
    #[error("Enter a valid email address.")]
    InvalidEmail,
    /// Registration without confirmable: the address is taken.
    #[error("This email address is already registered.")]
    AlreadyRegistered,
    /// The new password breaks the policy.
    #[error(transparent)]
    Password(#[from] PolicyError),
    /// The account operation refused the input (its message is for the
    /// user: see [`UserError::is_user_facing`]).
    #[error(transparent)]
    User(UserError),
    /// The current password given for a change is wrong.
    #[error("The current password is wrong.")]
    WrongPassword,
    /// The new password equals the current one.
    #[error("The new password must differ from the current one.")]
    SamePassword,
    /// The new password and its confirmation differ.
    #[error("The new passwords do not match.")]
    NewPasswordsDiffer,
    /// A reset or confirmation link is invalid, used or expired.
    #[error("{}", token_message(*.0))]
    Token(TokenError),
    /// The database, hasher or session store failed (logged).
    #[error("{}", SOMETHING_WENT_WRONG)]
    Internal,
}

/// An account operation's error as a flow error: the user's own mistakes
/// are kept, anything else is logged (`what` failed) and becomes
/// [`FlowError::Internal`].
fn from_user_error(e: UserError, what: &str) -> FlowError {
    if e.is_user_facing() {
        FlowError::User(e)
    } else {
        tracing::error!(target: "unchained_security", "{what} failed: {e}");
        FlowError::Internal
    }
}

/// Renders a mail template and sends it in the background (so response
/// time does not depend on the mail server or on whether mail was sent).
pub fn send_mail(
    app: &AppState,
    security: &Security,
    to: &str,
    subject: &str,
    template: &str,
    ctx: minijinja::Value,
) {
    let body = match app.templates().render(template, ctx) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(target: "unchained_security", template, "mail template failed to render: {e}");
            return;
        }
    };
    let email = Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
    };
    let mailer = security.mailer().clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&email).await {
            tracing::error!(target: "unchained_security::mail", subject = %email.subject, "sending mail failed: {e:#}");
        }
    });
}

/// The state a confirmation token is bound to: the email, while
/// unconfirmed.
fn confirm_state(user: &user::Model) -> String {
    format!("{}|{}", user.email, user.confirmed_at.is_some())
}

/// Sends `user` a confirmation link.
pub fn send_confirmation(app: &AppState, security: &Security, user: &user::Model) {
    let config = security.config();
    let token = security.tokens().sign(
        TokenPurpose::ConfirmEmail,
        user.id,
        &confirm_state(user),
        config.confirm_email_within,
    );
    let link = format!("{}/confirm/{token}", config.external_base());
    send_mail(
        app,
        security,
        &user.email,
        "Confirm your email address",
        "security/email/confirm_email.txt",
        context! { link => link, email => &user.email, within_hours => config.confirm_email_within / 3600 },
    );
}

/// Outcome of a registration.
#[derive(Debug)]
#[non_exhaustive]
pub enum Registered {
    /// A new account; `log_in` says whether to log it in now.
    New {
        /// The account.
        user: user::Model,
        /// Log in now (not when a confirmation is required first).
        log_in: bool,
    },
    /// The address was taken; with confirmable on, its owner got an email
    /// and the answer looks like a success.
    Existing,
}

/// Registers an account. Errors are messages for the user.
pub async fn register(
    app: &AppState,
    security: &Security,
    email: &str,
    password: &str,
) -> Result<Registered, FlowError> {
    let config = security.config();
    let normalized = normalize_email(email);
    if !crate::models::is_plausible_email(&normalized) {
        return Err(FlowError::InvalidEmail);
    }
    crate::password::check_new_password(password, config.password_length_min)?;
    match security.find_user_by_email(&normalized).await {
        Ok(Some(existing)) => {
            if config.confirmable {
                // As slow as creating an account, which hashes the password.
                security.hasher().verify_dummy(password).await;
                send_mail(
                    app,
                    security,
                    &existing.email,
                    "Someone tried to register with your address",
                    "security/email/already_registered.txt",
                    context! { email => &existing.email, login_url => format!("{}{}", config.external_base(), config.login_url) },
                );
                return Ok(Registered::Existing);
            }
            return Err(FlowError::AlreadyRegistered);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(target: "unchained_security", "registration lookup failed: {e}");
            return Err(FlowError::Internal);
        }
    }
    let user = security
        .create_user(&normalized, password, true, false)
        .await
        .map_err(|e| from_user_error(e, "registration"))?;
    tracing::info!(target: "unchained_security", user_id = user.id, "user registered");
    if config.confirmable {
        send_confirmation(app, security, &user);
    }
    let log_in = !config.confirmable || config.login_without_confirmation;
    Ok(Registered::New { user, log_in })
}

/// Changes the password of `user` after checking the current one, ends
/// the user's other sessions and keeps this one.
pub async fn change_password(
    security: &Security,
    session: &Session,
    user: &user::Model,
    current: &str,
    new: &str,
) -> Result<(), FlowError> {
    let fresh = match security.find_user(user.id).await {
        Ok(Some(u)) => u,
        _ => return Err(FlowError::Internal),
    };
    if current.chars().count() > crate::password::MAX_PASSWORD_CHARS
        || !security
            .hasher()
            .verify(current, &fresh.password)
            .await
            .valid
    {
        return Err(FlowError::WrongPassword);
    }
    if current == new {
        return Err(FlowError::SamePassword);
    }
    security
        .set_password(fresh, new)
        .await
        .map_err(|e| from_user_error(e, "password change"))?;
    let current_id = session.id().await.ok().flatten();
    if let Err(e) = security.end_sessions(user.id, current_id.as_deref()).await {
        tracing::error!(target: "unchained_security", "ending other sessions after a password change failed: {e}");
    }
    // A new id and CSRF token for the session that made the change.
    if session.regenerate().await.is_err() || crate::csrf::rotate_token(session).await.is_err() {
        tracing::warn!(target: "unchained_security", "could not renew the session after a password change");
    }
    tracing::info!(target: "unchained_security", user_id = user.id, "password changed");
    Ok(())
}

/// Sends a reset link when `email` belongs to an active account; says
/// nothing either way.
pub async fn forgot_password(app: &AppState, security: &Security, email: &str) {
    let config = security.config();
    let user = match security.find_user_by_email(email).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(target: "unchained_security", "password reset lookup failed: {e}");
            return;
        }
    };
    let Some(user) = user.filter(|u| u.active) else {
        return;
    };
    let token = security.tokens().sign(
        TokenPurpose::ResetPassword,
        user.id,
        &user.password,
        config.reset_password_within,
    );
    let link = format!("{}/reset-password/{token}", config.external_base());
    send_mail(
        app,
        security,
        &user.email,
        "Reset your password",
        "security/email/reset_password.txt",
        context! { link => link, email => &user.email, within_minutes => config.reset_password_within / 60 },
    );
}

/// The message for a refused token.
pub fn token_message(e: TokenError) -> &'static str {
    match e {
        TokenError::Invalid => "This link is invalid or has already been used.",
        TokenError::Expired => "This link has expired: ask for a new one.",
    }
}

/// The user a reset token is valid for (signature, expiry and single use).
pub async fn check_reset_token(security: &Security, token: &str) -> Result<user::Model, FlowError> {
    let claims = security
        .tokens()
        .verify(TokenPurpose::ResetPassword, token)
        .map_err(FlowError::Token)?;
    let user = security
        .find_user(claims.user_id)
        .await
        .ok()
        .flatten()
        .filter(|u| u.active)
        .ok_or(FlowError::Token(TokenError::Invalid))?;
    if !security.tokens().matches(&claims, &user.password) {
        return Err(FlowError::Token(TokenError::Invalid));
    }
    Ok(user)
}

/// Sets a new password with a reset token and ends every session of the
/// user.
pub async fn reset_password(
    security: &Security,
    token: &str,
    password: &str,
) -> Result<user::Model, FlowError> {
    let user = check_reset_token(security, token).await?;
    let user = security
        .set_password(user, password)
        .await
        .map_err(|e| from_user_error(e, "password reset"))?;
    if let Err(e) = security.end_sessions(user.id, None).await {
        tracing::error!(target: "unchained_security", "ending sessions after a password reset failed: {e}");
    }
    tracing::info!(target: "unchained_security", user_id = user.id, "password reset");
    Ok(user)
}

/// Confirms the email a confirmation token was sent to.
pub async fn confirm_email(security: &Security, token: &str) -> Result<user::Model, FlowError> {
    let claims = security
        .tokens()
        .verify(TokenPurpose::ConfirmEmail, token)
        .map_err(FlowError::Token)?;
    let user = security
        .find_user(claims.user_id)
        .await
        .ok()
        .flatten()
        .ok_or(FlowError::Token(TokenError::Invalid))?;
    if !security.tokens().matches(&claims, &confirm_state(&user)) {
        return Err(FlowError::Token(TokenError::Invalid));
    }
    security.confirm(user).await.map_err(|e| {
        tracing::error!(target: "unchained_security", "confirming an email failed: {e}");
        FlowError::Internal
    })
}
