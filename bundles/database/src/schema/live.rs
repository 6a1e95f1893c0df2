//! The live schema, discovered with sea-schema (SQLite, PostgreSQL, MySQL).

use anyhow::Context;
use sea_orm::{DatabaseConnection, DbBackend};

use super::{MIGRATIONS_TABLE, REBUILD_PREFIX, Schema};

/// Whether a live table is left out of the comparison.
fn ignored(name: &str) -> bool {
    name == MIGRATIONS_TABLE || name.starts_with("sqlite_") || name.starts_with(REBUILD_PREFIX)
}

/// Replaces a column's discovered type by the declared one when the
/// discovered type does not render back to it.
#[allow(dead_code)] // unused when neither SQLite nor MySQL is compiled in
fn prefer_declared(backend: DbBackend, table: &mut super::Table, column: &str, declared: &str) {
    use sea_query::ColumnType;

    let Some(column) = table.columns.iter_mut().find(|c| c.name == column) else {
        return;
    };
    let declared = declared.trim();
    if backend == DbBackend::Sqlite
        && matches!(declared.to_ascii_lowercase().as_str(), "integer" | "int")
    {
        // sea-query writes every integer type as `integer` on SQLite, so
        // rendering cannot tell; the declared name is the 32-bit one.
        column.col_type = ColumnType::Integer;
        return;
    }
    if super::type_key(backend, &column.col_type) != super::sql_type_key(backend, declared) {
        column.col_type = ColumnType::custom(declared.to_owned());
    }
}

/// Reads the schema of the database behind `conn` (its current schema on
/// PostgreSQL, its database on MySQL). The migrations table is left out.
pub async fn introspect(conn: &DatabaseConnection) -> anyhow::Result<Schema> {
    let mut schema = match conn.get_database_backend() {
        DbBackend::Sqlite => sqlite(conn).await?,
        DbBackend::Postgres => postgres(conn).await?,
        _ => mysql(conn).await?,
    };
    schema.tables.retain(|t| !ignored(&t.name));
    schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(schema)
}

#[cfg(feature = "sqlite")]
async fn sqlite(conn: &DatabaseConnection) -> anyhow::Result<Schema> {
    use sea_schema::sqlite::discovery::SchemaDiscovery;

    let pool = conn.get_sqlite_connection_pool().clone();
    let discovered = SchemaDiscovery::new(pool)
        .discover()
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("read the SQLite schema")?;
    let mut schema = Schema::default();
    for table in &discovered.tables {
        // Indexes made by CREATE INDEX (origin "c"); UNIQUE and PRIMARY KEY
        // indexes are in the table's constraints already.
        let indexes: Vec<_> = discovered
            .indexes
            .iter()
            .filter(|i| i.table_name == table.name && i.origin == "c")
            .map(|i| i.write())
            .collect();
        let mut t = super::Table::from_statement(DbBackend::Sqlite, &table.write(), &indexes);
        sqlite_declared_types(conn, &mut t).await?;
        schema.tables.push(t);
    }
    Ok(schema)
}

/// sea-schema reads SQLite's `integer` as a 64-bit type and a few other
/// declared types lossily; keep the declared type instead, so that a
/// migration that recreates a column (a `down`, a rebuild) recreates it as
/// it was (`INTEGER PRIMARY KEY AUTOINCREMENT` must stay `integer`).
#[cfg(feature = "sqlite")]
async fn sqlite_declared_types(
    conn: &DatabaseConnection,
    table: &mut super::Table,
) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};

    let sql = format!("PRAGMA table_info(\"{}\")", table.name.replace('"', "\"\""));
    let rows = conn
        .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .with_context(|| format!("read the columns of table {}", table.name))?;
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let declared: String = row.try_get("", "type")?;
        prefer_declared(DbBackend::Sqlite, table, &name, &declared);
    }
    Ok(())
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_: &DatabaseConnection) -> anyhow::Result<Schema> {
    anyhow::bail!(
        "this build has no SQLite driver: enable the `sqlite` feature of unchained-database"
    )
}

