//! The acceptance test, once per backend: an app with one entity;
//! migrate; upgrade; change the entities (add, drop, make nullable, add a
//! unique index, add a table with a foreign key); migrate writes exactly
//! those changes; upgrade; migrate again finds nothing; downgrade to base
//! leaves only the migrations table.
//!
//! The generated files are compared with the files in `tests/golden/`,
//! which this test compiles in and runs: so the generated files compile
//! with no edits. `UNCHAINED_UPDATE_GOLDEN=1` rewrites them (run twice: the
//! second migration is generated on top of the compiled first one).

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};
use unchained::config::Config;
use unchained::models::{ModelContext, ModelDef};
use unchained_database::autogen::{MigrateOutcome, NO_CHANGES, migrate};
use unchained_database::commands::run_migrate;
use unchained_database::diff::describe;
use unchained_database::runner::{NamedMigration, Origin, Printer, Runner, Target};
use unchained_database::schema::live;
use unchained_database::testing::TestDatabase;

mod v1 {
    pub mod author {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "author")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
            pub email: String,
            pub bio: String,
            pub nickname: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

mod v2 {
    pub mod author {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "author")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
            #[sea_orm(unique_key = "email")]
            pub email: String,
            pub nickname: Option<String>,
            pub age: Option<i32>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(has_many = "super::book::Entity")]
            Book,
        }

        impl Related<super::book::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Book.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod book {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "book")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub title: String,
            pub author_id: i32,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::author::Entity",
                from = "Column::AuthorId",
                to = "super::author::Column::Id",
                on_delete = "Cascade"
            )]
            Author,
        }

        impl Related<super::author::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Author.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }
}

/// Then: the book's foreign key moves to a new column, the email loses its
/// unique index, `name` gets a default and `nickname` becomes TEXT.
mod v3 {
    pub mod author {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "author")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            #[sea_orm(default_value = "anon")]
            pub name: String,
            pub email: String,
            #[sea_orm(column_type = "Text", nullable)]
            pub nickname: Option<String>,
            pub age: Option<i32>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod book {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "book")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub title: String,
            pub author_id: i32,
            pub editor_id: Option<i32>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::author::Entity",
                from = "Column::EditorId",
                to = "super::author::Column::Id",
                on_delete = "SetNull"
            )]
            Editor,
        }

        impl ActiveModelBehavior for ActiveModel {}
    }
}

mod golden {
    pub mod sqlite {
        #[rustfmt::skip]
        #[path = "../../golden/sqlite/m20260101_000000_create_authors.rs"]
        pub mod first;
        #[rustfmt::skip]
        #[path = "../../golden/sqlite/m20260102_000000_books_and_author_changes.rs"]
        pub mod second;
        #[rustfmt::skip]
        #[path = "../../golden/sqlite/m20260103_000000_move_the_foreign_key.rs"]
        pub mod third;
    }
    pub mod postgres {
        #[rustfmt::skip]
        #[path = "../../golden/postgres/m20260101_000000_create_authors.rs"]
        pub mod first;
        #[rustfmt::skip]
        #[path = "../../golden/postgres/m20260102_000000_books_and_author_changes.rs"]
        pub mod second;
        #[rustfmt::skip]
        #[path = "../../golden/postgres/m20260103_000000_move_the_foreign_key.rs"]
        pub mod third;
    }
    pub mod mysql {
        #[rustfmt::skip]
        #[path = "../../golden/mysql/m20260101_000000_create_authors.rs"]
        pub mod first;
        #[rustfmt::skip]
        #[path = "../../golden/mysql/m20260102_000000_books_and_author_changes.rs"]
        pub mod second;
        #[rustfmt::skip]
        #[path = "../../golden/mysql/m20260103_000000_move_the_foreign_key.rs"]
        pub mod third;
    }
}

const FIRST: &str = "m20260101_000000_create_authors";
const SECOND: &str = "m20260102_000000_books_and_author_changes";
const THIRD: &str = "m20260103_000000_move_the_foreign_key";

fn models_v1(backend: DbBackend, config: &Config) -> Vec<(String, ModelDef)> {
    let ctx = ModelContext { backend, config };
    vec![(
        "app".to_owned(),
        ModelDef::from_entity(&ctx, v1::author::Entity),
    )]
}

fn models_v3(backend: DbBackend, config: &Config) -> Vec<(String, ModelDef)> {
    let ctx = ModelContext { backend, config };
    vec![
        (
            "app".to_owned(),
            ModelDef::from_entity(&ctx, v3::author::Entity),
        ),
        (
            "app".to_owned(),
            ModelDef::from_entity(&ctx, v3::book::Entity),
        ),
    ]
}

