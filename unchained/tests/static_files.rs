//! Static files over real HTTP: a bundle's files and the project's own
//! merged under `/static/`, the project's winning by name; `static_url`'s
//! hashed URL and its immutable cache header; ETag / Last-Modified and
//! 304s; precompressed files; no way out of the folder.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use unchained::config::Config;
use unchained::prelude::*;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained::static_files::{StaticAssets, StaticSource, content_hash};

const THEME_FILES: &[(&str, &[u8])] = &[
    ("css/style.css", b"body { color: red }"),
    ("css/theme.css", b"h1 { color: blue }"),
    ("css/theme.css.br", b"brotli bytes"),
    ("css/theme.css.gz", b"gzip bytes"),
];

/// A bundle shipping embedded files, a folder (through the macro) and a
/// page that links a stylesheet with `static_url`.
#[derive(Clone)]
struct Theme {
    embedded: bool,
    routes: fn() -> Routes,
}

#[async_trait]
impl Bundle for Theme {
    fn name(&self) -> &'static str {
        if self.embedded { "theme" } else { "logos" }
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        (self.routes)()
    }

    fn templates(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "page.html",
                r#"<link rel="stylesheet" href="{{ static_url('css/style.css') }}">"#,
            ),
            ("typo.html", "{{ static_url('css/styel.css') }}"),
        ]
    }

    fn static_files(&self) -> Option<StaticSource> {
        if self.embedded {
            Some(StaticSource::embedded(THEME_FILES))
        } else {
            Some(unchained::static_folder!("tests/static_fixture"))
        }
    }
}

fn page_routes() -> Routes {
    Routes::new().get("/page", |State(app): State<AppState>| async move {
        app.render("page.html", ())
    })
}

#[derive(Default)]
struct AppBundle;

#[async_trait]
impl Bundle for AppBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
    std::fs::write(path, text).expect("write");
}

/// A project folder with its own `static/`: a replacement for the
/// theme's stylesheet, a script, a hidden file, and a secret beside the
/// folder that must never be reachable.
fn project() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    write(root.path(), "static/css/style.css", "body { color: green }");
    write(root.path(), "static/js/app.js", "console.log(1)");
    write(root.path(), "static/.env", "SECRET=static");
    write(root.path(), "secret.txt", "SECRET=root");
    root
}

async fn build(
    root: &Path,
    env: Environment,
    routes: fn() -> Routes,
    adjust: impl FnOnce(unchained::config::ConfigBuilder) -> unchained::config::ConfigBuilder,
) -> Result<App, unchained::Error> {
    let bundles: Vec<Arc<dyn Bundle>> = vec![
        Arc::new(Theme {
            embedded: false,
            routes: Routes::new,
        }),
        Arc::new(Theme {
            embedded: true,
            routes,
        }),
        Arc::new(AppBundle),
    ];
    let registry = BundleRegistry::from_bundles(bundles)?;
    let manifest = Manifest {
        bundles: vec!["logos".into(), "theme".into(), "app".into()],
        ..Manifest::default()
    };
    let resolved = registry.resolve(&manifest)?;
    let mut builder = Config::builder(env).core_defaults();
    for bundle in resolved.iter() {
        builder = builder.defaults(bundle.name(), bundle.config_defaults(env));
    }
    let config = adjust(builder).build();
    unchained::LoadedApp::from_parts(root.to_owned(), resolved, config)
        .build()
        .await
}

/// Serves `app` on a free port of 127.0.0.1.
async fn serve(app: &App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let router = app.router();
    tokio::spawn(async move { unchained::axum::serve(listener, router).await });
    addr
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request, written by hand so that the path goes out
/// exactly as given (no client normalises `..` away) and nothing is
/// decompressed behind the test's back.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        raw
    })
    .await
    .expect("the request ran");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test]
async fn a_file_its_hashed_url_and_a_304() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| c)
        .await
        .expect("app builds");
    let addr = serve(&app).await;

    let script = get(addr, "/static/js/app.js", &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.text(), "console.log(1)");
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let etag = format!("\"{}\"", content_hash(b"console.log(1)"));
    assert_eq!(script.header("etag"), Some(etag.as_str()));
    assert_eq!(script.header("cache-control"), Some("no-cache"));
    let last_modified = script.header("last-modified").expect("Last-Modified");

    // The page links the stylesheet by its hashed URL.
    let page = get(addr, "/page", &[]).await.text();
    let hash = content_hash(b"body { color: green }");
    let url = format!("/static/css/style.css?v={hash}");
    assert!(page.contains(&url), "{page}");

    let hashed = get(addr, &url, &[]).await;
    assert_eq!(hashed.status, 200);
    assert_eq!(
        hashed.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // A stale hash is served, but not as immutable.
    let stale = get(addr, "/static/css/style.css?v=000000000000", &[]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("cache-control"), Some("no-cache"));

    let revalidated = get(addr, "/static/js/app.js", &[("If-None-Match", &etag)]).await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
    let by_date = get(
        addr,
        "/static/js/app.js",
        &[("If-Modified-Since", last_modified)],
    )
    .await;
    assert_eq!(by_date.status, 304);
    let changed = get(addr, "/static/js/app.js", &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(changed.status, 200);

    assert_eq!(get(addr, "/static/nope.css", &[]).await.status, 404);
}

#[tokio::test]
async fn the_project_overrides_a_bundle_file_and_bundle_files_are_served() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| c)
        .await
        .expect("app builds");
    let addr = serve(&app).await;

    let style = get(addr, "/static/css/style.css", &[]).await;
    assert_eq!(
        style.text(),
        "body { color: green }",
        "the project's file wins"
    );
    let theme = get(addr, "/static/css/theme.css", &[]).await;
    assert_eq!(
        theme.text(),
        "h1 { color: blue }",
        "the bundle's other file"
    );
    let logo = get(addr, "/static/img/logo.svg", &[]).await;
    assert_eq!(
        logo.status, 200,
        "a bundle's folder, through static_folder!"
    );
    assert_eq!(logo.header("content-type"), Some("image/svg+xml"));

    let assets = app.state().service::<StaticAssets>().expect("a service");
    assert_eq!(
        assets.hash("css/theme.css"),
        Some(content_hash(b"h1 { color: blue }"))
    );
}

