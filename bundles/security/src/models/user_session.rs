//! The `user_sessions` table: what the "active sessions" page shows about
//! each logged-in session (user agent, last seen).
//!
//! Rows are keyed by the SHA-256 of the session id, never the id itself:
//! the id is a bearer secret that stays in the session store.

use sea_orm::entity::prelude::*;

/// Activity of one logged-in session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_sessions")]
pub struct Model {
    /// Hex SHA-256 of the session id; also the handle shown to the user.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id_hash: String,
    /// The session's user.
    #[sea_orm(indexed)]
    pub user_id: i32,
    /// When the row was first written (first request after login).
    pub created_at: DateTimeUtc,
    /// Last request seen (updated at most once a minute).
    pub last_seen_at: DateTimeUtc,
    /// The `User-Agent` header, cut to 255 characters.
    pub user_agent: String,
}

/// Relations of a session row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user; deleting it deletes its rows.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
