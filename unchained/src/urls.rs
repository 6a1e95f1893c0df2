//! [`Urls`]: the app's named routes, and `url_for`.
//!
//! Every route has an endpoint name, `<bundle>.<handler>` by default
//! (`security.login`, `app.index`); [`Urls::url_for`] turns a name and
//! parameters into a path, filling the `{param}` segments of the route's
//! path and putting the other parameters in the query string. Handlers
//! reach it through `AppState::url_for`, templates through the global
//! function `url_for`:
//!
//! ```
//! use unchained::urls::Urls;
//!
//! let urls = Urls::new()
//!     .with_route("blog.show", "/blog/{slug}")
//!     .with_route("security.login", "/auth/login");
//! assert_eq!(
//!     urls.url_for("blog.show", &[("slug", "hello world"), ("page", "2")]).unwrap(),
//!     "/blog/hello%20world?page=2"
//! );
//! assert_eq!(
//!     urls.url_for("security.login", &[("next", "/blog")]).unwrap(),
//!     "/auth/login?next=%2Fblog"
//! );
//! assert!(urls.url_for("security.logon", &[]).unwrap_err().to_string().contains("security.login"));
//! ```
//!
//! ```jinja
//! <a href="{{ url_for('security.login', next='/blog') }}">Log in</a>
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `url_for` cannot make a URL: each message names the endpoint and what
/// to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No route has this name.
    #[error("url_for({name:?}): no route is named {name:?}{hint}")]
    UnknownName {
        /// The name asked for.
        name: String,
        /// `: did you mean ...?`, or where to find the names.
        hint: String,
    },
    /// The route's path has a `{param}` that was not given (or was empty).
    #[error(
        "url_for({name:?}): the path {path} needs the parameter {param:?}: pass a non-empty value for it"
    )]
    MissingParam {
        /// The endpoint name.
        name: String,
        /// The route's path pattern.
        path: String,
        /// The parameter.
        param: String,
    },
    /// A config key that holds a redirect target is neither a path nor a
    /// route's name.
    #[error(
        "{key} = {value:?} is neither a path on this site nor a route's name: write a path starting \
         with `/`, e.g. \"/\", or an endpoint name ({reason})"
    )]
    Target {
        /// The config key.
        key: String,
        /// Its value.
        value: String,
        /// Why the value is not a route's name.
        reason: String,
    },
}

/// The named routes of an app (name -> path pattern, with each bundle's
/// URL prefix already in the path), and each bundle's URL prefix.
#[derive(Debug, Clone, Default)]
pub struct Urls {
    paths: BTreeMap<String, String>,
    prefixes: BTreeMap<String, String>,
}

impl Urls {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the route `name` with path pattern `path`.
    pub fn with_route(mut self, name: &str, path: &str) -> Self {
        self.insert(name, path);
        self
    }

    /// Records that `bundle`'s routes are mounted at `prefix` (e.g.
    /// `/auth`; `""` for none).
    pub fn with_prefix(mut self, bundle: &str, prefix: &str) -> Self {
        self.prefixes.insert(bundle.to_owned(), prefix.to_owned());
        self
    }

    pub(crate) fn insert(&mut self, name: &str, path: &str) {
        self.paths.insert(name.to_owned(), path.to_owned());
    }

    /// The URL prefix `bundle` (its full name, e.g.
    /// `unchained.bundles.security`) is mounted at: `""` when none.
    ///
    /// ```
    /// # use unchained::urls::Urls;
    /// let urls = Urls::new().with_prefix("unchained.bundles.security", "/auth");
    /// assert_eq!(urls.prefix("unchained.bundles.security"), "/auth");
    /// assert_eq!(urls.prefix("app"), "");
    /// ```
    pub fn prefix(&self, bundle: &str) -> &str {
        self.prefixes.get(bundle).map_or("", String::as_str)
    }

    /// The path pattern of route `name` (e.g. `/reset-password/{token}`).
    pub fn path(&self, name: &str) -> Option<&str> {
        self.paths.get(name).map(String::as_str)
    }

