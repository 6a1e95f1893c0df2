//! The app factory: bundle order, dependency and route errors, overrides,
//! hooks and layers, with bundles defined right here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use unchained::prelude::*;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained::testing::TestClient;

/// A bundle whose every contribution is set by the test.
#[derive(Clone)]
struct TestBundle {
    name: &'static str,
    deps: &'static [&'static str],
    app: bool,
    routes: fn() -> Routes,
    greeting: Option<&'static str>,
}

impl TestBundle {
    fn new(name: &'static str) -> Self {
        TestBundle {
            name,
            deps: &[],
            app: false,
            routes: Routes::new,
            greeting: None,
        }
    }

    fn deps(mut self, deps: &'static [&'static str]) -> Self {
        self.deps = deps;
        self
    }

    fn app(mut self) -> Self {
        self.app = true;
        self
    }

    fn routes(mut self, routes: fn() -> Routes) -> Self {
        self.routes = routes;
        self
    }
}

#[async_trait]
impl Bundle for TestBundle {
    fn name(&self) -> &'static str {
        self.name
    }

    fn dependencies(&self) -> &'static [&'static str] {
        self.deps
    }

    fn is_app(&self) -> bool {
        self.app
    }

    fn config_defaults(&self, _env: Environment) -> ConfigDefaults {
        match self.greeting {
            Some(g) => ConfigDefaults::new().set("GREETING", g),
            None => ConfigDefaults::new(),
        }
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        (self.routes)()
    }
}

fn registry(bundles: &[TestBundle]) -> BundleRegistry {
    BundleRegistry::from_bundles(
        bundles
            .iter()
            .map(|b| Arc::new(b.clone()) as Arc<dyn Bundle>),
    )
    .unwrap()
}

fn manifest(names: &[&str]) -> Manifest {
    Manifest {
        bundles: names.iter().map(|n| (*n).to_owned()).collect(),
        ..Manifest::default()
    }
}

fn order(bundles: &[TestBundle], listed: &[&str]) -> Result<Vec<&'static str>, String> {
    registry(bundles)
        .resolve(&manifest(listed))
        .map(|r| r.names())
        .map_err(|e| e.to_string())
}

#[test]
fn dependencies_load_first_otherwise_list_order_and_app_last() {
    let bundles = [
        TestBundle::new("app").app(),
        TestBundle::new("db"),
        TestBundle::new("session").deps(&["db"]),
        TestBundle::new("security").deps(&["session", "db"]),
        TestBundle::new("mail"),
    ];
    let listed = ["app", "security", "mail", "session", "db"];
    let first = order(&bundles, &listed).unwrap();
    assert_eq!(first, ["db", "session", "security", "mail", "app"]);
    // The same order on every run.
    for _ in 0..20 {
        assert_eq!(order(&bundles, &listed).unwrap(), first);
    }
}

#[test]
fn a_missing_dependency_names_both_bundles_and_the_fix() {
    let bundles =
        [TestBundle::new("unchained.bundles.security").deps(&["unchained.bundles.session"])];
    let err = order(&bundles, &["unchained.bundles.security"]).unwrap_err();
    assert_eq!(
        err,
        "unchained.bundles.security requires unchained.bundles.session: add it to bundles in unchained.toml"
    );
}

#[test]
fn a_cycle_is_an_error_naming_the_bundles() {
    let bundles = [
        TestBundle::new("a").deps(&["b"]),
        TestBundle::new("b").deps(&["a"]),
    ];
    let err = order(&bundles, &["a", "b"]).unwrap_err();
    assert!(
        err.contains("cycle") && err.contains("a requires b requires a"),
        "{err}"
    );
}

#[test]
fn an_unknown_builtin_bundle_names_the_crate_to_add() {
    let err = order(
        &[TestBundle::new("app").app()],
        &["unchained.bundles.session", "app"],
    )
    .unwrap_err();
    assert!(
        err.contains("unchained.bundles.session is listed in unchained.toml but not compiled in"),
        "{err}"
    );
    assert!(
        err.contains("the crate `unchained-session` is not in [dependencies]")
            && err.contains("unchained build"),
        "{err}"
    );
    let err = order(&[TestBundle::new("app").app()], &["acme.typo"]).unwrap_err();
    assert!(
        err.contains("no compiled-in bundle has that name") && err.contains("known: app"),
        "{err}"
    );
    let err = order(&[TestBundle::new("app").app()], &["ap"]).unwrap_err();
    assert!(err.contains("did you mean app?"), "{err}");
}

#[test]
fn two_app_bundles_are_refused() {
    let err = order(
        &[TestBundle::new("a").app(), TestBundle::new("b").app()],
        &["a", "b"],
    )
    .unwrap_err();
    assert!(err.contains("a, b are all app bundles"), "{err}");
}

