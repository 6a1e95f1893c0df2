//! Applies and reverts migrations, records them in `seaql_migrations`,
//! and prints every statement with progress (`[2/5] m2026..._x`).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryOrder,
    Schema, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager, seaql_migrations};

use crate::schema::MIGRATIONS_TABLE;

/// Where a migration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Shipped by a bundle (`Bundle::migrations`).
    Bundle(String),
    /// A file of the project's `db/migrations/`.
    Project,
}

/// One migration known to this build.
pub struct NamedMigration {
    /// Its name (the revision id for project migrations).
    pub name: String,
    /// Where it comes from.
    pub origin: Origin,
    /// The migration itself.
    pub migration: Box<dyn MigrationTrait>,
}

impl std::fmt::Debug for NamedMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedMigration")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish()
    }
}

impl NamedMigration {
    /// Wraps `migration`, named by its `MigrationName`.
    pub fn new(origin: Origin, migration: Box<dyn MigrationTrait>) -> Self {
        NamedMigration {
            name: migration.name().to_owned(),
            origin,
            migration,
        }
    }
}

/// Receives the runner's output lines (stdout by default).
pub type Printer = Arc<dyn Fn(&str) + Send + Sync>;

/// A printer that writes to stdout.
pub fn stdout_printer() -> Printer {
    Arc::new(|line: &str| println!("{line}"))
}

/// Where to stop an upgrade or downgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Upgrade: every pending migration. Downgrade: one step.
    Default,
    /// Downgrade: revert everything.
    Base,
    /// Up to and including (upgrade) or down to but keeping (downgrade)
    /// this migration.
    Name(String),
}

impl Target {
    /// Parses a command-line target: none, `head`, `base` or a name.
    pub fn parse(arg: Option<&str>) -> Target {
        match arg {
            None | Some("head") | Some("heads") => Target::Default,
            Some("base") => Target::Base,
            Some(name) => Target::Name(name.to_owned()),
        }
    }
}

/// The state of one migration, for `db history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The migration's name.
    pub name: String,
    /// Where it comes from (`None`: applied, but unknown to this build).
    pub origin: Option<Origin>,
    /// When it was applied (seconds since the epoch).
    pub applied_at: Option<i64>,
}

