//! A new user's first minutes: scaffold a project, look inside it, serve
//! it, test it; and a third-party bundle that exists only while listed.

use std::fs;

use unchained_tests::*;

#[test]
fn outside_a_project_only_new_is_offered() {
    let dir = temp_dir();
    let output = unchained(dir.path(), &["urls"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("no unchained.toml was found"), "{err}");
    assert!(err.contains("unchained new project NAME"), "{err}");

    let help = unchained(dir.path(), &["--help"]);
    assert_success(&help, "unchained --help");
    assert!(stdout(&help).contains("new"), "{}", stdout(&help));

    let version = unchained(dir.path(), &["--version"]);
    assert_success(&version, "unchained --version outside a project");
    assert_eq!(
        stdout(&version).trim(),
        concat!("unchained ", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(stderr(&version), "");
}

#[test]
fn new_project_builds_serves_and_passes_its_test() {
    let dir = temp_dir();
    let output = unchained(dir.path(), &["new", "project", "demo", "--no-prompt"]);
    assert_success(&output, "unchained new project demo --no-prompt");
    let project = dir.path().join("demo");
    for file in [
        "Cargo.toml",
        "unchained.toml",
        "build.rs",
        "src/lib.rs",
        "src/app.rs",
        "templates/index.html",
        "static/style.css",
        "tests/app.rs",
    ] {
        assert!(project.join(file).is_file(), "{file} was not written");
    }

    // A second `new` into the same folder refuses instead of overwriting.
    let again = unchained(dir.path(), &["new", "project", "demo", "--no-prompt"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));

    let urls = unchained(&project, &["urls"]);
    assert_success(&urls, "unchained urls");
    let urls = stdout(&urls);
    assert!(
        urls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["GET", "/", "app.index", "demo::app::index", "app"]),
        "{urls}"
    );

    let bundles = unchained(&project, &["bundles"]);
    assert_success(&bundles, "unchained bundles");
    assert!(
        stdout(&bundles).contains("1. app [app]"),
        "{}",
        stdout(&bundles)
    );

    let config = unchained(&project, &["config"]);
    assert_success(&config, "unchained config");
    let config = stdout(&config);
    assert!(config.contains("APP_TITLE"), "{config}");
    assert!(
        config.contains("\"demo\"") && config.contains("unchained.toml [default]"),
        "{config}"
    );
    assert!(
        config.contains("SECRET_KEY") && config.contains("********"),
        "{config}"
    );
    assert!(
        !config.contains("dev-insecure-"),
        "the secret is masked: {config}"
    );

    let one = unchained_with_env(
        &project,
        &["config", "APP_TITLE"],
        &[("UNCHAINED_APP_TITLE", "From the env")],
    );
    assert_success(&one, "unchained config APP_TITLE");
    assert!(
        stdout(&one).contains("\"From the env\"")
            && stdout(&one).contains("environment variable UNCHAINED_APP_TITLE"),
        "{}",
        stdout(&one)
    );

    let server = Server::start(&project, &[]);
    let (status, body) = server.get("/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Welcome to demo"), "{body}");
    let (status, _) = server.get("/no-such-page");
    assert_eq!(status, 404);
    // SIGTERM to `unchained run` itself (as a process manager sends it)
    // stops the server: nothing is left listening.
    let mut server = server;
    let port = server.port;
    server.terminate();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the app still listens on {port} after SIGTERM to unchained run"
    );
    drop(server);

    let prod = unchained_with_env(
        &project,
        &["run", "--port", &free_port().to_string()],
        &[("UNCHAINED_ENV", "production")],
    );
    assert!(
        !prod.status.success(),
        "production must not start with the development key"
    );
    assert!(stderr(&prod).contains("SECRET_KEY"), "{}", stderr(&prod));

    let tests = cargo_in(&project, &["test", "--quiet"]);
    assert_success(&tests, "cargo test in the new project");
}