#[test]
fn a_bundle_listed_twice_is_refused() {
    let err = Manifest::parse(
        std::path::Path::new("unchained.toml"),
        "bundles = [\"a\", \"a\"]",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("bundle a is listed twice"),
        "{err}"
    );
}

async fn hello() -> &'static str {
    "hello from the library"
}

async fn hello_app() -> &'static str {
    "hello from the app"
}

async fn build(bundles: &[TestBundle]) -> Result<App, unchained::Error> {
    unchained::app::build_with(
        bundles
            .iter()
            .map(|b| Arc::new(b.clone()) as Arc<dyn Bundle>)
            .collect(),
        |c| c,
        Environment::Test,
    )
    .await
}

#[tokio::test]
async fn a_route_clash_between_library_bundles_names_both() {
    let bundles = [
        TestBundle::new("one").routes(|| Routes::new().get("/hello", hello)),
        TestBundle::new("two").routes(|| Routes::new().get("/hello", hello)),
    ];
    let err = build(&bundles).await.err().expect("a clash").to_string();
    assert!(
        err.contains("GET /hello is declared by both one and two"),
        "{err}"
    );
}

#[tokio::test]
async fn conflicting_path_patterns_are_an_error_not_a_panic() {
    let bundles = [
        TestBundle::new("one").routes(|| Routes::new().get("/posts/{id}", hello)),
        TestBundle::new("two").routes(|| Routes::new().get("/posts/{slug}", hello)),
    ];
    let err = build(&bundles).await.err().expect("a conflict").to_string();
    assert!(
        err.contains("two") && err.contains("/posts/{slug}") && err.contains("one"),
        "{err}"
    );
}

#[tokio::test]
async fn the_app_bundle_overrides_a_library_route() {
    let bundles = [
        TestBundle::new("lib").routes(|| Routes::new().get("/hello", hello).post("/hello", hello)),
        TestBundle::new("app")
            .app()
            .routes(|| Routes::new().get("/hello", hello_app)),
    ];
    let app = build(&bundles).await.unwrap();
    let get = app.routes().iter().find(|r| r.method == "GET").unwrap();
    assert_eq!(get.bundle, "app");
    assert_eq!(get.overrides.as_deref(), Some("lib"));
    let client = TestClient::new(app);
    assert_eq!(client.get("/hello").await.text(), "hello from the app");
    let post = client.post_form("/hello", &[]).await;
    assert_eq!(
        post.text(),
        "hello from the library",
        "other methods of the path stay"
    );
}

#[tokio::test]
async fn the_app_bundle_overrides_library_config_defaults() {
    let mut lib = TestBundle::new("lib");
    lib.greeting = Some("library");
    let mut app = TestBundle::new("app").app();
    app.greeting = Some("app");
    let built = build(&[app, lib]).await.unwrap();
    assert_eq!(
        built.state().config().get::<String>("GREETING").unwrap(),
        "app"
    );
    assert_eq!(
        built.state().config().source_of("GREETING"),
        "defaults of bundle app"
    );
}

/// Counts hook calls and proves the layer wraps every route.
#[derive(Default)]
struct HookBundle {
    calls: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Greeting(&'static str);

#[async_trait]
impl Bundle for HookBundle {
    fn name(&self) -> &'static str {
        "hooks"
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ctx.insert(Greeting("from a service"));
        Ok(())
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/service", |State(app): State<AppState>| async move {
            app.service::<Greeting>().map(|g| g.0).unwrap_or("missing")
        })
    }

    fn layer(
        &self,
        router: unchained::axum::Router<AppState>,
        _state: &AppState,
    ) -> unchained::axum::Router<AppState> {
        router.layer(unchained::axum::middleware::map_response(
            |mut response: unchained::axum::response::Response| async move {
                response
                    .headers_mut()
                    .insert("x-layered", http::HeaderValue::from_static("yes"));
                response
            },
        ))
    }

    async fn after_build(&self, app: &App) -> anyhow::Result<()> {
        self.calls.fetch_add(10, Ordering::SeqCst);
        anyhow::ensure!(
            app.state().service::<Greeting>().is_some(),
            "service missing after build"
        );
        Ok(())
    }
}

#[tokio::test]
async fn hooks_run_services_reach_handlers_and_layers_wrap_routes() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = unchained::app::build_with(
        vec![Arc::new(HookBundle {
            calls: calls.clone(),
        })],
        |c| c,
        Environment::Test,
    )
    .await
    .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        11,
        "before_build once, after_build once"
    );
    let client = TestClient::new(app);
    let response = client.get("/service").await;
    assert_eq!(response.text(), "from a service");
    assert_eq!(response.header("x-layered"), Some("yes"));
}

/// A hook that fails names its bundle.
#[derive(Default)]
struct FailingBundle;

#[async_trait]
impl Bundle for FailingBundle {
    fn name(&self) -> &'static str {
        "failing"
    }

    async fn before_build(&self, _ctx: &mut BuildContext) -> anyhow::Result<()> {
        anyhow::bail!("cannot reach the mail server at 127.0.0.1:1")
    }
}

