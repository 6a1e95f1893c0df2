//! The account flows behind both the HTML pages and the JSON API: login,
//! registration, password change and reset, email confirmation.

use std::time::Duration;

use minijinja::context;
use unchained::state::AppState;
use unchained_mail::Message;
use unchained_session::Session;

use crate::models::{normalize_email, user};
use crate::password::{HashError, HasherBusy, PolicyError};
use crate::service::{Security, UserError};
use crate::throttle::{Reservation, ThrottleError};
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
    /// Every password hashing slot stayed taken: 503, try again after
    /// this long.
    Busy(Duration),
}

/// The one message for a server at its hashing capacity.
pub const BUSY: &str = "The server is busy, please try again in a few seconds.";

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
            LoginFailure::Busy(_) => BUSY.to_owned(),
        }
    }
}

fn busy(e: HasherBusy) -> LoginFailure {
    tracing::warn!(target: "unchained_security", "login refused: {e}");
    LoginFailure::Busy(e.retry_after)
}

fn internal(e: impl std::fmt::Display) -> LoginFailure {
    tracing::error!(target: "unchained_security", "login failed on the server side: {e}");
    LoginFailure::Internal
}

/// Reserves a password attempt for `account` from `address` before any
/// hashing (see [`crate::throttle`]): `Err` carries how long to wait, or
/// `None` when the throttle's counters failed (logged; the attempt is
/// refused rather than let through uncounted).
async fn reserve_attempt(
    security: &Security,
    account: &str,
    address: &str,
) -> Result<Reservation, Option<Duration>> {
    match security.throttle().reserve(account, address).await {
        Ok(reservation) => Ok(reservation),
        Err(ThrottleError::Throttled(t)) => Err(Some(t.retry_after)),
        Err(e) => {
            tracing::error!(target: "unchained_security", "{e}");
            Err(None)
        }
    }
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
    // Every early return below keeps the reservation: it counts as a
    // failure unless the password turns out right.
    let reservation = reserve_attempt(security, &account, address)
        .await
        .map_err(|refused| refused.map_or(LoginFailure::Internal, LoginFailure::Throttled))?;
    if password.chars().count() > crate::password::MAX_PASSWORD_CHARS {
        return Err(LoginFailure::Invalid);
    }
    let Some(user) = security
        .find_user_by_email(&account)
        .await
        .map_err(internal)?
    else {
        if let Err(e) = security.hasher().verify_dummy(password).await {
            // No hashing slot: the attempt never reached the hasher.
            security.throttle().give_back(reservation).await;
            return Err(busy(e));
        }
        return Err(LoginFailure::Invalid);
    };
    let verification = match security.hasher().verify(password, &user.password).await {
        Ok(verification) => verification,
        Err(e) => {
            security.throttle().give_back(reservation).await;
            return Err(busy(e));
        }
    };
    if !verification.valid {
        return Err(LoginFailure::Invalid);
    }
    security.throttle().succeeded(reservation).await;
    let user = if verification.needs_rehash {
        // The password was right: when no slot frees up for the new hash,
        // log in with the old one and upgrade at a later login.
        match security.hasher().hash(password).await {
            Ok(hash) => {
                tracing::info!(target: "unchained_security", user_id = user.id, "password hash upgraded to the configured parameters");
                security.store_hash(user, hash).await.map_err(internal)?
            }
            Err(HashError::Busy(_)) => user,
            Err(e) => return Err(internal(e)),
        }
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
    /// Too many wrong passwords for the account or from the address: 429,
    /// try again after this long (see [`crate::throttle`]).
    #[error("Too many wrong passwords. Try again in {} minute(s).", .0.as_secs().div_ceil(60).max(1))]
    Throttled(Duration),
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
    /// The user's other sessions could not be ended around a password
    /// change or reset (the session store failed; logged): answered with
    /// 503, never as a success, since a session an attacker holds would
    /// outlive the new password.
    #[error("{}", sessions_not_ended_message(*password_changed))]
    SessionsNotEnded {
        /// Whether the new password was stored all the same (the store
        /// failed after it was): the message says so, as retrying the same
        /// request then cannot work.
        password_changed: bool,
    },
    /// Every password hashing slot stayed taken: answer 503 with
    /// `Retry-After` of this long.
    #[error("{}", BUSY)]
    Busy(Duration),
}

impl FlowError {
    /// When the server was at capacity: the `Retry-After` to send with a
    /// 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FlowError::Busy(after) => Some(*after),
            _ => None,
        }
    }
}

impl From<HasherBusy> for FlowError {
    fn from(e: HasherBusy) -> Self {
        tracing::warn!(target: "unchained_security", "request refused: {e}");
        FlowError::Busy(e.retry_after)
    }
}

/// The message of [`FlowError::SessionsNotEnded`].
fn sessions_not_ended_message(password_changed: bool) -> &'static str {
    if password_changed {
        "Your new password is set, but your other sessions could not be signed out because the \
         session store is unavailable: sign them out from your sessions page once the site works \
         again."
    } else {
        "Your password was not changed: your other sessions could not be signed out because the \
         session store is unavailable. Please try again in a moment."
    }
}

