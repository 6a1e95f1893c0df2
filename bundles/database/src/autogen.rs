//! `unchained db migrate`: compare the models with the live database and
//! write one migration file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use unchained::models::ModelDef;

use crate::diff::{Diff, diff};
use crate::runner::Runner;
use crate::schema::{desired, live};
use crate::writer::{MigrationFile, MigrationWriter};

/// What `unchained db migrate` prints when the models match the database.
pub const NO_CHANGES: &str = "No changes in schema detected.";

/// The result of [`migrate`].
#[derive(Debug)]
#[non_exhaustive]
pub enum MigrateOutcome {
    /// Models and database match: nothing was written.
    NoChanges,
    /// A migration file was written.
    Written {
        /// The file's path.
        path: PathBuf,
        /// Its header data.
        file: MigrationFile,
        /// What it migrates.
        diff: Diff,
    },
}

/// The revision ids of the migration files in `dir`, sorted (oldest
/// first). A missing folder has none.
pub fn revisions_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("read the folder {}", dir.display())),
    };
    let mut revisions = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("read the folder {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem.starts_with('m')
        {
            revisions.push(stem.to_owned());
        }
    }
    revisions.sort();
    Ok(revisions)
}

/// The creation time encoded in a revision id (`mYYYYMMDD_HHMMSS_...`).
fn revision_time(revision: &str) -> Option<DateTime<Utc>> {
    let stamp = revision.get(1..16)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Compares `models` (bundle name, model; in bundle order) with the
/// database behind `conn` and writes one migration into `dir`, dated
/// `now`.
///
/// Refuses when the database is behind: a known migration or a file in
/// `dir` is not applied.
pub async fn migrate(
    conn: &DatabaseConnection,
    runner: &Runner,
    models: &[(String, ModelDef)],
    dir: &Path,
    message: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<MigrateOutcome> {
    if message.trim().is_empty() {
        anyhow::bail!("the migration needs a message: unchained db migrate -m \"what it does\"");
    }
    let files = revisions_in(dir)?;
    let applied: Vec<String> = runner
        .applied()
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut behind: Vec<String> = runner.pending().await?;
    for file in &files {
        if !applied.contains(file) && !behind.contains(file) {
            behind.push(file.clone());
        }
    }
    if !behind.is_empty() {
        anyhow::bail!(
            "the database is behind the newest migration ({} not applied: {}): run `unchained db upgrade` first, then `unchained db migrate` again",
            behind.len(),
            behind.join(", ")
        );
    }

    let backend = conn.get_database_backend();
    let wanted = desired::from_models(backend, models)?;
    let actual = live::introspect(conn).await?;
    let diff = diff(backend, &wanted, &actual);
    if diff.is_empty() {
        return Ok(MigrateOutcome::NoChanges);
    }

    let parent = files.last().cloned();
    // Revisions sort by time: never date a new one before its parent.
    let mut created = now;
    if let Some(parent_time) = parent.as_deref().and_then(revision_time)
        && created <= parent_time
    {
        created = parent_time + TimeDelta::seconds(1);
    }
    let file = MigrationFile::new(message, parent, created);
    let source = MigrationWriter::new(backend).write(&file, &diff);
    std::fs::create_dir_all(dir).with_context(|| format!("create the folder {}", dir.display()))?;
    let path = dir.join(file.file_name());
    std::fs::write(&path, source).with_context(|| format!("write {}", path.display()))?;
    Ok(MigrateOutcome::Written { path, file, diff })
}
