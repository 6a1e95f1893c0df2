//! The exact wording of the errors a user meets first: a broken
//! `unchained.toml`, the bundle list, routes, config values and CLI
//! commands. Each names what is at fault and says what to change; these
//! tests keep that promise from drifting.

use std::path::Path;
use std::sync::Arc;

use unchained::bundle::{BundleCli, BundleCommand};
use unchained::prelude::*;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;

struct Named {
    name: &'static str,
    deps: &'static [&'static str],
    app: bool,
    routes: fn() -> Routes,
    cli: Option<BundleCli>,
}

/// A bundle command named like a core one.
#[derive(unchained::clap::Subcommand)]
enum RunCommand {
    /// Clashes with `unchained run`.
    Run,
}

impl BundleCommand for RunCommand {
    async fn run(self, _ctx: &CommandContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A command two bundles add.
#[derive(unchained::clap::Subcommand)]
enum DbCommand {
    /// Added twice.
    Db,
}

impl BundleCommand for DbCommand {
    async fn run(self, _ctx: &CommandContext) -> anyhow::Result<()> {
        Ok(())
    }
}

fn bundle(name: &'static str) -> Named {
    Named {
        name,
        deps: &[],
        app: false,
        routes: Routes::new,
        cli: None,
    }
}

#[async_trait]
impl Bundle for Named {
    fn name(&self) -> &'static str {
        self.name
    }
    fn dependencies(&self) -> &'static [&'static str] {
        self.deps
    }
    fn is_app(&self) -> bool {
        self.app
    }
    fn routes(&self, _ctx: &RouteContext) -> Routes {
        (self.routes)()
    }
    fn cli(&self) -> Option<BundleCli> {
        self.cli
    }
}

fn resolve(bundles: Vec<Named>, listed: &[&str]) -> String {
    let registry =
        BundleRegistry::from_bundles(bundles.into_iter().map(|b| Arc::new(b) as Arc<dyn Bundle>))
            .unwrap();
    let manifest = Manifest {
        bundles: listed.iter().map(|s| (*s).to_owned()).collect(),
        ..Manifest::default()
    };
    match registry.resolve(&manifest) {
        Ok(_) => panic!("resolving {listed:?} should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn manifest_that_is_not_a_list() {
    let err = Manifest::parse(Path::new("unchained.toml"), "bundles = \"app\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unchained.toml: TOML parse error at line 1, column 11\n  |\n1 | bundles = \"app\"\n  |  \
         \x20        ^^^^^\ninvalid type: string \"app\", expected a sequence\n\
         hint: `bundles` is a list of names, e.g. bundles = [\"unchained.bundles.session\", \"app\"]"
    );
}

#[test]
fn manifest_listing_a_bundle_twice() {
    let err = Manifest::parse(Path::new("unchained.toml"), "bundles = [\"a\", \"a\"]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unchained.toml: bundle a is listed twice in bundles: remove one"
    );
}

#[test]
fn unknown_bundle() {
    assert_eq!(
        resolve(vec![bundle("app")], &["unchained.bundles.sesion", "app"]),
        "bundle unchained.bundles.sesion is listed in unchained.toml but no compiled-in bundle has \
         that name (known: app): check the spelling, define it with #[unchained::bundle], or name \
         its crate under [bundle_crates] in unchained.toml"
    );
}

#[test]
fn builtin_bundle_not_compiled_in() {
    assert_eq!(
        resolve(vec![bundle("app")], &["unchained.bundles.session", "app"]),
        "bundle unchained.bundles.session is listed in unchained.toml but not compiled in: the crate \
         `unchained-session` is not in [dependencies] of Cargo.toml\n\
         hint: build with the `unchained` command (e.g. `unchained build`), which adds the crates of \
         listed built-in bundles; for another bundle add its crate yourself, or remove \
         unchained.bundles.session from bundles"
    );
}

#[test]
fn missing_dependency() {
    let mut security = bundle("security");
    security.deps = &["session"];
    assert_eq!(
        resolve(vec![security, bundle("session")], &["security"]),
        "security requires session: add it to bundles in unchained.toml"
    );
}

#[test]
fn dependency_cycle() {
    let mut a = bundle("a");
    a.deps = &["b"];
    let mut b = bundle("b");
    b.deps = &["a"];
    assert_eq!(
        resolve(vec![a, b], &["a", "b"]),
        "bundle dependency cycle: a requires b requires a: remove one of these dependencies"
    );
}

#[test]
fn two_app_bundles() {
    let mut one = bundle("one");
    one.app = true;
    let mut two = bundle("two");
    two.app = true;
    assert_eq!(
        resolve(vec![one, two], &["one", "two"]),
        "one, two are all app bundles, but a project has one: keep one in bundles in unchained.toml"
    );
}

#[test]
fn dependency_on_the_app_bundle() {
    let mut app = bundle("app");
    app.app = true;
    let mut lib = bundle("lib");
    lib.deps = &["app"];
    assert_eq!(
        resolve(vec![app, lib], &["lib", "app"]),
        "lib depends on the app bundle app, which always loads last: remove the dependency"
    );
}

#[tokio::test]
async fn route_clash_between_two_bundles() {
    async fn page() -> &'static str {
        "page"
    }
    let mut a = bundle("a");
    a.routes = || Routes::new().get("/login", page);
    let mut b = bundle("b");
    b.routes = || Routes::new().get("/login", page);
    let err = unchained::app::build_with(vec![Arc::new(a), Arc::new(b)], |c| c, Environment::Test)
        .await
        .err()
        .expect("a clash");
    assert_eq!(
        err.to_string(),
        "route clash: GET /login is declared by both a and b: remove it from one of them, or \
         override it in the app bundle"
    );
}

#[tokio::test]
async fn route_without_a_leading_slash() {
    async fn page() -> &'static str {
        "page"
    }
    let mut a = bundle("a");
    a.routes = || Routes::new().get("login", page);
    let err = unchained::app::build_with(vec![Arc::new(a)], |c| c, Environment::Test)
        .await
        .err()
        .expect("a bad path");
    assert_eq!(
        err.to_string(),
        "bundle a declares the route \"login\", which does not start with `/`: write \"/login\""
    );
}

