//! [`SqlStore`]: sessions in a SQL table through SeaORM (SQLite,
//! PostgreSQL, MySQL/MariaDB), `SESSION_TYPE = "sqlalchemy"`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, SqlErr, Statement, Value,
};
use sea_query::{ColumnDef, Expr, Index, IndexCreateStatement, Table, TableCreateStatement};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

mod group_commit;
use group_commit::GroupCommit;

const NAME: &str = "sqlalchemy";

/// How long one statement may take (including waiting for a pooled
/// connection) before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The session table for `backend`, named `table`: the tutorial's columns
/// (`id` integer primary key, `session_id` string(255) unique, `data`
/// binary not null, `expiry` datetime nullable, `created_at` and
/// `updated_at` timestamps with time zone defaulting to the current time)
/// plus two this crate needs:
///
/// - `version` (big integer, default 1): the compare-and-swap key, so a
///   save is one `UPDATE ... WHERE version = ?` and concurrent requests
///   cannot overwrite each other unnoticed;
/// - `owner` (string(255), nullable, indexed): who the session belongs to,
///   so "destroy all sessions of user 42" is one indexed `DELETE`.
///
/// Indexes: `expiry` (for cleanup) and `owner`.
///
/// ```
/// let (table, indexes) = unchained_session::store::session_table(sea_orm::DbBackend::Postgres, "flask_sessions");
/// let sql = sea_orm::DbBackend::Postgres.build(&table).to_string();
/// assert!(sql.contains("\"session_id\" varchar(255) NOT NULL UNIQUE"), "{sql}");
/// assert_eq!(indexes.len(), 2);
/// ```
pub fn session_table(
    backend: DbBackend,
    table: &str,
) -> (TableCreateStatement, Vec<IndexCreateStatement>) {
    let _ = backend; // The same description serves every backend; sea-query picks the types.
    let create = Table::create()
        .table(table.to_owned())
        .if_not_exists()
        .col(
            ColumnDef::new("id")
                .integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(
            ColumnDef::new("session_id")
                .string_len(255)
                .not_null()
                .unique_key(),
        )
        .col(ColumnDef::new("data").blob().not_null())
        .col(ColumnDef::new("expiry").date_time().null())
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null()
                .default(Expr::current_timestamp()),
        )
        .col(
            ColumnDef::new("updated_at")
                .timestamp_with_time_zone()
                .not_null()
                .default(Expr::current_timestamp()),
        )
        .col(
            ColumnDef::new("version")
                .big_integer()
                .not_null()
                .default(1),
        )
        .col(ColumnDef::new("owner").string_len(255).null())
        .to_owned();
    let index = |column: &str| {
        Index::create()
            .if_not_exists()
            .name(format!("idx_{table}_{column}"))
            .table(table.to_owned())
            .col(column.to_owned())
            .to_owned()
    };
    (create, vec![index("expiry"), index("owner")])
}

/// Sessions as rows of `SESSION_SQLALCHEMY_TABLE` (see [`session_table`]).
///
/// Every operation is one statement: a load is one `SELECT`, a save one
/// `UPDATE` carrying the version check (or one `INSERT` that does nothing
/// when the id exists), a regenerate one `UPDATE` of `session_id`.
/// Expired rows are ignored on load and deleted by cleanup.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    backend: DbBackend,
    sql: Queries,
    /// SQLite only: writes of this process go through one queue and are
    /// committed in groups (see [`group_commit`]). SQLite allows one
    /// writer at a time; without the queue, concurrent writers would meet
    /// SQLITE_BUSY and sleep in SQLite's busy handler (1, 2, 5, 10, ...
    /// ms), which made the p99 of writes hundreds of milliseconds; and one
    /// transaction per write paid the commit once per request. The busy
    /// timeout still covers other processes.
    write_queue: Option<Arc<GroupCommit>>,
}

/// The statements, built once per store.
#[derive(Debug, Clone)]
struct Queries {
    load: String,
    insert: String,
    update: String,
    rename: String,
    delete: String,
    list_owner: String,
    delete_owner: String,
    cleanup: String,
}