#[test]
fn a_bundle_appears_only_while_unchained_toml_lists_it() {
    let dir = temp_dir();
    assert_success(
        &unchained(dir.path(), &["new", "project", "extra", "--no-prompt"]),
        "new project",
    );
    let project = dir.path().join("extra");
    let fixture = workspace_root().join("tests/fixtures/extra-bundle");
    let cargo_toml = fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let with_dep = cargo_toml.replacen(
        "[dependencies]\n",
        &format!(
            "[dependencies]\nacme-extra = {{ path = {:?} }}\n",
            fixture.display().to_string()
        ),
        1,
    );
    fs::write(project.join("Cargo.toml"), &with_dep).unwrap();
    let manifest = fs::read_to_string(project.join("unchained.toml")).unwrap();
    let listed = manifest.replacen("bundles = [\n", "bundles = [\n    \"acme.extra\",\n", 1)
        + "\n[bundle_crates]\n\"acme.extra\" = \"acme-extra\"\n";
    fs::write(project.join("unchained.toml"), &listed).unwrap();

    let urls = stdout(&unchained(&project, &["urls"]));
    assert!(
        urls.contains("/acme") && urls.contains("acme.extra"),
        "{urls}"
    );
    let config = stdout(&unchained(&project, &["config"]));
    assert!(
        config.contains("ACME_EXTRA_GREETING") && config.contains("defaults of bundle acme.extra"),
        "{config}"
    );
    let help = stdout(&unchained(&project, &["--help"]));
    assert!(help.contains("acme"), "{help}");
    let ran = unchained(&project, &["acme"]);
    assert_success(&ran, "unchained acme");
    assert_eq!(stdout(&ran).trim(), "hello from acme");
    let bundles = stdout(&unchained(&project, &["bundles"]));
    assert!(
        bundles.contains("1. acme.extra") && bundles.contains("2. app [app]"),
        "{bundles}"
    );
    // Inside a project whose bundles the installed binary lacks.
    let version = unchained(&project, &["--version"]);
    assert_success(&version, "unchained --version inside a project");
    assert_eq!(
        stdout(&version).trim(),
        concat!("unchained ", env!("CARGO_PKG_VERSION"))
    );

    // Unlisted (the crate is still a dependency): gone from all three.
    fs::write(project.join("unchained.toml"), &manifest).unwrap();
    let urls = stdout(&unchained(&project, &["urls"]));
    assert!(!urls.contains("/acme"), "{urls}");
    let config = stdout(&unchained(&project, &["config"]));
    assert!(!config.contains("ACME_EXTRA_GREETING"), "{config}");
    let help = stdout(&unchained(&project, &["--help"]));
    assert!(!help.contains("acme"), "{help}");

    // The app needs the unlisted bundle's service: `unchained run` stops
    // before serving, naming the bundle to add.
    let app_rs = fs::read_to_string(project.join("src/app.rs")).unwrap();
    let needs_greeting = app_rs.replacen(
        "    fn routes(&self",
        "    async fn before_build(&self, ctx: &mut BuildContext) -> unchained::anyhow::Result<()> {\n        \
         ctx.require::<acme_extra::Greeting>()?;\n        Ok(())\n    }\n\n    fn routes(&self",
        1,
    );
    assert_ne!(
        needs_greeting, app_rs,
        "the scaffold's app bundle has a routes()"
    );
    fs::write(project.join("src/app.rs"), &needs_greeting).unwrap();
    let (status, err) = run_until_exit(&project);
    assert!(!status.success(), "unchained run should fail: {err}");
    assert!(
        err.contains(
            "bundle app needs the service acme_extra::Greeting, which no loaded bundle provides: \
             add \"acme.extra\" to bundles in unchained.toml, before app"
        ),
        "{err}"
    );
    assert!(!err.contains("Serving"), "nothing may be served: {err}");
    fs::write(project.join("src/app.rs"), &app_rs).unwrap();

    // Listed but not compiled in: a startup error naming the crate to add.
    fs::write(project.join("Cargo.toml"), &cargo_toml).unwrap();
    fs::write(project.join("unchained.toml"), &listed).unwrap();
    let missing = unchained(&project, &["urls"]);
    assert!(!missing.status.success());
    let err = stderr(&missing);
    assert!(
        err.contains("acme.extra is listed in unchained.toml but not compiled in"),
        "{err}"
    );
    assert!(err.contains("acme-extra"), "{err}");
}