#[test]
fn config_value_of_the_wrong_type() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("unchained.toml"),
        "bundles = [\"app\"]\n\n[default]\nSESSION_LIFETIME = \"soon\"\n",
    )
    .unwrap();
    let config = unchained::config::load(root.path(), Environment::Test, []).unwrap();
    let err = config.get::<u64>("SESSION_LIFETIME").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid config value for SESSION_LIFETIME (from unchained.toml [default]): found string \
         \"soon\", expected u64"
    );
}

#[test]
fn cli_command_that_a_core_command_already_has() {
    let mut a = bundle("a");
    a.cli = Some(BundleCli::of::<RunCommand>());
    let loaded = loaded(vec![a]);
    let err = unchained::cli::full_command(&loaded).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle a adds the command `run`, which is a core command: rename it"
    );
}

#[test]
fn cli_command_added_by_two_bundles() {
    let mut a = bundle("a");
    a.cli = Some(BundleCli::of::<DbCommand>());
    let mut b = bundle("b");
    b.cli = Some(BundleCli::of::<DbCommand>());
    let loaded = loaded(vec![a, b]);
    let err = unchained::cli::full_command(&loaded).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundles a and b both add the command `db`: remove one of them from bundles in \
         unchained.toml"
    );
}

fn loaded(bundles: Vec<Named>) -> unchained::LoadedApp {
    let names: Vec<String> = bundles.iter().map(|b| b.name.to_owned()).collect();
    let registry =
        BundleRegistry::from_bundles(bundles.into_iter().map(|b| Arc::new(b) as Arc<dyn Bundle>))
            .unwrap();
    let resolved = registry
        .resolve(&Manifest {
            bundles: names,
            ..Manifest::default()
        })
        .unwrap();
    unchained::LoadedApp::from_parts(
        std::env::temp_dir(),
        resolved,
        Config::builder(Environment::Test).build(),
    )
}
