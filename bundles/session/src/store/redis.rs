//! [`RedisStore`]: sessions in Redis or a Redis Cluster, with native expiry.
//!
//! # Keys
//!
//! A session is one hash at `prefix` + id; an owner's sessions are indexed
//! in one sorted set at `prefix` + `owners:` + owner (member: the session
//! id, score: when the entry was last added, in ms). No hash tags: a
//! session id is drawn before its owner is known (login regenerates the id,
//! then sets the owner), so a session cannot live in its owner's slot.
//!
//! Every script declares every key it touches in `KEYS`. On one server a
//! write declares the session and the owner's index and updates both in
//! one script. On a cluster the two keys are in different slots, so the
//! index is kept by a second step, always taken first: the id is added to
//! the owner's index, then the session is written under that owner. An
//! index can therefore hold ids that are not (or not yet, or no longer)
//! sessions of its owner; readers check each session, and drop an entry
//! only when it is provably dead (see [`INDEX_GRACE_MS`]).
//!
//! A revoke (every session of an owner) fences the owner's index and reads
//! it in one script: while the fence stands, adding to that index fails,
//! so no session can be written under the owner, and the ids read are all
//! the owner's sessions can be under. It then deletes each of them that
//! still has the owner; a recent entry whose session is not (yet) the
//! owner's gets a tombstone (missing key) or a version bump (existing
//! record), which stops a cluster write still between its two steps. The
//! last step drops the fence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, RedisFuture, Script, Value};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

const NAME: &str = "redis";

/// How long one Redis call may take before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// How long an index entry whose session is missing, or has another
/// owner, is kept after it was last added. It covers the gap between the
/// two steps of a cluster write (the entry is added, the session is written
/// one round trip later): a reader that looks between them must not drop
/// the entry, or a revoke would miss the session. Ten minutes is far longer
/// than any write (calls time out after 3 s), even with app clocks minutes
/// apart.
const INDEX_GRACE_MS: i64 = 10 * 60 * 1000;

/// The member of an owner's index that fences it while a revoke runs:
/// no id can be added (so no session can be written under that owner)
/// until the revoke removes it, or its score (a time, ms) passes. Ids are
/// URL-safe base64, so no id is this member.
const FENCE: &str = "~revoking";

/// How long a fence holds if its revoke never removes it (the revoke
/// failed half-way): far longer than a revoke's few calls of 3 s at most.
const FENCE_MS: i64 = 30 * 1000;

/// A Lua function that adds an id to an owner's index with score `now`,
/// and makes the index live at least `ttl` ms (as long as its longest
/// session); `false` (nothing written) while a revoke fences the index.
/// Shared by the scripts that keep the index.
macro_rules! index_add_fn {
    () => {
        r"
local function index_add(k, id, now, ttl)
  local fence = redis.call('ZSCORE', k, '~revoking')
  if fence and tonumber(fence) > tonumber(now) then return false end
  redis.call('ZADD', k, now, id)
  if redis.call('PTTL', k) < tonumber(ttl) then redis.call('PEXPIRE', k, ttl) end
  return true
end
"
    };
}

/// Lua that writes the record of `ARGV[2..9]` to the key `$key`
/// (replacing the hash, setting the expiry).
macro_rules! write_record {
    ($key:literal) => {
        concat!(
            "redis.call('DEL', ",
            $key,
            ")\nredis.call('HSET', ",
            $key,
            ", 'v', ARGV[2], 'd', ARGV[3], 'c', ARGV[5], 'e', ARGV[6])\n",
            "if ARGV[4] ~= '' then redis.call('HSET', ",
            $key,
            ", 'o', ARGV[4]) end\nredis.call('PEXPIREAT', ",
            $key,
            ", ARGV[6])\n"
        )
    };
}

