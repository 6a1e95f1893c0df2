//! The bundle inside a real Unchained app: config, store choice, layer,
//! models and the cleanup command.

#![cfg(feature = "bundle")]

use std::sync::Arc;

use serde_json::json;

use unchained::config::Environment;
use unchained::prelude::*;
use unchained::testing::TestClient;
use unchained_session::{Session, SessionBundle, SessionError, SessionManager};

#[derive(Default)]
struct CounterApp;

#[unchained::bundle]
impl Bundle for CounterApp {
    fn name(&self) -> &'static str {
        "session_test_app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
            .get("/incr", incr)
            .get("/anon", || async { "ok" })
    }
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

async fn build(
    bundles: Vec<Arc<dyn Bundle>>,
    env: Environment,
    set: &[(&str, serde_json::Value)],
) -> Result<unchained::App, unchained::Error> {
    let set: Vec<(String, serde_json::Value)> = set
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    unchained::app::build_with(
        bundles,
        move |mut builder| {
            for (key, value) in set {
                builder = builder.set(&key, value);
            }
            builder
        },
        env,
    )
    .await
}

#[tokio::test]
async fn default_store_without_database_is_memory_and_sessions_work() {
    let app = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Test,
        &[],
    )
    .await
    .unwrap();
    let manager = app
        .state()
        .service::<SessionManager>()
        .expect("manager service")
        .clone();
    assert_eq!(manager.store().name(), "memory");
    let client = TestClient::new(app);
    assert_eq!(client.get("/incr").await.text(), "1");
    assert_eq!(client.get("/incr").await.text(), "2");
    let before = manager.stats();
    assert_eq!(client.get("/anon").await.text(), "ok");
    assert_eq!((manager.stats() - before).total(), 0);
}

#[tokio::test]
async fn production_cookies_are_secure() {
    let app = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Production,
        &[
            (
                "SECRET_KEY",
                json!("0123456789abcdef0123456789abcdef-production"),
            ),
            ("SESSION_TYPE", json!("memory")),
        ],
    )
    .await
    .unwrap();
    let client = TestClient::new(app);
    let reply = client.get("/incr").await;
    let cookie = reply.set_cookies().join("\n");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; HttpOnly"),
        "{cookie}"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

/// The `Set-Cookie` of a first session write in production with `set`.
async fn production_cookie(set: &[(&str, serde_json::Value)]) -> String {
    let mut values = vec![
        (
            "SECRET_KEY",
            json!("0123456789abcdef0123456789abcdef-production"),
        ),
        ("SESSION_TYPE", json!("memory")),
    ];
    values.extend_from_slice(set);
    let app = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Production,
        &values,
    )
    .await
    .unwrap();
    TestClient::new(app)
        .get("/incr")
        .await
        .set_cookies()
        .join("\n")
}

