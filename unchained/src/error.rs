//! [`Error`]: the framework's own failures, each saying how to fix it.
//!
//! Each module that can fail has its own error type ([`ProjectError`],
//! [`RouteError`], [`TemplateError`], [`ConfigError`], [`MissingService`]);
//! [`BundleError`] (resolving the bundle list, clashing commands) lives
//! here beside [`Error`], which gathers them all for the app factory and
//! the CLI. So this module depends on the others' error types, and none of
//! them on it, except the registry and the CLI that produce `BundleError`.

use crate::config::ConfigError;
use crate::project::{MANIFEST, ProjectError};
use crate::routes::RouteError;
use crate::service::MissingService;
use crate::static_files::StaticError;
use crate::templates::TemplateError;

/// The bundle list cannot be resolved, or bundles disagree with each
/// other. Each message names the bundles at fault and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Two compiled-in bundles share a name.
    #[error("two bundles are registered under the name {0}: rename one of them")]
    DuplicateName(String),
    /// More than one app bundle is listed.
    #[error("{} are all app bundles, but a project has one: keep one in bundles in {MANIFEST}", .0.join(", "))]
    SeveralApps(Vec<String>),
    /// A bundle's dependency is not listed.
    #[error("{bundle} requires {dependency}: add it to bundles in {MANIFEST}")]
    MissingDependency {
        /// The bundle that needs it.
        bundle: String,
        /// The bundle it needs.
        dependency: String,
    },
    /// A bundle depends on the app bundle.
    #[error(
        "{bundle} depends on the app bundle {dependency}, which always loads last: remove the dependency"
    )]
    DependsOnApp {
        /// The bundle that declares the dependency.
        bundle: String,
        /// The app bundle.
        dependency: String,
    },
    /// A built-in or mapped bundle is listed but its crate is not a dependency.
    #[error(
        "bundle {bundle} is listed in {MANIFEST} but not compiled in: the crate `{krate}` is not in \
         [dependencies] of Cargo.toml\n\
         hint: build with the `unchained` command (e.g. `unchained build`), which adds the crates of \
         listed built-in bundles; for another bundle add its crate yourself, or remove {bundle} from bundles"
    )]
    NotCompiledIn {
        /// The bundle's name.
        bundle: String,
        /// The crate that provides it.
        krate: String,
    },
    /// No compiled-in bundle has the listed name.
    #[error(
        "bundle {bundle} is listed in {MANIFEST} but no compiled-in bundle has that name{} (known: {}): \
         check the spelling, define it with #[unchained::bundle], or name its crate under \
         [bundle_crates] in {MANIFEST}",
        crate::suggest::closest(.bundle, .known).map(|k| format!("; did you mean {k}?")).unwrap_or_default(),
        .known.join(", ")
    )]
    Unknown {
        /// The listed name.
        bundle: String,
        /// Every compiled-in bundle's name.
        known: Vec<String>,
    },
    /// Bundles depend on each other in a circle.
    #[error("bundle dependency cycle: {}: remove one of these dependencies", .0.join(" requires "))]
    Cycle(Vec<String>),
    /// A bundle adds a CLI command that the core already has.
    #[error("bundle {bundle} adds the command `{command}`, which is a core command: rename it")]
    CoreCommand {
        /// The bundle.
        bundle: String,
        /// The command's name.
        command: String,
    },
    /// Two bundles add the same CLI command.
    #[error(
        "bundles {first} and {second} both add the command `{command}`: remove one of them from bundles in {MANIFEST}"
    )]
    CommandTwice {
        /// The bundle loaded first.
        first: String,
        /// The bundle loaded second.
        second: String,
        /// The command's name.
        command: String,
    },
}

/// A failure while loading a project, resolving bundles or building the app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No project, or its `unchained.toml` cannot be read.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// A bundle problem: unknown, missing dependency, cycle, clash.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A route problem: clash or invalid path.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A template does not load.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bundle needs a service that no loaded bundle provides.
    #[error(transparent)]
    MissingService(#[from] MissingService),
    /// Static files cannot be read or mounted.
    #[error(transparent)]
    Static(#[from] StaticError),
    /// A bundle declares in `provides()` a service its hook did not register.
    #[error(
        "bundle {bundle} declares that it provides {service}, but its before_build hook did not \
         register one: call BuildContext::insert there, or remove it from provides()"
    )]
    NotProvided {
        /// The bundle.
        bundle: String,
        /// The service's type name.
        service: &'static str,
    },
    /// Something outside a project failed (e.g. the port is taken).
    #[error("cannot {what}: {message}")]
    Io {
        /// What was being done, e.g. `listen on 127.0.0.1:5000`.
        what: String,
        /// The operating system's message.
        message: String,
    },
    /// A bundle's hook failed.
    // The message carries the whole chain (`{error:#}`); the field is not a
    // `source`, so reports that print causes do not repeat it.
    #[error("bundle {bundle}: {error:#}")]
    Hook {
        /// The bundle whose hook failed.
        bundle: String,
        /// What went wrong.
        error: anyhow::Error,
    },
}

impl Error {
    /// A hook's failure; a [`MissingService`] keeps its own (complete)
    /// message rather than being prefixed with the bundle again.
    pub(crate) fn hook(bundle: &str, error: anyhow::Error) -> Self {
        match error.downcast::<MissingService>() {
            Ok(missing) => Error::MissingService(missing),
            Err(error) => Error::Hook {
                bundle: bundle.to_owned(),
                error,
            },
        }
    }
}
