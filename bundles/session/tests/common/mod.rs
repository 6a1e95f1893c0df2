//! Test harness: one app per test over a real store, each with its own
//! database, folder or Redis key prefix, so tests run in parallel.
//!
//! The Redis Cluster is started by the harness itself: three masters on
//! free ports, once per test process (see [`local_cluster`]).

#![allow(dead_code)]

pub mod child;
pub mod http;
pub mod proxy;
pub mod services;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use unchained_session::config::SessionConfig;
use unchained_session::store::{FilesystemStore, MemoryStore, RedisStore, SessionStore, SqlStore};
use unchained_session::{CookieSigner, Session, SessionError, SessionId, SessionManager};

use proxy::Proxy;

pub const SECRET: &str = "test-secret-key-0123456789abcdef0123456789";

/// Makes a harness for one store kind with the given config.
pub type Maker = fn(SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>>;

/// Where a store's backend lives, to open a second "process" on it.
#[derive(Clone)]
pub enum Backend {
    Memory(MemoryStore),
    Filesystem(PathBuf),
    Sql { url: String, table: String },
    Redis { url: String, prefix: String },
    RedisCluster { urls: Vec<String>, prefix: String },
}

/// A way to take the store down and bring it back.
pub enum Outage {
    /// A TCP proxy between the app and the service.
    Proxy(Proxy),
    /// The filesystem store's folder is swapped for a plain file.
    Folder(PathBuf),
}

pub struct Harness {
    pub app: Router,
    pub manager: SessionManager,
    pub backend: Backend,
    pub outage: Option<Outage>,
    pub config: SessionConfig,
    cleanup: Option<Cleanup>,
    _dir: Option<tempfile::TempDir>,
}

enum Cleanup {
    Postgres(String),
    MySql(String),
    Redis(String),
    RedisCluster(String),
}

/// A response, reduced to what tests look at.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The session cookie value set by this response, `Some("")` when it
    /// expires the cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .find_map(|v| {
                let text = v.to_str().ok()?;
                let (pair, _) = text.split_once(';').unwrap_or((text, ""));
                let (k, value) = pair.split_once('=')?;
                (k == name).then(|| value.to_owned())
            })
    }

    pub fn set_cookie_header(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn header(&self, name: header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

impl Harness {
    /// Sends `GET path` with the session cookie `cookie`.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        send(&self.app, &self.config.cookie_name, path, cookie).await
    }

    /// The cookie value after a request that stored `key=value`.
    pub async fn start(&self, key: &str, value: &str) -> String {
        let reply = self.get(&format!("/set/{key}/{value}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
            .cookie(&self.config.cookie_name)
            .expect("a new session sets its cookie")
    }

    /// The session id inside a cookie value (strips the signature).
    pub fn id_of(&self, cookie: &str) -> SessionId {
        SessionId::parse(cookie.split('.').next().unwrap()).unwrap()
    }

    /// Another app process on the same backend (own manager, own store
    /// instance and connection).
    pub async fn sibling(&self) -> (Router, SessionManager) {
        let store: Arc<dyn SessionStore> = match &self.backend {
            Backend::Memory(store) => Arc::new(store.clone()),
            Backend::Filesystem(dir) => Arc::new(FilesystemStore::new(dir.clone(), 0o600)),
            Backend::Sql { url, table } => {
                Arc::new(SqlStore::new(connect(url).await, table).unwrap())
            }
            Backend::Redis { url, prefix } => Arc::new(RedisStore::new(url, prefix).unwrap()),
            Backend::RedisCluster { urls, prefix } => {
                Arc::new(RedisStore::cluster(urls.iter().map(String::as_str), prefix).unwrap())
            }
        };
        let manager = manager(self.config.clone(), store);
        (app(manager.clone()), manager)
    }

    /// Takes the store down; `false` if this store cannot be.
    pub async fn store_down(&self) -> bool {
        match &self.outage {
            Some(Outage::Proxy(proxy)) => {
                proxy.stop();
                true
            }
            Some(Outage::Folder(dir)) => {
                let aside = dir.with_extension("aside");
                std::fs::rename(dir, &aside).unwrap();
                std::fs::write(dir, b"not a folder").unwrap();
                true
            }
            None => false,
        }
    }

    pub async fn store_up(&self) {
        match &self.outage {
            Some(Outage::Proxy(proxy)) => proxy.start().await,
            Some(Outage::Folder(dir)) => {
                std::fs::remove_file(dir).unwrap();
                std::fs::rename(dir.with_extension("aside"), dir).unwrap();
            }
            None => {}
        }
    }

    /// Drops the test's database or keys.
    pub async fn teardown(self) {
        match self.cleanup {
            Some(Cleanup::Postgres(name)) => {
                drop(self.app);
                drop(self.manager);
                let admin = connect("postgres://postgres@127.0.0.1:5432/postgres").await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
            Some(Cleanup::MySql(name)) => {
                let admin = connect("mysql://root@127.0.0.1:3306/test").await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
            }
            Some(Cleanup::Redis(prefix)) => {
                if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379/0")
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<i64, _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            }
            Some(Cleanup::RedisCluster(prefix)) => {
                // Each node holds its own slots' keys: delete them there,
                // one key per command.
                for url in &local_cluster().await.urls {
                    delete_keys(url, &prefix).await;
                }
            }
            None => {}
        }
    }
}

/// Deletes the keys under `prefix` on the one Redis server at `url`.
async fn delete_keys(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for key in keys {
        let _: Result<i64, _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
    }
}

pub async fn send(app: &Router, cookie_name: &str, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(
            header::COOKIE,
            format!("theme=dark; {cookie_name}={cookie}"),
        );
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub fn manager(config: SessionConfig, store: Arc<dyn SessionStore>) -> SessionManager {
    let signer = config
        .use_signer
        .then(|| CookieSigner::new(SECRET, &[]).unwrap());
    SessionManager::new(config, store, signer).unwrap()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        unchained_session::generate_id(16)
            .to_ascii_lowercase()
            .replace('-', "_")
    )
}

pub async fn connect(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    // Few connections (many tests share the servers) and waits short
    // enough that "store down" answers 503 within seconds, long enough for
    // 100 concurrent requests queueing for a connection on a busy machine.
    options
        .max_connections(10)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(4))
        .connect_timeout(Duration::from_secs(2))
        .sqlx_logging(false);
    Database::connect(options).await.unwrap()
}

// ---- store makers -------------------------------------------------------

/// Shows the crate's warnings and errors (e.g. why a request got 503) in
/// the output of failing tests.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "unchained_session=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn finish(
    config: SessionConfig,
    store: Arc<dyn SessionStore>,
    backend: Backend,
    outage: Option<Outage>,
    cleanup: Option<Cleanup>,
    dir: Option<tempfile::TempDir>,
) -> Harness {
    init_logs();
    let manager = manager(config.clone(), store);
    Harness {
        app: app(manager.clone()),
        manager,
        backend,
        outage,
        config,
        cleanup,
        _dir: dir,
    }
}

pub fn memory(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let store = MemoryStore::new();
        finish(
            config,
            Arc::new(store.clone()),
            Backend::Memory(store),
            None,
            None,
            None,
        )
    })
}

