//! In-process scaling benchmark: how throughput grows with tokio workers,
//! with no network in the way.
//!
//! Each router is driven through [`tower::Service`] calls from as many
//! driver tasks as the runtime has workers, each task with its own
//! session, for a fixed time; the same run measures bare axum (the upper
//! limit), our session layer on the memory store, the same on a one-shard
//! memory store (the store as it was before it was sharded), and axum +
//! tower-sessions on its memory store (the peer of `shared/bench-peers`).
//! `cargo run --release -p session-bench --bin session-scaling -- --workers
//! 1,2,4,8,16` prints the tables that `docs/performance.md` quotes.
//!
//! Why no network: on loopback the kernel's socket work and the load
//! generator share the cores with the server, and hide whether the
//! server's own work scales. Here every cycle is the router's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use tower::{Service, ServiceExt};
use unchained_session::config::SessionConfig;
use unchained_session::store::MemoryStore;
use unchained_session::{Session, SessionError, SessionManager};

/// The routes measured: a session read, and a read and a write.
pub const ROUTES: [&str; 2] = ["/read", "/incr"];

/// How a run is made.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker counts to measure, each with as many driver tasks.
    pub workers: Vec<usize>,
    /// Measured time per cell and round.
    pub duration: Duration,
    /// Unmeasured time before each measurement, for caches and the
    /// allocator to settle.
    pub warmup: Duration,
    /// Rounds; each cell reports its median. Rounds are interleaved over
    /// all cells, so a slow moment of the machine spreads over them.
    pub rounds: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: default_workers(),
            duration: Duration::from_secs(3),
            warmup: Duration::from_millis(500),
            rounds: 3,
        }
    }
}

/// 1, 2, 4, ... up to the cores of this machine, at most 16.
pub fn default_workers() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n <= cores.min(16))
        .collect()
}

/// The routers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Axum handlers with no session layer, answering a constant.
    Bare,
    /// Our session layer on the (sharded) memory store.
    Ours,
    /// Our session layer on a memory store of one shard: one lock, as the
    /// store was before.
    OursOneShard,
    /// Axum + tower-sessions 0.15 on its memory store.
    TowerSessions,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 4] = [
        Peer::Bare,
        Peer::Ours,
        Peer::OursOneShard,
        Peer::TowerSessions,
    ];

    /// The name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Bare => "bare axum",
            Peer::Ours => "ours (memory store)",
            Peer::OursOneShard => "ours, one-shard memory store",
            Peer::TowerSessions => "tower-sessions (memory)",
        }
    }

    fn router(self) -> Result<Router, String> {
        Ok(match self {
            Peer::Bare => Router::new()
                .route("/read", get(|| async { "0" }))
                .route("/incr", get(|| async { "1" })),
            Peer::Ours => ours(MemoryStore::new())?,
            Peer::OursOneShard => ours(MemoryStore::with_shards(1))?,
            Peer::TowerSessions => {
                let layer = tower_sessions::SessionManagerLayer::new(
                    tower_sessions::MemoryStore::default(),
                )
                .with_secure(false);
                Router::new()
                    .route("/read", get(ts_read))
                    .route("/incr", get(ts_incr))
                    .layer(layer)
            }
        })
    }
}

fn ours(store: MemoryStore) -> Result<Router, String> {
    let manager = SessionManager::new(SessionConfig::default(), Arc::new(store), None)
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/read", get(read))
        .route("/incr", get(incr))
        .layer(manager.layer()))
}

async fn read(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0);
    Ok(n.to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

async fn ts_read(session: tower_sessions::Session) -> Result<String, StatusCode> {
    let n: i64 = session
        .get("n")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or(0);
    Ok(n.to_string())
}

async fn ts_incr(session: tower_sessions::Session) -> Result<String, StatusCode> {
    let n: i64 = session
        .get("n")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or(0)
        + 1;
    session
        .insert("n", n)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(n.to_string())
}

/// One measured cell: a peer, a route and a worker count.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The router.
    pub peer: Peer,
    /// The route.
    pub route: &'static str,
    /// Tokio workers (and driver tasks).
    pub workers: usize,
    /// Requests per second, median of the rounds.
    pub per_second: f64,
    /// Requests that did not answer 200, over all rounds.
    pub errors: u64,
    /// Cores this process kept busy while counting (its CPU time over the
    /// wall time), median of the rounds; `None` where `/proc/self/stat`
    /// cannot be read. Below the worker count, the machine was shared or
    /// the workers waited on each other.
    pub cores_used: Option<f64>,
    /// Requests per second of busy CPU (the rate over the cores used),
    /// median of the rounds: what each busy core got done, whether or not
    /// the machine was shared.
    pub per_core: Option<f64>,
}

