//! [`JobId`]: the id `enqueue` returns and `jobs retry` takes.

use std::fmt;

/// A job's id: a ULID (sortable by creation time), as stored by apalis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A fresh id.
    pub fn generate() -> Self {
        JobId(ulid::Ulid::generate().to_string())
    }

    /// Checks an id typed by a user (`unchained jobs retry ID`).
    pub fn parse(text: &str) -> Result<Self, String> {
        text.parse::<ulid::Ulid>()
            .map(|u| JobId(u.to_string()))
            .map_err(|_| {
                format!(
                    "`{text}` is not a job id: ids are 26-character ULIDs, as `unchained jobs list` shows them"
                )
            })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as apalis' ULID.
    pub(crate) fn ulid(&self) -> ulid::Ulid {
        // Every JobId is made from a ULID (generate/parse/from_stored).
        self.0.parse().unwrap_or_default()
    }

    /// An id read back from the backend.
    pub(crate) fn from_stored(text: String) -> Self {
        JobId(text)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