pub fn filesystem(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sessions");
        let store = FilesystemStore::new(folder.clone(), config.file_mode);
        // Created now so the outage test can move it aside.
        std::fs::create_dir(&folder).unwrap();
        finish(
            config,
            Arc::new(store),
            Backend::Filesystem(folder.clone()),
            Some(Outage::Folder(folder)),
            None,
            Some(dir),
        )
    })
}

pub fn sqlite(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sessions.db").display()
        );
        let store = SqlStore::new(connect(&url).await, &config.sql_table).unwrap();
        store.create_table(&config.sql_table).await.unwrap();
        let backend = Backend::Sql {
            url,
            table: config.sql_table.clone(),
        };
        finish(config, Arc::new(store), backend, None, None, Some(dir))
    })
}

pub fn postgres(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let name = unique("sess_");
        let admin = connect("postgres://postgres@127.0.0.1:5432/postgres").await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let proxy = Proxy::new("127.0.0.1:5432").await;
        let url = format!("postgres://postgres@{}/{name}", proxy.addr());
        let store = SqlStore::new(connect(&url).await, &config.sql_table).unwrap();
        store.create_table(&config.sql_table).await.unwrap();
        let direct = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let backend = Backend::Sql {
            url: direct,
            table: config.sql_table.clone(),
        };
        finish(
            config,
            Arc::new(store),
            backend,
            Some(Outage::Proxy(proxy)),
            Some(Cleanup::Postgres(name)),
            None,
        )
    })
}

pub fn mysql(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let name = unique("sess_");
        let admin = connect("mysql://root@127.0.0.1:3306/test").await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
            .await
            .unwrap();
        let proxy = Proxy::new("127.0.0.1:3306").await;
        let url = format!("mysql://root@{}/{name}", proxy.addr());
        let store = SqlStore::new(connect(&url).await, &config.sql_table).unwrap();
        store.create_table(&config.sql_table).await.unwrap();
        let direct = format!("mysql://root@127.0.0.1:3306/{name}");
        let backend = Backend::Sql {
            url: direct,
            table: config.sql_table.clone(),
        };
        finish(
            config,
            Arc::new(store),
            backend,
            Some(Outage::Proxy(proxy)),
            Some(Cleanup::MySql(name)),
            None,
        )
    })
}

