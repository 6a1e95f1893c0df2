//! Unit tests of the diff: hand-made schemas, no database.

use sea_orm::DbBackend;
use sea_query::{ColumnType, StringLen};

use super::*;
use crate::schema::{FkAction, ForeignKey, Index};

fn col(name: &str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        name: name.to_owned(),
        col_type: ty,
        nullable,
        default: None,
        auto_increment: false,
    }
}

fn id() -> Column {
    Column {
        auto_increment: true,
        ..col("id", ColumnType::Integer, false)
    }
}

fn table(name: &str, columns: Vec<Column>) -> Table {
    Table {
        name: name.to_owned(),
        columns,
        primary_key: vec!["id".to_owned()],
        ..Table::default()
    }
}

fn schema(tables: Vec<Table>) -> Schema {
    Schema { tables }
}

fn ops(d: &Diff) -> Vec<String> {
    d.steps.iter().map(|s| describe(&s.op)).collect()
}

fn fk(columns: &str, ref_table: &str) -> ForeignKey {
    ForeignKey {
        name: None,
        columns: vec![columns.to_owned()],
        ref_table: ref_table.to_owned(),
        ref_columns: vec!["id".to_owned()],
        on_delete: Some(FkAction::Cascade),
        on_update: None,
    }
}

#[test]
fn equal_schemas_have_no_diff() {
    let s = schema(vec![table(
        "a",
        vec![id(), col("x", ColumnType::Text, true)],
    )]);
    for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
        assert!(diff(backend, &s, &s).is_empty());
    }
}

#[test]
fn new_tables_are_created_referenced_first_and_dropped_tables_dropped() {
    let mut book = table(
        "book",
        vec![id(), col("author_id", ColumnType::Integer, false)],
    );
    book.foreign_keys.push(fk("author_id", "author"));
    let desired = schema(vec![book, table("author", vec![id()])]);
    let live = schema(vec![table(
        "old",
        vec![id(), col("z", ColumnType::Text, true)],
    )]);
    let d = diff(DbBackend::Postgres, &desired, &live);
    assert_eq!(
        ops(&d),
        ["create table author", "create table book", "drop table old"]
    );
    assert_eq!(
        d.down_ops().iter().map(describe).collect::<Vec<_>>(),
        ["create table old", "drop table book", "drop table author"]
    );
}

#[test]
fn a_likely_table_rename_gets_a_comment() {
    let columns = vec![
        id(),
        col("title", ColumnType::Text, false),
        col("body", ColumnType::Text, false),
    ];
    let desired = schema(vec![table("article", columns.clone())]);
    let live = schema(vec![table("post", columns)]);
    let d = diff(DbBackend::Postgres, &desired, &live);
    assert_eq!(ops(&d), ["create table article", "drop table post"]);
    let comment = d.steps[0].comment.as_deref().unwrap_or_default();
    assert!(comment.contains("if this is a rename"), "{comment}");
}

#[test]
fn columns_added_dropped_and_altered() {
    let live = schema(vec![table(
        "a",
        vec![
            id(),
            col("old", ColumnType::String(StringLen::N(50)), false),
            col("n", ColumnType::Integer, false),
            col("s", ColumnType::String(StringLen::N(10)), true),
        ],
    )]);
    let mut with_default = col("n", ColumnType::Integer, false);
    with_default.default = Some("0".to_owned());
    let desired = schema(vec![table(
        "a",
        vec![
            id(),
            with_default,
            col("s", ColumnType::String(StringLen::N(20)), true),
            col("new", ColumnType::String(StringLen::N(50)), true),
        ],
    )]);
    let d = diff(DbBackend::Postgres, &desired, &live);
    assert_eq!(
        ops(&d),
        [
            "add column a.new",
            "alter column a.n",
            "alter column a.s",
            "drop column a.old"
        ]
    );
    // Same type added and dropped: maybe a rename.
    let comment = d.steps[0].comment.as_deref().unwrap_or_default();
    assert!(
        comment.contains("`new` is added and `old` dropped"),
        "{comment}"
    );
}

#[test]
fn not_null_column_without_default_says_what_rows_get() {
    let live = schema(vec![table("a", vec![id()])]);
    let desired = schema(vec![table(
        "a",
        vec![id(), col("name", ColumnType::Text, false)],
    )]);
    let d = diff(DbBackend::Postgres, &desired, &live);
    let comment = d.steps[0].comment.as_deref().unwrap_or_default();
    assert!(comment.contains("existing rows of `a` get ''"), "{comment}");
}

