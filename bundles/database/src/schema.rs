//! One neutral description of a database schema, built from two sources:
//! the models every bundle declares ([`desired`]) and the live database
//! ([`live`], through sea-schema).
//!
//! This is the representation the rest of the migration pipeline shares:
//! the diff compares two schemas and the writer renders them, so both
//! depend on this module and it depends on neither. Knowledge about schema
//! objects themselves (how an unnamed constraint gets its name, see
//! [`unique_name`] and [`foreign_key_name`]) therefore lives here too.
//!
//! Both sources are first expressed as sea-query `CREATE TABLE` statements
//! (sea-schema's `writer` feature produces them for a live table), so one
//! conversion ([`Table::from_statement`]) serves both and the two sides are
//! normalized the same way.

pub mod desired;
pub mod live;
mod render;

use sea_orm::DbBackend;
use sea_query::{ColumnType, IndexCreateStatement, TableCreateStatement, TableRef};

pub use render::{
    default_key, fill_value, render_column_type, render_default, sql_type_key, type_key,
};

/// The table that records applied migrations; never diffed.
pub const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Prefix of the temporary table a SQLite table rebuild copies into.
pub const REBUILD_PREFIX: &str = "__unchained_new_";

/// A whole schema: its tables, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// The tables.
    pub tables: Vec<Table>,
}

impl Schema {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary key columns (empty: none).
    pub primary_key: Vec<String>,
    /// Unique constraints (a column's `UNIQUE`, or an unnamed unique index).
    pub uniques: Vec<Unique>,
    /// Named indexes (`CREATE [UNIQUE] INDEX name ...`).
    pub indexes: Vec<Index>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Its type, as sea-query describes it (what the writer writes).
    pub col_type: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default, as SQL text for the backend (e.g. `CURRENT_TIMESTAMP`).
    pub default: Option<String>,
    /// Whether the database generates values (serial, AUTO_INCREMENT, ...).
    pub auto_increment: bool,
}

/// A unique constraint: compared by its columns, since the database names
/// an inline `UNIQUE` itself (`t_col_key`, `col`, `sqlite_autoindex_t_1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    /// The live name, when known (needed to drop it).
    pub name: Option<String>,
    /// The columns.
    pub columns: Vec<String>,
    /// `true` when it is a table constraint rather than a bare index
    /// (PostgreSQL drops those with `DROP CONSTRAINT`).
    pub constraint: bool,
}

/// A named index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// Indexed columns, in order.
    pub columns: Vec<String>,
    /// `CREATE UNIQUE INDEX`.
    pub unique: bool,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    /// The constraint's name (SQLite does not keep one).
    pub name: Option<String>,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
    /// `ON DELETE` action.
    pub on_delete: Option<FkAction>,
    /// `ON UPDATE` action.
    pub on_update: Option<FkAction>,
}

/// A foreign key's `ON DELETE` / `ON UPDATE` action (sea-query's own type
/// cannot be compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FkAction {
    /// `RESTRICT`
    Restrict,
    /// `CASCADE`
    Cascade,
    /// `SET NULL`
    SetNull,
    /// `NO ACTION`
    NoAction,
    /// `SET DEFAULT`
    SetDefault,
}

impl FkAction {
    fn from_sea_query(action: sea_query::ForeignKeyAction) -> Self {
        use sea_query::ForeignKeyAction as A;
        match action {
            A::Restrict => FkAction::Restrict,
            A::Cascade => FkAction::Cascade,
            A::SetNull => FkAction::SetNull,
            A::SetDefault => FkAction::SetDefault,
            _ => FkAction::NoAction,
        }
    }
}

impl ForeignKey {
    /// Whether both keys link the same columns the same way (names aside:
    /// SQLite keeps none, and `RESTRICT`/`NO ACTION`/unset behave alike).
    pub fn same_as(&self, other: &ForeignKey) -> bool {
        self.columns == other.columns
            && self.ref_table == other.ref_table
            && self.ref_columns == other.ref_columns
            && action_key(self.on_delete) == action_key(other.on_delete)
            && action_key(self.on_update) == action_key(other.on_update)
    }
}

fn action_key(action: Option<FkAction>) -> &'static str {
    match action {
        Some(FkAction::Cascade) => "cascade",
        Some(FkAction::SetNull) => "set null",
        Some(FkAction::SetDefault) => "set default",
        _ => "no action",
    }
}

