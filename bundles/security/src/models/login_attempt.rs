//! The `login_attempts` table: the counters of the password throttle
//! (the `throttle` module), shared by every process of the app.
//!
//! One row per counter key: the SHA-256 of `account:<email>` or
//! `address:<client address>` (hashed so the table holds no email
//! addresses and every key has the same short length), the start of its
//! current window and the attempts counted in it.

use sea_orm::entity::prelude::*;

/// One throttle counter.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempts")]
pub struct Model {
    /// Hex SHA-256 of the counter's key.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub throttle_key: String,
    /// Start of the current window, in milliseconds since the Unix epoch
    /// (an integer, so the counting statement compares it the same way on
    /// every database).
    #[sea_orm(indexed)]
    pub window_start: i64,
    /// Attempts counted in the window, the ones still being checked
    /// included.
    pub attempts: i32,
}

/// A counter has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
