//! HTML pages. Every form carries the CSRF token (see `csrf`); every page is
//! a template an app can override by name (`security/login.html`, ...).

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use minijinja::{Value, context};
use serde::Deserialize;
use unchained::routes::Routes;
use unchained::service::Service;
use unchained::state::AppState;
use unchained_session::{Session, SessionError};

use crate::csrf::Csrf;

use super::ClientAddress;
use crate::config::SecurityConfig;
use crate::extract::{CurrentUser, MaybeUser};
use crate::flows::{self, FlowError, LoginFailure, Registered};
use crate::redirect::next_or;
use crate::service::Security;

/// Adds the enabled HTML routes to `routes`, named `security.<name>`: a
/// page and its form's `POST` share a name (`security.login`).
pub fn routes(mut routes: Routes, config: &SecurityConfig) -> Routes {
    routes = routes
        .get("/login", login_page)
        .name("login")
        .post("/login", login_submit)
        .name("login")
        .get("/logout", logout_page)
        .name("logout")
        .post("/logout", logout_submit)
        .name("logout")
        .get("/sessions", sessions_page)
        .name("sessions")
        .post("/sessions/end", end_session_submit)
        .name("end_session")
        .post("/sessions/end-others", end_others_submit)
        .name("end_other_sessions");
    if config.registerable {
        routes = routes
            .get("/register", register_page)
            .name("register")
            .post("/register", register_submit)
            .name("register");
    }
    if config.changeable {
        routes = routes
            .get("/change-password", change_page)
            .name("change_password")
            .post("/change-password", change_submit)
            .name("change_password");
    }
    if config.recoverable {
        routes = routes
            .get("/forgot-password", forgot_page)
            .name("forgot_password")
            .post("/forgot-password", forgot_submit)
            .name("forgot_password")
            .get("/reset-password/{token}", reset_page)
            .name("reset_password")
            .post("/reset-password/{token}", reset_submit)
            .name("reset_password");
    }
    if config.confirmable {
        routes = routes
            .get("/confirm/{token}", confirm)
            .name("confirm_email")
            .get("/send-confirmation-email", send_confirmation_page)
            .name("send_confirmation")
            .post("/send-confirmation-email", send_confirmation_submit)
            .name("send_confirmation");
    }
    routes
}

/// A page's failure. The [`Security`] service is not among the causes:
/// the build guarantees it (the bundle registers it before any route is
/// served).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Session(e) => e.into_response(),
        }
    }
}

type PageResult = Result<Response, PageError>;

/// Renders `template` with the common context (CSRF token, feature flags,
/// current user's email) plus `extra`, with `status`.
async fn page(
    app: &AppState,
    security: &Security,
    csrf: &Csrf,
    user: Option<&str>,
    template: &str,
    status: StatusCode,
    extra: Value,
) -> PageResult {
    let config = security.config();
    let csrf_token = csrf.token().await?;
    let ctx = context! {
        csrf_token => csrf_token,
        current_user => user,
        registerable => config.registerable,
        recoverable => config.recoverable,
        changeable => config.changeable,
        confirmable => config.confirmable,
        ..extra
    };
    let mut response = app.render(template, ctx);
    *response.status_mut() = if response.status().is_server_error() {
        response.status()
    } else {
        status
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A notice page (`security/message.html`).
async fn message(
    app: &AppState,
    security: &Security,
    csrf: &Csrf,
    status: StatusCode,
    title: &str,
    text: &str,
) -> PageResult {
    page(
        app,
        security,
        csrf,
        None,
        "security/message.html",
        status,
        context! { title => title, message => text },
    )
    .await
}

/// Query of `/login`.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    /// Where to go after login.
    #[serde(default)]
    pub next: Option<String>,
}

async fn login_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    user: MaybeUser,
    Query(query): Query<NextQuery>,
) -> PageResult {
    if user.0.is_some() {
        let to = next_or(query.next.as_deref(), &security.config().post_login_view);
        return Ok(Redirect::to(to).into_response());
    }
    let next = query
        .next
        .filter(|n| crate::redirect::safe_path(n).is_some());
    page(
        &app,
        &security,
        &csrf,
        None,
        "security/login.html",
        StatusCode::OK,
        context! { next => next, email => "" },
    )
    .await
}

/// The login form.
#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// Where to go after login.
    #[serde(default)]
    pub next: Option<String>,
}

