//! Many column types, defaults and keys on every backend: a table created
//! exactly as the model declares it must diff as unchanged (no false
//! "changes" from how each database reports types and defaults).

use sea_orm::{ConnectionTrait, DbBackend};
use unchained::config::Config;
use unchained::models::{ModelContext, ModelDef};
use unchained_database::diff::{describe, diff};
use unchained_database::schema::{desired, live};
use unchained_database::testing::TestDatabase;

mod everything {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "everything")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tiny: i8,
        pub small: i16,
        pub normal: i32,
        pub big: Option<i64>,
        pub real: f32,
        pub double: f64,
        #[sea_orm(default_value = true)]
        pub flag: bool,
        #[sea_orm(default_value = "none")]
        pub label: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub body: Option<String>,
        #[sea_orm(column_type = "Char(Some(10))")]
        pub code: String,
        #[sea_orm(unique)]
        pub slug: String,
        pub day: Date,
        pub at: Time,
        pub local: DateTime,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub stamped: DateTimeWithTimeZone,
        pub bytes: Vec<u8>,
        #[sea_orm(column_type = "Blob")]
        pub blob: Vec<u8>,
        pub doc: Json,
        #[sea_orm(default_value = 7)]
        pub seven: i32,
        #[sea_orm(indexed)]
        pub searched: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn no_false_changes(backend_name: &str) -> anyhow::Result<()> {
    let db = TestDatabase::from_backend_name(backend_name).await?;
    let conn = db.connection();
    let backend: DbBackend = conn.get_database_backend();
    let config = Config::empty();
    let ctx = ModelContext {
        backend,
        config: &config,
    };
    let model = ModelDef::from_entity(&ctx, everything::Entity);
    conn.execute(&model.table).await?;
    for index in &model.indexes {
        conn.execute(index).await?;
    }
    let wanted = desired::from_models(backend, &[("app".to_owned(), model)])?;
    let actual = live::introspect(conn).await?;
    let d = diff(backend, &wanted, &actual);
    let changes: Vec<String> = d.steps.iter().map(|s| describe(&s.op)).collect();
    assert!(d.is_empty(), "{backend_name}: {changes:?}\n{d:#?}");
    db.cleanup().await
}

#[tokio::test]
async fn no_false_changes_sqlite() -> anyhow::Result<()> {
    no_false_changes("sqlite").await
}

#[tokio::test]
async fn no_false_changes_postgres() -> anyhow::Result<()> {
    no_false_changes("postgres").await
}

#[tokio::test]
async fn no_false_changes_mysql() -> anyhow::Result<()> {
    no_false_changes("mysql").await
}
