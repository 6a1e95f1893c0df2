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
//! - retries with the bundle's backoff and `max_attempts` (apalis-redis
//!   retries a `Failed` run `attempt` seconds later, up to 25 runs): every
//!   failed run ends as `Killed`, which apalis files in the dead set, and
//!   a run with attempts left is moved from there to the scheduled set at
//!   its backoff (`Rd::delay`);
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

    /// Schedules failed job `id`'s next run `delay` from now.
    ///
    /// The worker calls this before it ends the run as apalis' `Killed`,
    /// which apalis files in the dead set: a dead job is never fetched, so
    /// no worker can run it before its backoff is over. (apalis would
    /// file a `Failed` run for a retry `attempt` seconds out, and a move
    /// made after that could come too late.) This records the wanted
    /// time in the `:backoff` hash, then, in the background, moves the job
    /// from the dead set to the scheduled set as soon as apalis has filed
    /// it. If this process dies first, any worker's sweep (every
    /// heartbeat) makes the move.
    pub(super) async fn delay(&self, id: &JobId, delay: Duration) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        // Whole seconds, rounded up: apalis promotes a scheduled job once
        // the current whole second reaches its score.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let at = (now + delay).as_secs_f64().ceil() as u64;
        let () = Script::new(RECORD_BACKOFF)
            .key(self.backoff_key())
            .key(self.meta_key(id.as_str()))
            .arg(id.as_str())
            .arg(at)
            .invoke_async(&mut conn)
            .await?;
        let rd = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            // apalis files the result at its worker's next poll.
            for _ in 0..500 {
                match rd.promote_backoffs(Some(id.as_str())).await {
                    Ok(0) => tokio::time::sleep(Duration::from_millis(10)).await,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(target: "unchained_jobs", id = %id, "could not schedule the retry now (the sweep will): {e:#}");
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// Moves dead jobs with a recorded backoff to the scheduled set: job
    /// `only`, or every one. Returns how many moved, or for `only`, 1 also
    /// when its record turned out stale (nothing more to wait for).
    pub async fn promote_backoffs(&self, only: Option<&str>) -> anyhow::Result<u64> {
        let config = self.config();
        let mut conn = self.conn.clone();
        let script = Script::new(PROMOTE_BACKOFFS);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.backoff_key())
            .key(config.dead_jobs_set())
            .key(config.scheduled_jobs_set())
            .key(config.job_meta_hash());
        if let Some(id) = only {
            invocation.arg(id);
        }
        Ok(invocation.invoke_async(&mut conn).await?)
    }

    /// `<namespace>:backoff`: job id → `run_at:attempt` of failed runs
    /// waiting to be rescheduled (the bundle's key, not apalis').
    fn backoff_key(&self) -> String {
        format!("{}:backoff", self.namespace())
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
            .key(self.backoff_key())
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
            .key(self.backoff_key())
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
                    .key(self.backoff_key())
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
        "retrying" => "failed",
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

/// KEYS: backoff hash, the job's meta hash. ARGV: id, run at. The run
/// now failing is the stored attempts + 1 (apalis writes it back when it
/// files the result).
const RECORD_BACKOFF: &str = r"
local attempt = (tonumber(redis.call('HGET', KEYS[2], 'attempts')) or 0) + 1
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. attempt)
";

/// KEYS: backoff hash, dead set, scheduled set, meta prefix. ARGV:
/// (optional) the one job to look at. A record whose job is dead with the
/// recorded attempt moves it; one whose run apalis has not filed yet
/// (attempts still one less, status `Pending`/`Running`) waits; any other
/// (the job moved on: run again after a crash, purged) is dropped.
const PROMOTE_BACKOFFS: &str = r"
local ids
if ARGV[1] then ids = {ARGV[1]} else ids = redis.call('HKEYS', KEYS[1]) end
local done = 0
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[1], id)
  if not record then
    if ARGV[1] then done = done + 1 end
  else
    local at, attempt = string.match(record, '^(%d+):(%d+)$')
    local meta = KEYS[4] .. ':' .. id
    local status = redis.call('HGET', meta, 'status')
    local filed = tonumber(redis.call('HGET', meta, 'attempts')) or -1
    attempt = tonumber(attempt)
    if redis.call('SISMEMBER', KEYS[2], id) == 1 and filed == attempt then
      redis.call('SREM', KEYS[2], id)
      redis.call('ZADD', KEYS[3], at, id)
      redis.call('HSET', meta, 'status', 'Failed', 'run_at', at)
      redis.call('HDEL', KEYS[1], id)
      done = done + 1
    elseif not (filed == attempt - 1 and (status == 'Pending' or status == 'Running')) then
      redis.call('HDEL', KEYS[1], id)
      if ARGV[1] then done = done + 1 end
    end
  end
end
return done
";

/// KEYS: active list, scheduled set, workers set, inflight prefix, done
/// set, dead set, meta prefix, backoff hash. Returns `{id, place, meta}`
/// per job; a dead job with a backoff record is `retrying` (a failed run
/// on its way to the scheduled set).
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
for _, id in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  if redis.call('HEXISTS', KEYS[8], id) == 1 then add(id, 'retrying') else add(id, 'dead') end
end
return out
";

/// KEYS: dead set, scheduled set, the job's meta hash, backoff hash.
/// ARGV: id, now.
const RETRY_DEAD: &str = r"
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[3], 'status', 'Pending', 'attempts', 0, 'run_at', ARGV[2])
redis.call('HDEL', KEYS[3], 'done_at', 'locked_at', 'locked_by')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
";

/// KEYS: the set to empty, data hash, meta prefix, backoff hash. Returns
/// the count.
const PURGE: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[4], id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_map_to_the_cli_statuses() {
        assert_eq!(status_word("active", Some("Running")), "pending");
        assert_eq!(status_word("scheduled", Some("Pending")), "pending");
        assert_eq!(status_word("scheduled", Some("Failed")), "failed");
        assert_eq!(status_word("retrying", Some("Killed")), "failed");
        assert_eq!(status_word("inflight", None), "running");
        assert_eq!(status_word("done", Some("Done")), "done");
        assert_eq!(status_word("dead", Some("Killed")), "dead");
        for status in [
            StatusFilter::Pending,
            StatusFilter::Running,
            StatusFilter::Done,
            StatusFilter::Failed,
            StatusFilter::Dead,
        ] {
            assert!(
                [
                    "active",
                    "scheduled",
                    "retrying",
                    "inflight",
                    "done",
                    "dead"
                ]
                .iter()
                .any(|place| status_word(place, Some("Failed")) == cli_word(status)),
                "{status:?} is reachable"
            );
        }
    }

    #[test]
    fn meta_fields_are_read_from_hgetall_pairs() {
        let meta: Vec<String> = ["status", "Done", "attempts", "2"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(field(&meta, "attempts"), Some("2"));
        assert_eq!(field(&meta, "status"), Some("Done"));
        assert_eq!(field(&meta, "result"), None);
    }
}