#[tokio::test]
async fn precompressed_files_are_served_when_accepted() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| c)
        .await
        .expect("app builds");
    let addr = serve(&app).await;
    let path = "/static/css/theme.css";

    let br = get(addr, path, &[("Accept-Encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.text(), "brotli bytes");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    assert_eq!(br.header("content-type"), Some("text/css; charset=utf-8"));

    let gz = get(addr, path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.text(), "gzip bytes");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));

    let plain = get(addr, path, &[]).await;
    assert_eq!(plain.text(), "h1 { color: blue }");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));

    // Each representation has its own tag.
    let br_tag = br.header("etag").expect("ETag").to_owned();
    assert_ne!(Some(br_tag.as_str()), plain.header("etag"));
    let again = get(
        addr,
        path,
        &[("Accept-Encoding", "br"), ("If-None-Match", &br_tag)],
    )
    .await;
    assert_eq!(again.status, 304);
}

#[tokio::test]
async fn no_path_leaves_the_static_tree() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| c)
        .await
        .expect("app builds");
    let addr = serve(&app).await;
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css/%2e%2e/%2e%2e/secret.txt",
        "/static/css/../css/style.css",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..%5csecret.txt",
        "/static/.env",
        "/static/%2eenv",
        "/static/css/style.css%00",
        "/static/",
    ] {
        let reply = get(addr, path, &[]).await;
        assert!(
            reply.status == 404 || reply.status == 400,
            "{path}: {} {}",
            reply.status,
            reply.text()
        );
        assert!(!reply.text().contains("SECRET"), "{path}");
    }
}

#[tokio::test]
async fn an_unknown_file_in_static_url_names_it_and_close_names() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| c)
        .await
        .expect("app builds");
    let error = app
        .state()
        .templates()
        .render("typo.html", ())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("css/styel.css") && error.contains("did you mean css/style.css"),
        "{error}"
    );
}

#[tokio::test]
async fn the_url_path_is_configurable_and_a_route_under_it_is_an_error() {
    let root = project();
    let app = build(root.path(), Environment::Test, page_routes, |c| {
        c.set("STATIC_URL_PATH", "/assets")
            .set("STATIC_MAX_AGE", 60)
    })
    .await
    .expect("app builds");
    let addr = serve(&app).await;
    let page = get(addr, "/page", &[]).await.text();
    assert!(page.contains("href=\"/assets/css/style.css?v="), "{page}");
    let script = get(addr, "/assets/js/app.js", &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(get(addr, "/static/js/app.js", &[]).await.status, 404);

    fn clashing() -> Routes {
        Routes::new().get("/static/{name}", || async { "mine" })
    }
    let error = build(root.path(), Environment::Test, clashing, |c| c)
        .await
        .err()
        .expect("a route under /static/ is refused")
        .to_string();
    assert!(
        error.contains("/static/{name}") && error.contains("STATIC_URL_PATH"),
        "{error}"
    );
    // Turned off, the route is the app's.
    let app = build(root.path(), Environment::Test, clashing, |c| {
        c.set("STATIC_URL_PATH", "")
    })
    .await
    .expect("app builds");
    let addr = serve(&app).await;
    assert_eq!(get(addr, "/static/x", &[]).await.text(), "mine");
}

#[tokio::test]
async fn development_sees_an_edited_file_without_a_restart() {
    let root = project();
    let app = build(root.path(), Environment::Development, page_routes, |c| c)
        .await
        .expect("app builds");
    let addr = serve(&app).await;
    let before = get(addr, "/page", &[]).await.text();
    write(
        root.path(),
        "static/css/style.css",
        "body { color: purple }",
    );
    // Development scans the folder at most every 250 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = get(addr, "/page", &[]).await.text();
    let hash = content_hash(b"body { color: purple }");
    assert!(after.contains(&hash), "{before} -> {after}");
    let style = get(addr, &format!("/static/css/style.css?v={hash}"), &[]).await;
    assert_eq!(style.text(), "body { color: purple }");
    assert_eq!(
        style.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

#[test]
fn static_folder_is_read_at_runtime_in_debug_and_embedded_in_release() {
    let source = unchained::static_folder!("tests/static_fixture");
    let embedded = matches!(source, StaticSource::Embedded(_));
    assert_eq!(
        embedded,
        !cfg!(debug_assertions),
        "a debug build reads the folder, a release build embeds it"
    );
    match source {
        StaticSource::Folder(dir) => {
            assert!(dir.join("img/logo.svg").is_file(), "{}", dir.display());
        }
        StaticSource::Embedded(files) => {
            let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, ["img/logo.svg"]);
            assert!(files[0].1.starts_with(b"<svg"));
        }
        other => panic!("unexpected source {other:?}"),
    }
}