/// Conditional write of one record: 1 written, 0 version conflict (or, on
/// create, the key exists: a record or a revoke's tombstone), 2 refused
/// (the owner's index is fenced). KEYS[1] = session key; KEYS[2] (on one
/// server, when the record has an owner) = the owner's index, kept in the
/// same call. ARGV: expected version ('' = create), new version, data,
/// owner ('' = none), created ms, expires ms, id, ttl ms, now ms.
const SAVE: &str = concat!(
    index_add_fn!(),
    r"
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
elseif redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then
  return 0
end
if KEYS[2] and not index_add(KEYS[2], ARGV[7], ARGV[9], ARGV[8]) then return 2 end
",
    write_record!("KEYS[1]"),
    "return 1\n"
);

/// Atomic move of a record to a new id, on one server. KEYS[1] = old key,
/// KEYS[2] = new key, KEYS[3] (when the record has an owner) = the owner's
/// index. ARGV and results as in [`SAVE`] with the new id; ARGV[1] is the
/// old record's version.
const RENAME: &str = concat!(
    index_add_fn!(),
    r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if KEYS[3] and not index_add(KEYS[3], ARGV[7], ARGV[9], ARGV[8]) then return 2 end
redis.call('DEL', KEYS[1])
",
    write_record!("KEYS[2]"),
    "return 1\n"
);

/// The index step of a cluster write: 1 added, 2 refused (fenced).
/// KEYS[1] = the owner's index; ARGV: id, now ms, ttl ms.
const INDEX_ADD: &str = concat!(
    index_add_fn!(),
    "if index_add(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 1 end\nreturn 2\n"
);

/// A revoke's first step: fences the owner's index until `ARGV[1]` (ms)
/// and returns its entries (id, score pairs, the fence among them).
/// KEYS[1] = the owner's index; ARGV[2] = how long the index must live.
const FENCE_INDEX: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], '~revoking')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
";

/// Deletes a record if it has version `ARGV[1]`; returns 1 if it did.
/// KEYS[1] = session key. The second step of a cluster rename.
const DELETE_IF_VERSION: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
";

/// A revoke's second step, per indexed id: deletes the record if its
/// owner is `ARGV[1]` and returns 1. Otherwise, when `ARGV[2]` is a
/// tombstone lifetime (ms; the entry is recent, so a cluster write may
/// still be on its way), it stops that write: a missing key gets a
/// tombstone (no create can take the id), a record gets its version
/// bumped (a save that would give it this owner conflicts, reloads, and
/// then meets the fence). KEYS[1] = session key.
const DELETE_IF_OWNER: &str = r"
local owner = redis.call('HGET', KEYS[1], 'o')
if owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], 't', '1')
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  elseif redis.call('HEXISTS', KEYS[1], 'v') == 1 then
    redis.call('HINCRBY', KEYS[1], 'v', 1)
  end
end
return 0
";

/// Drops entries from an owner's index. KEYS[1] = the index. ARGV[1] =
/// cutoff ms (now - grace); ARGV[2] = n, then n ids of deleted sessions
/// (dropped: a deleted id never comes back), then pairs of id and the
/// score it was read with, dropped only if the score is unchanged (not
/// added again since) and older than the cutoff.
const PRUNE_INDEX: &str = r"
local cutoff = tonumber(ARGV[1])
local dead = tonumber(ARGV[2])
for i = 3, 2 + dead do redis.call('ZREM', KEYS[1], ARGV[i]) end
for i = 3 + dead, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and s == ARGV[i + 1] and tonumber(s) < cutoff then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1
";

