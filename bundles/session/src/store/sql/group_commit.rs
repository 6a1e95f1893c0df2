//! Group commit for SQLite: the writes of this process go through one
//! queue, and whatever has queued up while the previous transaction ran is
//! written in the next one.
//!
//! SQLite admits one writer at a time and every transaction pays for
//! taking the write lock and appending its pages to the WAL. Sessions
//! written by concurrent requests mostly sit on the same few table pages,
//! so one transaction of 30 small `UPDATE`s costs little more than one of
//! a single `UPDATE`. Each write is still its own statement with its own
//! result (rows affected), so the version check of every save keeps its
//! meaning.
//!
//! A failing statement must not take the others down with it: when a
//! grouped transaction fails anywhere, it is rolled back and its writes are
//! run again one by one, each getting its own result or error.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

/// Writes taken into one transaction at most.
const MAX_GROUP: usize = 128;

/// The queue; cheap to share, the writer task starts on first use.
#[derive(Debug)]
pub(super) struct GroupCommit {
    db: DatabaseConnection,
    /// `None` until the first write, and again after the runtime that ran
    /// the writer task has shut down (tests run one runtime each).
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    /// Transactions that committed more than one write (for tests and
    /// debugging).
    grouped: Arc<AtomicU64>,
}

struct Job {
    statement: Statement,
    reply: oneshot::Sender<Result<u64, DbErr>>,
}

impl GroupCommit {
    pub(super) fn new(db: DatabaseConnection) -> Self {
        GroupCommit {
            db,
            queue: Mutex::new(None),
            grouped: Arc::default(),
        }
    }

    /// How many transactions have committed more than one write.
    #[cfg(test)]
    fn grouped_commits(&self) -> u64 {
        self.grouped.load(Ordering::Relaxed)
    }