/// The generated name of a unique index on `columns` of `table`.
///
/// Used wherever a constraint the models left unnamed must be created or
/// dropped by name, so the diff and the writer agree on it.
pub fn unique_name(table: &str, columns: &[String]) -> String {
    format!("uq-{table}-{}", columns.join("-"))
}

/// The generated name of a foreign key of `table`, for keys the models
/// left unnamed (see [`unique_name`] for why it is shared).
pub fn foreign_key_name(table: &str, fk: &ForeignKey) -> String {
    format!("fk-{table}-{}-{}", fk.columns.join("-"), fk.ref_table)
}

/// The bare name of a table reference (schema qualifier dropped).
pub fn table_ref_name(table: &TableRef) -> String {
    match table {
        TableRef::Table(name, _) => name.1.to_string(),
        TableRef::SubQuery(_, alias)
        | TableRef::ValuesList(_, alias)
        | TableRef::FunctionCall(_, alias) => alias.to_string(),
        _ => String::new(),
    }
}

impl Table {
    /// Builds a table from a `CREATE TABLE` statement plus separate index
    /// statements, for `backend`.
    pub fn from_statement(
        backend: DbBackend,
        stmt: &TableCreateStatement,
        indexes: &[IndexCreateStatement],
    ) -> Table {
        let name = stmt
            .get_table_name()
            .map(table_ref_name)
            .unwrap_or_default();
        let mut table = Table {
            name: name.clone(),
            ..Table::default()
        };
        for def in stmt.get_columns() {
            let spec = def.get_column_spec();
            let column_name = def.get_column_name();
            if spec.primary_key {
                table.primary_key.push(column_name.clone());
            }
            if spec.unique {
                table.uniques.push(Unique {
                    name: None,
                    columns: vec![column_name.clone()],
                    constraint: true,
                });
            }
            table.columns.push(Column {
                name: column_name,
                col_type: def.get_column_type().cloned().unwrap_or(ColumnType::Text),
                // A primary key column is NOT NULL whatever the statement says.
                nullable: !spec.primary_key && spec.nullable != Some(false),
                // MariaDB reports `DEFAULT NULL` for nullable columns: that
                // is no default.
                default: spec
                    .default
                    .as_ref()
                    .map(|d| render_default(backend, d))
                    .filter(|d| !d.eq_ignore_ascii_case("null")),
                auto_increment: spec.auto_increment,
            });
        }
        for index in stmt.get_indexes().iter().chain(indexes) {
            table.add_index_statement(index);
        }
        for fk in stmt.get_foreign_key_create_stmts() {
            let fk = fk.get_foreign_key();
            table.foreign_keys.push(ForeignKey {
                name: fk.get_name().map(str::to_owned),
                columns: fk.get_columns(),
                ref_table: fk.get_ref_table().map(table_ref_name).unwrap_or_default(),
                ref_columns: fk.get_ref_columns(),
                on_delete: fk.get_on_delete().map(FkAction::from_sea_query),
                on_update: fk.get_on_update().map(FkAction::from_sea_query),
            });
        }
        for pk_column in &table.primary_key {
            if let Some(column) = table.columns.iter_mut().find(|c| &c.name == pk_column) {
                column.nullable = false;
            }
        }
        table
    }

    fn add_index_statement(&mut self, index: &IndexCreateStatement) {
        let spec = index.get_index_spec();
        let columns = spec.get_column_names();
        if index.is_primary_key() {
            self.primary_key = columns;
            return;
        }
        match spec.get_name() {
            Some("PRIMARY") => self.primary_key = columns,
            Some(name) => self.indexes.push(Index {
                name: name.to_owned(),
                columns,
                unique: index.is_unique_key(),
            }),
            None if index.is_unique_key() => self.uniques.push(Unique {
                name: None,
                columns,
                constraint: true,
            }),
            // An unnamed plain index cannot be created or dropped by name:
            // sea-schema only reports those for SQLite internals; skip.
            None => {}
        }
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether `column` takes part in a key, index or unique constraint.
    pub fn column_is_constrained(&self, column: &str) -> bool {
        let has = |cols: &[String]| cols.iter().any(|c| c == column);
        has(&self.primary_key)
            || self.uniques.iter().any(|u| has(&u.columns))
            || self.indexes.iter().any(|i| has(&i.columns))
            || self.foreign_keys.iter().any(|f| has(&f.columns))
    }
}