async fn login_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    ClientAddress(address): ClientAddress,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let session = csrf.session();
    match flows::check_login(&security, &form.email, &form.password, &address).await {
        Ok(user) => {
            crate::auth::login(session, &user).await?;
            let to = next_or(form.next.as_deref(), &security.config().post_login_view).to_owned();
            Ok(Redirect::to(&to).into_response())
        }
        Err(failure) => {
            let status = match failure {
                LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                LoginFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                LoginFailure::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            let next = form
                .next
                .filter(|n| crate::redirect::safe_path(n).is_some());
            let mut response = page(
                &app,
                &security,
                &csrf,
                None,
                "security/login.html",
                status,
                context! { next => next, email => form.email.trim(), errors => vec![failure.message()] },
            )
            .await?;
            if let LoginFailure::Throttled(after) | LoginFailure::Busy(after) = failure
                && let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
    }
}

/// A flow's error page, made 503 with `Retry-After` when the error was
/// the server at its hashing capacity (so clients and load balancers see
/// it is worth retrying, not a wrong input).
fn at_capacity(page: PageResult, e: &FlowError) -> PageResult {
    let mut response = page?;
    if let Some(after) = e.retry_after() {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    Ok(response)
}

/// The page for [`FlowError::SessionsNotEnded`]: 503, with the message
/// saying whether the password changed.
async fn sessions_not_ended(
    app: &AppState,
    security: &Security,
    csrf: &Csrf,
    e: &FlowError,
) -> PageResult {
    message(
        app,
        security,
        csrf,
        StatusCode::SERVICE_UNAVAILABLE,
        "Other sessions are still signed in",
        &e.to_string(),
    )
    .await
}

async fn logout_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    user: MaybeUser,
) -> PageResult {
    let email = user.0.as_ref().map(|u| u.email().to_owned());
    page(
        &app,
        &security,
        &csrf,
        email.as_deref(),
        "security/logout.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn logout_submit(Service(security): Service<Security>, session: Session) -> PageResult {
    crate::auth::logout(&security, &session).await?;
    Ok(Redirect::to(&security.config().post_logout_view).into_response())
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// The password again.
    #[serde(default)]
    pub password_confirm: String,
}

async fn register_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
) -> PageResult {
    page(
        &app,
        &security,
        &csrf,
        None,
        "security/register.html",
        StatusCode::OK,
        context! { email => "" },
    )
    .await
}

async fn register_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Form(form): Form<RegisterForm>,
) -> PageResult {
    let rerender = |errors: Vec<String>| {
        let email = form.email.trim().to_owned();
        let app = app.clone();
        let security = security.clone();
        let csrf = csrf.clone();
        async move {
            page(
                &app,
                &security,
                &csrf,
                None,
                "security/register.html",
                StatusCode::OK,
                context! { email => email, errors => errors },
            )
            .await
        }
    };
    if form.password != form.password_confirm {
        return rerender(vec!["The passwords do not match.".to_owned()]).await;
    }
    match flows::register(&app, &security, &form.email, &form.password).await {
        Err(e) => at_capacity(rerender(vec![e.to_string()]).await, &e),
        Ok(Registered::New { user, log_in: true }) => {
            crate::auth::login(csrf.session(), &user).await?;
            Ok(Redirect::to(&security.config().post_register_view).into_response())
        }
        Ok(Registered::New { log_in: false, .. }) | Ok(Registered::Existing) => {
            message(
                &app,
                &security,
                &csrf,
                StatusCode::OK,
                "Check your email",
                "Thank you. To finish, follow the link in the email we have sent to the address you entered.",
            )
            .await
        }
    }
}

/// The password change form.
#[derive(Debug, Default, Deserialize)]
pub struct ChangeForm {
    /// The current password.
    #[serde(default)]
    pub password: String,
    /// The new password.
    #[serde(default)]
    pub new_password: String,
    /// The new password again.
    #[serde(default)]
    pub new_password_confirm: String,
}

