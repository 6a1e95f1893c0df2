//! Compares a desired [`Schema`] with the live one and plans the
//! operations of a migration: [`diff`] returns [`Step`]s for `up`; each
//! [`Op`] has an [`inverse`](Op::inverse) for `down`.

use std::collections::BTreeSet;

use sea_orm::DbBackend;

use crate::schema::{Column, Schema, Table, Unique, default_key, fill_value, type_key};

/// Plans the migration that turns `live` into `desired` on `backend`.
pub fn diff(backend: DbBackend, desired: &Schema, live: &Schema) -> Diff {
    let mut plan = Plan::default();
    let mut diff = Diff::default();

    let created: Vec<&Table> = desired
        .tables
        .iter()
        .filter(|t| live.table(&t.name).is_none())
        .collect();
    let dropped: Vec<&Table> = live
        .tables
        .iter()
        .filter(|t| desired.table(&t.name).is_none())
        .collect();

    for table in order_by_references(&created) {
        let mut step = Step::new(Op::CreateTable(table.clone()));
        if let Some(old) = dropped.iter().find(|old| likely_same_table(old, table)) {
            step.comment = Some(format!(
                "`{}` is created and `{}` dropped: if this is a rename, replace both with manager.rename_table(...) to keep the rows.",
                table.name, old.name
            ));
        }
        plan.create_tables.push(step);
    }
    for table in order_by_references(&dropped).into_iter().rev() {
        plan.drop_tables
            .push(Step::new(Op::DropTable(table.clone())));
    }

    for wanted in &desired.tables {
        let Some(actual) = live.table(&wanted.name) else {
            continue;
        };
        let actual = reconcile(backend, actual, wanted);
        let mut table_plan = Plan::default();
        diff_table(
            backend,
            &actual,
            wanted,
            &mut table_plan,
            &mut diff.warnings,
        );
        if backend == DbBackend::Sqlite && table_plan.needs_sqlite_rebuild(&actual) {
            let mut step = Step::new(Op::RebuildTable {
                from: actual.clone(),
                to: wanted.clone(),
            });
            step.comment = Some(table_plan.summary(&wanted.name));
            plan.alter.push(step);
        } else {
            plan.merge(table_plan);
        }
    }

    diff.steps = plan.into_steps();
    diff
}

/// Tables in an order where a referenced table comes before the tables
/// that reference it (among `tables`); cycles keep declaration order.
fn order_by_references<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let mut ordered: Vec<&Table> = Vec::new();
    let mut pending: Vec<&Table> = tables.to_vec();
    while !pending.is_empty() {
        let ready = pending.iter().position(|t| {
            t.foreign_keys
                .iter()
                .all(|fk| fk.ref_table == t.name || !pending.iter().any(|p| p.name == fk.ref_table))
        });
        let next = pending.remove(ready.unwrap_or(0));
        ordered.push(next);
    }
    ordered
}

fn likely_same_table(old: &Table, new: &Table) -> bool {
    let old_cols: BTreeSet<&str> = old.columns.iter().map(|c| c.name.as_str()).collect();
    let new_cols: BTreeSet<&str> = new.columns.iter().map(|c| c.name.as_str()).collect();
    let common = old_cols.intersection(&new_cols).count();
    common * 2 > old_cols.len().max(new_cols.len())
}

/// Reads the live table in terms of the desired one: a live unique index
/// that the models do not name is a unique constraint (the database named
/// it), and on MySQL the index it adds for a foreign key is not the user's.
fn reconcile(backend: DbBackend, live: &Table, desired: &Table) -> Table {
    let mut table = live.clone();
    let wanted_names: BTreeSet<&str> = desired.indexes.iter().map(|i| i.name.as_str()).collect();
    let mut indexes = Vec::new();
    for index in std::mem::take(&mut table.indexes) {
        if wanted_names.contains(index.name.as_str()) {
            indexes.push(index);
        } else if index.unique {
            table.uniques.push(Unique {
                name: Some(index.name),
                columns: index.columns,
                constraint: false,
            });
        } else if backend == DbBackend::MySql
            && desired
                .foreign_keys
                .iter()
                .any(|fk| fk.columns == index.columns)
        {
            // MySQL creates this index itself for a foreign key (and keeps
            // it when the key is dropped: then the diff drops it too).
        } else {
            indexes.push(index);
        }
    }
    table.indexes = indexes;
    table
}

fn column_changed(backend: DbBackend, from: &Column, to: &Column) -> bool {
    type_key(backend, &from.col_type) != type_key(backend, &to.col_type)
        || from.nullable != to.nullable
        || from.default.as_deref().map(default_key) != to.default.as_deref().map(default_key)
        || from.auto_increment != to.auto_increment
}

