//! Models: the tables each bundle declares, for `unchained db migrate`.

use sea_orm::{DbBackend, EntityTrait, Schema};
use sea_query::{IndexCreateStatement, TableCreateStatement};

use crate::config::Config;

/// What a bundle needs to describe its tables: the database backend in use
/// (types differ between SQLite, PostgreSQL and MySQL) and the merged
/// config (a table name may come from config).
pub struct ModelContext<'a> {
    /// The backend the tables are described for.
    pub backend: DbBackend,
    /// The merged app config.
    pub config: &'a Config,
}

/// One table a bundle declares: its `CREATE TABLE` and its indexes.
#[derive(Debug, Clone)]
pub struct ModelDef {
    /// The table, as sea-query describes it.
    pub table: TableCreateStatement,
    /// Indexes beyond the ones the table statement carries inline.
    pub indexes: Vec<IndexCreateStatement>,
}

impl ModelDef {
    /// Describes a SeaORM entity for the backend in `ctx`.
    ///
    /// ```
    /// use unchained::models::{ModelContext, ModelDef};
    /// # use sea_orm::entity::prelude::*;
    /// # #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    /// # #[sea_orm(table_name = "post")]
    /// # pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub title: String }
    /// # #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// # pub enum Relation {}
    /// # impl ActiveModelBehavior for ActiveModel {}
    /// # let config = unchained::config::Config::empty();
    /// let ctx = ModelContext { backend: sea_orm::DbBackend::Sqlite, config: &config };
    /// let post = ModelDef::from_entity(&ctx, Entity);
    /// assert_eq!(post.table_name(), "post");
    /// ```
    pub fn from_entity<E: EntityTrait>(ctx: &ModelContext<'_>, entity: E) -> Self {
        let schema = Schema::new(ctx.backend);
        ModelDef {
            table: schema.create_table_from_entity(entity),
            indexes: schema.create_index_from_entity(entity),
        }
    }

    /// The table's name.
    pub fn table_name(&self) -> String {
        self.table
            .get_table_name()
            .map(|t| t.sea_orm_table().to_string())
            .unwrap_or_default()
    }
}