impl SqlStore {
    /// A store on `db` using table `table` (letters, digits and `_`).
    pub fn new(db: DatabaseConnection, table: &str) -> Result<Self, StoreError> {
        if table.is_empty()
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::corrupt(
                NAME,
                format!("{table:?} is not a plain table name"),
            ));
        }
        let backend = db.get_database_backend();
        let write_queue =
            (backend == DbBackend::Sqlite).then(|| Arc::new(GroupCommit::new(db.clone())));
        Ok(SqlStore {
            sql: Queries::new(backend, table),
            db,
            backend,
            write_queue,
        })
    }

    /// Creates the table and its indexes if missing. Projects normally get
    /// the table through `unchained db migrate`; this serves tests and apps
    /// without migrations.
    pub async fn create_table(&self, table: &str) -> Result<(), StoreError> {
        let (create, indexes) = session_table(self.backend, table);
        self.db
            .execute(&create)
            .await
            .map_err(|e| StoreError::unavailable(NAME, e))?;
        for index in indexes {
            self.db
                .execute(&index)
                .await
                .map_err(|e| StoreError::unavailable(NAME, e))?;
        }
        Ok(())
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    /// Runs a writing statement (on SQLite through the group-commit
    /// queue); returns the rows it affected. Callers put the wait under
    /// the same timeout as the statement.
    async fn write(&self, stmt: Statement) -> Result<u64, DbErr> {
        match &self.write_queue {
            Some(queue) => queue.execute(stmt).await,
            None => self.db.execute_raw(stmt).await.map(|r| r.rows_affected()),
        }
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, StoreError> {
        let stmt = self.statement(sql, values);
        timed(self.write(stmt)).await
    }

    /// A conditional write: rows affected, or `None` when the database
    /// rolled the statement back because of a lock conflict with a
    /// concurrent save (InnoDB deadlock, serialization failure). Nothing
    /// was written then, so the caller treats it like a version conflict.
    async fn exec_conditional(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<u64>, StoreError> {
        let stmt = self.statement(sql, values);
        match tokio::time::timeout(CALL_TIMEOUT, self.write(stmt)).await {
            Ok(Ok(affected)) => Ok(Some(affected)),
            Ok(Err(e)) if is_lock_conflict(&e) => {
                tracing::debug!(target: "unchained_session::store", "concurrent save rolled back: {e}");
                Ok(None)
            }
            Ok(Err(e)) => Err(StoreError::unavailable(NAME, e)),
            Err(_) => Err(StoreError::unavailable(NAME, "timed out")),
        }
    }

    async fn query_all(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        let stmt = self.statement(sql, values);
        timed(self.db.query_all_raw(stmt)).await
    }

    fn row_values(&self, id: &SessionId, record: &Record, now: DateTime<Utc>) -> Vec<Value> {
        vec![
            id.as_str().into(),
            record.data.clone().into(),
            record.expires_at.naive_utc().into(),
            version_value(record.version),
            record.owner.clone().into(),
            record.created_at.into(),
            now.into(),
        ]
    }
}

async fn timed<T>(
    call: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(|e| StoreError::unavailable(NAME, e)),
        Err(_) => Err(StoreError::unavailable(NAME, "timed out")),
    }
}

/// Whether the database refused a statement only because a concurrent
/// transaction held a conflicting lock: MySQL/MariaDB 1213 (deadlock) and
/// the SQLSTATEs 40001 (serialization failure) and 40P01 (PostgreSQL
/// deadlock). Drivers expose these only in the message.
fn is_lock_conflict(e: &DbErr) -> bool {
    let message = e.to_string();
    ["1213", "40001", "40P01"]
        .iter()
        .any(|code| message.contains(code))
}

fn version_value(version: u64) -> Value {
    i64::try_from(version).unwrap_or(i64::MAX).into()
}

impl Queries {
    fn new(backend: DbBackend, table: &str) -> Self {
        let t = match backend {
            DbBackend::MySql => format!("`{table}`"),
            _ => format!("\"{table}\""),
        };
        let columns = "session_id, data, expiry, version, owner, created_at, updated_at";
        let insert = match backend {
            // A plain INSERT whose duplicate-key error means "id taken".
            // Not INSERT IGNORE: that would also turn real errors (data too
            // long) into warnings and report a write that did not happen;
            // and ON DUPLICATE KEY reports 1 row for both outcomes when the
            // driver asks for found rows.
            DbBackend::MySql => format!("INSERT INTO {t} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            _ => format!(
                "INSERT INTO {t} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING"
            ),
        };
        let cleanup = match backend {
            DbBackend::MySql => format!("DELETE FROM {t} WHERE expiry <= ? LIMIT ?"),
            _ => format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expiry <= ? LIMIT ?)"
            ),
        };
        let set = "data = ?, expiry = ?, version = ?, owner = ?, created_at = ?, updated_at = ?";
        let queries = Queries {
            load: format!(
                "SELECT data, expiry, version, owner, created_at FROM {t} WHERE session_id = ?"
            ),
            insert,
            update: format!(
                "UPDATE {t} SET {set} WHERE session_id = ? AND version = ? AND expiry > ?"
            ),
            rename: format!(
                "UPDATE {t} SET session_id = ?, {set} WHERE session_id = ? AND version = ? AND expiry > ?"
            ),
            delete: format!("DELETE FROM {t} WHERE session_id = ?"),
            list_owner: format!(
                "SELECT session_id, created_at, expiry FROM {t} WHERE owner = ? AND expiry > ?"
            ),
            delete_owner: format!("DELETE FROM {t} WHERE owner = ?"),
            cleanup,
        };
        if backend == DbBackend::Postgres {
            queries.numbered()
        } else {
            queries
        }
    }

    /// PostgreSQL numbers its placeholders: `?` becomes `$1`, `$2`, ...
    fn numbered(self) -> Self {
        fn number(sql: String) -> String {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        Queries {
            load: number(self.load),
            insert: number(self.insert),
            update: number(self.update),
            rename: number(self.rename),
            delete: number(self.delete),
            list_owner: number(self.list_owner),
            delete_owner: number(self.delete_owner),
            cleanup: number(self.cleanup),
        }
    }
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, StoreError> {
    row.try_get("", column)
        .map_err(|e| StoreError::corrupt(NAME, format!("column {column}: {e}")))
}

fn expiry(row: &QueryResult) -> Result<DateTime<Utc>, StoreError> {
    let naive: Option<NaiveDateTime> = get(row, "expiry")?;
    // A row without expiry never expires (Flask-Session writes none for
    // some configurations); give it the far future.
    Ok(naive
        .map(|n| n.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC))
}

#[async_trait]
impl SessionStore for SqlStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let stmt = self.statement(&self.sql.load, vec![id.as_str().into()]);
        let Some(row) = timed(self.db.query_one_raw(stmt)).await? else {
            return Ok(None);
        };
        let version: i64 = get(&row, "version")?;
        let record = Record {
            data: get(&row, "data")?,
            version: u64::try_from(version).unwrap_or(0),
            owner: get(&row, "owner")?,
            created_at: get(&row, "created_at")?,
            expires_at: expiry(&row)?,
        };
        Ok((!record.is_expired(Utc::now())).then_some(record))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let now = Utc::now();
        let affected = match expected {
            None => {
                let stmt = self.statement(&self.sql.insert, self.row_values(id, record, now));
                match tokio::time::timeout(CALL_TIMEOUT, self.write(stmt)).await {
                    Ok(Ok(affected)) => affected,
                    Ok(Err(e))
                        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                    {
                        0
                    }
                    Ok(Err(e)) => return Err(StoreError::unavailable(NAME, e)),
                    Err(_) => return Err(StoreError::unavailable(NAME, "timed out")),
                }
            }
            Some(version) => {
                let mut values = self.row_values(id, record, now);
                values.remove(0);
                values.extend([
                    id.as_str().into(),
                    version_value(version),
                    now.naive_utc().into(),
                ]);
                self.exec_conditional(&self.sql.update, values)
                    .await?
                    .unwrap_or(0)
            }
        };
        Ok(if affected == 1 {
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
        let now = Utc::now();
        let mut values = self.row_values(new, record, now);
        values.extend([
            old.as_str().into(),
            version_value(expected),
            now.naive_utc().into(),
        ]);
        // One UPDATE changes the id: the old id stops working in the same
        // instant the new one starts.
        let affected = self
            .exec_conditional(&self.sql.rename, values)
            .await?
            .unwrap_or(0);
        Ok(if affected == 1 {
            SaveOutcome::Saved
        } else {
            SaveOutcome::Conflict
        })
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self
            .exec(&self.sql.delete, vec![id.as_str().into()])
            .await?
            > 0)
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = self
            .query_all(
                &self.sql.list_owner,
                vec![owner.into(), Utc::now().naive_utc().into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionInfo {
                    id: get(row, "session_id")?,
                    owner: Some(owner.to_owned()),
                    created_at: get(row, "created_at")?,
                    expires_at: expiry(row)?,
                })
            })
            .collect()
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.exec(&self.sql.delete_owner, vec![owner.into()]).await
    }

    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.exec(
            &self.sql.cleanup,
            vec![now.naive_utc().into(), limit.into()],
        )
        .await
    }
}