pub fn redis_store(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let prefix = format!("{}:", unique("test_session_"));
        let proxy = Proxy::new("127.0.0.1:6379").await;
        let url = format!("redis://{}/0", proxy.addr());
        let store = RedisStore::new(&url, &prefix).unwrap();
        let backend = Backend::Redis {
            url: "redis://127.0.0.1:6379/0".into(),
            prefix: prefix.clone(),
        };
        finish(
            config,
            Arc::new(store),
            backend,
            Some(Outage::Proxy(proxy)),
            Some(Cleanup::Redis(prefix)),
            None,
        )
    })
}

pub fn redis_cluster_store(config: SessionConfig) -> Pin<Box<dyn Future<Output = Harness> + Send>> {
    Box::pin(async move {
        let cluster = local_cluster().await;
        let prefix = format!("{}:", unique("test_session_"));
        let store = RedisStore::cluster(cluster.urls.iter().map(String::as_str), &prefix).unwrap();
        assert!(store.is_cluster());
        let backend = Backend::RedisCluster {
            urls: cluster.urls.clone(),
            prefix: prefix.clone(),
        };
        // No outage: the client reaches every node at the address the
        // cluster announces, which no proxy can stand in for.
        finish(
            config,
            Arc::new(store),
            backend,
            None,
            Some(Cleanup::RedisCluster(prefix)),
            None,
        )
    })
}

// ---- the local Redis Cluster ----------------------------------------------

/// A Redis Cluster of three masters on 127.0.0.1, started by this test
/// process.
pub struct LocalCluster {
    /// One URL per master.
    pub urls: Vec<String>,
    /// The keeper shell, whose stdin is a pipe from this process: when this
    /// process ends, however it ends, the kernel closes the pipe and the
    /// keeper stops the servers. Never waited for: it outlives the tests.
    _keeper: std::process::Child,
}

static CLUSTER: std::sync::OnceLock<LocalCluster> = std::sync::OnceLock::new();

/// The test process's Redis Cluster, started on first use: three
/// `redis-server --cluster-enabled yes` on free ports, joined by
/// `redis-cli --cluster create`; each test uses its own key prefix.
pub async fn local_cluster() -> &'static LocalCluster {
    if let Some(cluster) = CLUSTER.get() {
        return cluster;
    }
    tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start_cluster))
        .await
        .unwrap()
}