#[cfg(feature = "postgres")]
async fn postgres(conn: &DatabaseConnection) -> anyhow::Result<Schema> {
    use sea_orm::{ConnectionTrait, Statement};
    use sea_schema::postgres::discovery::SchemaDiscovery;

    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_schema() AS s",
        ))
        .await?
        .context("read the current PostgreSQL schema")?;
    let current: String = row.try_get("", "s")?;
    let discovered = SchemaDiscovery::new(conn.get_postgres_connection_pool().clone(), &current)
        .discover()
        .await
        .context("read the PostgreSQL schema")?;
    let mut schema = Schema::default();
    for table in &discovered.tables {
        let mut t = super::Table::from_statement(DbBackend::Postgres, &table.write(), &[]);
        // sea-schema reports unique indexes only; read every index here,
        // with whether a UNIQUE constraint owns it.
        t.uniques.clear();
        t.indexes.clear();
        postgres_indexes(conn, &mut t).await?;
        schema.tables.push(t);
    }
    Ok(schema)
}

#[cfg(feature = "postgres")]
async fn postgres_indexes(
    conn: &DatabaseConnection,
    table: &mut super::Table,
) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};

    const SQL: &str = "SELECT i.relname AS index_name, a.attname AS column_name, \
        ix.indisunique AS is_unique, \
        EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u') AS is_constraint \
        FROM pg_index ix \
        JOIN pg_class t ON t.oid = ix.indrelid \
        JOIN pg_class i ON i.oid = ix.indexrelid \
        JOIN pg_namespace n ON n.oid = t.relnamespace \
        JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ON true \
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
        WHERE n.nspname = current_schema() AND t.relname = $1 AND NOT ix.indisprimary \
        ORDER BY i.relname, k.ord";
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SQL,
            [table.name.clone().into()],
        ))
        .await
        .with_context(|| format!("read the indexes of table {}", table.name))?;
    let mut found: Vec<(String, Vec<String>, bool, bool)> = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "index_name")?;
        let column: String = row.try_get("", "column_name")?;
        let unique: bool = row.try_get("", "is_unique")?;
        let constraint: bool = row.try_get("", "is_constraint")?;
        match found.last_mut() {
            Some(last) if last.0 == name => last.1.push(column),
            _ => found.push((name, vec![column], unique, constraint)),
        }
    }
    for (name, columns, unique, constraint) in found {
        if constraint {
            table.uniques.push(super::Unique {
                name: Some(name),
                columns,
                constraint: true,
            });
        } else {
            table.indexes.push(super::Index {
                name,
                columns,
                unique,
            });
        }
    }
    Ok(())
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: &DatabaseConnection) -> anyhow::Result<Schema> {
    anyhow::bail!(
        "this build has no PostgreSQL driver: enable the `postgres` feature of unchained-database"
    )
}

#[cfg(feature = "mysql")]
async fn mysql(conn: &DatabaseConnection) -> anyhow::Result<Schema> {
    use sea_orm::{ConnectionTrait, Statement};
    use sea_schema::mysql::discovery::SchemaDiscovery;

    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT DATABASE() AS d",
        ))
        .await?
        .context("read the current MySQL database")?;
    let database: Option<String> = row.try_get("", "d")?;
    let database =
        database.context("DATABASE_URL names no database: add /<database> to the URL")?;
    let discovered = SchemaDiscovery::new(conn.get_mysql_connection_pool().clone(), &database)
        .discover()
        .await
        .context("read the MySQL schema")?;
    let mut schema = Schema::default();
    for table in &discovered.tables {
        let mut t = super::Table::from_statement(DbBackend::MySql, &table.write(), &[]);
        mysql_declared_types(conn, &mut t).await?;
        schema.tables.push(t);
    }
    Ok(schema)
}

/// sea-schema maps some MySQL types lossily (`blob` becomes `binary(255)`,
/// `tinytext`...): keep the declared `COLUMN_TYPE` where it does.
#[cfg(feature = "mysql")]
async fn mysql_declared_types(
    conn: &DatabaseConnection,
    table: &mut super::Table,
) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};

    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            [table.name.clone().into()],
        ))
        .await
        .with_context(|| format!("read the columns of table {}", table.name))?;
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let declared: String = row.try_get("", "type")?;
        prefer_declared(DbBackend::MySql, table, &name, &declared);
    }
    Ok(())
}

#[cfg(not(feature = "mysql"))]
async fn mysql(_: &DatabaseConnection) -> anyhow::Result<Schema> {
    anyhow::bail!(
        "this build has no MySQL driver: enable the `mysql` feature of unchained-database"
    )
}
