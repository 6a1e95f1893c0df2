//! Private servers that a test may crash: a Redis and a PostgreSQL of its
//! own, each on a free port of 127.0.0.1 with its files in a temporary
//! folder. The shared servers (6379, 5432) serve the rest of the suite in
//! parallel and are never stopped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// How long a server may take to answer after it is (re)started: it loads
/// its AOF or replays its WAL first, on a busy 2-core machine.
const STARTUP: Duration = Duration::from_secs(30);

/// A port of 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `signal` (e.g. `STOP`, `CONT`) to process `pid`.
pub async fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

// ---- Redis --------------------------------------------------------------

/// A `redis-server` of this test, writing every command to its AOF and
/// syncing it before answering (`appendfsync always`), as a deployment
/// that must not lose acknowledged sessions would run it.
pub struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let mut redis = PrivateRedis {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// The URL to give `RedisStore::new`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's process id (to freeze it).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("redis is running")
    }

    /// `kill -9`: no shutdown, no final save; what survives is what the
    /// AOF held.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("redis is running");
        child.kill().await.unwrap();
    }

    /// Starts the server on the same port and folder (so it loads the
    /// AOF the previous one wrote) and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is already running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            // No RDB snapshots: the AOF alone must hold every write.
            .args(["--save", "", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (the suite needs it installed)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let deadline = Instant::now() + STARTUP;
        loop {
            // A server still loading its AOF answers PING with an error.
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private redis on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---- PostgreSQL ---------------------------------------------------------

/// A PostgreSQL cluster of this test (`initdb` in a temporary folder),
/// run by `pg_ctl`. PostgreSQL refuses to run as root, so when the tests
/// run as root (CI) its programs run as the `postgres` user.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Makes and starts a cluster; `None` (and a line on standard error
    /// saying why) where this machine has no way to run one.
    pub async fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            eprintln!("skipped: no PostgreSQL server programs in /usr/lib/postgresql/*/bin");
            return None;
        };
        let root = id(&["-u"]).await.as_deref() == Some("0");
        let dir = tempfile::tempdir().unwrap();
        if root {
            let (Some(uid), Some(gid)) =
                (id(&["-u", "postgres"]).await, id(&["-g", "postgres"]).await)
            else {
                eprintln!(
                    "skipped: running as root and there is no postgres user to run PostgreSQL as"
                );
                return None;
            };
            std::os::unix::fs::chown(
                dir.path(),
                Some(uid.parse().unwrap()),
                Some(gid.parse().unwrap()),
            )
            .unwrap();
        }
        let pg = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres: root,
        };
        let out = Command::from(pg.command("initdb"))
            .arg("-D")
            .arg(pg.data())
            // Trust on 127.0.0.1 like the shared server; no fsync while
            // making the cluster (the server itself syncs as usual).
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again().await;
        Some(pg)
    }

    /// The URL of the cluster's `postgres` database, as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's data folder.
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `program` of the server's `bin` folder, as `postgres` when
    /// the tests run as root.
    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        // The postgres user may not be allowed into the test's folder.
        command.current_dir(self.dir.path());
        command
    }

    /// `pg_ctl start` on the same cluster and port; returns once it takes
    /// connections (after crash recovery, when there was a crash).
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        let out = Command::from(self.command("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", &STARTUP.as_secs().to_string()])
            .arg("start")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once,
    /// without a checkpoint; the next start replays the WAL, as after the
    /// server crashed.
    pub async fn stop_immediate(&self) {
        let out = Command::from(self.stop_command()).output().await.unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m immediate`, waiting until the server is gone.
    fn stop_command(&self) -> std::process::Command {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        command
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // pg_ctl leaves the server running on its own: stop it even when
        // the test failed, before the folder goes. Fails harmlessly when
        // it is already stopped.
        let _ = self
            .stop_command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The output of `id ARGS`, `None` when it fails (e.g. no such user).
async fn id(args: &[&str]) -> Option<String> {
    let out = Command::new("id").args(args).output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
