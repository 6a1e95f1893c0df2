//! What the security bundle adds to every page rendered through
//! `unchained::page::Page`:
//!
//! - `current_user`: the logged-in user (prints as the email; has `id`,
//!   `email`, `roles`, `is_authenticated`), or none;
//! - `csrf_token`: the token for a form's hidden `csrf_token` field;
//! - `csrf_field()`: that hidden field, whole.
//!
//! The token is made only when a template prints it, so a page without a
//! form sets no CSRF cookie (and, as ever, stores no session).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use unchained::minijinja::Value;
use unchained::minijinja::value::{Enumerator, Object};
use unchained::page::{RequestContext, TemplateContext};
use unchained::state::AppState;
use unchained_session::Session;

use crate::csrf::{CsrfCookie, FORM_FIELD, SESSION_KEY};
use crate::extract::{AuthUser, resolve};
use crate::service::Security;

/// Registered by the bundle in `before_build`.
pub(crate) struct SecurityContext;

#[unchained::async_trait]
impl TemplateContext for SecurityContext {
    async fn for_request(
        &self,
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Box<dyn RequestContext>, Response> {
        let Some(security) = app.service::<Security>().cloned() else {
            return Ok(Box::new(PageSecurity::default()));
        };
        let user = resolve(parts, &security)
            .await
            .map_err(IntoResponse::into_response)?;
        // A logged-in session holds its own token; reading it is free once
        // the user was resolved (the session is loaded).
        let session_token = match parts.extensions.get::<Session>() {
            Some(session) => session
                .get::<String>(SESSION_KEY)
                .await
                .map_err(IntoResponse::into_response)?,
            None => None,
        };
        let token = Arc::new(LazyToken {
            session_token,
            cookie: parts.extensions.get::<Arc<CsrfCookie>>().cloned(),
        });
        Ok(Box::new(PageSecurity {
            user: user.map(|user| Value::from_object(TemplateUser(user))),
            token: Some(token),
        }))
    }
}

#[derive(Default)]
struct PageSecurity {
    user: Option<Value>,
    token: Option<Arc<LazyToken>>,
}

impl RequestContext for PageSecurity {
    fn values(&self) -> Vec<(&'static str, Value)> {
        let mut values = vec![("current_user", self.user.clone().unwrap_or(Value::from(())))];
        if let Some(token) = &self.token {
            values.push(("csrf_token", Value::from_dyn_object(token.clone())));
            let field = token.clone();
            values.push((
                "csrf_field",
                Value::from_function(move || {
                    // The token is base64url: nothing in it needs escaping.
                    Value::from_safe_string(format!(
                        r#"<input type="hidden" name="{FORM_FIELD}" value="{}">"#,
                        field.value()
                    ))
                }),
            ));
        }
        values
    }
}

/// The CSRF token, made when first printed.
#[derive(Debug)]
struct LazyToken {
    session_token: Option<String>,
    cookie: Option<Arc<CsrfCookie>>,
}

impl LazyToken {
    fn value(&self) -> String {
        match (&self.session_token, &self.cookie) {
            (Some(token), _) => token.clone(),
            // Issues the cookie that goes with the token.
            (None, Some(cookie)) => cookie.token(),
            // Without the bundle's middleware no token can pass the check.
            (None, None) => String::new(),
        }
    }
}

impl Object for LazyToken {
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value())
    }
}

/// The logged-in user, as templates see it.
#[derive(Debug)]
struct TemplateUser(Arc<AuthUser>);

impl Object for TemplateUser {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let user = &self.0.user;
        match key.as_str()? {
            "id" => Some(Value::from(user.id)),
            "email" => Some(Value::from(user.email.clone())),
            "roles" => Some(Value::from(self.0.roles.clone())),
            "is_authenticated" | "is_active" => Some(Value::from(true)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["id", "email", "roles", "is_authenticated", "is_active"])
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.user.email)
    }
}
