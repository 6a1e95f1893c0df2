//! [`App`]: a built app (an axum router with its state and its routes),
//! and serving it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::error::Error;
use crate::routes::RouteInfo;
use crate::state::AppState;

/// A built app: an axum router with its state, and the list of routes.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
    routes: Arc<Vec<RouteInfo>>,
}

impl App {
    pub(crate) fn new(router: Router, state: AppState, routes: Vec<RouteInfo>) -> Self {
        App {
            router,
            state,
            routes: Arc::new(routes),
        }
    }

    /// The axum router, ready to serve.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every route, in declaration order.
    pub fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }

    /// Serves the app on `addr` until Ctrl-C or SIGTERM.
    pub async fn serve(self, addr: SocketAddr) -> Result<(), Error> {
        self.serve_on(bind(addr).await?).await
    }

    /// Serves the app on an already bound listener until Ctrl-C or SIGTERM.
    pub async fn serve_on(self, listener: tokio::net::TcpListener) -> Result<(), Error> {
        let addr = listener.local_addr().ok();
        tracing::info!(address = ?addr, "serving");
        // Handlers may read the client's address with `ConnectInfo<SocketAddr>`
        // (e.g. the security bundle's per-address login throttle).
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::Io {
            what: "serve HTTP".into(),
            message: e.to_string(),
        })
    }
}

/// Binds a listener on `addr`, with an error that says what to do when the
/// port is taken.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Io {
            what: format!("listen on {addr}"),
            message: format!("{e} (is another server using the port? pick another with --port)"),
        })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