    /// Every route name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.paths.keys().map(String::as_str)
    }

    /// The URL of route `name`: each `{param}` of its path filled from
    /// `params` (percent-encoded; a `{*rest}` keeps its `/`), the other
    /// params appended as the query string, in order.
    ///
    /// An unknown name or a missing path parameter is an error naming the
    /// endpoint (and, for a name, the nearest one).
    ///
    /// ```
    /// # use unchained::urls::Urls;
    /// let urls = Urls::new().with_route("security.reset", "/reset-password/{token}");
    /// assert_eq!(urls.url_for("security.reset", &[("token", "a/b")]).unwrap(), "/reset-password/a%2Fb");
    /// let error = urls.url_for("security.reset", &[]).unwrap_err();
    /// assert!(error.to_string().contains("\"token\""));
    /// ```
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        let Some(pattern) = self.paths.get(name) else {
            return Err(self.unknown(name));
        };
        let mut used = vec![false; params.len()];
        let mut url = String::with_capacity(pattern.len() + 16);
        let mut rest = pattern.as_str();
        while let Some(i) = rest.find(['{', '}']) {
            url.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            // `{{` and `}}` are axum's escaped braces.
            if rest[i..].starts_with("{{") || rest[i..].starts_with("}}") {
                url.push_str(&rest[i..=i]);
                rest = &rest[i + 2..];
                continue;
            }
            if rest[i..].starts_with('}') {
                url.push('}');
                rest = after;
                continue;
            }
            let Some(end) = after.find('}') else {
                url.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let param = &after[..end];
            let (wildcard, param) = match param.strip_prefix('*') {
                Some(p) => (true, p),
                None => (false, param),
            };
            let found = params
                .iter()
                .enumerate()
                .find(|(_, (key, value))| *key == param && !value.is_empty());
            let Some((index, (_, value))) = found else {
                return Err(UrlError::MissingParam {
                    name: name.to_owned(),
                    path: pattern.clone(),
                    param: param.to_owned(),
                });
            };
            used[index] = true;
            // Another value for the same name is the path's too.
            for (j, (key, _)) in params.iter().enumerate() {
                if *key == param {
                    used[j] = true;
                }
            }
            encode(&mut url, value, wildcard);
            rest = &after[end + 1..];
        }
        url.push_str(rest);
        let mut separator = '?';
        for ((key, value), used) in params.iter().zip(used) {
            if used {
                continue;
            }
            url.push(separator);
            separator = '&';
            encode(&mut url, key, false);
            url.push('=');
            encode(&mut url, value, false);
        }
        Ok(url)
    }

    /// A config value that holds a redirect target, as a path: a value
    /// starting with `/` is a path and is returned as is; any other is a
    /// route's name (without parameters). `key` names the config key in
    /// the error, which suggests the nearest name.
    ///
    /// ```
    /// # use unchained::urls::Urls;
    /// let urls = Urls::new().with_route("security.login", "/auth/login");
    /// assert_eq!(urls.resolve_target("SECURITY_LOGIN_URL", "security.login").unwrap(), "/auth/login");
    /// assert_eq!(urls.resolve_target("SECURITY_POST_LOGIN_VIEW", "/").unwrap(), "/");
    /// assert!(urls.resolve_target("SECURITY_LOGIN_URL", "security.logn").is_err());
    /// ```
    pub fn resolve_target(&self, key: &str, value: &str) -> Result<String, UrlError> {
        if value.starts_with('/') {
            return Ok(value.to_owned());
        }
        self.url_for(value, &[]).map_err(|error| UrlError::Target {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: match error {
                UrlError::UnknownName { hint, .. } => {
                    format!("no route is named {value:?}{hint}")
                }
                other => other.to_string(),
            },
        })
    }

    fn unknown(&self, name: &str) -> UrlError {
        let names: Vec<String> = self.paths.keys().cloned().collect();
        let mut close: Vec<&str> = crate::suggest::closest(name, &names).into_iter().collect();
        // Names of the same bundle, or with the same handler part, are
        // likely what was meant too.
        let (group, handler) = name.rsplit_once('.').unwrap_or(("", name));
        for candidate in &names {
            let (g, h) = candidate.rsplit_once('.').unwrap_or(("", candidate));
            if close.len() < 5
                && !close.contains(&candidate.as_str())
                && !handler.is_empty()
                && (h == handler || (g == group && (h.contains(handler) || handler.contains(h))))
            {
                close.push(candidate);
            }
        }
        let hint = if close.is_empty() {
            ": `unchained urls` lists every route's name".to_owned()
        } else {
            format!(": did you mean {}?", close.join(", "))
        };
        UrlError::UnknownName {
            name: name.to_owned(),
            hint,
        }
    }
}

