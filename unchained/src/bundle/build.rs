//! [`BuildContext`]: what `before_build` hooks see while the app is
//! assembled.

use std::path::Path;
use std::sync::Arc;

use super::ResolvedBundles;
use crate::config::{Config, Environment};
use crate::page::{TemplateContext, TemplateContexts};
use crate::service::{MissingService, Providers, ServiceType};
use crate::state::Services;
use crate::templates::Templates;
use crate::urls::Urls;

/// What [`Bundle::before_build`](super::Bundle::before_build) hooks see:
/// the config, and the services and templates being assembled.
///
/// ```
/// use unchained::prelude::*;
///
/// #[derive(Clone)]
/// struct Mailer;
///
/// async fn before_build(ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
///     // Fails the build, naming the bundle to add, when no bundle loaded
///     // earlier registered a `Mailer`.
///     let _mailer: &Mailer = ctx.require::<Mailer>()?;
///     Ok(())
/// }
/// ```
pub struct BuildContext<'a> {
    config: &'a Config,
    root: &'a Path,
    bundles: &'a ResolvedBundles,
    services: Services,
    templates: Templates,
    providers: Providers,
    urls: Arc<Urls>,
    current: &'static str,
}

impl<'a> BuildContext<'a> {
    pub(crate) fn new(
        config: &'a Config,
        root: &'a Path,
        bundles: &'a ResolvedBundles,
        templates: Templates,
        providers: Providers,
        urls: Arc<Urls>,
    ) -> Self {
        BuildContext {
            config,
            root,
            bundles,
            services: Services::default(),
            templates,
            providers,
            urls,
            current: "",
        }
    }

    /// Sets the bundle whose hook runs next (named in errors).
    pub(crate) fn enter(&mut self, bundle: &'static str) {
        self.current = bundle;
    }

    pub(crate) fn has_service(&self, service: ServiceType) -> bool {
        self.services.contains(service.id())
    }

    pub(crate) fn into_parts(self) -> (Services, Templates) {
        (self.services, self.templates)
    }

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

    /// The app's named routes, already known when the hooks run: resolve
    /// a config value that names a route (with
    /// [`Urls::resolve_target`]) or read a bundle's URL prefix
    /// ([`Urls::prefix`]).
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// Whether bundle `name` is loaded.
    pub fn has_bundle(&self, name: &str) -> bool {
        self.bundles.contains(name)
    }

    /// Registers a service that handlers (through
    /// [`Service<T>`](crate::service::Service)) and later bundles can
    /// reach. List its type in [`Bundle::provides`](super::Bundle::provides)
    /// too, so that a bundle that needs it and finds it missing is told
    /// which bundle to add.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.services.insert(value);
    }

    /// A service an earlier bundle registered, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.services.get()
    }

    /// A service this bundle needs: registered by a bundle loaded earlier.
    /// When none did, the error names the bundle that provides it, so the
    /// build (and `unchained run`) stops before serving any request.
    pub fn require<T: Send + Sync + 'static>(&self) -> Result<&T, MissingService> {
        self.services.get().ok_or_else(|| {
            let provider = self.providers.of(ServiceType::of::<T>());
            MissingService {
                service: std::any::type_name::<T>(),
                needed_by: Some(self.current).filter(|b| !b.is_empty()),
                provider_loaded: provider.is_some_and(|p| self.bundles.contains(p)),
                provider,
            }
        })
    }

    /// The templates, e.g. to add filters or globals.
    pub fn templates_mut(&mut self) -> &mut Templates {
        &mut self.templates
    }

    /// Adds per-request values to every template a handler renders through
    /// [`Page`](crate::page::Page) (e.g. the current user), after those of
    /// bundles loaded earlier.
    pub fn add_template_context(&mut self, context: impl TemplateContext) {
        let mut contexts = self
            .services
            .get::<TemplateContexts>()
            .cloned()
            .unwrap_or_default();
        contexts.0.push(Arc::new(context));
        self.services.insert(contexts);
    }
}