/// What [`run`] measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options of the run.
    pub options: Options,
    /// Every cell, in peer, route, worker order.
    pub cells: Vec<Cell>,
}

impl Report {
    /// The cell of `peer`, `route` and `workers`, if measured.
    pub fn cell(&self, peer: Peer, route: &str, workers: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.peer == peer && c.route == route && c.workers == workers)
    }

    /// Throughput at `workers` as a multiple of one worker's (or of the
    /// fewest measured), for `peer` on `route`.
    pub fn multiple(&self, peer: Peer, route: &str, workers: usize) -> Option<f64> {
        let base = *self.options.workers.iter().min()?;
        let one = self.cell(peer, route, base)?.per_second;
        let at = self.cell(peer, route, workers)?.per_second;
        (one > 0.0).then(|| at / one)
    }

    /// Requests per busy core-second at `workers` as a multiple of one
    /// worker's (or of the fewest measured): 1.0 is perfect scaling of
    /// the work each core does; less is time lost to cores waiting on
    /// each other's cache lines.
    pub fn per_core_multiple(&self, peer: Peer, route: &str, workers: usize) -> Option<f64> {
        let base = *self.options.workers.iter().min()?;
        let one = self.cell(peer, route, base)?.per_core?;
        let at = self.cell(peer, route, workers)?.per_core?;
        (one > 0.0).then(|| at / one)
    }

    /// How well `peer` scales against bare axum in the same run: its
    /// multiple at `workers` divided by bare axum's.
    pub fn scaling_vs_bare(&self, peer: Peer, route: &str, workers: usize) -> Option<f64> {
        let bare = self.multiple(Peer::Bare, route, workers)?;
        let ours = self.multiple(peer, route, workers)?;
        (bare > 0.0).then(|| ours / bare)
    }

    /// Requests that failed in any cell.
    pub fn errors(&self) -> u64 {
        self.cells.iter().map(|c| c.errors).sum()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let workers = &self.options.workers;
        let base = workers.iter().min().copied().unwrap_or(1);
        writeln!(
            f,
            "Requests per second (multiple of {base} worker{}'s, cores busy), median of {} rounds x {:.1} s:\n",
            if base == 1 { "" } else { "s" },
            self.options.rounds,
            self.options.duration.as_secs_f64()
        )?;
        write!(f, "| router | route |")?;
        for n in workers {
            write!(f, " {n} worker{} |", if *n == 1 { "" } else { "s" })?;
        }
        write!(f, "\n| --- | --- |")?;
        for _ in workers {
            write!(f, " ---: |")?;
        }
        writeln!(f)?;
        for route in ROUTES {
            for peer in Peer::ALL {
                write!(f, "| {} | {route} |", peer.name())?;
                for &n in workers {
                    match (self.cell(peer, route, n), self.multiple(peer, route, n)) {
                        (Some(c), Some(m)) if n != base => {
                            write!(f, " {} ({m:.2}x){} |", thousands(c.per_second), cores(c))?
                        }
                        (Some(c), _) => write!(f, " {}{} |", thousands(c.per_second), cores(c))?,
                        (None, _) => write!(f, " |")?,
                    }
                }
                writeln!(f)?;
            }
        }
        let more: Vec<usize> = workers.iter().copied().filter(|&n| n != base).collect();
        if !more.is_empty() {
            writeln!(
                f,
                "\nScaling against bare axum (a router's multiple divided by bare axum's; targets: /read >= 0.9, /incr >= 0.8):\n"
            )?;
            write!(f, "| router | route |")?;
            for n in &more {
                write!(f, " {n} workers |")?;
            }
            write!(f, "\n| --- | --- |")?;
            for _ in &more {
                write!(f, " ---: |")?;
            }
            writeln!(f)?;
            for route in ROUTES {
                for peer in Peer::ALL.into_iter().filter(|p| *p != Peer::Bare) {
                    write!(f, "| {} | {route} |", peer.name())?;
                    for &n in &more {
                        match self.scaling_vs_bare(peer, route, n) {
                            Some(s) => write!(f, " {s:.2} |")?,
                            None => write!(f, " |")?,
                        }
                    }
                    writeln!(f)?;
                }
            }
        }
        if !more.is_empty() {
            writeln!(
                f,
                "\nRequests per busy core-second, multiple of {base} worker{}'s (1.00: each core does as much as one alone; robust to a shared machine, blind to time spent asleep on a lock):\n",
                if base == 1 { "" } else { "s" },
            )?;
            write!(f, "| router | route |")?;
            for n in &more {
                write!(f, " {n} workers |")?;
            }
            write!(f, "\n| --- | --- |")?;
            for _ in &more {
                write!(f, " ---: |")?;
            }
            writeln!(f)?;
            for route in ROUTES {
                for peer in Peer::ALL {
                    write!(f, "| {} | {route} |", peer.name())?;
                    for &n in &more {
                        match self.per_core_multiple(peer, route, n) {
                            Some(m) => write!(f, " {m:.2} |")?,
                            None => write!(f, " |")?,
                        }
                    }
                    writeln!(f)?;
                }
            }
        }
        write!(f, "\nfailed requests: {}", self.errors())
    }
}

