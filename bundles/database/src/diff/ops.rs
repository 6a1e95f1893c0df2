//! The operations a migration is made of, and their inverses.

use crate::schema::{Column, ForeignKey, Index, Table, Unique, unique_name};

/// One schema operation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// `CREATE TABLE` (with its indexes).
    CreateTable(Table),
    /// `DROP TABLE`; the definition is kept for `down`.
    DropTable(Table),
    /// `ALTER TABLE ... ADD COLUMN`.
    AddColumn {
        /// The table.
        table: String,
        /// The new column.
        column: Column,
    },
    /// `ALTER TABLE ... DROP COLUMN`; the definition is kept for `down`.
    DropColumn {
        /// The table.
        table: String,
        /// The dropped column.
        column: Column,
    },
    /// A change of type, nullability or default.
    AlterColumn {
        /// The table.
        table: String,
        /// The column as it is.
        from: Column,
        /// The column as it should be.
        to: Column,
    },
    /// A unique constraint, added as a named unique index.
    AddUnique {
        /// The table.
        table: String,
        /// The constraint; its name is always set.
        unique: Unique,
    },
    /// Drops a unique constraint or unique index.
    DropUnique {
        /// The table.
        table: String,
        /// The constraint as it is.
        unique: Unique,
    },
    /// `CREATE INDEX`.
    AddIndex {
        /// The table.
        table: String,
        /// The index.
        index: Index,
    },
    /// `DROP INDEX`.
    DropIndex {
        /// The table.
        table: String,
        /// The index as it is.
        index: Index,
    },
    /// `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`; its name is set.
    AddForeignKey {
        /// The table.
        table: String,
        /// The key.
        fk: ForeignKey,
    },
    /// `ALTER TABLE ... DROP CONSTRAINT` / `DROP FOREIGN KEY`.
    DropForeignKey {
        /// The table.
        table: String,
        /// The key as it is.
        fk: ForeignKey,
    },
    /// SQLite cannot alter columns or constraints in place: create the new
    /// table, copy the rows, drop the old one and rename.
    RebuildTable {
        /// The table as it is.
        from: Table,
        /// The table as it should be.
        to: Table,
    },
}

impl Op {
    /// The operation that undoes this one.
    pub fn inverse(&self) -> Op {
        match self.clone() {
            Op::CreateTable(t) => Op::DropTable(t),
            Op::DropTable(t) => Op::CreateTable(t),
            Op::AddColumn { table, column } => Op::DropColumn { table, column },
            Op::DropColumn { table, column } => Op::AddColumn { table, column },
            Op::AlterColumn { table, from, to } => Op::AlterColumn {
                table,
                from: to,
                to: from,
            },
            Op::AddUnique { table, unique } => Op::DropUnique {
                table,
                // What `up` created is a unique index, not a constraint.
                unique: Unique {
                    constraint: false,
                    ..unique
                },
            },
            Op::DropUnique { table, unique } => Op::AddUnique {
                unique: Unique {
                    name: Some(
                        unique
                            .name
                            .clone()
                            .unwrap_or_else(|| unique_name(&table, &unique.columns)),
                    ),
                    constraint: false,
                    ..unique
                },
                table,
            },
            Op::AddIndex { table, index } => Op::DropIndex { table, index },
            Op::DropIndex { table, index } => Op::AddIndex { table, index },
            Op::AddForeignKey { table, fk } => Op::DropForeignKey { table, fk },
            Op::DropForeignKey { table, fk } => Op::AddForeignKey { table, fk },
            Op::RebuildTable { from, to } => Op::RebuildTable { from: to, to: from },
        }
    }

    /// The table the operation works on.
    pub fn table(&self) -> &str {
        match self {
            Op::CreateTable(t) | Op::DropTable(t) => &t.name,
            Op::RebuildTable { to, .. } => &to.name,
            Op::AddColumn { table, .. }
            | Op::DropColumn { table, .. }
            | Op::AlterColumn { table, .. }
            | Op::AddUnique { table, .. }
            | Op::DropUnique { table, .. }
            | Op::AddIndex { table, .. }
            | Op::DropIndex { table, .. }
            | Op::AddForeignKey { table, .. }
            | Op::DropForeignKey { table, .. } => table,
        }
    }
}

/// One planned operation, with a comment for the reader when the diff is
/// a guess (a likely rename) or risky (a NOT NULL column on a full table).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The operation for `up`.
    pub op: Op,
    /// A note written above it in the migration file.
    pub comment: Option<String>,
}

impl Step {
    pub(super) fn new(op: Op) -> Self {
        Step { op, comment: None }
    }
}

/// What [`diff`](fn@super::diff) found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// The operations of `up`, in order.
    pub steps: Vec<Step>,
    /// Differences the generator does not migrate (e.g. a changed primary
    /// key); printed and written at the top of the file.
    pub warnings: Vec<String>,
}

impl Diff {
    /// No operation and no warning.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.warnings.is_empty()
    }

    /// The operations of `down`: the inverses, in reverse order.
    pub fn down_ops(&self) -> Vec<Op> {
        self.steps.iter().rev().map(|s| s.op.inverse()).collect()
    }
}

/// A one-line description of an operation.
pub fn describe(op: &Op) -> String {
    match op {
        Op::CreateTable(t) => format!("create table {}", t.name),
        Op::DropTable(t) => format!("drop table {}", t.name),
        Op::AddColumn { table, column } => format!("add column {table}.{}", column.name),
        Op::DropColumn { table, column } => format!("drop column {table}.{}", column.name),
        Op::AlterColumn { table, to, .. } => format!("alter column {table}.{}", to.name),
        Op::AddUnique { table, unique } => {
            format!("add unique ({}) on {table}", unique.columns.join(", "))
        }
        Op::DropUnique { table, unique } => {
            format!("drop unique ({}) on {table}", unique.columns.join(", "))
        }
        Op::AddIndex { table, index } => format!("add index {} on {table}", index.name),
        Op::DropIndex { table, index } => format!("drop index {} on {table}", index.name),
        Op::AddForeignKey { table, fk } => format!(
            "add foreign key {table}({}) -> {}",
            fk.columns.join(", "),
            fk.ref_table
        ),
        Op::DropForeignKey { table, fk } => format!(
            "drop foreign key {table}({}) -> {}",
            fk.columns.join(", "),
            fk.ref_table
        ),
        Op::RebuildTable { to, .. } => format!("rebuild table {}", to.name),
    }
}
