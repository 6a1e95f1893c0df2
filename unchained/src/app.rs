//! The app factory: from `unchained.toml` to a running axum app.
//!
//! ```no_run
//! use unchained::app::AppFactory;
//! use unchained::config::Environment;
//!
//! # async fn run() -> Result<(), unchained::Error> {
//! let loaded = AppFactory::discover(Environment::Development)?; // resolve bundles, merge config
//! let app = loaded.build().await?;                               // hooks, routes, layers
//! app.serve("127.0.0.1:5000".parse().unwrap()).await?;
//! # Ok(()) }
//! ```
//!
//! Two steps, because most CLI commands (`urls`, `bundles`, `config`)
//! need the resolved bundles and config but must not connect to anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use crate::bundle::{Bundle, app_templates_dir};
use crate::config::{self, Config, Environment};
use crate::error::Error;
use crate::project::{Manifest, Project};
use crate::registry::{BundleRegistry, ResolvedBundles};
use crate::routes::{RouteContext, RouteInfo, RouteTable};
use crate::state::{AppState, Services};
use crate::templates::Templates;

/// Resolves bundles and merges config for a project.
pub struct AppFactory;

impl AppFactory {
    /// Loads the project around the current directory (or
    /// `UNCHAINED_PROJECT_ROOT`) with every bundle compiled into this binary.
    pub fn discover(env: Environment) -> Result<LoadedApp, Error> {
        let project = Project::discover()?;
        Self::load(
            &project.root,
            &project.manifest,
            &BundleRegistry::from_inventory()?,
            env,
        )
    }

    /// Loads the project at `root` with the bundles of `registry`.
    pub fn load(
        root: &Path,
        manifest: &Manifest,
        registry: &BundleRegistry,
        env: Environment,
    ) -> Result<LoadedApp, Error> {
        Self::load_with(root, manifest, registry, env, |builder| builder)
    }

    /// Like [`load`](Self::load), with a last word on the config: `adjust`
    /// adds layers above every other (tests use it to point
    /// `DATABASE_URL` at their own database).
    pub fn load_with(
        root: &Path,
        manifest: &Manifest,
        registry: &BundleRegistry,
        env: Environment,
        adjust: impl FnOnce(config::ConfigBuilder) -> config::ConfigBuilder,
    ) -> Result<LoadedApp, Error> {
        let bundles = registry.resolve(manifest)?;
        let defaults = bundles
            .iter()
            .map(|b| (b.name().to_owned(), b.config_defaults(env), b.secret_keys()));
        let config = adjust(config::builder_for(root, env, defaults)?).build();
        Ok(LoadedApp {
            root: root.to_owned(),
            env,
            bundles,
            config,
        })
    }
}

/// A project whose bundles are resolved and whose config is merged, not
/// yet built: nothing has connected to anything.
#[derive(Clone)]
pub struct LoadedApp {
    root: PathBuf,
    env: Environment,
    bundles: ResolvedBundles,
    config: Config,
}

impl LoadedApp {
    /// Assembles a loaded app from parts (for tests and embedding).
    pub fn from_parts(root: PathBuf, bundles: ResolvedBundles, config: Config) -> Self {
        LoadedApp {
            root,
            env: config.env(),
            bundles,
            config,
        }
    }

    /// The project's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The environment.
    pub fn env(&self) -> Environment {
        self.env
    }

    /// The bundles in load order.
    pub fn bundles(&self) -> &ResolvedBundles {
        &self.bundles
    }

    /// The merged config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks the config: the production secret and each bundle's own
    /// typed config. Keys that look like a bundle's but are not (a typo) are
    /// logged as warnings.
    pub fn validate(&self) -> Result<(), Error> {
        config::check_production_secret(&self.config)?;
        for warning in self.unknown_keys() {
            tracing::warn!("{warning}");
        }
        for bundle in self.bundles.iter() {
            bundle
                .validate_config(&self.config)
                .map_err(|error| Error::Hook {
                    bundle: bundle.name().to_owned(),
                    error,
                })?;
        }
        Ok(())
    }

    /// Keys set in the config that share a bundle's prefix (`SESSION_`,
    /// `SECURITY_`, ...) but that no bundle knows: most likely typos.
    pub fn unknown_keys(&self) -> Vec<String> {
        let mut known: Vec<String> = config::CORE_KEYS.iter().map(|k| (*k).to_owned()).collect();
        for bundle in self.bundles.iter() {
            known.extend(bundle.config_defaults(self.env).keys().map(str::to_owned));
            known.extend(
                bundle
                    .optional_config_keys()
                    .iter()
                    .map(|k| (*k).to_owned()),
            );
        }
        let prefix = |key: &str| key.split('_').next().unwrap_or_default().to_owned();
        let prefixes: std::collections::HashSet<String> = known.iter().map(|k| prefix(k)).collect();
        self.config
            .entries()
            .into_iter()
            .filter(|e| {
                !known.contains(&e.key)
                    && (prefixes.contains(&prefix(&e.key))
                        || config::closest(&e.key, &known).is_some())
            })
            .map(|e| {
                let hint = config::closest(&e.key, &known)
                    .map(|k| format!(": did you mean {k}?"))
                    .unwrap_or_else(|| ": no loaded bundle reads it".to_owned());
                format!("unknown config key {} (from {}){hint}", e.key, e.source)
            })
            .collect()
    }