/// The cores a cell kept busy, as `, 1.9 cores`, or nothing if unknown.
fn cores(cell: &Cell) -> String {
    cell.cores_used
        .map(|c| format!(", {c:.1} cores"))
        .unwrap_or_default()
}

/// `1234567.8` as `1,234,568`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A router and one session cookie per driver task.
struct Target {
    peer: Peer,
    router: Router,
    cookies: Vec<HeaderValue>,
}

/// Measures every peer on every route at every worker count. Errors name
/// what failed (a runtime that cannot start, a router that sets no
/// cookie).
pub fn run(options: &Options) -> Result<Report, String> {
    let mut options = options.clone();
    options.workers.retain(|&n| n > 0);
    options.workers.sort_unstable();
    options.workers.dedup();
    options.rounds = options.rounds.max(1);
    let tasks = options.workers.iter().copied().max().unwrap_or(1);

    // Sessions are made once, before any measurement: one per driver task,
    // so that no two tasks write the same session (as no two users do).
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let targets = Peer::ALL
        .into_iter()
        .map(|peer| {
            let router = peer.router()?;
            let cookies = (0..tasks)
                .map(|_| setup.block_on(new_session(&router, peer)))
                .collect::<Result<_, _>>()?;
            Ok(Target {
                peer,
                router,
                cookies,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    drop(setup);

    let runtimes = options
        .workers
        .iter()
        .map(|&n| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime of {n} workers: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;

    // samples[target][route][workers] = one rate per round; busy: the same
    // for the cores used.
    let mut samples =
        vec![vec![vec![Vec::new(); options.workers.len()]; ROUTES.len()]; targets.len()];
    let mut busy = samples.clone();
    let mut per_core = samples.clone();
    let mut errors = vec![vec![vec![0u64; options.workers.len()]; ROUTES.len()]; targets.len()];
    for _ in 0..options.rounds {
        for (w, (&n, runtime)) in options.workers.iter().zip(&runtimes).enumerate() {
            for (t, target) in targets.iter().enumerate() {
                for (r, route) in ROUTES.into_iter().enumerate() {
                    let (rate, failed, cores) = measure(runtime, target, route, n, &options);
                    samples[t][r][w].push(rate);
                    busy[t][r][w].extend(cores);
                    per_core[t][r][w].extend(cores.filter(|c| *c > 0.0).map(|c| rate / c));
                    errors[t][r][w] += failed;
                }
            }
        }
    }

    let mut cells = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        for (r, route) in ROUTES.into_iter().enumerate() {
            for (w, &n) in options.workers.iter().enumerate() {
                cells.push(Cell {
                    peer: target.peer,
                    route,
                    workers: n,
                    per_second: median(&mut samples[t][r][w]),
                    errors: errors[t][r][w],
                    cores_used: (!busy[t][r][w].is_empty()).then(|| median(&mut busy[t][r][w])),
                    per_core: (!per_core[t][r][w].is_empty())
                        .then(|| median(&mut per_core[t][r][w])),
                });
            }
        }
    }
    Ok(Report { options, cells })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Makes a session on `router` (one `/incr` without cookie) and returns
/// the cookie that names it.
async fn new_session(router: &Router, peer: Peer) -> Result<HeaderValue, String> {
    let request = Request::get("/incr")
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!(
            "{}: /incr answered {}",
            peer.name(),
            response.status()
        ));
    }
    if peer == Peer::Bare {
        // Bare axum sets no cookie; it gets one of the same size anyway,
        // so that every router parses the same request.
        return Ok(HeaderValue::from_static(
            "id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ));
    }
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{}: /incr set no cookie", peer.name()))?;
    let pair = set.split(';').next().unwrap_or(set).trim();
    HeaderValue::from_str(pair).map_err(|e| e.to_string())
}

/// Drives `route` of `target` from `workers` tasks on `runtime`: a warm-up,
/// then `options.duration` counted. Returns requests per second, how many
/// requests failed, and the cores the process kept busy meanwhile.
fn measure(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    route: &'static str,
    workers: usize,
    options: &Options,
) -> (f64, u64, Option<f64>) {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> = target
        .cookies
        .iter()
        .take(workers)
        .map(|cookie| {
            runtime.spawn(drive(
                target.router.clone(),
                route,
                cookie.clone(),
                counting.clone(),
                stop.clone(),
            ))
        })
        .collect();
    // This thread only sleeps while the workers run: the flags are written
    // twice per cell and read by the drivers, so they cost no shared
    // writes while counting.
    std::thread::sleep(options.warmup);
    counting.store(true, Ordering::Relaxed);
    let (started, cpu_before) = (Instant::now(), cpu_time());
    std::thread::sleep(options.duration);
    stop.store(true, Ordering::Relaxed);
    let (elapsed, cpu_after) = (started.elapsed(), cpu_time());
    let wall = elapsed.as_secs_f64().max(f64::EPSILON);
    let cores = cpu_before
        .zip(cpu_after)
        .map(|(b, a)| a.saturating_sub(b).as_secs_f64() / wall);
    let (mut ok, mut failed) = (0u64, 0u64);
    for driver in drivers {
        match runtime.block_on(driver) {
            Ok((o, f)) => {
                ok += o;
                failed += f;
            }
            Err(_) => failed += 1,
        }
    }
    (ok as f64 / wall, failed, cores)
}

/// CPU time of this process so far (user and system), from
/// `/proc/self/stat` in clock ticks of 10 ms (Linux's `USER_HZ` is 100 on
/// every architecture it reports to user space).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}

/// One driver task: requests back to back until told to stop; counts
/// those answered while `counting`.
///
/// Each task owns a clone of the router and calls it in place, as a
/// server connection owns its service: cloning the router for every
/// request (`oneshot` on a fresh clone) would write the router's shared
/// reference count on every request and cap bare axum's scaling too.
async fn drive(
    mut router: Router,
    route: &'static str,
    cookie: HeaderValue,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut sent = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let answered = call(&mut router, route, &cookie).await;
        if counting.load(Ordering::Relaxed) {
            if answered {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        sent = sent.wrapping_add(1);
        // The memory stores answer without ever waiting, so a task would
        // otherwise never give its worker back: yield now and then, so the
        // runtime's own work (timers, stealing) goes on as under a server.
        if sent.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
    (ok, failed)
}

/// One request; `true` if it was answered with 200 and a whole body.
async fn call(router: &mut Router, route: &'static str, cookie: &HeaderValue) -> bool {
    let Ok(request) = Request::get(route)
        .header(COOKIE, cookie.clone())
        .body(Body::empty())
    else {
        return false;
    };
    let Ok(service) = ServiceExt::<Request<Body>>::ready(router).await;
    let Ok(response) = service.call(request).await;
    response.status() == StatusCode::OK
        && axum::body::to_bytes(response.into_body(), 1024)
            .await
            .is_ok()
}