#[tokio::test]
async fn production_names_the_cookie_host_only() {
    // Secure, Path=/ and no Domain: browsers refuse a `__Host-` cookie
    // planted by a sibling subdomain.
    let cookie = production_cookie(&[]).await;
    assert!(
        cookie.starts_with("__Host-session=") && cookie.contains("; Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    // A name the project sets is used as written, "session" included.
    let cookie = production_cookie(&[("SESSION_COOKIE_NAME", json!("session"))]).await;
    assert!(cookie.starts_with("session="), "{cookie}");
    // Settings a `__Host-` cookie cannot have keep the old default rather
    // than failing the start.
    for set in [
        ("SESSION_COOKIE_DOMAIN", json!("example.com")),
        ("SESSION_COOKIE_PATH", json!("/app")),
        ("SESSION_COOKIE_SECURE", json!(false)),
    ] {
        let cookie = production_cookie(std::slice::from_ref(&set)).await;
        assert!(cookie.starts_with("session="), "{set:?}: {cookie}");
    }
    // Outside production the name stays Flask's.
    let app = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Development,
        &[],
    )
    .await
    .unwrap();
    let cookie = TestClient::new(app)
        .get("/incr")
        .await
        .set_cookies()
        .join("\n");
    assert!(cookie.starts_with("session="), "{cookie}");
}

#[cfg(feature = "redis")]
/// Log lines written while [`LogCapture::install`]'s guard lives.
#[derive(Clone, Default)]
struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_store_down_at_startup_is_reported_with_the_url_masked() {
    let loaded = loaded_session_bundle(&[
        ("SESSION_TYPE", "redis"),
        // Nothing listens on port 1.
        ("SESSION_REDIS", "redis://:hunter2@127.0.0.1:1/0"),
    ]);
    // The app still starts (and recovers when the store is back).
    let log = LogCapture::default();
    let app = {
        let _logging = log.install();
        loaded
            .build()
            .await
            .expect("the app starts with its store down")
    };
    let logged = log.text();
    assert_eq!(
        logged.matches("session store failed").count(),
        1,
        "one warning at build: {logged}"
    );
    let warning = logged
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_default();
    // `unchained run` prints before_serve's warnings: the build already
    // said it, so it is not printed a second time.
    let warnings = loaded.before_serve(&app).await.unwrap();
    assert!(warnings.is_empty(), "printed twice: {warnings:?}");
    assert!(
        warning.contains("session store failed a test read at startup")
            && warning.contains("redis://:********@127.0.0.1:1/0")
            && warning.contains("SESSION_REDIS"),
        "{warning}"
    );
    assert!(!logged.contains("hunter2"), "{logged}");

    // A store that answers gives no warning.
    let loaded = loaded_session_bundle(&[
        ("SESSION_TYPE", "redis"),
        ("SESSION_REDIS", "redis://127.0.0.1:6379/0"),
    ]);
    let app = loaded.build().await.unwrap();
    let warnings = loaded.before_serve(&app).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_redis_cluster_is_asked_for_by_name() {
    let nodes = "redis://:hunter2@127.0.0.1:1,redis://:hunter2@127.0.0.1:2";
    let err = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Test,
        &[
            ("SESSION_TYPE", json!("redis")),
            ("SESSION_REDIS", json!(nodes)),
        ],
    )
    .await
    .err()
    .expect("a list of URLs without SESSION_REDIS_CLUSTER")
    .to_string();
    assert!(
        err.contains("SESSION_REDIS lists 2 URLs") && err.contains("SESSION_REDIS_CLUSTER = true"),
        "{err}"
    );

    let loaded = loaded_session_bundle(&[
        ("SESSION_TYPE", json!("redis")),
        ("SESSION_REDIS_CLUSTER", json!(true)),
        // A TOML array in unchained.toml works as well as a string.
        (
            "SESSION_REDIS",
            json!([
                "redis://:hunter2@127.0.0.1:1",
                "redis://:hunter2@127.0.0.1:2"
            ]),
        ),
    ]);
    let log = LogCapture::default();
    let app = {
        let _logging = log.install();
        loaded
            .build()
            .await
            .expect("the app starts with its cluster down")
    };
    let logged = log.text();
    assert!(
        logged.contains(
            "redis cluster at redis://:********@127.0.0.1:1,redis://:********@127.0.0.1:2"
        ),
        "{logged}"
    );
    assert!(!logged.contains("hunter2"), "{logged}");
    // Reported once, at build.
    let warnings = loaded.before_serve(&app).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn signer_needs_a_secret_key() {
    let err = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Test,
        &[("SESSION_USE_SIGNER", json!(true))],
    )
    .await
    .err()
    .expect("no SECRET_KEY")
    .to_string();
    assert!(err.contains("SECRET_KEY"), "{err}");
}

#[tokio::test]
async fn bad_values_name_the_key() {
    let err = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Test,
        &[("SESSION_TYPE", json!("rediss"))],
    )
    .await
    .err()
    .expect("unknown store")
    .to_string();
    assert!(
        err.contains("SESSION_TYPE") && err.contains("redis"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlalchemy_without_database_bundle_is_a_clear_error() {
    let err = build(
        vec![Arc::new(SessionBundle), Arc::new(CounterApp)],
        Environment::Test,
        &[("SESSION_TYPE", json!("sqlalchemy"))],
    )
    .await
    .err()
    .expect("database bundle missing")
    .to_string();
    assert!(err.contains("unchained.bundles.database"), "{err}");
}

#[tokio::test]
async fn sqlalchemy_store_through_the_database_bundle() {
    let db = sqlite_with_session_table().await;
    let app = build_on(&db, &[]).await;
    let manager = app.state().service::<SessionManager>().unwrap().clone();
    assert_eq!(
        manager.store().name(),
        "sqlalchemy",
        "default with the database bundle"
    );
    let client = TestClient::new(app);
    assert_eq!(client.get("/incr").await.text(), "1");
    assert_eq!(client.get("/incr").await.text(), "2");
    let mut out = Vec::new();
    let deleted = unchained_session::cleanup::run(&manager, 100, &mut out)
        .await
        .unwrap();
    assert_eq!(deleted, 0, "nothing expired yet");
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Deleted 0 expired sessions from the sqlalchemy store")
    );
}

/// A fresh SQLite database with the session table, as `unchained db
/// migrate` would create it from `models()`.
async fn sqlite_with_session_table() -> unchained_database::testing::TestDatabase {
    let db = unchained_database::testing::TestDatabase::sqlite()
        .await
        .unwrap();
    let config = unchained::config::Config::builder(Environment::Test)
        .defaults("session", SessionBundle.config_defaults(Environment::Test))
        .build();
    let ctx = ModelContext {
        backend: db.backend(),
        config: &config,
    };
    let models = SessionBundle.models(&ctx);
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].table_name(), "flask_sessions");
    {
        use sea_orm::ConnectionTrait;
        db.connection().execute(&models[0].table).await.unwrap();
        for index in &models[0].indexes {
            db.connection().execute(index).await.unwrap();
        }
    }
    db
}

