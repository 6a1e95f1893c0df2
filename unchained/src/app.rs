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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bundle::{Bundle, CommandContext, ResolvedBundles, ServeContext, app_templates_dir};
use crate::config::{self, Config, Environment};
use crate::error::Error;
use crate::project::{Manifest, Project};
use crate::registry::BundleRegistry;
use crate::routes::{RouteContext, RouteInfo, RouteTable};
use crate::service::Providers;
use crate::state::AppState;
use crate::templates::Templates;
use crate::urls::Urls;

pub use crate::bundle::BuildContext;
pub use crate::server::{App, bind};

/// Resolves bundles and merges config for a project.
pub struct AppFactory;

impl AppFactory {
    /// Loads the project around the current directory (or
    /// `UNCHAINED_PROJECT_ROOT`) with every bundle compiled into this binary.
    pub fn discover(env: Environment) -> Result<LoadedApp, Error> {
        let project = Project::discover()?;
        let registry = BundleRegistry::from_inventory()?;
        Self::load(&project.root, &project.manifest, &registry, env)
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
            providers: registry.providers(),
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
    /// Which compiled-in bundle provides which service: the hint when a
    /// bundle requires one that is missing.
    providers: Providers,
}

impl LoadedApp {
    /// Assembles a loaded app from parts (for tests and embedding).
    pub fn from_parts(root: PathBuf, bundles: ResolvedBundles, config: Config) -> Self {
        let mut providers = BundleRegistry::from_inventory()
            .map(|registry| registry.providers())
            .unwrap_or_default();
        for bundle in bundles.iter() {
            for service in bundle.provides() {
                providers.add(bundle.name(), service);
            }
        }
        LoadedApp {
            root,
            env: config.env(),
            bundles,
            config,
            providers,
        }
    }

    /// What a bundle's CLI command gets: this app's config and bundles, and
    /// a way to build it.
    pub fn command_context(&self) -> CommandContext {
        let loaded = self.clone();
        CommandContext::new(
            self.config.clone(),
            self.root.clone(),
            self.bundles.clone(),
            Arc::new(move || {
                let loaded = loaded.clone();
                Box::pin(async move { loaded.build().await })
            }),
        )
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
                .map_err(|error| Error::hook(bundle.name(), error))?;
        }
        Ok(())
    }

    /// Keys set in the config that share a bundle's prefix (`SESSION_`,
    /// `SECURITY_`, ...) but that no bundle knows: most likely typos.
    pub fn unknown_keys(&self) -> Vec<String> {
        let mut known: Vec<String> = config::CORE_KEYS.iter().map(|k| (*k).to_owned()).collect();
        for bundle in self.bundles.iter() {
            known.push(crate::routes::url_prefix_key(bundle.name()));
            let defaults = bundle.config_defaults(self.env);
            known.extend(defaults.keys().map(str::to_owned));
            known.extend(defaults.optional_keys().map(str::to_owned));
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
            let prefix = crate::routes::url_prefix(&self.config, bundle.name())?;
            table.add(bundle.name(), bundle.is_app(), &prefix, bundle.routes(&ctx))?;
        }
        Ok(table)
    }

    fn templates(&self, urls: Arc<Urls>) -> Result<Templates, Error> {
        let mut templates = Templates::new();
        templates.set_urls(urls);
        // The core's own templates come first: any bundle or the project
        // can replace them by name.
        templates.add("unchained", "forms.html", crate::form::FORMS_TEMPLATE)?;
        // The core's error pages, below every bundle's templates.
        for (name, source) in crate::error_pages::TEMPLATES {
            templates.add("unchained", name, source)?;
        }
        for bundle in self.bundles.iter() {
            for (name, source) in bundle.templates() {
                templates.add(bundle.name(), name, source)?;
            }
        }
        let dir = app_templates_dir(&self.root);
        templates.add_dir(&dir)?;
        // A template edit shows on the next request while developing;
        // production and tests read the folder once, here.
        if self.env == Environment::Development {
            templates.reload_when_changed(&dir);
        }
        Ok(templates)
    }