#[test]
fn equivalent_types_and_defaults_are_not_changes() {
    let mut a = col("at", ColumnType::TimestampWithTimeZone, false);
    a.default = Some("CURRENT_TIMESTAMP".to_owned());
    let mut b = a.clone();
    b.default = Some("now()".to_owned());
    let desired = schema(vec![table("t", vec![id(), a])]);
    let live = schema(vec![table("t", vec![id(), b])]);
    assert!(diff(DbBackend::Postgres, &desired, &live).is_empty());

    let live = schema(vec![table(
        "t",
        vec![id(), col("n", ColumnType::BigInteger, false)],
    )]);
    let desired = schema(vec![table(
        "t",
        vec![id(), col("n", ColumnType::Integer, false)],
    )]);
    assert!(
        diff(DbBackend::Sqlite, &desired, &live).is_empty(),
        "both are INTEGER to SQLite"
    );
    assert!(!diff(DbBackend::Postgres, &desired, &live).is_empty());
}

#[test]
fn unique_constraints_compare_by_columns_not_names() {
    let mut desired = table("u", vec![id(), col("email", ColumnType::Text, false)]);
    desired.uniques.push(Unique {
        name: None,
        columns: vec!["email".to_owned()],
        constraint: true,
    });
    // PostgreSQL named it u_email_key; MySQL `email`: a unique index the
    // models do not name is read as the constraint.
    let mut live = table("u", vec![id(), col("email", ColumnType::Text, false)]);
    live.indexes.push(Index {
        name: "email".to_owned(),
        columns: vec!["email".to_owned()],
        unique: true,
    });
    let d = diff(
        DbBackend::MySql,
        &schema(vec![desired.clone()]),
        &schema(vec![live]),
    );
    assert!(d.is_empty(), "{d:?}");

    let plain = table("u", vec![id(), col("email", ColumnType::Text, false)]);
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![desired.clone()]),
        &schema(vec![plain.clone()]),
    );
    assert_eq!(ops(&d), ["add unique (email) on u"]);
    let Op::AddUnique { unique, .. } = &d.steps[0].op else {
        panic!("{d:?}")
    };
    assert_eq!(unique.name.as_deref(), Some("uq-u-email"));

    let d = diff(
        DbBackend::Postgres,
        &schema(vec![plain]),
        &schema(vec![desired]),
    );
    assert_eq!(ops(&d), ["drop unique (email) on u"]);
}

#[test]
fn indexes_compare_by_name_and_definition() {
    let index = Index {
        name: "idx-t-x".to_owned(),
        columns: vec!["x".to_owned()],
        unique: false,
    };
    let base = table(
        "t",
        vec![
            id(),
            col("x", ColumnType::Integer, true),
            col("y", ColumnType::Integer, true),
        ],
    );
    let mut with = base.clone();
    with.indexes.push(index.clone());
    let mut changed = base.clone();
    changed.indexes.push(Index {
        columns: vec!["x".to_owned(), "y".to_owned()],
        ..index
    });
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![with.clone()]),
        &schema(vec![base.clone()]),
    );
    assert_eq!(ops(&d), ["add index idx-t-x on t"]);
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![base]),
        &schema(vec![with.clone()]),
    );
    assert_eq!(ops(&d), ["drop index idx-t-x on t"]);
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![changed]),
        &schema(vec![with]),
    );
    assert_eq!(
        ops(&d),
        ["drop index idx-t-x on t", "add index idx-t-x on t"]
    );
}

#[test]
fn foreign_keys_added_and_dropped() {
    let base = table(
        "book",
        vec![id(), col("author_id", ColumnType::Integer, true)],
    );
    let mut with = base.clone();
    with.foreign_keys.push(fk("author_id", "author"));
    let author = table("author", vec![id()]);
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![author.clone(), with.clone()]),
        &schema(vec![author.clone(), base.clone()]),
    );
    assert_eq!(ops(&d), ["add foreign key book(author_id) -> author"]);
    let Op::AddForeignKey { fk, .. } = &d.steps[0].op else {
        panic!("{d:?}")
    };
    assert_eq!(fk.name.as_deref(), Some("fk-book-author_id-author"));

    let mut live = with.clone();
    live.foreign_keys[0].name = Some("book_author_id_fkey".to_owned());
    live.foreign_keys[0].on_update = Some(FkAction::NoAction);
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![author.clone(), with]),
        &schema(vec![author.clone(), live.clone()]),
    );
    assert!(d.is_empty(), "NO ACTION equals unset: {d:?}");
    let d = diff(
        DbBackend::Postgres,
        &schema(vec![author.clone(), base]),
        &schema(vec![author, live]),
    );
    assert_eq!(ops(&d), ["drop foreign key book(author_id) -> author"]);
}