/// The counter app with the SQL store on `db`.
async fn build_on(
    db: &unchained_database::testing::TestDatabase,
    set: &[(&str, serde_json::Value)],
) -> unchained::App {
    let mut set = set.to_vec();
    set.push(("DATABASE_URL", json!(db.url())));
    build(
        vec![
            Arc::new(unchained_database::DatabaseBundle),
            Arc::new(SessionBundle),
            Arc::new(CounterApp),
        ],
        Environment::Test,
        &set,
    )
    .await
    .unwrap()
}

/// Rows in `flask_sessions`.
async fn session_rows(db: &unchained_database::testing::TestDatabase) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .connection()
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT COUNT(*) AS n FROM flask_sessions",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Stores a session that expired a minute ago through `app`'s store.
async fn store_expired_session(app: &unchained::App) {
    use unchained_session::store::Record;
    let manager = app.state().service::<SessionManager>().unwrap();
    let now = chrono::Utc::now();
    let id = unchained_session::SessionId::parse(&unchained_session::generate_id(32)).unwrap();
    let record = Record {
        data: Vec::new(),
        version: 1,
        owner: None,
        created_at: now - chrono::Duration::hours(1),
        expires_at: now - chrono::Duration::minutes(1),
    };
    manager.store().save(&id, &record, None).await.unwrap();
}

