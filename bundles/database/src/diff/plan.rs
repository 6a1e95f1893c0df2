//! [`Plan`]: operations grouped by kind, in an order that is always valid.

use super::{Op, Step, describe};
use crate::schema::Table;

/// Operations grouped by kind, so that the final order is always valid:
/// foreign keys and indexes go before the columns and tables they use,
/// and come back after.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) drop_foreign_keys: Vec<Step>,
    pub(super) drop_constraints: Vec<Step>,
    pub(super) create_tables: Vec<Step>,
    pub(super) add_columns: Vec<Step>,
    pub(super) alter_columns: Vec<Step>,
    pub(super) alter: Vec<Step>,
    pub(super) drop_columns: Vec<Step>,
    pub(super) add_constraints: Vec<Step>,
    pub(super) add_foreign_keys: Vec<Step>,
    pub(super) drop_tables: Vec<Step>,
}

impl Plan {
    pub(super) fn merge(&mut self, other: Plan) {
        self.drop_foreign_keys.extend(other.drop_foreign_keys);
        self.drop_constraints.extend(other.drop_constraints);
        self.create_tables.extend(other.create_tables);
        self.add_columns.extend(other.add_columns);
        self.alter_columns.extend(other.alter_columns);
        self.alter.extend(other.alter);
        self.drop_columns.extend(other.drop_columns);
        self.add_constraints.extend(other.add_constraints);
        self.add_foreign_keys.extend(other.add_foreign_keys);
        self.drop_tables.extend(other.drop_tables);
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Step> {
        self.drop_foreign_keys
            .iter()
            .chain(&self.drop_constraints)
            .chain(&self.create_tables)
            .chain(&self.add_columns)
            .chain(&self.alter_columns)
            .chain(&self.alter)
            .chain(&self.drop_columns)
            .chain(&self.add_constraints)
            .chain(&self.add_foreign_keys)
            .chain(&self.drop_tables)
    }

    pub(super) fn into_steps(self) -> Vec<Step> {
        let mut steps = Vec::new();
        steps.extend(self.drop_foreign_keys);
        steps.extend(self.drop_constraints);
        steps.extend(self.create_tables);
        steps.extend(self.add_columns);
        steps.extend(self.alter_columns);
        steps.extend(self.alter);
        steps.extend(self.drop_columns);
        steps.extend(self.add_constraints);
        steps.extend(self.add_foreign_keys);
        steps.extend(self.drop_tables);
        steps
    }

    /// Whether SQLite can do this table's changes with ALTER TABLE
    /// (add/drop plain columns, create/drop named indexes) or needs a
    /// rebuild.
    pub(super) fn needs_sqlite_rebuild(&self, live: &Table) -> bool {
        self.all().any(|step| match &step.op {
            Op::AlterColumn { .. } | Op::AddForeignKey { .. } | Op::DropForeignKey { .. } => true,
            Op::DropUnique { unique, .. } => unique.name.is_none(),
            Op::AddColumn { column, .. } => !column.nullable && column.default.is_none(),
            // Dropping is fine unless the column is in a key or index, but
            // `down` must add it back: SQLite cannot add a NOT NULL column
            // without a default.
            Op::DropColumn { column, .. } => {
                live.column_is_constrained(&column.name)
                    || (!column.nullable && column.default.is_none())
            }
            _ => false,
        })
    }

    /// What a rebuild replaces, for its comment.
    pub(super) fn summary(&self, table: &str) -> String {
        let changes: Vec<String> = self.all().map(|s| describe(&s.op)).collect();
        let mut text = format!(
            "SQLite cannot change `{table}` in place ({}): it is rebuilt (new table, rows copied, old table dropped, new one renamed).",
            changes.join("; ")
        );
        for note in self.all().filter_map(|s| s.comment.as_deref()) {
            text.push(' ');
            text.push_str(note);
        }
        text
    }
}
