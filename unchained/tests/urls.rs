//! Named routes and `url_for`, in Rust and in templates, with a bundle
//! mounted below a URL prefix from config (`BLOG_URL_PREFIX`), through the
//! test client and over real HTTP.

use std::sync::Arc;

use http::StatusCode;
use unchained::config::ConfigBuilder;
use unchained::prelude::*;
use unchained::testing::TestClient;

/// A library bundle: its routes are named `blog.<handler>`.
struct Blog;

#[async_trait]
impl Bundle for Blog {
    fn name(&self) -> &'static str {
        "acme.blog"
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
            .get("/", index)
            .get("/posts/{slug}", show)
            .name("post")
            .get("/broken", broken)
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "blog/index.html",
                "<a href=\"{{ url_for('blog.post', slug='hello world', page=2) }}\">post</a> \
                 <a href=\"{{ url_for('app.home') }}\">home</a> \
                 <a href=\"{{ url_for('blog.index', q=none) }}\">blog</a>",
            ),
            ("blog/broken.html", "{{ url_for('blog.pots', slug='x') }}"),
        ]
    }
}

async fn index(State(app): State<AppState>) -> Response {
    app.render("blog/index.html", ())
}

async fn show(State(app): State<AppState>, Path(slug): Path<String>) -> String {
    app.url_for("blog.post", &[("slug", &slug), ("from", "rust")])
        .unwrap_or_else(|e| e.to_string())
}

async fn broken(State(app): State<AppState>) -> Response {
    app.render("blog/broken.html", ())
}

/// The app's own bundle: `app.home` redirects by name.
struct AppBundle;

#[async_trait]
impl Bundle for AppBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/", home)
    }
}

async fn home(State(app): State<AppState>) -> Result<Redirect, String> {
    let to = app
        .url_for("blog.post", &[("slug", "first")])
        .map_err(|e| e.to_string())?;
    Ok(Redirect::to(&to))
}

async fn build(
    config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> Result<App, unchained::Error> {
    unchained::app::build_with(
        vec![Arc::new(Blog), Arc::new(AppBundle)],
        config,
        Environment::Test,
    )
    .await
}

async fn blog_at_prefix() -> App {
    build(|b| b.set("BLOG_URL_PREFIX", "/blog"))
        .await
        .expect("the app builds")
}

const INDEX: &str = "<a href=\"/blog/posts/hello%20world?page=2\">post</a> \
                     <a href=\"/\">home</a> <a href=\"/blog\">blog</a>";

#[tokio::test]
async fn url_for_in_rust_and_templates_follows_the_prefix_from_config() {
    let app = blog_at_prefix().await;
    let names: Vec<(String, Option<String>)> = app
        .routes()
        .iter()
        .map(|r| (r.path.clone(), r.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("/blog".to_owned(), Some("blog.index".to_owned())),
            (
                "/blog/posts/{slug}".to_owned(),
                Some("blog.post".to_owned())
            ),
            ("/blog/broken".to_owned(), Some("blog.broken".to_owned())),
            ("/".to_owned(), Some("app.home".to_owned())),
        ]
    );
    assert_eq!(app.state().urls().prefix("acme.blog"), "/blog");
    let client = TestClient::new(app);

    let page = client.get("/blog").await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert_eq!(page.text(), INDEX);

    let post = client.get("/blog/posts/a%20b").await;
    assert_eq!(post.status(), StatusCode::OK);
    assert_eq!(post.text(), "/blog/posts/a%20b?from=rust");

    let home = client.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.header("location"), Some("/blog/posts/first"));

    // Not mounted without the prefix any more.
    assert_eq!(client.get("/posts/x").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_name_in_a_template_fails_the_render_with_a_hint() {
    let app = blog_at_prefix().await;
    let error = app
        .state()
        .templates()
        .render("blog/broken.html", ())
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("no route is named \"blog.pots\"") && message.contains("blog.post"),
        "{message}"
    );
    let client = TestClient::new(app);
    assert_eq!(
        client.get("/blog/broken").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn a_bad_prefix_fails_the_build_naming_the_key() {
    let error = build(|b| b.set("BLOG_URL_PREFIX", "blog/"))
        .await
        .err()
        .expect("the build fails")
        .to_string();
    assert!(
        error.contains("BLOG_URL_PREFIX") && error.contains("start"),
        "{error}"
    );
}

#[tokio::test]
async fn a_prefix_that_lands_on_another_bundles_route_is_a_clash_naming_both() {
    struct Other;
    #[async_trait]
    impl Bundle for Other {
        fn name(&self) -> &'static str {
            "acme.other"
        }
        fn routes(&self, _ctx: &RouteContext) -> Routes {
            Routes::new().get("/blog/broken", || async { "mine" })
        }
    }
    let error = unchained::app::build_with(
        vec![Arc::new(Blog), Arc::new(Other)],
        |b| b.set("BLOG_URL_PREFIX", "/blog"),
        Environment::Test,
    )
    .await
    .err()
    .expect("the build fails")
    .to_string();
    assert!(
        error.contains("/blog/broken")
            && error.contains("acme.blog")
            && error.contains("acme.other"),
        "{error}"
    );
}

#[tokio::test]
async fn over_real_http_the_prefixed_page_links_by_name() {
    let app = blog_at_prefix().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(app.serve_on(listener));
    let get = |path: &'static str| async move {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).expect("send");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read");
            answer
        })
        .await
        .expect("the client thread")
    };
    let page = get("/blog").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with(INDEX), "{page}");
    let home = get("/").await;
    assert!(home.starts_with("HTTP/1.1 303"), "{home}");
    assert!(
        home.to_ascii_lowercase()
            .contains("location: /blog/posts/first\r\n"),
        "{home}"
    );
    server.abort();
}

#[test]
fn the_prefix_key_is_known_and_a_typo_of_it_is_warned() {
    let registry =
        unchained::registry::BundleRegistry::from_bundles(vec![Arc::new(Blog) as Arc<dyn Bundle>])
            .expect("registry");
    let manifest = unchained::project::Manifest {
        bundles: vec!["acme.blog".to_owned()],
        ..Default::default()
    };
    let resolved = registry.resolve(&manifest).expect("resolved");
    let config = Config::builder(Environment::Test)
        .set("BLOG_URL_PREFIX", "/b")
        .set("BLOG_URL_PREFX", "/b")
        .build();
    let loaded = unchained::LoadedApp::from_parts(std::env::temp_dir(), resolved, config);
    let warnings = loaded.unknown_keys();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("BLOG_URL_PREFX")
            && warnings[0].contains("did you mean BLOG_URL_PREFIX"),
        "{warnings:?}"
    );
}
