//! The `users` table: one row per account.

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A user account.
///
/// `email` is stored trimmed and lower-cased (see
/// [`normalize_email`](crate::models::normalize_email)), so it is unique
/// regardless of case. `password` holds an argon2id PHC string, never the
/// password itself; it is skipped when the model is serialized.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique, normalized email address.
    #[sea_orm(unique)]
    pub email: String,
    /// The password's argon2id hash (PHC string format).
    #[serde(skip_serializing)]
    #[sea_orm(column_type = "Text")]
    pub password: String,
    /// Whether the account may log in; deactivating ends its sessions.
    pub active: bool,
    /// When the email address was confirmed (`SECURITY_CONFIRMABLE`).
    pub confirmed_at: Option<DateTimeUtc>,
    /// When the account was created.
    pub created_at: DateTimeUtc,
    /// When the account was last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of a user.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user's role links.
    #[sea_orm(has_many = "super::user_role::Entity")]
    UserRole,
}

impl Related<super::user_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserRole.def()
    }
}

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_role::Relation::Role.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::user_role::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