fn diff_table(
    backend: DbBackend,
    live: &Table,
    desired: &Table,
    plan: &mut Plan,
    warnings: &mut Vec<String>,
) {
    let name = &desired.name;
    if live.primary_key != desired.primary_key {
        warnings.push(format!(
            "the primary key of `{name}` changed from ({}) to ({}): not migrated, write this step by hand",
            live.primary_key.join(", "),
            desired.primary_key.join(", ")
        ));
    }

    let added: Vec<&Column> = desired
        .columns
        .iter()
        .filter(|c| live.column(&c.name).is_none())
        .collect();
    let removed: Vec<&Column> = live
        .columns
        .iter()
        .filter(|c| desired.column(&c.name).is_none())
        .collect();

    for column in &added {
        let mut step = Step::new(Op::AddColumn {
            table: name.clone(),
            column: (*column).clone(),
        });
        let mut notes = Vec::new();
        if let Some(old) = removed
            .iter()
            .find(|old| type_key(backend, &old.col_type) == type_key(backend, &column.col_type))
        {
            notes.push(format!(
                "`{}` is added and `{}` dropped: if this is a rename, replace both with a rename_column to keep the data.",
                column.name, old.name
            ));
        }
        if !column.nullable && column.default.is_none() {
            notes.push(match fill_value(backend, &column.col_type) {
                Some(fill) => format!(
                    "`{}` is NOT NULL without a default: existing rows of `{name}` get {fill}; change that value if needed.",
                    column.name
                ),
                None => format!(
                    "`{}` is NOT NULL without a default: this fails if `{name}` has rows; give it a default or fill it in first.",
                    column.name
                ),
            });
        }
        if !notes.is_empty() {
            step.comment = Some(notes.join(" "));
        }
        plan.add_columns.push(step);
    }
    for column in &removed {
        plan.drop_columns.push(Step::new(Op::DropColumn {
            table: name.clone(),
            column: (*column).clone(),
        }));
    }
    for wanted in &desired.columns {
        if let Some(actual) = live.column(&wanted.name)
            && column_changed(backend, actual, wanted)
        {
            plan.alter_columns.push(Step::new(Op::AlterColumn {
                table: name.clone(),
                from: actual.clone(),
                to: wanted.clone(),
            }));
        }
    }

    for unique in &desired.uniques {
        if !live.uniques.iter().any(|u| u.columns == unique.columns) {
            plan.add_constraints.push(Step::new(Op::AddUnique {
                table: name.clone(),
                unique: Unique {
                    name: Some(
                        unique
                            .name
                            .clone()
                            .unwrap_or_else(|| unique_name(name, &unique.columns)),
                    ),
                    columns: unique.columns.clone(),
                    constraint: false,
                },
            }));
        }
    }
    for unique in &live.uniques {
        if !desired.uniques.iter().any(|u| u.columns == unique.columns) {
            plan.drop_constraints.push(Step::new(Op::DropUnique {
                table: name.clone(),
                unique: unique.clone(),
            }));
        }
    }

    for index in &desired.indexes {
        match live.indexes.iter().find(|i| i.name == index.name) {
            Some(actual) if actual == index => {}
            Some(actual) => {
                plan.drop_constraints.push(Step::new(Op::DropIndex {
                    table: name.clone(),
                    index: actual.clone(),
                }));
                plan.add_constraints.push(Step::new(Op::AddIndex {
                    table: name.clone(),
                    index: index.clone(),
                }));
            }
            None => plan.add_constraints.push(Step::new(Op::AddIndex {
                table: name.clone(),
                index: index.clone(),
            })),
        }
    }
    for index in &live.indexes {
        if !desired.indexes.iter().any(|i| i.name == index.name) {
            plan.drop_constraints.push(Step::new(Op::DropIndex {
                table: name.clone(),
                index: index.clone(),
            }));
        }
    }

    for fk in &desired.foreign_keys {
        if !live.foreign_keys.iter().any(|l| l.same_as(fk)) {
            let mut fk = fk.clone();
            fk.name = Some(
                fk.name
                    .clone()
                    .unwrap_or_else(|| foreign_key_name(name, &fk)),
            );
            plan.add_foreign_keys.push(Step::new(Op::AddForeignKey {
                table: name.clone(),
                fk,
            }));
        }
    }
    for fk in &live.foreign_keys {
        if !desired.foreign_keys.iter().any(|d| d.same_as(fk)) {
            plan.drop_foreign_keys.push(Step::new(Op::DropForeignKey {
                table: name.clone(),
                fk: fk.clone(),
            }));
        }
    }
}

mod ops;
mod plan;

/// Re-exported from [`crate::schema`], where constraint naming now lives
/// (it is knowledge about schema objects, not about the comparison); kept
/// here so existing `diff::unique_name` paths still compile.
pub use crate::schema::{foreign_key_name, unique_name};
pub use ops::{Diff, Op, Step, describe};
use plan::Plan;

#[cfg(test)]
mod tests;
