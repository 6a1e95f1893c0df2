//! The desired schema: what the enabled bundles' models declare.

use sea_orm::DbBackend;
use unchained::models::ModelDef;

use super::{MIGRATIONS_TABLE, Schema, Table};

/// Two models declare the same table.
#[derive(Debug, thiserror::Error)]
#[error(
    "table `{table}` is declared twice (by {first} and {second}): rename one, e.g. through its bundle's table-name config key"
)]
#[non_exhaustive]
pub struct DuplicateTable {
    /// The table.
    pub table: String,
    /// Who declared it first.
    pub first: String,
    /// Who declared it again.
    pub second: String,
}

/// The schema of `models`, given as `(bundle name, model)` in bundle
/// order. The migrations table is left out.
pub fn from_models(
    backend: DbBackend,
    models: &[(String, ModelDef)],
) -> Result<Schema, DuplicateTable> {
    let mut schema = Schema::default();
    let mut owners: Vec<(String, String)> = Vec::new();
    for (bundle, model) in models {
        let table = Table::from_statement(backend, &model.table, &model.indexes);
        if table.name == MIGRATIONS_TABLE {
            continue;
        }
        if let Some((_, first)) = owners.iter().find(|(name, _)| *name == table.name) {
            return Err(DuplicateTable {
                table: table.name,
                first: first.clone(),
                second: bundle.clone(),
            });
        }
        owners.push((table.name.clone(), bundle.clone()));
        schema.tables.push(table);
    }
    Ok(schema)
}
