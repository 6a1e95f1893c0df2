//! The Redis backend: apalis-redis' `RedisStorage` on a redis
//! `ConnectionManager`, every key under `<JOBS_REDIS_PREFIX>:<queue>`.
//!
//! apalis-redis keeps a job as an entry of the `:data` hash (the encoded
//! envelope) and a `:meta:<id>` hash (`status`, `attempts`,
//! `max_attempts`, `result`, ...), and its place in one of: the
//! `:scheduled` sorted set (waiting for its time, including every new job
//! and every retry), the `:active` list (due), a worker's
//! `:inflight:<worker>` set (fetched / running), the `:done` set and the
//! `:dead` set. The CLI's statuses are read from those places, not from
//! the `status` field alone, because apalis' orphan recovery moves jobs
//! without rewriting it.
//!
//! What the bundle adds, in small Lua scripts (each one atomic):
//! - the backoff: apalis reschedules a failed job `attempt` seconds out;
//!   [`Rd::delay`] moves it to the bundle's backoff once apalis has
//!   recorded the failure;
//! - orphan recovery at `JOBS_VISIBILITY_TIMEOUT` that counts the lost run
//!   as an attempt (apalis' own sweep, kept as a backstop at twice the
//!   timeout, does not);
//! - list, retry, purge and hand-back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_redis::{Config, ConnectionManager, RedisStorage};
use redis::Script;

use super::{JobRow, NewJob, Pushed, StatusFilter, stored_name};
use crate::config::JobsConfig;
use crate::envelope::Envelope;
use crate::id::JobId;

/// How long a cron tick's idempotency key is kept. apalis-redis deletes
/// a key at once when no TTL is set, so one is always set; a tick's key
/// only has to outlive the clock skew between workers, a day is plenty.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A Redis job store on one queue.
#[derive(Clone)]
pub struct Rd {
    /// The connection (it reconnects by itself).
    pub conn: ConnectionManager,
    /// `JOBS_REDIS_PREFIX`.
    pub prefix: String,
    /// The queue.
    pub queue: String,
}

