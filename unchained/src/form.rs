//! [`Form<T>`]: an HTML form's fields, parsed into `T` and validated
//! declaratively with [`garde`], with per-field errors to show the form
//! again.
//!
//! ```
//! use unchained::prelude::*;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, garde::Validate)]
//! struct NewPost {
//!     #[garde(length(min = 1, max = 200))]
//!     title: String,
//!     #[garde(skip)]
//!     body: String,
//! }
//!
//! async fn create(page: Page, form: Form<NewPost>) -> Response {
//!     match form.into_valid() {
//!         Ok(post) => Redirect::to("/").into_response(),
//!         // The template shows each field's value and errors again
//!         // (`{% from "forms.html" import field %}{{ field(form, "title") }}`).
//!         Err(invalid) => {
//!             page.render_with_status(StatusCode::UNPROCESSABLE_ENTITY, "create.html", context! { form => invalid })
//!                 .await
//!         }
//!     }
//! }
//! # let _ = Routes::new().post("/create", create);
//! ```
//!
//! A body that is not a form (another `Content-Type`) is refused with
//! 415, one that cannot be read with 400; every other problem is the
//! form's, for the page to show: a field of the wrong type, or a
//! validation rule it breaks. The CSRF check is not here: with
//! `unchained.bundles.security` listed, every form post is checked before
//! the handler runs (see the security bundle's docs).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The template macros for forms (`forms.html`), a core template that a
/// project can override by name.
pub const FORMS_TEMPLATE: &str = include_str!("form/forms.html");

/// Largest form body read (the same as axum's `Form`).
pub const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// Field names that are never echoed back to the page (a password typed
/// once should not be sent back in the HTML).
const SECRET_FIELDS: &[&str] = &["password", "csrf_token"];

/// A submitted form: the fields as sent, and `T` if they parsed and
/// passed validation. See the [module docs](self).
#[derive(Debug)]
pub struct Form<T> {
    values: BTreeMap<String, String>,
    result: Result<T, BTreeMap<String, Vec<String>>>,
}

/// A form that did not pass, for its template: `values` (what was sent,
/// secret fields left out) and `errors` (per field; the key `""` holds
/// errors about the form as a whole).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InvalidForm {
    /// The fields as sent, by name.
    pub values: BTreeMap<String, String>,
    /// Messages by field name.
    pub errors: BTreeMap<String, Vec<String>>,
}

impl InvalidForm {
    /// Adds an error to `field` (`""` for the whole form), e.g. after a
    /// check that needs the database.
    pub fn add_error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }
}

impl<T> Form<T> {
    /// Whether the form parsed and passed validation.
    pub fn is_valid(&self) -> bool {
        self.result.is_ok()
    }

    /// The field `name` as sent.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `T`, or what the page needs to show the form again.
    pub fn into_valid(self) -> Result<T, InvalidForm> {
        let values = self.values;
        self.result.map_err(|errors| InvalidForm {
            values: values
                .into_iter()
                .filter(|(k, _)| !SECRET_FIELDS.iter().any(|s| k.contains(s)))
                .collect(),
            errors,
        })
    }

    /// Parses and validates `body`, an urlencoded form.
    pub fn parse(body: &[u8]) -> Self
    where
        T: DeserializeOwned + garde::Validate,
        T::Context: Default,
    {
        let mut values = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            values.entry(k.into_owned()).or_insert(v.into_owned());
        }
        let result = match serde_urlencoded::from_bytes::<T>(body) {
            Err(e) => Err(type_errors(&e.to_string())),
            Ok(data) => match data.validate() {
                Ok(()) => Ok(data),
                Err(report) => {
                    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for (path, error) in report.iter() {
                        errors
                            .entry(path.to_string())
                            .or_default()
                            .push(capitalize(&error.to_string()));
                    }
                    Err(errors)
                }
            },
        };
        Form { values, result }
    }
}

/// A parse error as a form error: on the field serde names (`missing field
/// `title``), else on the whole form.
fn type_errors(message: &str) -> BTreeMap<String, Vec<String>> {
    let field = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field"))
        .unwrap_or("");
    let text = if field.is_empty() {
        format!("The form could not be read: {message}")
    } else {
        "This field is required.".to_owned()
    };
    BTreeMap::from([(field.to_owned(), vec![text])])
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected a form (Content-Type: application/x-www-form-urlencoded).",
            )
                .into_response());
        }
        let body: Bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "The form could not be read (too large, or cut off).",
                )
                    .into_response()
            })?;
        Ok(Form::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, garde::Validate)]
    struct Post {
        #[garde(length(min = 1, max = 10))]
        title: String,
        #[garde(range(min = 1))]
        stars: u32,
        #[garde(skip)]
        password: Option<String>,
    }

    #[test]
    fn a_valid_form_gives_its_data() {
        let form = Form::<Post>::parse(b"title=Hello&stars=3");
        assert!(form.is_valid());
        let post = form.into_valid().unwrap();
        assert_eq!((post.title.as_str(), post.stars), ("Hello", 3));
        assert_eq!(post.password, None);
    }

    #[test]
    fn rules_give_per_field_errors_and_values_come_back_without_secrets() {
        let form = Form::<Post>::parse(b"title=&stars=0&password=hunter2&csrf_token=x");
        assert_eq!(form.value("title"), Some(""));
        let invalid = form.into_valid().unwrap_err();
        assert_eq!(invalid.errors.len(), 2, "{:?}", invalid.errors);
        assert!(invalid.errors["title"][0].starts_with("Length is lower than 1"));
        assert!(invalid.errors.contains_key("stars"));
        assert_eq!(invalid.values.get("stars").map(String::as_str), Some("0"));
        assert!(!invalid.values.contains_key("password"));
        assert!(!invalid.values.contains_key("csrf_token"));
    }

    #[test]
    fn parse_errors_are_the_forms_not_a_rejection() {
        let missing = Form::<Post>::parse(b"stars=2").into_valid().unwrap_err();
        assert_eq!(missing.errors["title"], ["This field is required."]);
        let wrong = Form::<Post>::parse(b"title=x&stars=many")
            .into_valid()
            .unwrap_err();
        assert!(wrong.errors[""][0].starts_with("The form could not be read"));
        let mut invalid = wrong;
        invalid.add_error("title", "Taken.");
        assert_eq!(invalid.errors["title"], ["Taken."]);
    }
}