#[tokio::test]
async fn a_failing_hook_names_its_bundle() {
    let err = unchained::app::build_with(vec![Arc::new(FailingBundle)], |c| c, Environment::Test)
        .await
        .err()
        .expect("the hook fails")
        .to_string();
    assert_eq!(
        err,
        "bundle failing: cannot reach the mail server at 127.0.0.1:1"
    );
}

#[tokio::test]
async fn production_refuses_to_build_without_a_secret_key() {
    let err = unchained::app::build_with(
        vec![Arc::new(TestBundle::new("app").app())],
        |c| c,
        Environment::Production,
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("SECRET_KEY is not set"), "{err}");
}

#[test]
fn misspelt_bundle_keys_are_reported_with_a_hint() {
    let mut lib = TestBundle::new("unchained.bundles.session");
    lib.greeting = Some("hi");
    let registry = registry(&[lib]);
    let resolved = registry
        .resolve(&manifest(&["unchained.bundles.session"]))
        .unwrap();
    let config = unchained::config::Config::builder(Environment::Test)
        .defaults(
            "unchained.bundles.session",
            ConfigDefaults::new().set("GREETING", "hi"),
        )
        .set("GREETNG", "typo")
        .set("GREETING_STYLE", "no bundle reads it")
        .set("APP_TITLE", "an app key with its own prefix")
        .build();
    let loaded = unchained::LoadedApp::from_parts(std::env::temp_dir(), resolved, config);
    let warnings = loaded.unknown_keys();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("GREETING_STYLE") && warnings[0].contains("no loaded bundle reads it"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("GREETNG") && warnings[1].contains("did you mean GREETING?"),
        "{warnings:?}"
    );
}

/// Ships a template; the app bundle ships one of the same name.
struct TemplateBundle {
    name: &'static str,
    app: bool,
    source: &'static str,
}

#[async_trait]
impl Bundle for TemplateBundle {
    fn name(&self) -> &'static str {
        self.name
    }

    fn is_app(&self) -> bool {
        self.app
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("greeting.html", self.source),
            (
                if self.app {
                    "app-only.html"
                } else {
                    "lib-only.html"
                },
                "kept",
            ),
        ]
    }
}

#[tokio::test]
async fn the_app_bundle_overrides_a_library_template_by_name() {
    let app = unchained::app::build_with(
        vec![
            Arc::new(TemplateBundle {
                name: "app",
                app: true,
                source: "Hello from the app, {{ who }}",
            }),
            Arc::new(TemplateBundle {
                name: "lib",
                app: false,
                source: "Hello from the library",
            }),
        ],
        |c| c,
        Environment::Test,
    )
    .await
    .unwrap();
    let templates = app.state().templates();
    assert_eq!(
        templates
            .render("greeting.html", serde_json::json!({ "who": "<b>" }))
            .unwrap(),
        "Hello from the app, &lt;b&gt;"
    );
    assert_eq!(templates.render("lib-only.html", ()).unwrap(), "kept");
    assert!(templates.contains("app-only.html"));
}

/// Warns in `before_serve`, or fails there when `fail` is set.
struct ServeCheckBundle {
    name: &'static str,
    fail: bool,
}

#[async_trait]
impl Bundle for ServeCheckBundle {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn before_serve(&self, ctx: &mut ServeContext<'_>) -> anyhow::Result<()> {
        anyhow::ensure!(!self.fail, "the check itself broke");
        ctx.warn(format!(
            "{} sees {} bundles",
            self.name,
            ctx.bundles().names().len()
        ));
        Ok(())
    }
}

async fn before_serve(bundles: Vec<ServeCheckBundle>) -> Result<Vec<String>, unchained::Error> {
    let names: Vec<&str> = bundles.iter().map(|b| b.name).collect();
    let registry =
        BundleRegistry::from_bundles(bundles.into_iter().map(|b| Arc::new(b) as Arc<dyn Bundle>))
            .unwrap();
    let resolved = registry.resolve(&manifest(&names)).unwrap();
    let config = Config::builder(Environment::Test).build();
    let loaded = unchained::LoadedApp::from_parts(std::env::temp_dir(), resolved, config);
    // Building alone runs no before_serve hook: only `unchained run` does.
    let app = loaded.build().await?;
    loaded.before_serve(&app).await
}

#[tokio::test]
async fn before_serve_warnings_are_collected_in_bundle_order() {
    let warnings = before_serve(vec![
        ServeCheckBundle {
            name: "first",
            fail: false,
        },
        ServeCheckBundle {
            name: "second",
            fail: false,
        },
    ])
    .await
    .unwrap();
    assert_eq!(warnings, ["first sees 2 bundles", "second sees 2 bundles"]);
    let err = before_serve(vec![ServeCheckBundle {
        name: "broken",
        fail: true,
    }])
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(err, "bundle broken: the check itself broke");
}