    /// Builds the app: validates config, collects the routes (their names
    /// and prefixes, so that hooks and templates can use `url_for`), runs
    /// every `before_build` hook in bundle order, mounts all routes,
    /// applies layers (inside out: the bundles', the error pages, CORS and
    /// the default headers, the request log when `REQUEST_LOG` is on, the
    /// request id), then runs every `after_build` hook.
    pub async fn build(&self) -> Result<App, Error> {
        self.validate()?;
        let request_log = crate::request_log::enabled(&self.config)?;
        let table = self.route_table()?;
        let urls = Arc::new(table.urls());
        let assets = crate::static_files::StaticAssets::load(
            &self.config,
            &self.root,
            self.bundles
                .iter()
                .filter_map(|b| Some((b.name().to_owned(), b.static_files()?))),
        )?;
        let mut templates = self.templates(urls.clone())?;
        assets.register_template_function(&mut templates);
        let web = config::WebConfig::from_config(&self.config)?;
        for warning in &web.warnings {
            tracing::warn!("{warning}");
        }
        let mut ctx = BuildContext::new(
            &self.config,
            &self.root,
            &self.bundles,
            templates,
            self.providers.clone(),
            urls.clone(),
        );
        ctx.insert(assets.clone());
        for bundle in self.bundles.iter() {
            ctx.enter(bundle.name());
            bundle
                .before_build(&mut ctx)
                .await
                .map_err(|error| Error::hook(bundle.name(), error))?;
            if let Some(service) = bundle
                .provides()
                .into_iter()
                .find(|service| !ctx.has_service(*service))
            {
                return Err(Error::NotProvided {
                    bundle: bundle.name().to_owned(),
                    service: service.name(),
                });
            }
        }
        let (services, templates) = ctx.into_parts();
        let state = AppState::new(
            self.config.clone(),
            services,
            templates,
            self.bundles.names(),
            urls,
        );
        let routes = table.infos();
        let mut router = table.into_router()?;
        for bundle in self.bundles.iter().rev() {
            router = bundle.layer(router, &state);
        }
        // Outside the bundles' layers: no session or CSRF work per file.
        router = router.merge(assets.router(&routes)?);
        // Error pages around every bundle's layer, then CORS and the
        // default headers, so that error pages get them too.
        router = crate::error_pages::layer(router, &state, web.error_json_paths.clone());
        router = crate::headers::layer(router, &web);
        // Outside every other layer but the request id's, so a request's
        // time includes every bundle's layer; not installed at all when off.
        if request_log {
            router = crate::request_log::layer(router);
        }
        // Outside the log, whose line carries the request's id.
        router = crate::request_id::layer(router);
        let app = App::new(router.with_state(state.clone()), state, routes);
        for bundle in self.bundles.iter() {
            bundle
                .after_build(&app)
                .await
                .map_err(|error| Error::hook(bundle.name(), error))?;
        }
        Ok(app)
    }

    /// Runs every bundle's `before_serve` hook on the built `app`, in
    /// bundle order, and returns the warnings they recorded (`unchained
    /// run` prints them before it listens).
    pub async fn before_serve(&self, app: &App) -> Result<Vec<String>, Error> {
        let mut ctx = ServeContext::new(app, &self.root, &self.bundles);
        for bundle in self.bundles.iter() {
            bundle
                .before_serve(&mut ctx)
                .await
                .map_err(|error| Error::hook(bundle.name(), error))?;
        }
        Ok(ctx.into_warnings())
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
    let mut builder = Config::builder(env).core_defaults();
    for bundle in resolved.iter() {
        builder = builder
            .defaults(bundle.name(), bundle.config_defaults(env))
            .secret_keys(bundle.secret_keys().iter().copied());
    }
    let config = config(builder).build();
    let root = std::env::temp_dir();
    LoadedApp::from_parts(root, resolved, config).build().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(root: &Path, env: Environment) -> LoadedApp {
        let bundles = BundleRegistry::from_bundles(Vec::new())
            .and_then(|registry| registry.resolve(&Manifest::default()))
            .expect("no bundles resolve");
        let config = Config::builder(env).build();
        LoadedApp::from_parts(root.to_owned(), bundles, config)
    }

    #[test]
    fn development_rereads_an_edited_template_production_does_not() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = app_templates_dir(root.path());
        std::fs::create_dir(&dir).expect("templates folder");
        std::fs::write(dir.join("index.html"), "old").expect("write");
        let development = loaded(root.path(), Environment::Development)
            .templates(Arc::default())
            .expect("templates");
        let production = loaded(root.path(), Environment::Production)
            .templates(Arc::default())
            .expect("templates");
        assert_eq!(development.render("index.html", ()).unwrap(), "old");
        assert_eq!(production.render("index.html", ()).unwrap(), "old");

        std::fs::write(dir.join("index.html"), "new text").expect("rewrite");
        // Development checks the folder at most every 250 ms.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(development.render("index.html", ()).unwrap(), "new text");
        assert_eq!(production.render("index.html", ()).unwrap(), "old");
    }
}