/// Starts the servers under a keeper shell that waits for its stdin (a pipe
/// from this process) to close, then kills them and deletes their folder:
/// no server outlives the test process, even one killed with SIGKILL.
const KEEPER: &str = r#"
dir=$1; shift
pids=
for ports in "$@"; do
  port=${ports%:*}; bus=${ports#*:}
  mkdir -p "$dir/$port" && cd "$dir/$port" || exit 1
  redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
    --cluster-port "$bus" --cluster-config-file nodes.conf \
    --save "" --appendonly no --logfile redis.log </dev/null >/dev/null 2>&1 &
  pids="$pids $!"
done
cat >/dev/null
kill -9 $pids 2>/dev/null
wait
rm -rf "$dir"
"#;

fn start_cluster() -> LocalCluster {
    use std::process::{Command, Stdio};

    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = root.join(format!("session-redis-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Six free ports: a client port and a cluster bus port per node.
    let listeners: Vec<_> = (0..6)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    let keeper = Command::new("sh")
        .arg("-c")
        .arg(KEEPER)
        .arg("redis-cluster-keeper")
        .arg(&dir)
        .args((0..3).map(|i| format!("{}:{}", ports[i], ports[i + 3])))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh runs");
    let cli = |port: u16, args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs: install Redis (redis-server and redis-cli)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let wait = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the tests' Redis Cluster: {what} (is redis-server installed? logs in {})",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for &port in &ports[..3] {
        wait(&format!("no PONG on port {port}"), &|| {
            cli(port, &["ping"]).trim() == "PONG"
        });
    }
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(ports[..3].iter().map(|p| format!("127.0.0.1:{p}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    assert!(
        created.status.success(),
        "redis-cli --cluster create failed: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    for &port in &ports[..3] {
        wait(&format!("no cluster_state:ok on port {port}"), &|| {
            let info = cli(port, &["cluster", "info"]);
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
        });
    }
    LocalCluster {
        urls: ports[..3]
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect(),
        _keeper: keeper,
    }
}

// ---- the test app -------------------------------------------------------

#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
pub struct Cart {
    pub items: Vec<String>,
    pub meta: std::collections::BTreeMap<String, Vec<u32>>,
}

pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/anon", get(|| async { "ok" }))
        .route("/read", get(read))
        .route("/incr", get(incr))
        .route("/count", get(count))
        .route("/mark-then-count/{mark}", get(mark_then_count))
        .route("/set/{key}/{value}", get(set))
        .route("/get/{key}", get(get_key))
        .route("/remove/{key}", get(remove))
        .route("/set-and-remove", get(set_and_remove))
        .route("/clear", get(clear))
        .route("/regenerate", get(regenerate))
        .route("/regenerate-then-fail", get(regenerate_then_fail))
        .route("/destroy", get(destroy))
        .route("/owner/{owner}", get(set_owner))
        .route("/logout-everywhere/{owner}", get(logout_everywhere))
        .route("/cart/add/{item}", get(cart_add))
        .route("/cart/touch", get(cart_touch))
        .route("/id", get(session_id))
        .with_state(())
        .layer(manager.layer())
}

/// `n` as a number; `/set/n/5` stores it as text, which counts too.
async fn number(session: &Session) -> Result<i64, SessionError> {
    Ok(match session.get::<serde_json::Value>("n").await? {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(number(&session).await?.to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n = number(&session).await? + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

/// `n + 1` through `Session::update`: no increment is ever lost.
async fn count(session: Session) -> Result<String, SessionError> {
    let n = session
        .update("n", |n: Option<serde_json::Value>| {
            let n = match n {
                Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
                _ => 0,
            };
            serde_json::Value::from(n + 1)
        })
        .await?;
    Ok(n.to_string())
}

/// An `insert` of another key before an update in the same request: both
/// are stored.
async fn mark_then_count(
    session: Session,
    Path(mark): Path<String>,
) -> Result<String, SessionError> {
    session.insert(&mark, "true").await?;
    count(session).await
}

async fn set(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<&'static str, SessionError> {
    session.insert(&key, value).await?;
    Ok("ok")
}

async fn get_key(session: Session, Path(key): Path<String>) -> Result<String, SessionError> {
    Ok(session
        .get::<String>(&key)
        .await?
        .unwrap_or_else(|| "-".into()))
}

async fn remove(session: Session, Path(key): Path<String>) -> Result<String, SessionError> {
    Ok(session.remove(&key).await?.to_string())
}

async fn set_and_remove(session: Session) -> Result<&'static str, SessionError> {
    session.insert("temp", 1).await?;
    session.remove("temp").await?;
    Ok("ok")
}

async fn clear(session: Session) -> Result<&'static str, SessionError> {
    session.clear().await?;
    Ok("ok")
}

async fn regenerate(session: Session) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    Ok("ok")
}

async fn regenerate_then_fail(session: Session) -> impl IntoResponse {
    if let Err(e) = session.regenerate().await {
        return e.into_response();
    }
    (StatusCode::INTERNAL_SERVER_ERROR, "handler failed").into_response()
}

async fn destroy(session: Session) -> Result<&'static str, SessionError> {
    session.destroy().await?;
    Ok("ok")
}

async fn set_owner(
    session: Session,
    Path(owner): Path<String>,
) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    session.set_owner(Some(&owner)).await?;
    Ok("ok")
}

async fn logout_everywhere(session: Session, Path(owner): Path<String>) -> impl IntoResponse {
    match session.manager().destroy_owner_sessions(&owner).await {
        Ok(n) => n.to_string().into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn cart_add(session: Session, Path(item): Path<String>) -> Result<String, SessionError> {
    let mut cart: Cart = session.get("cart").await?.unwrap_or_default();
    // A change deep inside the value, caught without any flag.
    cart.meta.entry("qty".into()).or_default().push(1);
    cart.items.push(item);
    let len = cart.items.len();
    session.insert("cart", cart).await?;
    Ok(len.to_string())
}

async fn cart_touch(session: Session) -> Result<String, SessionError> {
    // Reads and writes back the same value: no store write.
    let cart: Cart = session.get("cart").await?.unwrap_or_default();
    session.insert("cart", &cart).await?;
    Ok(cart.items.len().to_string())
}

async fn session_id(session: Session, State(()): State<()>) -> Result<String, SessionError> {
    Ok(session.id().await?.unwrap_or_else(|| "-".into()))
}