/// Sessions in Redis at `SESSION_REDIS`, one hash per session under
/// `SESSION_KEY_PREFIX` + id, expiring natively (`PEXPIREAT`); owners are
/// indexed in sorted sets under `SESSION_KEY_PREFIX` + `owners:`. With
/// `SESSION_REDIS_CLUSTER = true` the same keys live in a Redis Cluster
/// (see the module docs for how the index is kept there).
///
/// Each operation is one command or one Lua script, except on a cluster:
/// a write of a session with an owner adds to the owner's index first (one
/// more round trip), a regeneration writes the new id, then deletes the
/// old one (no reader can see the new id before the response carries it).
/// Listing and ending an owner's sessions read the index, then each
/// session (concurrently, one round trip on one server), then drop stale
/// entries; a write of a session with that owner while its sessions are
/// being ended fails ([`StoreError::Unavailable`], so 503).
///
/// The connection is made on first use and made again after a failure, so
/// the app starts while Redis is down and recovers when it is back.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// The client, for one server or a cluster (made once per store: the
/// cluster's, with its parameters, is boxed to keep the two alike in size).
enum Client {
    Node(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// A multiplexed connection to one server or a cluster (both are cheap to
/// clone and share between requests).
#[derive(Clone)]
enum Connection {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

struct Inner {
    client: Client,
    prefix: String,
    conn: Mutex<Option<Connection>>,
    connecting: tokio::sync::Mutex<()>,
    save: Script,
    rename: Script,
    index_add: Script,
    delete_if_version: Script,
    delete_if_owner: Script,
    fence_index: Script,
    prune_index: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("cluster", &self.is_cluster())
            .finish_non_exhaustive()
    }
}

/// One entry of an owner's index: the id and its score as Redis wrote it.
struct IndexEntry {
    id: String,
    score: String,
}

impl RedisStore {
    /// A store on one server at `url` (e.g. `redis://127.0.0.1:6379/0`)
    /// with keys under `prefix`. Only the URL is checked here; nothing
    /// connects yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::unavailable(
                NAME,
                format!(
                    "SESSION_REDIS = {:?} is not a valid Redis URL ({e}): use \
                     redis://[:password@]host:port[/db] or rediss:// for TLS",
                    mask_password(url)
                ),
            )
        })?;
        Ok(Self::with_client(Client::Node(client), prefix))
    }

    /// A store on the Redis Cluster that `urls` (one or more of its nodes,
    /// e.g. `redis://10.0.0.1:7000`) belong to, with keys under `prefix`.
    /// The client learns the other nodes from the cluster. Only the URLs
    /// are checked here; nothing connects yet.
    pub fn cluster<'a>(
        urls: impl IntoIterator<Item = &'a str>,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let urls: Vec<&str> = urls.into_iter().collect();
        for url in &urls {
            if let Err(e) = redis::IntoConnectionInfo::into_connection_info(*url) {
                return Err(StoreError::unavailable(
                    NAME,
                    format!(
                        "SESSION_REDIS lists {:?}, which is not a valid Redis URL ({e}): list the \
                         cluster's nodes as redis://[:password@]host:port, separated by commas",
                        mask_password(url)
                    ),
                ));
            }
        }
        let client = ClusterClient::builder(urls)
            .connection_timeout(CALL_TIMEOUT)
            .response_timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| {
                StoreError::unavailable(
                    NAME,
                    format!(
                        "SESSION_REDIS does not name a usable Redis Cluster ({e}): list one or \
                         more of its nodes as redis://[:password@]host:port, separated by commas, \
                         all with the same password and scheme"
                    ),
                )
            })?;
        Ok(Self::with_client(Client::Cluster(Box::new(client)), prefix))
    }

    /// The store that `SESSION_REDIS`, `SESSION_REDIS_CLUSTER` and
    /// `SESSION_KEY_PREFIX` describe.
    pub fn from_config(config: &crate::config::SessionConfig) -> Result<Self, StoreError> {
        let urls = config.redis_urls();
        if config.redis_cluster {
            Self::cluster(urls, &config.key_prefix)
        } else if let [url] = urls.as_slice() {
            Self::new(url, &config.key_prefix)
        } else {
            Err(StoreError::unavailable(
                NAME,
                crate::config::ConfigError::RedisUrlList(urls.len()),
            ))
        }
    }

    fn with_client(client: Client, prefix: &str) -> Self {
        RedisStore {
            inner: Arc::new(Inner {
                client,
                prefix: prefix.to_owned(),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                save: Script::new(SAVE),
                rename: Script::new(RENAME),
                index_add: Script::new(INDEX_ADD),
                delete_if_version: Script::new(DELETE_IF_VERSION),
                delete_if_owner: Script::new(DELETE_IF_OWNER),
                fence_index: Script::new(FENCE_INDEX),
                prune_index: Script::new(PRUNE_INDEX),
            }),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.client, Client::Cluster(_))
    }

    /// The Redis key of session `id` (a checked id: no whitespace or
    /// separators can reach the key).
    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.inner.prefix)
    }

    /// The Redis key of `owner`'s index.
    fn owner_key(&self, owner: &str) -> String {
        format!("{}owners:{owner}", self.inner.prefix)
    }

    fn cached(&self) -> Option<Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        // One task connects; the others wait for its connection.
        let _guard = self.inner.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let connect = async {
            match &self.inner.client {
                Client::Node(client) => client
                    .get_multiplexed_async_connection()
                    .await
                    .map(Connection::Node),
                Client::Cluster(client) => {
                    client.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        let conn = tokio::time::timeout(CALL_TIMEOUT, connect)
            .await
            .map_err(|_| StoreError::unavailable(NAME, "timed out connecting"))?
            .map_err(|e| StoreError::unavailable(NAME, e))?;
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    fn forget_connection(&self) {
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs one call with a timeout; a broken connection is dropped so the
    /// next call connects again.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                {
                    self.forget_connection();
                }
                Err(StoreError::unavailable(NAME, e))
            }
            Err(_) => {
                self.forget_connection();
                Err(StoreError::unavailable(NAME, "timed out"))
            }
        }
    }

    /// The cluster's first write step: adds `id` to `owner`'s index before
    /// the session becomes reachable under that owner.
    async fn index_add(&self, owner: &str, id: &str, now: i64, ttl: i64) -> Result<(), StoreError> {
        let key = self.owner_key(owner);
        let script = &self.inner.index_add;
        let done: i64 = self
            .call(|mut conn| async move {
                script
                    .key(&key)
                    .arg(id)
                    .arg(now)
                    .arg(ttl)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if done == 2 { Err(fenced()) } else { Ok(()) }
    }

    /// Every entry of `owner`'s index.
    async fn index_entries(&self, owner: &str) -> Result<Vec<IndexEntry>, StoreError> {
        let key = self.owner_key(owner);
        // Pairs of id and score (a flat list on RESP2, pairs on RESP3).
        let pairs: Vec<(String, String)> = self
            .call(|mut conn| async move {
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(entries_from(pairs))
    }

    /// Drops from `owner`'s index the ids in `dead` (deleted sessions) and
    /// the entries in `stale` that were not added again since they were
    /// read and are older than [`INDEX_GRACE_MS`].
    async fn prune_index(
        &self,
        owner: &str,
        dead: &[&str],
        stale: &[&IndexEntry],
    ) -> Result<(), StoreError> {
        if dead.is_empty() && stale.is_empty() {
            return Ok(());
        }
        let key = self.owner_key(owner);
        let cutoff = Utc::now().timestamp_millis() - INDEX_GRACE_MS;
        let script = &self.inner.prune_index;
        let _: i64 = self
            .call(|mut conn| async move {
                let mut invocation = script.key(&key);
                invocation.arg(cutoff).arg(dead.len()).arg(dead);
                for entry in stale {
                    invocation.arg(&entry.id).arg(&entry.score);
                }
                invocation.invoke_async(&mut conn).await
            })
            .await?;
        Ok(())
    }

    /// Loads `fields` of each session in `entries`, concurrently (the
    /// connection pipelines them: one round trip per node).
    async fn load_fields(
        &self,
        entries: &[IndexEntry],
        fields: &'static [&'static str],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        let keys: Vec<String> = entries.iter().map(|e| self.key(&e.id)).collect();
        self.call(|conn| {
            futures::future::try_join_all(keys.into_iter().map(move |key| {
                let mut conn = conn.clone();
                async move {
                    redis::cmd("HMGET")
                        .arg(key)
                        .arg(fields)
                        .query_async::<Vec<Option<Vec<u8>>>>(&mut conn)
                        .await
                }
            }))
        })
        .await
    }

    /// The cluster's regeneration: writes the new id, then deletes the old
    /// one if it still has version `expected` (else takes the new one back:
    /// a concurrent request saved first, the caller reloads).
    async fn rename_in_steps(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        if self.save(new, record, None).await? == SaveOutcome::Conflict {
            return Ok(SaveOutcome::Conflict);
        }
        let old_key = self.key(old.as_str());
        let script = &self.inner.delete_if_version;
        let deleted: i64 = self
            .call(|mut conn| async move {
                script
                    .key(&old_key)
                    .arg(expected.to_string())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if deleted == 1 {
            return Ok(SaveOutcome::Saved);
        }
        self.delete(new).await?;
        Ok(SaveOutcome::Conflict)
    }
}

/// The arguments every write passes after the keys, from ARGV[2] on (see
/// [`SAVE`]).
struct WriteArgs {
    version: String,
    owner: String,
    created: i64,
    expires: i64,
    ttl: i64,
    now: i64,
}

impl WriteArgs {
    fn new(record: &Record) -> Self {
        let now = Utc::now().timestamp_millis();
        let expires = record.expires_at.timestamp_millis();
        WriteArgs {
            version: record.version.to_string(),
            owner: record.owner.clone().unwrap_or_default(),
            created: record.created_at.timestamp_millis(),
            expires,
            ttl: (expires - now).max(1),
            now,
        }
    }

    /// Adds ARGV[2..9] for `record` written under `id`.
    fn push(&self, invocation: &mut redis::ScriptInvocation<'_>, record: &Record, id: &str) {
        invocation
            .arg(&self.version)
            .arg(&record.data)
            .arg(&self.owner)
            .arg(self.created)
            .arg(self.expires)
            .arg(id)
            .arg(self.ttl)
            .arg(self.now);
    }
}

/// A write's outcome from its script's result (see [`SAVE`]).
fn outcome(done: i64) -> Result<SaveOutcome, StoreError> {
    match done {
        1 => Ok(SaveOutcome::Saved),
        2 => Err(fenced()),
        _ => Ok(SaveOutcome::Conflict),
    }
}

/// A write refused because the owner's sessions are being revoked.
fn fenced() -> StoreError {
    StoreError::unavailable(
        NAME,
        "every session of this owner is being ended (a revoke is running): try again",
    )
}

/// Index entries from `ZRANGE ... WITHSCORES` pairs, without the fence.
fn entries_from(pairs: Vec<(String, String)>) -> Vec<IndexEntry> {
    pairs
        .into_iter()
        .filter(|(id, _)| id != FENCE)
        .map(|(id, score)| IndexEntry { id, score })
        .collect()
}

/// `url` with its password replaced, for error messages.
fn mask_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}********{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn parse_time(store_value: Option<&Vec<u8>>) -> Result<DateTime<Utc>, StoreError> {
    store_value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| StoreError::corrupt(NAME, "missing or invalid timestamp"))
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = self.key(id.as_str());
        // HMGET of fixed fields: one round trip, no map to build.
        let fields: Vec<Option<Vec<u8>>> = self
            .call(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["v", "d", "o", "c", "e"])
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let mut fields = fields.into_iter();
        let mut next = || fields.next().flatten();
        let Some(version) = next() else {
            return Ok(None);
        };
        let version = std::str::from_utf8(&version)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::corrupt(NAME, "invalid version"))?;
        let data = next().unwrap_or_default();
        let owner = next().map(|o| String::from_utf8_lossy(&o).into_owned());
        let record = Record {
            data,
            version,
            owner,
            created_at: parse_time(next().as_ref())?,
            expires_at: parse_time(next().as_ref())?,
        };
        // Redis expires keys itself, but only to the millisecond it checks.
        Ok((!record.is_expired(Utc::now())).then_some(record))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let args = WriteArgs::new(record);
        // On a cluster the index is another slot's: added first, so the
        // session is never reachable under an owner whose index lacks it.
        let index = match &record.owner {
            Some(owner) if self.is_cluster() => {
                self.index_add(owner, id.as_str(), args.now, args.ttl)
                    .await?;
                None
            }
            Some(owner) => Some(self.owner_key(owner)),
            None => None,
        };
        let key = self.key(id.as_str());
        let expected = expected.map(|v| v.to_string()).unwrap_or_default();
        let script = &self.inner.save;
        let done: i64 = self
            .call(|mut conn| async move {
                let mut invocation = script.key(&key);
                if let Some(index) = &index {
                    invocation.key(index);
                }
                invocation.arg(&expected);
                args.push(&mut invocation, record, id.as_str());
                invocation.invoke_async(&mut conn).await
            })
            .await?;
        outcome(done)
    }

    async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        if self.is_cluster() {
            // The two ids are in different slots: no script can hold both.
            return self.rename_in_steps(old, new, record, expected).await;
        }
        let args = WriteArgs::new(record);
        let (old_key, new_key) = (self.key(old.as_str()), self.key(new.as_str()));
        let index = record.owner.as_deref().map(|owner| self.owner_key(owner));
        let script = &self.inner.rename;
        let done: i64 = self
            .call(|mut conn| async move {
                let mut invocation = script.key(&old_key);
                invocation.key(&new_key);
                if let Some(index) = &index {
                    invocation.key(index);
                }
                invocation.arg(expected.to_string());
                args.push(&mut invocation, record, new.as_str());
                invocation.invoke_async(&mut conn).await
            })
            .await?;
        outcome(done)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.key(id.as_str());
        // The owner index keeps the id until the next listing prunes it:
        // that keeps a delete one command.
        let n: i64 = self
            .call(
                |mut conn| async move { redis::cmd("DEL").arg(&key).query_async(&mut conn).await },
            )
            .await?;
        Ok(n > 0)
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let entries = self.index_entries(owner).await?;
        let fields = self.load_fields(&entries, &["o", "c", "e"]).await?;
        let now = Utc::now();
        let mut out = Vec::with_capacity(entries.len());
        let mut stale = Vec::new();
        for (entry, fields) in entries.iter().zip(fields) {
            let [stored_owner, created, expires]: [Option<Vec<u8>>; 3] =
                fields.try_into().unwrap_or_default();
            if stored_owner.as_deref() != Some(owner.as_bytes()) {
                stale.push(entry);
                continue;
            }
            let info = SessionInfo {
                id: entry.id.clone(),
                owner: Some(owner.to_owned()),
                created_at: parse_time(created.as_ref())?,
                expires_at: parse_time(expires.as_ref())?,
            };
            if info.expires_at > now {
                out.push(info);
            }
        }
        self.prune_index(owner, &[], &stale).await?;
        Ok(out)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        // 1. Fence the index and read it in one step: from here no session
        // can be written under this owner (every such write adds to the
        // index first, and that add now fails), so the ids read are all
        // there will be until the fence is lifted.
        let index = self.owner_key(owner);
        let now = Utc::now().timestamp_millis();
        let script = &self.inner.fence_index;
        let pairs: Vec<(String, String)> = self
            .call(|mut conn| async move {
                script
                    .key(&index)
                    .arg(now + FENCE_MS)
                    .arg(FENCE_MS)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let entries = entries_from(pairs);
        // 2. Delete each session that has this owner; stop any write
        // still on its way to a recent entry's id (a cluster write adds
        // to the index one round trip before it writes the session).
        let recent = now - INDEX_GRACE_MS;
        let tombstone = INDEX_GRACE_MS.to_string();
        let script = &self.inner.delete_if_owner;
        let calls: Vec<(String, &str)> = entries
            .iter()
            .map(|e| {
                let pending = e.score.parse::<f64>().map_or(true, |s| s >= recent as f64);
                (
                    self.key(&e.id),
                    if pending { tombstone.as_str() } else { "" },
                )
            })
            .collect();
        let deleted: Vec<i64> = self
            .call(|conn| {
                futures::future::try_join_all(calls.iter().map(move |(key, tomb)| {
                    let mut conn = conn.clone();
                    async move {
                        script
                            .key(key)
                            .arg(owner)
                            .arg(*tomb)
                            .invoke_async(&mut conn)
                            .await
                    }
                }))
            })
            .await?;
        // 3. Drop the deleted ids and the fence (and stale entries).
        let mut dead = vec![FENCE];
        let mut stale = Vec::new();
        for (entry, deleted) in entries.iter().zip(&deleted) {
            if *deleted == 1 {
                dead.push(entry.id.as_str());
            } else {
                stale.push(entry);
            }
        }
        self.prune_index(owner, &dead, &stale).await?;
        Ok(dead.len() as u64 - 1)
    }

    async fn cleanup_expired(&self, _now: DateTime<Utc>, _limit: u64) -> Result<u64, StoreError> {
        // Redis deletes expired keys itself (native TTL): nothing to do.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionConfig;

    fn error(result: Result<RedisStore, StoreError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn bad_urls_name_the_key_and_the_fix() {
        let err = error(RedisStore::new("http://:hunter2@example.com", "s:"));
        assert!(err.contains("SESSION_REDIS = "), "{err}");
        assert!(err.contains("redis://"), "{err}");
        assert!(!err.contains("hunter2"), "password masked: {err}");
        let err = error(RedisStore::cluster(["redis://10.0.0.1:7000", "nope"], "s:"));
        assert!(err.contains("SESSION_REDIS lists \"nope\""), "{err}");
        let err = error(RedisStore::cluster(["redis+unix:///tmp/redis.sock"], "s:"));
        assert!(err.contains("Redis Cluster"), "{err}");
        let err = error(RedisStore::cluster(
            ["redis://:a@10.0.0.1:7000", "redis://:b@10.0.0.2:7000"],
            "s:",
        ));
        assert!(err.contains("same password"), "{err}");
    }

    #[test]
    fn config_picks_one_server_or_a_cluster() {
        let mut config = SessionConfig {
            redis_url: "redis://10.0.0.1:7000,redis://10.0.0.2:7000".into(),
            ..SessionConfig::default()
        };
        let err = error(RedisStore::from_config(&config));
        assert!(err.contains("SESSION_REDIS_CLUSTER = true"), "{err}");
        config.redis_cluster = true;
        assert!(RedisStore::from_config(&config).unwrap().is_cluster());
        config.redis_cluster = false;
        config.redis_url = "redis://10.0.0.1:7000/0".into();
        assert!(!RedisStore::from_config(&config).unwrap().is_cluster());
    }

    #[test]
    fn scripts_touch_only_declared_keys() {
        // Every key a script names comes from KEYS, never built from ARGV.
        for script in [
            SAVE,
            RENAME,
            INDEX_ADD,
            DELETE_IF_VERSION,
            DELETE_IF_OWNER,
            FENCE_INDEX,
            PRUNE_INDEX,
        ] {
            assert!(
                !script.contains(".."),
                "no key built by concatenation:\n{script}"
            );
            for call in script.split("redis.call(").skip(1) {
                let first_arg = call.split(',').nth(1).unwrap_or("").trim();
                assert!(
                    first_arg.starts_with("KEYS[") || first_arg.starts_with('k'),
                    "a key from KEYS: {call}"
                );
            }
        }
    }
}