impl std::fmt::Debug for Rd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection's Debug would show the URL, password included.
        f.debug_struct("Rd")
            .field("prefix", &self.prefix)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Rd {
    /// Connects to `url` (checked with a PING, so a wrong URL fails at
    /// start rather than at the first job).
    pub async fn open(url: &str, config: &JobsConfig) -> anyhow::Result<Rd> {
        let masked = unchained::config::mask_url_password(url);
        let mut conn = apalis_redis::connect(url).await.map_err(|e| {
            anyhow::anyhow!("JOBS_URL = {masked}: cannot connect to Redis: {e}; check the host, port and password")
        })?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("JOBS_URL = {masked}: Redis does not answer PING: {e}"))?;
        Ok(Rd {
            conn,
            prefix: config.redis_prefix.clone(),
            queue: config.queue.clone(),
        })
    }

    /// The start of every key of this queue: `<prefix>:<queue>`.
    pub fn namespace(&self) -> String {
        format!("{}:{}", self.prefix, self.queue)
    }

    /// apalis-redis' config for this queue. Pub/sub events are off: no one
    /// listens, and they cost a PUBLISH per job.
    pub fn config(&self) -> Config {
        Config::default()
            .queue(self.namespace())
            .emit_events(false)
            .idempotency_ttl(Some(IDEMPOTENCY_TTL))
    }

    /// apalis' storage for this queue, configured for a worker.
    pub fn storage(&self, config: Config) -> RedisStorage<Envelope> {
        RedisStorage::new(self.conn.clone()).with_config(config)
    }

    pub(super) async fn push(&self, job: NewJob) -> anyhow::Result<Pushed> {
        let task = job
            .into_task()
            .try_map_args(|envelope| serde_json::to_vec(&envelope))?;
        let mut conn = self.conn.clone();
        let (enqueued, scheduled) =
            apalis_redis::queries::push_tasks(&mut conn, &self.config(), &[task])
                .await
                .map_err(|e| anyhow::anyhow!("storing a job in Redis failed: {e}"))?;
        // apalis skips a job whose idempotency key is claimed: nothing stored.
        Ok(if enqueued + scheduled == 0 {
            Pushed::Duplicate
        } else {
            Pushed::New
        })
    }

    /// Reschedules failed job `id` `delay` from now. The worker calls this
    /// before apalis records the failure (which schedules the job
    /// `attempt` seconds out), so the move waits, in the background, until
    /// that record is there; it gives up when the job has moved on.
    pub(super) async fn delay(&self, id: &JobId, delay: Duration) -> anyhow::Result<()> {
        let rd = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let at = unix_now() + delay.as_secs();
            for _ in 0..400 {
                match rd.reschedule_failed(&id, at).await {
                    Ok(Reschedule::Waiting) => tokio::time::sleep(Duration::from_millis(10)).await,
                    Ok(Reschedule::Done | Reschedule::Moved) => return,
                    Err(e) => {
                        tracing::warn!(target: "unchained_jobs", id = %id, "could not delay the retry: {e:#}");
                        return;
                    }
                }
            }
            tracing::warn!(target: "unchained_jobs", id = %id, "the failure was not recorded within 4 s; the retry keeps apalis' delay");
        });
        Ok(())
    }

    async fn reschedule_failed(&self, id: &JobId, at: u64) -> anyhow::Result<Reschedule> {
        let config = self.config();
        let mut conn = self.conn.clone();
        let outcome: i64 = Script::new(RESCHEDULE_FAILED)
            .key(config.scheduled_jobs_set())
            .key(self.meta_key(id.as_str()))
            .arg(id.as_str())
            .arg(at)
            .invoke_async(&mut conn)
            .await?;
        Ok(match outcome {
            1 => Reschedule::Done,
            2 => Reschedule::Moved,
            _ => Reschedule::Waiting,
        })
    }

    fn meta_key(&self, id: &str) -> String {
        format!("{}:{id}", self.config().job_meta_hash())
    }

    pub(super) async fn list(
        &self,
        status: Option<StatusFilter>,
        limit: u32,
    ) -> anyhow::Result<Vec<JobRow>> {
        let config = self.config();
        let mut conn = self.conn.clone();
        // One atomic snapshot of every place a job can be, with its meta.
        let snapshot: Vec<(String, String, Vec<String>)> = Script::new(LIST)
            .key(config.active_jobs_list())
            .key(config.scheduled_jobs_set())
            .key(config.workers_set())
            .key(config.inflight_jobs_set())
            .key(config.done_jobs_set())
            .key(config.dead_jobs_set())
            .key(config.job_meta_hash())
            .invoke_async(&mut conn)
            .await?;
        let mut rows: Vec<(String, &'static str, Vec<String>)> = snapshot
            .into_iter()
            .filter_map(|(id, place, meta)| {
                let word = status_word(&place, field(&meta, "status"));
                let wanted = status.is_none_or(|s| cli_word(s) == word);
                wanted.then_some((id, word, meta))
            })
            .collect();
        // Ids are ULIDs: newest first, like the SQL backends.
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        rows.truncate(limit as usize);
        let mut out = Vec::with_capacity(rows.len());
        for (id, word, meta) in rows {
            let job: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(config.job_data_hash())
                .arg(&id)
                .query_async(&mut conn)
                .await?;
            let number = |name: &str| field(&meta, name).and_then(|v| v.parse::<i64>().ok());
            out.push(JobRow {
                id: JobId::from_stored(id),
                name: job
                    .as_deref()
                    .map(stored_name)
                    .unwrap_or_else(|| "?".into()),
                status: word,
                attempts: number("attempts").unwrap_or(0),
                max_attempts: number("max_attempts").unwrap_or(0),
                run_at: number("run_at")
                    .or_else(|| number("locked_at"))
                    .or_else(|| number("done_at"))
                    .unwrap_or(0),
                last_result: field(&meta, "result").map(str::to_owned),
            });
        }
        Ok(out)
    }

    pub(super) async fn retry(&self, id: &JobId) -> anyhow::Result<bool> {
        let config = self.config();
        let mut conn = self.conn.clone();
        let moved: i64 = Script::new(RETRY_DEAD)
            .key(config.dead_jobs_set())
            .key(config.scheduled_jobs_set())
            .key(self.meta_key(id.as_str()))
            .arg(id.as_str())
            .arg(unix_now())
            .invoke_async(&mut conn)
            .await?;
        Ok(moved == 1)
    }

    pub(super) async fn purge(&self, done: bool, dead: bool) -> anyhow::Result<(u64, u64)> {
        let config = self.config();
        let mut conn = self.conn.clone();
        let mut counts = (0, 0);
        for (wanted, set, count) in [
            (done, config.done_jobs_set(), &mut counts.0),
            (dead, config.dead_jobs_set(), &mut counts.1),
        ] {
            if wanted {
                *count = Script::new(PURGE)
                    .key(set)
                    .key(config.job_data_hash())
                    .key(config.job_meta_hash())
                    .invoke_async(&mut conn)
                    .await?;
            }
        }
        Ok(counts)
    }

    pub(super) async fn hand_back(&self, worker: &str) -> anyhow::Result<u64> {
        self.requeue(worker, None).await
    }

    /// Hands the jobs of every other worker whose last heartbeat is older
    /// than `visibility` back to the queue; returns how many.
    pub async fn recover_orphans(&self, me: &str, visibility: Duration) -> anyhow::Result<u64> {
        let before = unix_now().saturating_sub(visibility.as_secs());
        self.requeue(me, Some(before)).await
    }

    /// Moves jobs held by workers back to `:active`, each run that was cut
    /// short counted as an attempt, and forgets those workers: `worker`
    /// itself when `stale_before` is None, else every other worker last
    /// seen at or before `stale_before` (Unix seconds).
    async fn requeue(&self, worker: &str, stale_before: Option<u64>) -> anyhow::Result<u64> {
        let config = self.config();
        let mut conn = self.conn.clone();
        let script = Script::new(REQUEUE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(config.workers_set())
            .key(config.inflight_jobs_set())
            .key(config.active_jobs_list())
            .key(config.job_meta_hash())
            .key(config.signal_list())
            .arg(worker);
        if let Some(before) = stale_before {
            invocation.arg(before);
        }
        let moved: u64 = invocation.invoke_async(&mut conn).await?;
        Ok(moved)
    }
}

/// What [`Rd::reschedule_failed`] found.
enum Reschedule {
    /// apalis has not recorded the failure yet.
    Waiting,
    /// Moved to the backoff.
    Done,
    /// The job is no longer a scheduled failure: nothing to do.
    Moved,
}

/// A meta field from HGETALL's flat `[field, value, ...]`.
fn field<'a>(meta: &'a [String], name: &str) -> Option<&'a str> {
    meta.chunks_exact(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str())
}