    /// Runs `statement` in the next group; returns the rows it affected.
    pub(super) async fn execute(&self, statement: Statement) -> Result<u64, DbErr> {
        let (reply, answer) = oneshot::channel();
        let mut job = Job { statement, reply };
        // Two tries: the first send fails only if the writer's runtime is
        // gone, and then a new writer is started on the current one.
        for _ in 0..2 {
            match self.sender()?.send(job) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(DbErr::Custom(
                            "the session write queue stopped (runtime shutting down)".into(),
                        ))
                    });
                }
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    self.forget_writer();
                }
            }
        }
        Err(DbErr::Custom(
            "the session write queue could not start a writer task".into(),
        ))
    }

    fn sender(&self) -> Result<mpsc::UnboundedSender<Job>, DbErr> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = queue.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            DbErr::Custom("session writes need a Tokio runtime (none is running)".into())
        })?;
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(write_groups(
            self.db.clone(),
            receiver,
            self.grouped.clone(),
        ));
        *queue = Some(sender.clone());
        Ok(sender)
    }

    fn forget_writer(&self) {
        *self.queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The writer task: takes every queued write, runs them as one group,
/// answers each, repeats; ends when every store handle is gone.
async fn write_groups(
    db: DatabaseConnection,
    mut receiver: mpsc::UnboundedReceiver<Job>,
    grouped: Arc<AtomicU64>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        // A caller that gave up while its write waited in the queue (its
        // request timed out with 503, or was cancelled) has been told the
        // write failed: it must not happen behind its back.
        group.retain(|job| !job.reply.is_closed());
        if group.len() > 1 {
            match in_one_transaction(&db, &group).await {
                Ok(counts) => {
                    grouped.fetch_add(1, Ordering::Relaxed);
                    for (job, count) in group.drain(..).zip(counts) {
                        // The caller may have timed out and gone.
                        let _ = job.reply.send(Ok(count));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(
                        target: "unchained_session::store",
                        writes = group.len(),
                        "grouped session writes failed ({e}); running them one by one"
                    );
                }
            }
        }
        for job in group.drain(..) {
            let result = db
                .execute_raw(job.statement)
                .await
                .map(|r| r.rows_affected());
            let _ = job.reply.send(result);
        }
    }
}

async fn in_one_transaction(db: &DatabaseConnection, group: &[Job]) -> Result<Vec<u64>, DbErr> {
    let transaction = db.begin().await?;
    let mut counts = Vec::with_capacity(group.len());
    for job in group {
        match transaction.execute_raw(job.statement.clone()).await {
            Ok(result) => counts.push(result.rows_affected()),
            Err(e) => {
                // Nothing of the group may stay written: every write is run
                // again on its own.
                let _ = transaction.rollback().await;
                return Err(e);
            }
        }
    }
    transaction.commit().await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use futures::future::join_all;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::GroupCommit;

    fn statement(sql: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, sql)
    }

    async fn value(db: &sea_orm::DatabaseConnection, key: &str) -> Option<i64> {
        let row = db
            .query_one_raw(statement(&format!("SELECT v FROM t WHERE k = '{key}'")))
            .await
            .unwrap()?;
        Some(row.try_get("", "v").unwrap())
    }

    /// A SQLite file with table `t (k TEXT PRIMARY KEY, v INTEGER)`; keep
    /// the directory alive as long as the database.
    async fn table_t() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("g.sqlite").display()
        );
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            .await
            .unwrap();
        (dir, db)
    }

    // A current-thread runtime (the default of tokio::test): every write
    // below is queued before the writer task first runs, so each batch is
    // exactly one group.
    #[tokio::test]
    async fn queued_writes_commit_together_and_a_failing_one_fails_alone() {
        let (_dir, db) = table_t().await;
        db.execute_unprepared("INSERT INTO t VALUES ('a', 1), ('b', 1)")
            .await
            .unwrap();
        let queue = GroupCommit::new(db.clone());

        // Two saves of 'a' from version 1: the second one's check fails,
        // as it would after the first had committed alone.
        let results = join_all([
            queue.execute(statement("UPDATE t SET v = 2 WHERE k = 'a' AND v = 1")),
            queue.execute(statement("UPDATE t SET v = 2 WHERE k = 'a' AND v = 1")),
            queue.execute(statement("UPDATE t SET v = 2 WHERE k = 'b' AND v = 1")),
        ])
        .await;
        let counts: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(counts, [1, 0, 1]);
        assert_eq!(queue.grouped_commits(), 1, "three writes, one transaction");

        // A write that fails (duplicate key) in the middle of a group: it
        // gets its own error, the writes around it still land.
        let results = join_all([
            queue.execute(statement("INSERT INTO t VALUES ('c', 1)")),
            queue.execute(statement("INSERT INTO t VALUES ('b', 9)")),
            queue.execute(statement("UPDATE t SET v = 3 WHERE k = 'b' AND v = 2")),
        ])
        .await;
        assert_eq!(results[0].as_ref().ok(), Some(&1));
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("UNIQUE"), "{error}");
        assert_eq!(results[2].as_ref().ok(), Some(&1));
        assert_eq!(
            queue.grouped_commits(),
            1,
            "the failed group did not commit"
        );
        assert_eq!(value(&db, "a").await, Some(2));
        assert_eq!(value(&db, "b").await, Some(3), "not the refused 9");
        assert_eq!(value(&db, "c").await, Some(1));
    }

    #[tokio::test]
    async fn a_write_whose_caller_gave_up_is_not_made() {
        let (_dir, db) = table_t().await;
        let queue = GroupCommit::new(db.clone());
        // Queue a write, then drop its caller (as a timeout does) before
        // the writer task has run.
        let mut abandoned = Box::pin(queue.execute(statement("INSERT INTO t VALUES ('gone', 1)")));
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        drop(abandoned);
        let kept = queue
            .execute(statement("INSERT INTO t VALUES ('kept', 1)"))
            .await;
        assert_eq!(kept.ok(), Some(1));
        assert_eq!(value(&db, "kept").await, Some(1));
        assert_eq!(
            value(&db, "gone").await,
            None,
            "the abandoned write was skipped"
        );
    }
}
