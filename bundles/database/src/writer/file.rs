//! [`MigrationFile`]: the header data and name of one migration file.

use chrono::{DateTime, Utc};

/// What goes into one migration file.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    /// The message given with `-m`.
    pub message: String,
    /// The revision id, also the file's name without `.rs`.
    pub revision: String,
    /// The newest migration before this one.
    pub parent: Option<String>,
    /// When it was generated.
    pub created: DateTime<Utc>,
}

impl MigrationFile {
    /// A file for `message` generated at `created` on top of `parent`;
    /// the revision is `m<YYYYMMDD_HHMMSS>_<slug>`.
    pub fn new(message: &str, parent: Option<String>, created: DateTime<Utc>) -> Self {
        MigrationFile {
            message: message.trim().to_owned(),
            revision: format!("m{}_{}", created.format("%Y%m%d_%H%M%S"), slug(message)),
            parent,
            created,
        }
    }

    /// The file's name, `<revision>.rs`.
    pub fn file_name(&self) -> String {
        format!("{}.rs", self.revision)
    }
}

/// A message as a file-name part: lowercase ASCII words joined by `_`.
pub fn slug(message: &str) -> String {
    let mut out = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out: String = out.trim_end_matches('_').chars().take(60).collect();
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        "migration".to_owned()
    } else {
        out
    }
}