fn models_v2(backend: DbBackend, config: &Config) -> Vec<(String, ModelDef)> {
    let ctx = ModelContext { backend, config };
    vec![
        (
            "app".to_owned(),
            ModelDef::from_entity(&ctx, v2::author::Entity),
        ),
        (
            "app".to_owned(),
            ModelDef::from_entity(&ctx, v2::book::Entity),
        ),
    ]
}

/// The compiled golden migrations of `backend`, in order; `count` of them.
fn compiled(backend: &str, count: usize) -> Vec<NamedMigration> {
    let all: Vec<Box<dyn sea_orm_migration::MigrationTrait>> = match backend {
        "sqlite" => vec![
            Box::new(golden::sqlite::first::Migration),
            Box::new(golden::sqlite::second::Migration),
            Box::new(golden::sqlite::third::Migration),
        ],
        "postgres" => vec![
            Box::new(golden::postgres::first::Migration),
            Box::new(golden::postgres::second::Migration),
            Box::new(golden::postgres::third::Migration),
        ],
        _ => vec![
            Box::new(golden::mysql::first::Migration),
            Box::new(golden::mysql::second::Migration),
            Box::new(golden::mysql::third::Migration),
        ],
    };
    all.into_iter()
        .take(count)
        .map(|m| NamedMigration::new(Origin::Project, m))
        .collect()
}

fn capture() -> (Printer, Arc<Mutex<Vec<String>>>) {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let printer: Printer = Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned()));
    (printer, lines)
}

/// Checks a generated file against its golden copy (or rewrites the copy).
fn check_golden(backend: &str, generated: &Path) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(backend)
        .join(generated.file_name().unwrap());
    let text = std::fs::read_to_string(generated).unwrap();
    if std::env::var_os("UNCHAINED_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        text,
        expected,
        "{} differs from {}: rerun with UNCHAINED_UPDATE_GOLDEN=1 (twice) if the change is intended",
        generated.display(),
        golden.display()
    );
}

async fn table_names(conn: &sea_orm::DatabaseConnection) -> Vec<String> {
    live::introspect(conn)
        .await
        .unwrap()
        .tables
        .into_iter()
        .map(|t| t.name)
        .collect()
}

