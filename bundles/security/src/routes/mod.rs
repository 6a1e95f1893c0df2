//! The bundle's routes: HTML pages ([`html`]) and the JSON API ([`api`]).
//! Which ones exist depends on the `SECURITY_*` feature flags.

pub mod api;
pub mod html;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use http::HeaderMap;
use http::request::Parts;
use unchained::routes::Routes;
use unchained::service::{MissingService, Service};
use unchained::state::AppState;

use crate::config::SecurityConfig;
use crate::service::Security;

/// Every route the config enables.
pub fn routes(config: &SecurityConfig) -> Routes {
    let routes = html::routes(Routes::new(), config);
    api::routes(routes, config)
}

/// The client's address for throttling: the last value of
/// `SECURITY_CLIENT_ADDRESS_HEADER` when set (a trusted proxy appends
/// it), else the TCP peer (when the server provides `ConnectInfo`), else
/// `"unknown"`.
pub fn client_address(
    config: &SecurityConfig,
    headers: &HeaderMap,
    parts_peer: Option<SocketAddr>,
) -> String {
    if !config.client_address_header.is_empty()
        && let Some(value) = headers
            .get_all(config.client_address_header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .next_back()
        && let Some(last) = value.rsplit(',').map(str::trim).find(|v| !v.is_empty())
    {
        return last.chars().take(64).collect();
    }
    match parts_peer {
        Some(addr) => addr.ip().to_string(),
        None => crate::throttle::UNKNOWN_ADDRESS.to_owned(),
    }
}

/// The peer address of a request, when the server recorded it.
pub fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The client address of a request (see [`client_address`]).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

impl<S> FromRequestParts<S> for ClientAddress
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = MissingService;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Service(security) = Service::<Security>::from_request_parts(parts, state).await?;
        Ok(ClientAddress(client_address(
            security.config(),
            &parts.headers,
            peer(parts),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_address_prefers_the_configured_header() {
        let mut config: SecurityConfig =
            unchained::config::Config::builder(unchained::config::Environment::Test)
                .defaults(
                    "s",
                    crate::config::defaults(unchained::config::Environment::Test),
                )
                .build()
                .extract()
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 10.0.0.1".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(client_address(&config, &headers, Some(peer)), "127.0.0.1");
        config.client_address_header = "X-Forwarded-For".into();
        assert_eq!(client_address(&config, &headers, Some(peer)), "10.0.0.1");
        assert_eq!(client_address(&config, &HeaderMap::new(), None), "unknown");
    }
}
