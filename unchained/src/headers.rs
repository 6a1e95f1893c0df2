//! The core's response headers and CORS, as [`WebConfig`] sets them.
//!
//! On by default, each only where the response does not have it already
//! (a handler's own header wins):
//!
//! - `X-Content-Type-Options: nosniff` (`CONTENT_TYPE_OPTIONS`);
//! - on HTML, `X-Frame-Options: DENY` and `Content-Security-Policy:
//!   frame-ancestors 'none'` (`FRAME_OPTIONS`; see [`protect_frames`]);
//! - `Referrer-Policy: strict-origin-when-cross-origin`
//!   (`REFERRER_POLICY`);
//! - in production, `Strict-Transport-Security: max-age=31536000;
//!   includeSubDomains` (`HSTS_MAX_AGE`, `HSTS_INCLUDE_SUBDOMAINS`).
//!
//! CORS is off until `CORS_ALLOWED_ORIGINS` lists origins; then
//! tower-http's `CorsLayer` answers preflights and adds the
//! `Access-Control-*` headers (exposing `X-Request-Id` to scripts).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use crate::config::web::{AllowList, CorsSettings, FramePolicy, WebConfig};
use crate::state::AppState;

/// Wraps `router` with the header layers `config` turns on, CORS inside
/// them (so that its answers to preflights get the headers too).
///
/// Every default header is set by one response mapping, not one layer
/// each: axum boxes the service once per `Router::layer` call, and each
/// level costs every request a boxed future.
pub(crate) fn layer(mut router: Router<AppState>, config: &WebConfig) -> Router<AppState> {
    if let Some(cors) = &config.cors {
        router = router.layer(cors_layer(cors));
    }
    let mut defaults: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if config.nosniff {
        defaults.push((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    }
    if let Some(value) = config
        .referrer_policy
        .as_deref()
        .and_then(|p| HeaderValue::from_str(p).ok())
    {
        defaults.push((header::REFERRER_POLICY, value));
    }
    if let Some(value) = config
        .hsts
        .and_then(|hsts| HeaderValue::from_str(&hsts.header_value()).ok())
    {
        defaults.push((header::STRICT_TRANSPORT_SECURITY, value));
    }
    let frames = config.frame_policy;
    if defaults.is_empty() && frames.is_none() {
        return router;
    }
    let defaults: Arc<[(HeaderName, HeaderValue)]> = defaults.into();
    router.layer(tower::util::MapResponseLayer::new(
        move |mut response: Response| {
            let headers = response.headers_mut();
            if let Some(policy) = frames {
                protect_frames(policy, headers);
            }
            for (name, value) in defaults.iter() {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), value.clone());
                }
            }
            response
        },
    ))
}

/// Adds frame protection per `policy` to the headers of an HTML
/// response: `X-Frame-Options`, and `Content-Security-Policy:
/// frame-ancestors` when the response has no policy of its own. A
/// response that set `X-Frame-Options`, or `frame-ancestors` in its
/// policy, chose its framing: nothing is added then. Another policy of
/// its own is kept whole, not merged (only `X-Frame-Options` is added).
/// Responses other than HTML are left alone: there is nothing to frame.
pub fn protect_frames(policy: FramePolicy, headers: &mut HeaderMap) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..9)
                .is_some_and(|t| t.eq_ignore_ascii_case("text/html"))
        });
    if !html || headers.contains_key(header::X_FRAME_OPTIONS) {
        return;
    }
    let own_csp = headers.get_all(header::CONTENT_SECURITY_POLICY);
    if own_csp.iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("frame-ancestors"))
    }) {
        return;
    }
    let has_csp = own_csp.iter().next().is_some();
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(policy.x_frame_options()),
    );
    if !has_csp {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy.content_security_policy()),
        );
    }
}

/// tower-http's CORS layer for checked `settings` (a wildcard never
/// comes with credentials: [`WebConfig`] refused that).
fn cors_layer(settings: &CorsSettings) -> CorsLayer {
    let origins = match &settings.origins {
        AllowList::Any => AllowOrigin::any(),
        AllowList::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    let methods = match &settings.methods {
        AllowList::Any => AllowMethods::any(),
        AllowList::List(list) => AllowMethods::list(list.iter().cloned()),
    };
    let headers = match &settings.headers {
        AllowList::Any => AllowHeaders::any(),
        AllowList::List(list) => AllowHeaders::list(list.iter().cloned()),
    };
    let mut layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(headers)
        .allow_credentials(settings.allow_credentials)
        // So that a script can quote a failed call's id.
        .expose_headers([crate::request_id::HEADER]);
    if settings.max_age > 0 {
        layer = layer.max_age(Duration::from_secs(settings.max_age));
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(headers: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        for (name, value) in headers {
            map.insert(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn frame_protection_keeps_what_the_handler_set() {
        let mut plain = html(&[]);
        protect_frames(FramePolicy::Deny, &mut plain);
        assert_eq!(plain[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(
            plain[header::CONTENT_SECURITY_POLICY],
            "frame-ancestors 'none'"
        );

        let mut own = html(&[(header::X_FRAME_OPTIONS, "SAMEORIGIN")]);
        protect_frames(FramePolicy::Deny, &mut own);
        assert_eq!(own[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        // A frame-ancestors of ours would override the handler's choice.
        assert!(!own.contains_key(header::CONTENT_SECURITY_POLICY));

        let mut csp = html(&[(header::CONTENT_SECURITY_POLICY, "default-src 'self'")]);
        protect_frames(FramePolicy::SameOrigin, &mut csp);
        assert_eq!(csp[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        assert_eq!(csp[header::X_FRAME_OPTIONS], "SAMEORIGIN");

        let mut framed = html(&[(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors https://partner.example",
        )]);
        protect_frames(FramePolicy::Deny, &mut framed);
        assert!(!framed.contains_key(header::X_FRAME_OPTIONS));

        let mut text = HeaderMap::new();
        text.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        protect_frames(FramePolicy::Deny, &mut text);
        assert!(!text.contains_key(header::X_FRAME_OPTIONS));
    }
}
