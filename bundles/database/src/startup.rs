//! The check `unchained run` makes before it listens: migrations this
//! build knows that the database has not applied. Without it the server
//! starts without a word and the first request that needs a new table
//! fails ("no such table: users").
//!
//! It only reads: a fresh database gets no migrations table from it.

use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};
use sea_orm_migration::{SchemaManager, seaql_migrations};
use unchained::config::Config;
use unchained::models::ModelContext;
use unchained::registry::ResolvedBundles;

use crate::commands::collect_migrations;
use crate::config::DatabaseConfig;
use crate::connect::mask_password;
use crate::schema::MIGRATIONS_TABLE;

/// How many pending migrations the warning names before it says "and N more".
const NAMES_SHOWN: usize = 3;

/// The names in `known` (in order) that the database has not applied.
pub async fn pending_migrations(
    conn: &DatabaseConnection,
    known: &[String],
) -> anyhow::Result<Vec<String>> {
    if known.is_empty() {
        return Ok(Vec::new());
    }
    // Asking first keeps a fresh database free of a failed statement (and
    // PostgreSQL's log free of its error).
    if !SchemaManager::new(conn).has_table(MIGRATIONS_TABLE).await? {
        return Ok(known.to_vec());
    }
    let applied: Vec<String> = seaql_migrations::Entity::find()
        .select_only()
        .column(seaql_migrations::Column::Version)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(known
        .iter()
        .filter(|name| !applied.contains(name))
        .cloned()
        .collect())
}

/// The warning `unchained run` prints when the database lacks migrations
/// of `bundles` or of the project's `db/migrations/`; `None` when it is up
/// to date:
///
/// ```text
/// 2 migrations are not applied to sqlite:db/development.sqlite (m20260101_000000_create_tables, m20260102_000000_add_posts): run `unchained db upgrade`
/// ```
pub async fn pending_migrations_warning(
    conn: &DatabaseConnection,
    bundles: &ResolvedBundles,
    config: &Config,
) -> anyhow::Result<Option<String>> {
    let model_ctx = ModelContext {
        backend: conn.get_database_backend(),
        config,
    };
    let known: Vec<String> = collect_migrations(bundles, &model_ctx)
        .into_iter()
        .map(|m| m.name)
        .collect();
    let pending = pending_migrations(conn, &known).await?;
    if pending.is_empty() {
        return Ok(None);
    }
    let url = DatabaseConfig::from_config(config)?.url;
    Ok(Some(warning_text(&pending, &mask_password(&url))))
}

fn warning_text(pending: &[String], url: &str) -> String {
    let count = match pending.len() {
        1 => "1 migration is".to_owned(),
        n => format!("{n} migrations are"),
    };
    let mut names = pending
        .iter()
        .take(NAMES_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if pending.len() > NAMES_SHOWN {
        names.push_str(&format!(" and {} more", pending.len() - NAMES_SHOWN));
    }
    format!("{count} not applied to {url} ({names}): run `unchained db upgrade`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("m{i}")).collect()
    }

    #[test]
    fn the_warning_names_the_migrations_the_database_and_the_command() {
        assert_eq!(
            warning_text(&names(1), "sqlite:db/development.sqlite"),
            "1 migration is not applied to sqlite:db/development.sqlite (m1): run `unchained db upgrade`"
        );
        assert_eq!(
            warning_text(&names(3), "sqlite:x"),
            "3 migrations are not applied to sqlite:x (m1, m2, m3): run `unchained db upgrade`"
        );
        assert_eq!(
            warning_text(&names(5), "sqlite:x"),
            "5 migrations are not applied to sqlite:x (m1, m2, m3 and 2 more): run `unchained db upgrade`"
        );
    }
}
