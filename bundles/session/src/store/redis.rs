//! [`RedisStore`]: sessions in Redis, with native expiry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{Client, RedisError, Script};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

const NAME: &str = "redis";

/// How long one Redis call may take before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Conditional write of one record: checks the version, rewrites the hash,
/// sets the expiry and keeps the owner's index set, all in one call.
/// KEYS[1] = session key. ARGV: expected version ('' = create), new
/// version, data, owner ('' = none), created ms, expires ms, owner-set key
/// prefix, id, ttl ms.
const SAVE: &str = r"
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'c', ARGV[5], 'e', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'o', ARGV[4]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
if old and old ~= ARGV[4] then redis.call('SREM', ARGV[7] .. old, ARGV[8]) end
if ARGV[4] ~= '' then
  local okey = ARGV[7] .. ARGV[4]
  redis.call('SADD', okey, ARGV[8])
  if redis.call('PTTL', okey) < tonumber(ARGV[9]) then redis.call('PEXPIRE', okey, ARGV[9]) end
end
return 1
";

/// Atomic move of a record to a new id. KEYS[1] = old key, KEYS[2] = new
/// key; ARGV as in SAVE with the new id, plus ARGV[10] = old id.
const RENAME: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local old = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'v', ARGV[2], 'd', ARGV[3], 'c', ARGV[5], 'e', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'o', ARGV[4]) end
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
if old then redis.call('SREM', ARGV[7] .. old, ARGV[10]) end
if ARGV[4] ~= '' then
  local okey = ARGV[7] .. ARGV[4]
  redis.call('SADD', okey, ARGV[8])
  if redis.call('PTTL', okey) < tonumber(ARGV[9]) then redis.call('PEXPIRE', okey, ARGV[9]) end
end
return 1
";

/// Live sessions of an owner; drops stale ids from the index on the way.
/// KEYS[1] = owner set; ARGV[1] = session key prefix, ARGV[2] = owner.
const LIST_OWNER: &str = r"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'o', 'c', 'e')
  if f[1] == ARGV[2] then
    table.insert(out, id); table.insert(out, f[2]); table.insert(out, f[3])
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
";

/// Deletes every session of an owner. KEYS/ARGV as in LIST_OWNER.
const DELETE_OWNER: &str = r"
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. id
  if redis.call('HGET', k, 'o') == ARGV[2] then n = n + redis.call('DEL', k) end
end
redis.call('DEL', KEYS[1])
return n
";

/// Sessions in Redis at `SESSION_REDIS`, one hash per session under
/// `SESSION_KEY_PREFIX` + id, expiring natively (`PEXPIREAT`). Each
/// operation is one command or one Lua script: loads are `HGETALL`,
/// conditional saves a script that checks the version and writes in one
/// step. Owners are indexed in sets under `SESSION_KEY_PREFIX` + `owner:`.
///
/// The connection is made on first use and made again after a failure, so
/// the app starts while Redis is down and recovers when it is back.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    conn: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    save: Script,
    rename: Script,
    list_owner: Script,
    delete_owner: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (e.g. `redis://127.0.0.1:6379/0`) with keys under
    /// `prefix`. Only the URL is checked here; nothing connects yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(|e| {
            StoreError::unavailable(NAME, format!("SESSION_REDIS is not a valid Redis URL: {e}"))
        })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                prefix: prefix.to_owned(),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                save: Script::new(SAVE),
                rename: Script::new(RENAME),
                list_owner: Script::new(LIST_OWNER),
                delete_owner: Script::new(DELETE_OWNER),
            }),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The Redis key of session `id` (a checked id: no whitespace or
    /// separators can reach the key).
    fn key(&self, id: &SessionId) -> String {
        format!("{}{id}", self.inner.prefix)
    }

    fn owner_prefix(&self) -> String {
        format!("{}owner:", self.inner.prefix)
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        // One task connects; the others wait for its connection.
        let _guard = self.inner.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let conn = tokio::time::timeout(
            CALL_TIMEOUT,
            self.inner.client.get_multiplexed_async_connection(),
        )
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
        F: FnOnce(MultiplexedConnection) -> Fut,
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

    fn save_args(record: &Record) -> (String, String, i64, i64) {
        let expires = record.expires_at.timestamp_millis();
        let ttl = (expires - Utc::now().timestamp_millis()).max(1);
        (
            record.version.to_string(),
            record.owner.clone().unwrap_or_default(),
            expires,
            ttl,
        )
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
        let key = self.key(id);
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
        let (version, owner, expires, ttl) = Self::save_args(record);
        let key = self.key(id);
        let owner_prefix = self.owner_prefix();
        let expected = expected.map(|v| v.to_string()).unwrap_or_default();
        let created = record.created_at.timestamp_millis();
        let script = &self.inner.save;
        let done: i64 = self
            .call(|mut conn| async move {
                script
                    .key(&key)
                    .arg(&expected)
                    .arg(&version)
                    .arg(&record.data)
                    .arg(&owner)
                    .arg(created)
                    .arg(expires)
                    .arg(&owner_prefix)
                    .arg(id.as_str())
                    .arg(ttl)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(if done == 1 {
            SaveOutcome::Saved
        } else {
            SaveOutcome::Conflict
        })
    }

    async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let (version, owner, expires, ttl) = Self::save_args(record);
        let (old_key, new_key) = (self.key(old), self.key(new));
        let owner_prefix = self.owner_prefix();
        let created = record.created_at.timestamp_millis();
        let script = &self.inner.rename;
        let done: i64 = self
            .call(|mut conn| async move {
                script
                    .key(&old_key)
                    .key(&new_key)
                    .arg(expected.to_string())
                    .arg(&version)
                    .arg(&record.data)
                    .arg(&owner)
                    .arg(created)
                    .arg(expires)
                    .arg(&owner_prefix)
                    .arg(new.as_str())
                    .arg(ttl)
                    .arg(old.as_str())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(if done == 1 {
            SaveOutcome::Saved
        } else {
            SaveOutcome::Conflict
        })
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.key(id);
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
        let set = format!("{}{owner}", self.owner_prefix());
        let prefix = self.inner.prefix.clone();
        let script = &self.inner.list_owner;
        let flat: Vec<Vec<u8>> = self
            .call(|mut conn| async move {
                script
                    .key(&set)
                    .arg(&prefix)
                    .arg(owner)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let now = Utc::now();
        let mut out = Vec::with_capacity(flat.len() / 3);
        for chunk in flat.chunks_exact(3) {
            let info = SessionInfo {
                id: String::from_utf8_lossy(&chunk[0]).into_owned(),
                owner: Some(owner.to_owned()),
                created_at: parse_time(Some(&chunk[1]))?,
                expires_at: parse_time(Some(&chunk[2]))?,
            };
            if info.expires_at > now {
                out.push(info);
            }
        }
        Ok(out)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let set = format!("{}{owner}", self.owner_prefix());
        let prefix = self.inner.prefix.clone();
        let script = &self.inner.delete_owner;
        let n: i64 = self
            .call(|mut conn| async move {
                script
                    .key(&set)
                    .arg(&prefix)
                    .arg(owner)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn cleanup_expired(&self, _now: DateTime<Utc>, _limit: u64) -> Result<u64, StoreError> {
        // Redis deletes expired keys itself (native TTL): nothing to do.
        Ok(0)
    }
}
