//! The `roles` table: named roles that users hold.

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A role, e.g. `admin`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique name, as used by `roles_required` and `roles_accepted`.
    #[sea_orm(unique)]
    pub name: String,
    /// Free text shown by `unchained roles list`.
    pub description: String,
}

/// Relations of a role.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The role's user links.
    #[sea_orm(has_many = "super::user_role::Entity")]
    UserRole,
}

impl Related<super::user_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserRole.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
