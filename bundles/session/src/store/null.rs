//! [`NullStore`]: keeps nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

/// `SESSION_TYPE = "null"`: every session reads as empty, and a handler
/// that writes to it gets an error (the request answers 503 and the log
/// says why) rather than a write that silently did nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullStore;

#[async_trait]
impl SessionStore for NullStore {
    fn name(&self) -> &'static str {
        "null"
    }

    async fn load(&self, _id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(None)
    }

    async fn save(
        &self,
        _id: &SessionId,
        _record: &Record,
        _expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        Err(StoreError::Disabled)
    }

    async fn rename(
        &self,
        _old: &SessionId,
        _new: &SessionId,
        _record: &Record,
        _expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        Err(StoreError::Disabled)
    }

    async fn delete(&self, _id: &SessionId) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn list_by_owner(&self, _owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        Ok(Vec::new())
    }

    async fn delete_by_owner(&self, _owner: &str) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn cleanup_expired(&self, _now: DateTime<Utc>, _limit: u64) -> Result<u64, StoreError> {
        Ok(0)
    }
}