/// The `csrf_token` hidden field of a page.
fn csrf_token(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .expect("a csrf_token field");
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_project_with_security_logs_in_and_out_out_of_the_box() {
    let dir = temp_dir();
    let output = unchained(
        dir.path(),
        &["new", "project", "secure", "--security", "--no-prompt"],
    );
    assert_success(&output, "unchained new project secure --security");
    let project = dir.path().join("secure");
    let created = stdout(&output);
    let next = created.split("Next:").nth(1).unwrap_or_default();
    assert!(
        !next.contains("db upgrade"),
        "the tables were created by `new`:\n{created}"
    );
    let migrations: Vec<_> = std::fs::read_dir(project.join("db/migrations"))
        .unwrap()
        .collect();
    assert_eq!(
        migrations.len(),
        1,
        "one migration creates the bundles' tables"
    );

    // A SQLite project compiles no other database driver and no Redis
    // client (cargo features), and asking for Redis says how to get it.
    let tree = cargo_in(&project, &["tree", "-e", "normal", "--prefix", "none"]);
    assert_success(&tree, "cargo tree");
    let crates: Vec<String> = stdout(&tree)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(crates.iter().any(|c| c == "sqlx-sqlite"), "{crates:?}");
    for absent in ["sqlx-postgres", "sqlx-mysql", "redis"] {
        assert!(
            !crates.iter().any(|c| c == absent),
            "a SQLite scaffold should not compile {absent}"
        );
    }
    // The binary itself (`unchained` would turn the feature on first).
    let redis = std::process::Command::new(e2e_target_dir().join("debug/secure"))
        .args(["session", "cleanup"])
        .current_dir(&project)
        .env("UNCHAINED_SESSION_TYPE", "redis")
        .env_remove("UNCHAINED_ENV")
        .output()
        .expect("the project's binary runs");
    assert!(!redis.status.success());
    let message = stderr(&redis);
    assert!(
        message.contains("it turns on the `redis` feature of unchained-session"),
        "{message}"
    );

    let server = Server::start(&project, &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/register"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf_token", csrf_token(&page)),
        ("email", "grace@example.com".to_owned()),
        ("password", "a long enough password".to_owned()),
        ("password_confirm", "a long enough password".to_owned()),
    ];
    let registered = client
        .post(format!("{base}/register"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        registered.status().is_success(),
        "register: {}",
        registered.status()
    );

    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf_token", csrf_token(&page)),
        ("email", "grace@example.com".to_owned()),
        ("password", "a long enough password".to_owned()),
    ];
    let home = client
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Logged in as <span id=\"current-user\">grace@example.com</span>"),
        "{home}"
    );

    let form = [("csrf_token", csrf_token(&home))];
    let home = client
        .post(format!("{base}/logout"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("href=\"/login\"") && !home.contains("current-user"),
        "{home}"
    );
}

#[test]
fn no_migrate_leaves_the_table_steps_to_the_user_and_force_overwrites() {
    let dir = temp_dir();
    let output = unchained(
        dir.path(),
        &[
            "new",
            "project",
            "later",
            "--database",
            "--no-migrate",
            "--no-prompt",
        ],
    );
    assert_success(
        &output,
        "unchained new project later --database --no-migrate",
    );
    let text = stdout(&output);
    assert!(
        !text.contains("Building the project"),
        "--no-migrate builds nothing:\n{text}"
    );
    let next = text.split("Next:").nth(1).unwrap_or_default();
    assert!(
        next.contains("unchained db migrate") && next.contains("unchained db upgrade"),
        "{text}"
    );
    let project = dir.path().join("later");
    assert!(project.join("db/migrations").is_dir());
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains("\nunchained-database = "),
        "{cargo_toml}"
    );
    assert!(
        !cargo_toml.contains("unchained-session"),
        "bundles that are not listed are not mentioned (listing one is enough): {cargo_toml}"
    );

    std::fs::write(project.join("unchained.toml"), "bundles = [\"app\"]\n").unwrap();
    let forced = unchained(
        dir.path(),
        &["new", "project", "later", "--force", "--no-prompt"],
    );
    assert_success(&forced, "unchained new project later --force");
    let manifest = std::fs::read_to_string(project.join("unchained.toml")).unwrap();
    assert!(
        manifest.contains("[development]"),
        "--force rewrote unchained.toml: {manifest}"
    );
}