    /// Every route of every bundle, with the app's overrides applied,
    /// without running any hook.
    pub fn routes(&self) -> Result<Vec<RouteInfo>, Error> {
        Ok(self.route_table()?.infos())
    }

    fn route_table(&self) -> Result<RouteTable, Error> {
        let ctx = RouteContext {
            config: &self.config,
            env: self.env,
        };
        let mut table = RouteTable::default();
        for bundle in self.bundles.iter() {
            table.add(bundle.name(), bundle.is_app(), bundle.routes(&ctx))?;
        }
        Ok(table)
    }

    fn templates(&self) -> Result<Templates, Error> {
        let mut templates = Templates::new();
        for bundle in self.bundles.iter() {
            for (name, source) in bundle.templates() {
                templates.add(bundle.name(), name, source)?;
            }
        }
        templates.add_dir(&app_templates_dir(&self.root))?;
        Ok(templates)
    }

    /// Builds the app: validates config, runs every `before_build` hook in
    /// bundle order, mounts all routes, applies layers, then runs every
    /// `after_build` hook.
    pub async fn build(&self) -> Result<App, Error> {
        self.validate()?;
        let mut ctx = BuildContext {
            config: &self.config,
            root: &self.root,
            bundles: &self.bundles,
            services: Services::default(),
            templates: self.templates()?,
        };
        for bundle in self.bundles.iter() {
            bundle
                .before_build(&mut ctx)
                .await
                .map_err(|error| Error::Hook {
                    bundle: bundle.name().to_owned(),
                    error,
                })?;
        }
        let BuildContext {
            services,
            templates,
            ..
        } = ctx;
        let state = AppState::new(
            self.config.clone(),
            services,
            templates,
            self.bundles.names(),
        );
        let table = self.route_table()?;
        let routes = table.infos();
        let mut router = table.into_router()?;
        for bundle in self.bundles.iter().rev() {
            router = bundle.layer(router, &state);
        }
        let app = App {
            router: router.with_state(state.clone()),
            state,
            routes: Arc::new(routes),
        };
        for bundle in self.bundles.iter() {
            bundle
                .after_build(&app)
                .await
                .map_err(|error| Error::Hook {
                    bundle: bundle.name().to_owned(),
                    error,
                })?;
        }
        Ok(app)
    }
}

/// What `before_build` hooks see: the config, and the services and
/// templates being assembled.
pub struct BuildContext<'a> {
    config: &'a Config,
    root: &'a Path,
    bundles: &'a ResolvedBundles,
    services: Services,
    templates: Templates,
}

impl BuildContext<'_> {
    /// The merged config.
    pub fn config(&self) -> &Config {
        self.config
    }

    /// The environment.
    pub fn env(&self) -> Environment {
        self.config.env()
    }

    /// The project's root folder.
    pub fn project_root(&self) -> &Path {
        self.root
    }

    /// Whether bundle `name` is loaded.
    pub fn has_bundle(&self, name: &str) -> bool {
        self.bundles.contains(name)
    }

    /// Registers a service that handlers and later bundles can reach.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.services.insert(value);
    }

    /// A service an earlier bundle registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.services.get()
    }

    /// The templates, e.g. to add filters or globals.
    pub fn templates_mut(&mut self) -> &mut Templates {
        &mut self.templates
    }
}

/// A built app: an axum router with its state, and the list of routes.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
    routes: Arc<Vec<RouteInfo>>,
}

impl App {
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

/// Builds an app from explicit bundles, without a project on disk:
/// handy in tests of a single bundle.
pub async fn build_with(
    bundles: Vec<Arc<dyn Bundle>>,
    config: impl FnOnce(config::ConfigBuilder) -> config::ConfigBuilder,
    env: Environment,
) -> Result<App, Error> {
    let names: Vec<String> = bundles.iter().map(|b| b.name().to_owned()).collect();
    let registry = BundleRegistry::from_bundles(bundles)?;
    let manifest = Manifest {
        bundles: names,
        ..Manifest::default()
    };
    let resolved = registry.resolve(&manifest)?;
    let mut builder = Config::builder(env);
    for bundle in resolved.iter() {
        builder = builder
            .defaults(bundle.name(), bundle.config_defaults(env))
            .secret_keys(bundle.secret_keys().iter().copied());
    }
    let config = config(builder).build();
    let root = std::env::temp_dir();
    LoadedApp::from_parts(root, resolved, config).build().await
}
