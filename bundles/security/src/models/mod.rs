//! The bundle's tables: [`user`], [`role`], [`user_role`],
//! [`user_session`] and [`login_attempt`] (the throttle's counters).
//!
//! `unchained db migrate` picks them up through the bundle's
//! [`models`](unchained::Bundle::models); [`create_tables`] creates them
//! directly (tests, quick prototypes).
//!
//! An app adds its own fields to a user in a table of its own that points
//! at `users.id` (a one-to-one "profile"), see `docs/bundles/security.md`.

pub mod login_attempt;
pub mod role;
pub mod user;
pub mod user_role;
pub mod user_session;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityName, Schema};
use unchained::models::{ModelContext, ModelDef};

/// The table definitions, in creation order (referenced tables first).
pub fn model_defs(ctx: &ModelContext<'_>) -> Vec<ModelDef> {
    vec![
        ModelDef::from_entity(ctx, user::Entity),
        ModelDef::from_entity(ctx, role::Entity),
        ModelDef::from_entity(ctx, user_role::Entity),
        ModelDef::from_entity(ctx, user_session::Entity),
        ModelDef::from_entity(ctx, login_attempt::Entity),
    ]
}

/// Creates the bundle's tables (and their indexes) if they do not exist.
///
/// Projects normally use `unchained db migrate` / `upgrade`; this is for
/// tests and throwaway databases.
pub async fn create_tables(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let schema = Schema::new(backend);
    macro_rules! create {
        ($entity:expr) => {{
            // MySQL has no `CREATE INDEX IF NOT EXISTS`: indexes are made
            // only together with their table.
            if !table_exists(db, $entity.table_name()).await {
                let mut table = schema.create_table_from_entity($entity);
                table.if_not_exists();
                db.execute(&table).await?;
                for index in schema.create_index_from_entity($entity) {
                    db.execute(&index).await?;
                }
            }
        }};
    }
    create!(user::Entity);
    create!(role::Entity);
    create!(user_role::Entity);
    create!(user_session::Entity);
    create!(login_attempt::Entity);
    Ok(())
}

/// Whether table `name` exists (a query on it succeeds).
async fn table_exists(db: &DatabaseConnection, name: &str) -> bool {
    let probe = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new(name))
        .limit(0)
        .to_owned();
    db.query_all(&probe).await.is_ok()
}

/// The form in which emails are stored and looked up: trimmed and
/// lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A rough check that `email` looks like an address (`local@domain.tld`,
/// no spaces, at most 254 characters); the confirmation email is the real
/// proof.
pub fn is_plausible_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Ann@Example.COM "), "ann@example.com");
        assert!(is_plausible_email("ann@example.com"));
        assert!(!is_plausible_email("ann@example"));
        assert!(!is_plausible_email("ann example@x.org"));
        assert!(!is_plausible_email("@x.org"));
        assert!(!is_plausible_email("ann@.org"));
    }
}