/// Appends `value` percent-encoded: everything but RFC 3986's unreserved
/// characters (and `/` in a wildcard segment).
fn encode(out: &mut String, value: &str, keep_slash: bool) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls::new()
            .with_route("app.index", "/")
            .with_route("security.login", "/auth/login")
            .with_route("security.reset_page", "/auth/reset-password/{token}")
            .with_route("files.get", "/files/{*path}")
            .with_route("app.braces", "/lit/{{x}}/{id}")
    }

    #[test]
    fn fills_path_params_and_puts_the_rest_in_the_query() {
        let urls = urls();
        assert_eq!(urls.url_for("app.index", &[]).unwrap(), "/");
        assert_eq!(
            urls.url_for(
                "security.reset_page",
                &[("token", "a b/c"), ("next", "/x?y=1&z")]
            )
            .unwrap(),
            "/auth/reset-password/a%20b%2Fc?next=%2Fx%3Fy%3D1%26z"
        );
        assert_eq!(
            urls.url_for("files.get", &[("path", "a/b c.txt")]).unwrap(),
            "/files/a/b%20c.txt"
        );
        assert_eq!(
            urls.url_for("app.braces", &[("id", "7")]).unwrap(),
            "/lit/{x}/7"
        );
        assert_eq!(
            urls.url_for("app.index", &[("q", "é"), ("page", "2")])
                .unwrap(),
            "/?q=%C3%A9&page=2"
        );
    }

    #[test]
    fn errors_name_the_endpoint_the_parameter_and_close_names() {
        let urls = urls();
        let missing = urls
            .url_for("security.reset_page", &[("next", "/")])
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("security.reset_page")
                && missing.contains("\"token\"")
                && missing.contains("/auth/reset-password/{token}"),
            "{missing}"
        );
        let empty = urls
            .url_for("security.reset_page", &[("token", "")])
            .unwrap_err();
        assert!(matches!(empty, UrlError::MissingParam { .. }), "{empty}");
        let unknown = urls.url_for("security.logn", &[]).unwrap_err().to_string();
        assert!(unknown.contains("did you mean security.login"), "{unknown}");
        let unknown = urls.url_for("security.reset", &[]).unwrap_err().to_string();
        assert!(unknown.contains("security.reset_page"), "{unknown}");
        let unknown = urls
            .url_for("nothing.like.it", &[])
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unchained urls"), "{unknown}");
    }

    #[test]
    fn redirect_targets_are_paths_or_names() {
        let urls = urls();
        assert_eq!(urls.resolve_target("K", "/x?y").unwrap(), "/x?y");
        assert_eq!(
            urls.resolve_target("K", "security.login").unwrap(),
            "/auth/login"
        );
        let error = urls
            .resolve_target("SECURITY_POST_LOGIN_VIEW", "security.logn")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("SECURITY_POST_LOGIN_VIEW") && error.contains("security.login"),
            "{error}"
        );
        let error = urls
            .resolve_target("K", "security.reset_page")
            .unwrap_err()
            .to_string();
        assert!(error.contains("token"), "{error}");
    }
}
