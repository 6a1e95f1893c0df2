//! How a project's migration files register themselves.
//!
//! Each file in `db/migrations/` is compiled into the project binary (the
//! `unchained::project!()` macro adds one `mod` per file) and ends with a
//! [`register_migration!`](crate::register_migration) call, which submits a
//! [`ProjectMigration`] to an [`inventory`] registry. So a new file is picked
//! up without editing any list.

use sea_orm_migration::MigrationTrait;

/// One migration of the project's `db/migrations/` folder.
///
/// Created by [`register_migration!`](crate::register_migration); not meant to
/// be written by hand.
pub struct ProjectMigration {
    /// The revision id: the file's name without `.rs`, e.g.
    /// `m20260101_120000_create_sessions_table`. Revisions sort by time.
    pub revision: &'static str,
    /// The revision this one was generated on top of; `None` for the first.
    pub parent: Option<&'static str>,
    /// Makes the migration.
    pub construct: fn() -> Box<dyn MigrationTrait>,
}

inventory::collect!(ProjectMigration);

/// Every registered project migration, oldest first (by revision id, which
/// starts with the creation time).
pub fn project_migrations() -> Vec<&'static ProjectMigration> {
    let mut all: Vec<&'static ProjectMigration> =
        inventory::iter::<ProjectMigration>.into_iter().collect();
    all.sort_by_key(|m| m.revision);
    all.dedup_by_key(|m| m.revision);
    all
}

/// Registers the `Migration` struct of the calling module as a project
/// migration and implements its `MigrationName`.
///
/// Every generated file ends with it:
///
/// ```
/// mod m20260101_120000_create_sessions_table {
///     use unchained_database::migration::prelude::*;
///
///     pub struct Migration;
///
///     #[unchained_database::migration::async_trait::async_trait]
///     impl MigrationTrait for Migration {
///         async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
///             Ok(())
///         }
///     }
///
///     unchained_database::register_migration! {
///         revision: "m20260101_120000_create_sessions_table",
///         parent: None,
///     }
/// }
///
/// let all = unchained_database::registry::project_migrations();
/// assert_eq!(all[0].revision, "m20260101_120000_create_sessions_table");
/// assert_eq!((all[0].construct)().name(), "m20260101_120000_create_sessions_table");
/// ```
///
/// The module must define `pub struct Migration;` implementing
/// `MigrationTrait`.
#[macro_export]
macro_rules! register_migration {
    (revision: $revision:literal, parent: $parent:expr $(,)?) => {
        impl $crate::migration::MigrationName for Migration {
            fn name(&self) -> &str {
                $revision
            }
        }

        $crate::__inventory::submit! {
            $crate::ProjectMigration {
                revision: $revision,
                parent: $parent,
                construct: || ::std::boxed::Box::new(Migration),
            }
        }
    };
}
