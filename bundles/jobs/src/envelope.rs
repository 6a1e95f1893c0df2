//! [`Envelope`]: what the engine stores for every job, whatever its type.
//!
//! apalis types a queue by its argument type. One envelope type per queue
//! (the job's name and its JSON payload) lets one worker run every job of
//! the queue and find the handler by name, so adding a job never means
//! adding a worker or a queue.

use serde::{Deserialize, Serialize};

/// One stored job: the registered name and the job's fields as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// [`Job::NAME`](crate::Job::NAME).
    pub name: String,
    /// The job value, serialized.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// The envelope of `job`.
    pub fn of<J: crate::Job>(job: &J) -> Result<Self, serde_json::Error> {
        Ok(Envelope {
            name: J::NAME.to_owned(),
            payload: serde_json::to_value(job)?,
        })
    }
}