async fn change_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    user: CurrentUser,
) -> PageResult {
    page(
        &app,
        &security,
        &csrf,
        Some(user.email()),
        "security/change_password.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn change_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    user: CurrentUser,
    ClientAddress(address): ClientAddress,
    Form(form): Form<ChangeForm>,
) -> PageResult {
    let session = csrf.session();
    let result = if form.new_password != form.new_password_confirm {
        Err(FlowError::NewPasswordsDiffer)
    } else {
        flows::change_password(
            &security,
            session,
            &user.user,
            &form.password,
            &form.new_password,
            &address,
        )
        .await
    };
    match result {
        Ok(()) => Ok(Redirect::to(&security.config().post_change_view).into_response()),
        Err(e @ FlowError::SessionsNotEnded { .. }) => {
            sessions_not_ended(&app, &security, &csrf, &e).await
        }
        Err(message) => {
            let response = page(
                &app,
                &security,
                &csrf,
                Some(user.email()),
                "security/change_password.html",
                StatusCode::OK,
                context! { errors => vec![message.to_string()] },
            )
            .await;
            let mut response = at_capacity(response, &message)?;
            // Too many wrong current passwords: 429, as a throttled login.
            if let FlowError::Throttled(after) = message {
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Ok(response)
        }
    }
}

/// The forgot-password form.
#[derive(Debug, Default, Deserialize)]
pub struct EmailForm {
    /// Email.
    #[serde(default)]
    pub email: String,
}

async fn forgot_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
) -> PageResult {
    page(
        &app,
        &security,
        &csrf,
        None,
        "security/forgot_password.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn forgot_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Form(form): Form<EmailForm>,
) -> PageResult {
    flows::forgot_password(&app, &security, &form.email).await;
    message(
        &app,
        &security,
        &csrf,
        StatusCode::OK,
        "Check your email",
        "If an account uses this address, we have sent it a link to reset the password.",
    )
    .await
}

async fn reset_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Path(token): Path<String>,
) -> PageResult {
    match flows::check_reset_token(&security, &token).await {
        Ok(_) => {
            page(
                &app,
                &security,
                &csrf,
                None,
                "security/reset_password.html",
                StatusCode::OK,
                context! { token => token },
            )
            .await
        }
        Err(e) => {
            let text = e.to_string();
            message(
                &app,
                &security,
                &csrf,
                StatusCode::BAD_REQUEST,
                "Invalid link",
                &text,
            )
            .await
        }
    }
}

/// The reset form.
#[derive(Debug, Default, Deserialize)]
pub struct ResetForm {
    /// The new password.
    #[serde(default)]
    pub password: String,
    /// The new password again.
    #[serde(default)]
    pub password_confirm: String,
}

async fn reset_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> PageResult {
    if form.password != form.password_confirm {
        return page(
            &app,
            &security,
            &csrf,
            None,
            "security/reset_password.html",
            StatusCode::OK,
            context! { token => token, errors => vec!["The passwords do not match."] },
        )
        .await;
    }
    match flows::reset_password(&security, &token, &form.password).await {
        Ok(_) => Ok(Redirect::to(&security.config().post_reset_view).into_response()),
        Err(e @ FlowError::SessionsNotEnded { .. }) => {
            sessions_not_ended(&app, &security, &csrf, &e).await
        }
        Err(e) => {
            let text = e.to_string();
            // A dead token cannot be retried; a policy error can. Other
            // failures re-check the token, as a failure may have been a
            // token used meanwhile.
            let dead = matches!(e, FlowError::Token(_))
                || flows::check_reset_token(&security, &token).await.is_err();
            if dead {
                return message(
                    &app,
                    &security,
                    &csrf,
                    StatusCode::BAD_REQUEST,
                    "Invalid link",
                    &text,
                )
                .await;
            }
            let response = page(
                &app,
                &security,
                &csrf,
                None,
                "security/reset_password.html",
                StatusCode::OK,
                context! { token => token, errors => vec![text] },
            )
            .await;
            at_capacity(response, &e)
        }
    }
}

async fn confirm(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Path(token): Path<String>,
) -> PageResult {
    match flows::confirm_email(&security, &token).await {
        Ok(_) => Ok(Redirect::to(&security.config().post_confirm_view).into_response()),
        Err(e) => {
            let text = e.to_string();
            message(
                &app,
                &security,
                &csrf,
                StatusCode::BAD_REQUEST,
                "Invalid link",
                &text,
            )
            .await
        }
    }
}

async fn send_confirmation_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
) -> PageResult {
    page(
        &app,
        &security,
        &csrf,
        None,
        "security/send_confirmation.html",
        StatusCode::OK,
        context! {},
    )
    .await
}

async fn send_confirmation_submit(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    Form(form): Form<EmailForm>,
) -> PageResult {
    if let Ok(Some(user)) = security.find_user_by_email(&form.email).await
        && user.confirmed_at.is_none()
        && user.active
    {
        flows::send_confirmation(&app, &security, &user);
    }
    message(
        &app,
        &security,
        &csrf,
        StatusCode::OK,
        "Check your email",
        "If an unconfirmed account uses this address, we have sent it a new confirmation link.",
    )
    .await
}

async fn sessions_page(
    State(app): State<AppState>,
    Service(security): Service<Security>,
    csrf: Csrf,
    user: CurrentUser,
) -> PageResult {
    let session = csrf.session();
    let current = session.id().await?;
    let (sessions, errors) = match security.list_sessions(user.id(), current.as_deref()).await {
        Ok(list) => (list, Vec::new()),
        Err(e) => {
            tracing::error!(target: "unchained_security", "listing sessions failed: {e}");
            (
                Vec::new(),
                vec!["The session list is unavailable right now.".to_owned()],
            )
        }
    };
    page(
        &app,
        &security,
        &csrf,
        Some(user.email()),
        "security/sessions.html",
        StatusCode::OK,
        context! { sessions => sessions, errors => errors },
    )
    .await
}

/// Which session to end.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionForm {
    /// The session's handle from the list.
    #[serde(default)]
    pub id: String,
}

async fn end_session_submit(
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
    Form(form): Form<EndSessionForm>,
) -> PageResult {
    let current = session
        .id()
        .await?
        .map(|id| crate::service::session_handle(&id));
    if current.as_deref() == Some(form.id.as_str()) {
        crate::auth::logout(&security, &session).await?;
        return Ok(Redirect::to(&security.config().post_logout_view).into_response());
    }
    if let Err(e) = security.end_session(user.id(), &form.id).await {
        tracing::error!(target: "unchained_security", "ending a session failed: {e}");
    }
    Ok(Redirect::to(&format!("{}/sessions", security.config().url_prefix)).into_response())
}

async fn end_others_submit(
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
) -> PageResult {
    let current = session.id().await?;
    if let Err(e) = security.end_sessions(user.id(), current.as_deref()).await {
        tracing::error!(target: "unchained_security", "ending other sessions failed: {e}");
    }
    Ok(Redirect::to(&format!("{}/sessions", security.config().url_prefix)).into_response())
}