/// Ends `user_id`'s sessions except `keep`, as a password change or reset
/// must: a failure is logged and becomes [`FlowError::SessionsNotEnded`].
async fn end_sessions_for_password(
    security: &Security,
    user_id: i32,
    keep: Option<&str>,
    password_changed: bool,
) -> Result<(), FlowError> {
    match security.end_sessions(user_id, keep).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(
                target: "unchained_security",
                user_id,
                password_changed,
                "ending the user's other sessions for a password change failed: {e}"
            );
            Err(FlowError::SessionsNotEnded { password_changed })
        }
    }
}

/// An account operation's error as a flow error: the user's own mistakes
/// are kept, anything else is logged (`what` failed) and becomes
/// [`FlowError::Internal`].
fn from_user_error(e: UserError, what: &str) -> FlowError {
    if let UserError::Hash(HashError::Busy(busy)) = e {
        return busy.into();
    }
    if e.is_user_facing() {
        FlowError::User(e)
    } else {
        tracing::error!(target: "unchained_security", "{what} failed: {e}");
        FlowError::Internal
    }
}

/// Renders the mail templates `TEMPLATE.txt` and `TEMPLATE.html` (an
/// app overrides either by name) and sends the message in the background
/// (so response time does not depend on the mail server or on whether
/// mail was sent), from `SECURITY_EMAIL_SENDER` when set, else from
/// `MAIL_DEFAULT_SENDER`. With a queue installed on the `Mail` service
/// (a jobs bundle), the background task only enqueues it.
pub fn send_mail(
    app: &AppState,
    security: &Security,
    to: &str,
    subject: &str,
    template: &str,
    ctx: minijinja::Value,
) {
    let mut message = match Message::new().to(to).subject(subject).render(
        app.templates(),
        template,
        ctx,
    ) {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(target: "unchained_security", template, "mail templates failed to render: {e}");
            return;
        }
    };
    if let Some(sender) = &security.config().email_sender {
        message = message.from(sender.clone());
    }
    let mail = security.mail().clone();
    tokio::spawn(async move {
        let subject = message.subject.clone();
        if let Err(e) = mail.send(message).await {
            tracing::error!(target: "unchained_security::mail", subject = %subject, "sending mail failed: {e}");
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
    let link = format!(
        "{}{}/confirm/{token}",
        config.external_base(),
        config.url_prefix
    );
    send_mail(
        app,
        security,
        &user.email,
        "Confirm your email address",
        "security/email/confirm_email",
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
                security.hasher().verify_dummy(password).await?;
                send_mail(
                    app,
                    security,
                    &existing.email,
                    "Someone tried to register with your address",
                    "security/email/already_registered",
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
/// the user's other sessions and keeps this one. When the other sessions
/// cannot be ended the change fails with
/// [`FlowError::SessionsNotEnded`]. The check is throttled
/// like a login, on the same counters (the account's email and the
/// client `address`), so a stolen session cookie is no way around the
/// login throttle.
pub async fn change_password(
    security: &Security,
    session: &Session,
    user: &user::Model,
    current: &str,
    new: &str,
    address: &str,
) -> Result<(), FlowError> {
    let fresh = match security.find_user(user.id).await {
        Ok(Some(u)) => u,
        _ => return Err(FlowError::Internal),
    };
    // Kept (counted as a failure) on every early return below.
    let reservation = reserve_attempt(security, &normalize_email(&fresh.email), address)
        .await
        .map_err(|refused| refused.map_or(FlowError::Internal, FlowError::Throttled))?;
    if current.chars().count() > crate::password::MAX_PASSWORD_CHARS {
        return Err(FlowError::WrongPassword);
    }
    let verification = match security.hasher().verify(current, &fresh.password).await {
        Ok(verification) => verification,
        Err(e) => {
            // No hashing slot: the attempt never reached the hasher.
            security.throttle().give_back(reservation).await;
            return Err(e.into());
        }
    };
    if !verification.valid {
        return Err(FlowError::WrongPassword);
    }
    security.throttle().succeeded(reservation).await;
    if current == new {
        return Err(FlowError::SamePassword);
    }
    crate::password::check_new_password(new, security.config().password_length_min)?;
    // Other sessions end before the password changes and again after: a
    // store that is down fails the request with nothing changed (it can be
    // retried), and a session opened with the old password in between
    // ends too. Only when the store fails between the two is the password
    // changed without the sessions ended, and the error says so.
    let current_id = session.id().await.ok().flatten();
    end_sessions_for_password(security, user.id, current_id.as_deref(), false).await?;
    security
        .set_password(fresh, new)
        .await
        .map_err(|e| from_user_error(e, "password change"))?;
    end_sessions_for_password(security, user.id, current_id.as_deref(), true).await?;
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
    let link = format!(
        "{}{}/reset-password/{token}",
        config.external_base(),
        config.url_prefix
    );
    send_mail(
        app,
        security,
        &user.email,
        "Reset your password",
        "security/email/reset_password",
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
/// user; when they cannot be ended it fails with
/// [`FlowError::SessionsNotEnded`].
pub async fn reset_password(
    security: &Security,
    token: &str,
    password: &str,
) -> Result<user::Model, FlowError> {
    let user = check_reset_token(security, token).await?;
    crate::password::check_new_password(password, security.config().password_length_min)?;
    // Before and after, as in `change_password`: a store that is down
    // leaves the token unused, to be retried.
    end_sessions_for_password(security, user.id, None, false).await?;
    let user = security
        .set_password(user, password)
        .await
        .map_err(|e| from_user_error(e, "password reset"))?;
    end_sessions_for_password(security, user.id, None, true).await?;
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