/// Runs a set of migrations against one database.
pub struct Runner {
    conn: DatabaseConnection,
    migrations: Vec<NamedMigration>,
    print: Printer,
    log: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Runner {
    /// A runner for `migrations` (in the order they apply) printing to
    /// `print`. Every statement executed through `conn` is printed.
    pub fn new(
        conn: &DatabaseConnection,
        migrations: Vec<NamedMigration>,
        print: Printer,
    ) -> anyhow::Result<Self> {
        let mut seen = std::collections::HashSet::new();
        for m in &migrations {
            if !seen.insert(m.name.clone()) {
                anyhow::bail!(
                    "two migrations are named {}: rename one (its file and its revision id)",
                    m.name
                );
            }
        }
        let log: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let mut conn = migration_connection(conn);
        let (sink, echo) = (log.clone(), print.clone());
        conn.set_metric_callback(move |info| {
            let sql = info.statement.to_string();
            // Bookkeeping (the migrations table, the foreign key check) is
            // not the migration's SQL.
            if sql.contains(MIGRATIONS_TABLE) || sql == FOREIGN_KEY_CHECK {
                return;
            }
            echo(&format!(
                "    {sql}{}",
                if info.failed { "   -- FAILED" } else { "" }
            ));
            if let Ok(mut log) = sink.lock() {
                log.push((sql, info.failed));
            }
        });
        Ok(Runner {
            conn,
            migrations,
            print,
            log,
        })
    }

    /// The migrations this build knows, in order.
    pub fn migrations(&self) -> &[NamedMigration] {
        &self.migrations
    }

    async fn ensure_table(&self) -> anyhow::Result<()> {
        let backend = self.conn.get_database_backend();
        let mut stmt = Schema::new(backend).create_table_from_entity(seaql_migrations::Entity);
        stmt.if_not_exists();
        self.conn
            .execute(&stmt)
            .await
            .with_context(|| format!("create the migrations table {MIGRATIONS_TABLE}"))?;
        Ok(())
    }

    /// Applied migrations as `(name, applied_at)`, in the order applied.
    pub async fn applied(&self) -> anyhow::Result<Vec<(String, i64)>> {
        self.ensure_table().await?;
        let rows = seaql_migrations::Entity::find()
            .order_by_asc(seaql_migrations::Column::AppliedAt)
            .order_by_asc(seaql_migrations::Column::Version)
            .all(&self.conn)
            .await
            .context("read the migrations table")?;
        let mut applied: Vec<(String, i64)> = rows
            .into_iter()
            .map(|r| (r.version, r.applied_at))
            .collect();
        // Within one second, the known order decides.
        applied.sort_by_key(|(name, at)| (*at, self.position(name).unwrap_or(usize::MAX)));
        Ok(applied)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.migrations.iter().position(|m| m.name == name)
    }

    /// Every known and every applied migration, in order.
    pub async fn history(&self) -> anyhow::Result<Vec<HistoryEntry>> {
        let applied = self.applied().await?;
        let mut entries: Vec<HistoryEntry> = self
            .migrations
            .iter()
            .map(|m| HistoryEntry {
                name: m.name.clone(),
                origin: Some(m.origin.clone()),
                applied_at: applied
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .map(|(_, at)| *at),
            })
            .collect();
        for (name, at) in &applied {
            if self.position(name).is_none() {
                entries.push(HistoryEntry {
                    name: name.clone(),
                    origin: None,
                    applied_at: Some(*at),
                });
            }
        }
        Ok(entries)
    }

    /// The newest applied migration, if any.
    pub async fn current(&self) -> anyhow::Result<Option<String>> {
        Ok(self.applied().await?.pop().map(|(name, _)| name))
    }

    /// Names of known migrations that are not applied yet.
    pub async fn pending(&self) -> anyhow::Result<Vec<String>> {
        let applied = self.applied().await?;
        Ok(self
            .migrations
            .iter()
            .filter(|m| !applied.iter().any(|(n, _)| *n == m.name))
            .map(|m| m.name.clone())
            .collect())
    }

    async fn check_known(&self, applied: &[(String, i64)]) -> anyhow::Result<()> {
        if let Some((name, _)) = applied
            .iter()
            .find(|(name, _)| self.position(name).is_none())
        {
            anyhow::bail!(
                "the database has migration {name} applied, but this build does not know it: restore its file in db/migrations/ (or the bundle that ships it) and rebuild"
            );
        }
        Ok(())
    }

    /// Applies pending migrations up to `target`; returns the names
    /// applied.
    pub async fn upgrade(&self, target: &Target) -> anyhow::Result<Vec<String>> {
        let applied = self.applied().await?;
        self.check_known(&applied).await?;
        let mut pending: Vec<&NamedMigration> = self
            .migrations
            .iter()
            .filter(|m| !applied.iter().any(|(n, _)| *n == m.name))
            .collect();
        match target {
            Target::Default => {}
            Target::Base => {
                anyhow::bail!("`base` is a downgrade target: use `unchained db downgrade base`")
            }
            Target::Name(name) => {
                let Some(pos) = self.position(name) else {
                    anyhow::bail!(
                        "unknown migration {name}: see `unchained db history` for the names"
                    );
                };
                pending.retain(|m| self.position(&m.name).is_some_and(|p| p <= pos));
            }
        }
        if pending.is_empty() {
            (self.print)("Nothing to upgrade: the database is up to date.");
            return Ok(Vec::new());
        }
        let total = pending.len();
        let mut done = Vec::new();
        for (i, m) in pending.into_iter().enumerate() {
            (self.print)(&format!("[{}/{total}] {} (upgrade)", i + 1, m.name));
            self.run_one(m, true).await?;
            done.push(m.name.clone());
        }
        Ok(done)
    }

    /// Reverts applied migrations: one step by default, all for
    /// [`Target::Base`], or those after [`Target::Name`]. Returns the
    /// names reverted.
    pub async fn downgrade(&self, target: &Target) -> anyhow::Result<Vec<String>> {
        let applied = self.applied().await?;
        self.check_known(&applied).await?;
        // Newest first.
        let mut applied_names: Vec<&str> = applied.iter().map(|(n, _)| n.as_str()).collect();
        applied_names.reverse();
        let revert: Vec<&str> = match target {
            Target::Default => applied_names.into_iter().take(1).collect(),
            Target::Base => applied_names,
            Target::Name(name) => {
                let Some(keep) = applied_names.iter().position(|n| n == name) else {
                    anyhow::bail!("migration {name} is not applied: see `unchained db history`");
                };
                applied_names.into_iter().take(keep).collect()
            }
        };
        if revert.is_empty() {
            (self.print)("Nothing to downgrade.");
            return Ok(Vec::new());
        }
        let total = revert.len();
        let mut done = Vec::new();
        for (i, name) in revert.into_iter().enumerate() {
            let Some(m) = self.migrations.iter().find(|m| m.name == name) else {
                continue;
            };
            (self.print)(&format!("[{}/{total}] {} (downgrade)", i + 1, m.name));
            self.run_one(m, false).await?;
            done.push(m.name.clone());
        }
        Ok(done)
    }

    /// Whether `m` runs in a transaction: its own choice, else the
    /// backend's convention (PostgreSQL yes; MySQL commits DDL at once and
    /// SQLite follows sea-orm-migration: no).
    fn transactional(&self, m: &NamedMigration) -> bool {
        m.migration
            .use_transaction()
            .unwrap_or(self.conn.get_database_backend() == DbBackend::Postgres)
    }

    async fn run_one(&self, m: &NamedMigration, up: bool) -> anyhow::Result<()> {
        if let Ok(mut log) = self.log.lock() {
            log.clear();
        }
        let direction = if up { "upgrade" } else { "downgrade" };
        if self.transactional(m) {
            let txn = self.conn.begin().await.context("begin a transaction")?;
            let result = {
                let manager = SchemaManager::new(&txn);
                if up {
                    m.migration.up(&manager).await
                } else {
                    m.migration.down(&manager).await
                }
            };
            if let Err(e) = result {
                txn.rollback().await.ok();
                anyhow::bail!(
                    "{direction} of migration {} failed: {e}\nThe transaction was rolled back: none of its statements are applied.",
                    m.name
                );
            }
            if let Err(e) = check_foreign_keys(&txn).await {
                txn.rollback().await.ok();
                anyhow::bail!(
                    "{direction} of migration {} failed: {e:#}\nThe transaction was rolled back: none of its statements are applied.",
                    m.name
                );
            }
            record(&txn, &m.name, up).await?;
            txn.commit()
                .await
                .with_context(|| format!("commit migration {}", m.name))?;
        } else {
            let manager = SchemaManager::new(&self.conn);
            let result = if up {
                m.migration.up(&manager).await
            } else {
                m.migration.down(&manager).await
            };
            if let Err(e) = result {
                anyhow::bail!(
                    "{direction} of migration {} failed: {e}\n{}",
                    m.name,
                    self.applied_report()
                );
            }
            if let Err(e) = check_foreign_keys(&self.conn).await {
                anyhow::bail!(
                    "{direction} of migration {} failed: {e:#}\n{}",
                    m.name,
                    self.applied_report()
                );
            }
            record(&self.conn, &m.name, up).await?;
        }
        Ok(())
    }

    /// Which statements of a failed, non-transactional migration took
    /// effect: they are not rolled back.
    fn applied_report(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        let applied: Vec<&String> = log
            .iter()
            .filter(|(_, failed)| !failed)
            .map(|(sql, _)| sql)
            .collect();
        if applied.is_empty() {
            return "No statement of it was applied.".to_owned();
        }
        let mut text = format!(
            "{} statement(s) of it were applied before the failure and are NOT rolled back (this backend commits each statement); fix the migration, undo these by hand if needed, then run it again:",
            applied.len()
        );
        for (i, sql) in applied.iter().enumerate() {
            text.push_str(&format!("\n  {}. {sql}", i + 1));
        }
        text
    }
}

/// The connection migrations run on. On SQLite it is a connection of its
/// own with foreign key enforcement off, as SQLite's procedure for
/// rebuilding a table requires: with it on, dropping a referenced table
/// deletes (CASCADE) or rejects the referencing rows. The keys are checked
/// after each migration instead ([`check_foreign_keys`]).
fn migration_connection(conn: &DatabaseConnection) -> DatabaseConnection {
    #[cfg(feature = "sqlite")]
    if conn.get_database_backend() == DbBackend::Sqlite {
        use sea_orm::sqlx::sqlite::SqlitePoolOptions;

        let options = (*conn.get_sqlite_connection_pool().connect_options())
            .clone()
            .foreign_keys(false);
        // A second pool on :memory: would be another database.
        if options.get_filename() != std::path::Path::new(":memory:") {
            // One connection, so every statement of a migration shares it.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options);
            return DatabaseConnection::from(pool);
        }
    }
    conn.clone()
}

const FOREIGN_KEY_CHECK: &str = "PRAGMA foreign_key_check";

/// Fails when rows reference rows that do not exist (SQLite, whose
/// migrations run with foreign keys off; the other backends enforce them
/// statement by statement).
async fn check_foreign_keys<C: ConnectionTrait>(conn: &C) -> anyhow::Result<()> {
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            FOREIGN_KEY_CHECK,
        ))
        .await
        .context("check foreign keys")?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut text = String::from("rows reference rows that do not exist:");
    for row in rows.iter().take(10) {
        let table: String = row.try_get_by_index(0).unwrap_or_default();
        let rowid: i64 = row.try_get_by_index(1).unwrap_or_default();
        let parent: String = row.try_get_by_index(2).unwrap_or_default();
        text.push_str(&format!("\n  {table} rowid {rowid} -> {parent}"));
    }
    anyhow::bail!(text)
}

async fn record<C: ConnectionTrait>(conn: &C, name: &str, up: bool) -> anyhow::Result<()> {
    if up {
        let now = chrono::Utc::now().timestamp();
        seaql_migrations::Entity::insert(seaql_migrations::ActiveModel {
            version: Set(name.to_owned()),
            applied_at: Set(now),
        })
        .exec(conn)
        .await
        .with_context(|| format!("record migration {name} as applied"))?;
    } else {
        seaql_migrations::Entity::delete_by_id(name.to_owned())
            .exec(conn)
            .await
            .with_context(|| format!("record migration {name} as reverted"))?;
    }
    Ok(())
}