#[tokio::test]
async fn expired_sessions_are_cleaned_up_in_the_background_by_default() {
    let db = sqlite_with_session_table().await;
    let first = build_on(&db, &[("SESSION_CLEANUP_INTERVAL", json!(0))]).await;
    let manager = first.state().service::<SessionManager>().unwrap();
    assert_eq!(manager.config().cleanup_interval, None, "0 turns it off");
    store_expired_session(&first).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(session_rows(&db).await, 1, "no cleanup runs when it is off");

    // An app with the default config cleans up when it starts, and then
    // every hour.
    let second = build_on(&db, &[]).await;
    let manager = second.state().service::<SessionManager>().unwrap();
    assert_eq!(
        manager.config().cleanup_interval,
        Some(std::time::Duration::from_secs(3600))
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while session_rows(&db).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired session was not cleaned up in the background"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn session_command_has_cleanup() {
    use unchained::clap::FromArgMatches;
    use unchained_session::command::{SessionCommand, SessionSubcommand};

    let cli = SessionBundle
        .cli()
        .expect("the session bundle has commands");
    assert_eq!(cli.names(), ["session"]);
    let root = || cli.augment(unchained::clap::Command::new("unchained"));
    let matches = root()
        .try_get_matches_from(["unchained", "session", "cleanup", "--batch-size", "500"])
        .unwrap();
    let command = SessionCommand::from_arg_matches(&matches).unwrap();
    assert!(
        matches!(
            command,
            SessionCommand::Session(SessionSubcommand::Cleanup {
                batch_size: Some(500)
            })
        ),
        "{command:?}"
    );
    assert!(
        root()
            .try_get_matches_from(["unchained", "session", "cleanup", "--batch-size", "0"])
            .is_err()
    );
}

#[tokio::test]
async fn session_cleanup_runs_through_the_command_line_entry_point() {
    let ctx = loaded_session_bundle(&[("SESSION_TYPE", "memory")]).command_context();
    let cli = SessionBundle
        .cli()
        .expect("the session bundle has commands");
    let matches = cli
        .augment(unchained::clap::Command::new("unchained"))
        .try_get_matches_from(["unchained", "session", "cleanup"])
        .unwrap();
    cli.run(&matches, &ctx).await.unwrap();
}

#[test]
fn config_defaults_are_the_typed_config_serialized() {
    use unchained_session::config::SessionConfig;
    for env in [Environment::Development, Environment::Production] {
        let defaults = SessionBundle.config_defaults(env);
        let keys: Vec<&str> = defaults.keys().collect();
        assert_eq!(keys.len(), 19, "{keys:?}");
        // The fields without a default are known keys all the same.
        assert_eq!(
            defaults.optional_keys().collect::<Vec<_>>(),
            [
                "SESSION_ABSOLUTE_LIFETIME",
                "SESSION_CLEANUP_N_REQUESTS",
                "SESSION_COOKIE_DOMAIN",
                "SESSION_TYPE",
            ]
        );
        let config = Config::builder(env)
            .defaults(unchained_session::BUNDLE_NAME, defaults)
            .build();
        let read: SessionConfig = config.extract().unwrap();
        let expected = SessionConfig {
            cookie_secure: env.is_production(),
            cookie_name: if env.is_production() {
                "__Host-session"
            } else {
                "session"
            }
            .to_owned(),
            ..SessionConfig::default()
        };
        assert_eq!(format!("{read:?}"), format!("{expected:?}"));
    }
}

#[test]
fn keys_without_a_default_are_not_reported_as_typos() {
    let loaded = loaded_session_bundle(&[
        ("SESSION_COOKIE_DOMAIN", "example.com"),
        ("SESSION_TPYE", "memory"),
    ]);
    let warnings = loaded.unknown_keys();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("SESSION_TPYE") && warnings[0].contains("did you mean SESSION_TYPE?"),
        "{warnings:?}"
    );
}

/// The session bundle alone, loaded (not built) with its defaults and
/// `values` on top, as the CLI loads a project.
fn loaded_session_bundle<V: serde::Serialize>(values: &[(&str, V)]) -> unchained::LoadedApp {
    let bundles: Vec<Arc<dyn Bundle>> = vec![Arc::new(SessionBundle)];
    let registry = unchained::registry::BundleRegistry::from_bundles(bundles).unwrap();
    let resolved = registry
        .resolve(&unchained::project::Manifest {
            bundles: vec![unchained_session::BUNDLE_NAME.to_owned()],
            ..Default::default()
        })
        .unwrap();
    let mut config = Config::builder(Environment::Test).defaults(
        unchained_session::BUNDLE_NAME,
        SessionBundle.config_defaults(Environment::Test),
    );
    for (key, value) in values {
        config = config.set(key, value);
    }
    unchained::LoadedApp::from_parts(std::env::temp_dir(), resolved, config.build())
}