#[test]
fn mysql_index_for_a_foreign_key_is_not_dropped() {
    let author = table("author", vec![id()]);
    let mut book = table(
        "book",
        vec![id(), col("author_id", ColumnType::Integer, true)],
    );
    book.foreign_keys.push(fk("author_id", "author"));
    let mut live = book.clone();
    live.indexes.push(Index {
        name: "fk-book-author_id".to_owned(),
        columns: vec!["author_id".to_owned()],
        unique: false,
    });
    let d = diff(
        DbBackend::MySql,
        &schema(vec![author.clone(), book]),
        &schema(vec![author, live]),
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn sqlite_rebuilds_a_table_it_cannot_alter() {
    let live = schema(vec![table(
        "t",
        vec![id(), col("x", ColumnType::Text, false)],
    )]);
    let desired = schema(vec![table(
        "t",
        vec![id(), col("x", ColumnType::Text, true)],
    )]);
    let d = diff(DbBackend::Sqlite, &desired, &live);
    assert_eq!(ops(&d), ["rebuild table t"]);
    let comment = d.steps[0].comment.as_deref().unwrap_or_default();
    assert!(comment.contains("alter column t.x"), "{comment}");
    assert!(matches!(&d.down_ops()[0], Op::RebuildTable { to, .. } if !to.columns[1].nullable));

    // Adding a nullable column or an index needs no rebuild.
    let mut desired = table(
        "t",
        vec![
            id(),
            col("x", ColumnType::Text, false),
            col("y", ColumnType::Text, true),
        ],
    );
    desired.indexes.push(Index {
        name: "idx-t-y".to_owned(),
        columns: vec!["y".to_owned()],
        unique: false,
    });
    let d = diff(DbBackend::Sqlite, &schema(vec![desired]), &live);
    assert_eq!(ops(&d), ["add column t.y", "add index idx-t-y on t"]);
}

#[test]
fn a_changed_primary_key_is_a_warning() {
    let live = schema(vec![table(
        "t",
        vec![id(), col("k", ColumnType::Integer, false)],
    )]);
    let mut changed = table("t", vec![id(), col("k", ColumnType::Integer, false)]);
    changed.primary_key = vec!["id".to_owned(), "k".to_owned()];
    let d = diff(DbBackend::Postgres, &schema(vec![changed]), &live);
    assert!(d.steps.is_empty());
    assert_eq!(d.warnings.len(), 1);
    assert!(
        d.warnings[0].contains("primary key of `t`"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn every_op_inverts_back() {
    let t = table("t", vec![id()]);
    let c = col("c", ColumnType::Text, true);
    let all = [
        Op::CreateTable(t.clone()),
        Op::AddColumn {
            table: "t".into(),
            column: c.clone(),
        },
        Op::AlterColumn {
            table: "t".into(),
            from: c.clone(),
            to: col("c", ColumnType::Integer, false),
        },
        Op::AddIndex {
            table: "t".into(),
            index: Index {
                name: "i".into(),
                columns: vec!["c".into()],
                unique: false,
            },
        },
        Op::AddForeignKey {
            table: "t".into(),
            fk: fk("c", "t"),
        },
        Op::RebuildTable {
            from: t.clone(),
            to: t,
        },
    ];
    for op in all {
        assert_eq!(op.inverse().inverse(), op);
    }
}

#[test]
fn sqlite_rebuilds_to_drop_a_not_null_column_so_that_down_can_restore_it() {
    let live = schema(vec![table(
        "t",
        vec![
            id(),
            col("x", ColumnType::Text, false),
            col("y", ColumnType::Text, true),
        ],
    )]);
    let without_x = schema(vec![table(
        "t",
        vec![id(), col("y", ColumnType::Text, true)],
    )]);
    assert_eq!(
        ops(&diff(DbBackend::Sqlite, &without_x, &live)),
        ["rebuild table t"]
    );
    let without_y = schema(vec![table(
        "t",
        vec![id(), col("x", ColumnType::Text, false)],
    )]);
    assert_eq!(
        ops(&diff(DbBackend::Sqlite, &without_y, &live)),
        ["drop column t.y"]
    );
}