/// The CLI's word for a job found in `place` with meta `status`.
fn status_word(place: &str, status: Option<&str>) -> &'static str {
    match place {
        "active" => "pending",
        "scheduled" if status == Some("Failed") => "failed",
        "scheduled" => "pending",
        "inflight" => "running",
        "done" => "done",
        "dead" => "dead",
        _ => "unknown",
    }
}

/// The word [`status_word`] gives jobs of CLI status `status`.
fn cli_word(status: StatusFilter) -> &'static str {
    match status {
        StatusFilter::Pending => "pending",
        StatusFilter::Running => "running",
        StatusFilter::Done => "done",
        StatusFilter::Failed => "failed",
        StatusFilter::Dead => "dead",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// KEYS: scheduled set, the job's meta hash. ARGV: id, run at.
/// 1: moved; 2: not a scheduled failure any more; 0: not recorded yet.
const RESCHEDULE_FAILED: &str = r"
local status = redis.call('HGET', KEYS[2], 'status')
if status == 'Running' then return 0 end
if status == 'Failed' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[2], 'run_at', ARGV[2])
  return 1
end
return 2
";

/// KEYS: active list, scheduled set, workers set, inflight prefix, done
/// set, dead set, meta prefix. Returns `{id, place, meta}` per job.
const LIST: &str = r"
local out = {}
local function add(id, place)
  out[#out + 1] = {id, place, redis.call('HGETALL', KEYS[7] .. ':' .. id)}
end
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do add(id, 'active') end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do add(id, 'scheduled') end
for _, worker in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[4] .. ':' .. worker)) do add(id, 'inflight') end
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do add(id, 'done') end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[6])) do add(id, 'dead') end
return out
";

/// KEYS: dead set, scheduled set, the job's meta hash. ARGV: id, now.
const RETRY_DEAD: &str = r"
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'status', 'Pending', 'attempts', 0, 'run_at', ARGV[2])
redis.call('HDEL', KEYS[3], 'done_at', 'locked_at', 'locked_by')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
";

/// KEYS: the set to empty, data hash, meta prefix. Returns the count.
const PURGE: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('DEL', KEYS[3] .. ':' .. id)
end
redis.call('DEL', KEYS[1])
return #ids
";

/// KEYS: workers set, inflight prefix, active list, meta prefix, signal
/// list. ARGV: this worker; (optional) stale-before time. Without the
/// time: hands back this worker's jobs. With it: every other worker's
/// last heartbeat at or before it.
const REQUEUE: &str = r"
local workers = {}
if ARGV[2] then
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[2])) do
    if w ~= ARGV[1] then workers[#workers + 1] = w end
  end
else
  workers = {ARGV[1]}
end
local moved = 0
for _, w in ipairs(workers) do
  local inflight = KEYS[2] .. ':' .. w
  for _, id in ipairs(redis.call('SMEMBERS', inflight)) do
    local meta = KEYS[4] .. ':' .. id
    redis.call('HINCRBY', meta, 'attempts', 1)
    redis.call('HSET', meta, 'status', 'Pending')
    redis.call('HDEL', meta, 'locked_at', 'locked_by')
    redis.call('RPUSH', KEYS[3], id)
    moved = moved + 1
  end
  redis.call('DEL', inflight)
  redis.call('ZREM', KEYS[1], w)
end
if moved > 0 then
  redis.call('DEL', KEYS[5])
  redis.call('LPUSH', KEYS[5], 1)
end
return moved
";
