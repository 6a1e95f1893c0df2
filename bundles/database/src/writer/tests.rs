//! Unit tests of the writer: operations in, Rust source out.

use chrono::{TimeZone, Utc};
use sea_orm::DbBackend;
use sea_query::{ColumnType, StringLen};

use super::*;
use crate::diff::{Diff, Op, Step};
use crate::schema::{Column, Table, Unique};

fn file() -> MigrationFile {
    MigrationFile::new(
        "Create sessions table!",
        Some("m20250101_000000_init".to_owned()),
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap(),
    )
}

fn col(name: &str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        name: name.to_owned(),
        col_type: ty,
        nullable,
        default: None,
        auto_increment: false,
    }
}

fn steps(ops: Vec<Op>) -> Diff {
    Diff {
        steps: ops
            .into_iter()
            .map(|op| Step { op, comment: None })
            .collect(),
        warnings: Vec::new(),
    }
}

#[test]
fn slugs_and_revisions() {
    assert_eq!(slug("Create sessions table!"), "create_sessions_table");
    assert_eq!(slug("  ---  "), "migration");
    assert_eq!(slug("Ünïcode & more"), "n_code_more");
    assert_eq!(slug(&"x".repeat(100)).len(), 60);
    let f = file();
    assert_eq!(f.revision, "m20260304_050607_create_sessions_table");
    assert_eq!(f.file_name(), "m20260304_050607_create_sessions_table.rs");
}

#[test]
fn header_names_message_revision_parent_and_date() {
    let source = MigrationWriter::new(DbBackend::Sqlite).write(&file(), &Diff::default());
    assert!(
        source.starts_with("//! Create sessions table!\n"),
        "{source}"
    );
    assert!(source.contains("//! Revision: m20260304_050607_create_sessions_table\n"));
    assert!(source.contains("//! Parent: m20250101_000000_init\n"));
    assert!(source.contains("//! Created: 2026-03-04 05:06:07 UTC\n"));
    assert!(source.contains("revision: \"m20260304_050607_create_sessions_table\","));
    assert!(source.contains("parent: Some(\"m20250101_000000_init\"),"));
    let first = MigrationFile::new("x", None, Utc::now());
    let source = MigrationWriter::new(DbBackend::Sqlite).write(&first, &Diff::default());
    assert!(source.contains("//! Parent: base\n"));
    assert!(source.contains("parent: None,"));
}

#[test]
fn create_table_with_composite_keys_and_uniques() {
    let table = Table {
        name: "pair".into(),
        columns: vec![
            col("a", ColumnType::Integer, false),
            col("b", ColumnType::String(StringLen::N(20)), false),
            col("c", ColumnType::custom("citext"), true),
        ],
        primary_key: vec!["a".into(), "b".into()],
        uniques: vec![Unique {
            name: None,
            columns: vec!["b".into(), "c".into()],
            constraint: true,
        }],
        ..Table::default()
    };
    let source = MigrationWriter::new(DbBackend::Postgres)
        .write(&file(), &steps(vec![Op::CreateTable(table)]));
    assert!(
        source.contains(".col(ColumnDef::new(\"b\").string_len(20).not_null())"),
        "{source}"
    );
    assert!(
        source.contains(".col(ColumnDef::new(\"c\").custom(\"citext\").null())"),
        "{source}"
    );
    assert!(
        source.contains(".primary_key(Index::create().col(\"a\").col(\"b\"))"),
        "{source}"
    );
    assert!(
        source.contains(".index(Index::create().unique().col(\"b\").col(\"c\"))"),
        "{source}"
    );
    assert!(
        source.contains(".drop_table(Table::drop().table(\"pair\").to_owned())"),
        "{source}"
    );
}

#[test]
fn postgres_alter_column_changes_only_what_changed() {
    let mut from = col("n", ColumnType::Integer, false);
    from.default = Some("0".into());
    let to = col("n", ColumnType::Integer, true);
    let source = MigrationWriter::new(DbBackend::Postgres).write(
        &file(),
        &steps(vec![Op::AlterColumn {
            table: "t".into(),
            from,
            to,
        }]),
    );
    assert!(
        source.contains("modify_column(ColumnDef::new(\"n\").null())"),
        "{source}"
    );
    assert!(
        source.contains(
            r##"db.execute_unprepared(r#"ALTER TABLE "t" ALTER COLUMN "n" DROP DEFAULT"#)"##
        ),
        "{source}"
    );
    // down sets the default again.
    assert!(
        source
            .contains("modify_column(ColumnDef::new(\"n\").not_null().default(Expr::cust(\"0\")))"),
        "{source}"
    );
}

#[test]
fn mysql_alter_column_restates_the_column() {
    let source = MigrationWriter::new(DbBackend::MySql).write(
        &file(),
        &steps(vec![Op::AlterColumn {
            table: "t".into(),
            from: col("s", ColumnType::String(StringLen::N(10)), false),
            to: col("s", ColumnType::String(StringLen::N(10)), true),
        }]),
    );
    assert!(
        source.contains("modify_column(ColumnDef::new(\"s\").string_len(10).null())"),
        "{source}"
    );
}

#[test]
fn postgres_drops_a_unique_constraint_as_a_constraint() {
    let unique = Unique {
        name: Some("t_email_key".into()),
        columns: vec!["email".into()],
        constraint: true,
    };
    let source = MigrationWriter::new(DbBackend::Postgres).write(
        &file(),
        &steps(vec![Op::DropUnique {
            table: "t".into(),
            unique,
        }]),
    );
    assert!(
        source.contains("drop_constraint(\"t_email_key\")"),
        "{source}"
    );
    assert!(
        source
            .contains("Index::create().name(\"t_email_key\").table(\"t\").col(\"email\").unique()"),
        "{source}"
    );
}

#[test]
fn comments_are_wrapped_above_their_step() {
    let diff = Diff {
        steps: vec![Step {
            op: Op::DropTable(Table {
                name: "old".into(),
                ..Table::default()
            }),
            comment: Some("word ".repeat(40)),
        }],
        warnings: vec!["the primary key changed".into()],
    };
    let source = MigrationWriter::new(DbBackend::Sqlite).write(&file(), &diff);
    assert!(
        source
            .lines()
            .filter(|l| l.trim_start().starts_with("// word"))
            .count()
            >= 2,
        "{source}"
    );
    assert!(
        source.contains("//! - NOT MIGRATED: the primary key changed"),
        "{source}"
    );
}

#[test]
fn raw_literals_survive_quotes() {
    assert_eq!(raw_lit("a \"b\""), "r#\"a \"b\"\"#");
    assert_eq!(raw_lit("x \"# y"), "r##\"x \"# y\"##");
}
