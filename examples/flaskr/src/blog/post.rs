//! A blog post, written by one user.

use sea_orm::entity::prelude::*;
use unchained_security::models::user;

/// A row of `posts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The user who wrote it.
    pub author_id: i32,
    /// The title, never empty.
    pub title: String,
    /// The text.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// When it was written.
    pub created: DateTimeUtc,
}

/// Relations of a post.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The author.
    #[sea_orm(
        belongs_to = "user::Entity",
        from = "Column::AuthorId",
        to = "user::Column::Id",
        on_delete = "Cascade"
    )]
    Author,
}

impl Related<user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Author.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