async fn end_to_end(backend_name: &str) -> anyhow::Result<()> {
    let db = TestDatabase::from_backend_name(backend_name).await?;
    let conn = db.connection();
    let backend = conn.get_database_backend();
    let config = Config::empty();
    let project = tempfile::tempdir()?;
    let dir = project.path().join("db/migrations");
    let (printer, lines) = capture();

    // 1. migrate: the first file creates the table.
    let runner = Runner::new(conn, compiled(backend_name, 0), printer.clone())?;
    let day1 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let outcome = migrate(
        conn,
        &runner,
        &models_v1(backend, &config),
        &dir,
        "create authors",
        day1,
    )
    .await?;
    let MigrateOutcome::Written { path, diff, file } = outcome else {
        panic!("expected a migration for the new table")
    };
    assert_eq!(file.revision, FIRST);
    assert_eq!(file.parent, None);
    let changes: Vec<String> = diff.steps.iter().map(|s| describe(&s.op)).collect();
    assert_eq!(changes, ["create table author"]);
    check_golden(backend_name, &path);

    // 2. upgrade.
    let runner = Runner::new(conn, compiled(backend_name, 1), printer.clone())?;
    assert_eq!(runner.upgrade(&Target::Default).await?, [FIRST]);
    assert_eq!(table_names(conn).await, ["author"]);
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("[1/1] m20260101_000000_create_authors"))
    );
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("CREATE TABLE")),
        "statements are printed"
    );

    // Rows survive the changes below.
    conn.execute_unprepared(
        "INSERT INTO author (name, email, bio, nickname) VALUES ('Ann', 'ann@example.com', 'b', 'annie')",
    )
    .await?;

    // 3. change the models: migrate writes exactly those changes.
    let day2 = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let outcome = migrate(
        conn,
        &runner,
        &models_v2(backend, &config),
        &dir,
        "books and author changes",
        day2,
    )
    .await?;
    let MigrateOutcome::Written { path, diff, file } = outcome else {
        panic!("expected a migration for the changes")
    };
    assert_eq!(file.revision, SECOND);
    assert_eq!(file.parent.as_deref(), Some(FIRST));
    let changes: Vec<String> = diff.steps.iter().map(|s| describe(&s.op)).collect();
    let expected: Vec<&str> = if backend == DbBackend::Sqlite {
        vec!["create table book", "rebuild table author"]
    } else {
        vec![
            "create table book",
            "add column author.age",
            "alter column author.nickname",
            "drop column author.bio",
            "add index idx-author-email on author",
        ]
    };
    assert_eq!(changes, expected);
    if backend == DbBackend::Sqlite {
        let comment = diff.steps[1].comment.as_deref().unwrap_or_default();
        for change in [
            "add column author.age",
            "alter column author.nickname",
            "drop column author.bio",
            "add index idx-author-email on author",
        ] {
            assert!(comment.contains(change), "{comment}");
        }
        assert_eq!(
            comment.matches("; ").count(),
            3,
            "exactly four changes: {comment}"
        );
    }
    assert!(diff.warnings.is_empty(), "{:?}", diff.warnings);
    check_golden(backend_name, &path);

    // The database is now behind the newest file: migrate refuses.
    let err = migrate(
        conn,
        &runner,
        &models_v2(backend, &config),
        &dir,
        "again",
        day2,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("run `unchained db upgrade` first"), "{err}");

    // 4. upgrade.
    let runner = Runner::new(conn, compiled(backend_name, 2), printer.clone())?;
    assert_eq!(runner.upgrade(&Target::Default).await?, [SECOND]);
    let mut names = table_names(conn).await;
    names.sort();
    assert_eq!(names, ["author", "book"]);
    let rows = v2::author::Entity::find().all(conn).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].nickname.as_deref(), Some("annie"));
    assert_eq!(rows[0].age, None);

    // 5. migrate again: no changes, nothing written.
    let before = std::fs::read_dir(&dir)?.count();
    lines.lock().unwrap().clear();
    run_migrate(
        conn,
        &runner,
        &models_v2(backend, &config),
        &dir,
        "nothing",
        &printer,
    )
    .await?;
    assert_eq!(*lines.lock().unwrap(), [NO_CHANGES]);
    assert_eq!(std::fs::read_dir(&dir)?.count(), before);

    // 6. more changes: a foreign key moves to a new column, a unique index
    // goes, a default and a type change.
    conn.execute_unprepared("INSERT INTO book (title, author_id) VALUES ('Rust', 1)")
        .await?;
    let day3 = Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap();
    let outcome = migrate(
        conn,
        &runner,
        &models_v3(backend, &config),
        &dir,
        "move the foreign key",
        day3,
    )
    .await?;
    let MigrateOutcome::Written { path, diff, .. } = outcome else {
        panic!("expected a migration for the third changes")
    };
    let changes: Vec<String> = diff.steps.iter().map(|s| describe(&s.op)).collect();
    let mut expected: Vec<&str> = vec![
        "drop foreign key book(author_id) -> author",
        // A unique index the models no longer name is a unique constraint.
        "drop unique (email) on author",
        "add column book.editor_id",
        "alter column author.name",
        "alter column author.nickname",
        "add foreign key book(editor_id) -> author",
    ];
    match backend {
        DbBackend::Sqlite => expected = vec!["rebuild table author", "rebuild table book"],
        // MySQL keeps the index it made for the dropped key: it goes too.
        DbBackend::MySql => expected.insert(2, "drop index fk-book-author_id on book"),
        _ => {}
    }
    assert_eq!(changes, expected);
    check_golden(backend_name, &path);

    let runner = Runner::new(conn, compiled(backend_name, 3), printer.clone())?;
    assert_eq!(runner.upgrade(&Target::Default).await?, [THIRD]);
    let books = v3::book::Entity::find().all(conn).await?;
    assert_eq!(
        books.len(),
        1,
        "rebuilding `author` keeps the books that referenced it"
    );
    lines.lock().unwrap().clear();
    run_migrate(
        conn,
        &runner,
        &models_v3(backend, &config),
        &dir,
        "nothing",
        &printer,
    )
    .await?;
    assert_eq!(*lines.lock().unwrap(), [NO_CHANGES]);

    // 7. downgrade to base: only the migrations table is left.
    assert_eq!(
        runner.downgrade(&Target::Base).await?,
        [THIRD, SECOND, FIRST]
    );
    assert!(table_names(conn).await.is_empty());
    assert_eq!(runner.current().await?, None);
    let probe = conn
        .execute_unprepared("SELECT COUNT(*) FROM seaql_migrations")
        .await;
    assert!(probe.is_ok(), "the migrations table stays");

    db.cleanup().await
}

#[tokio::test]
async fn end_to_end_sqlite() -> anyhow::Result<()> {
    end_to_end("sqlite").await
}

#[tokio::test]
async fn end_to_end_postgres() -> anyhow::Result<()> {
    end_to_end("postgres").await
}

#[tokio::test]
async fn end_to_end_mysql() -> anyhow::Result<()> {
    end_to_end("mysql").await
}
