//! With the jobs bundle listed, the session cleanup is the scheduled
//! `session.cleanup` job, run through the `SessionManager` service.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use unchained::config::Environment;
use unchained::prelude::*;
use unchained_jobs::Jobs;
use unchained_jobs::schedule::When;
use unchained_jobs::session_cleanup::SessionCleanup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cleanup_is_a_scheduled_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let bundles: Vec<Arc<dyn Bundle>> = vec![
        Arc::new(unchained_database::DatabaseBundle),
        Arc::new(unchained_session::SessionBundle),
        Arc::new(unchained_jobs::JobsBundle),
    ];
    let app = unchained::app::build_with(
        bundles,
        move |b| {
            b.set("DATABASE_URL", url)
                .set("SESSION_TYPE", "memory")
                .set("SESSION_CLEANUP_INTERVAL", json!(120))
        },
        Environment::Test,
    )
    .await
    .unwrap();
    let schedules = unchained_jobs::schedules(app.state()).unwrap();
    let cleanup = schedules
        .iter()
        .find(|s| s.name == "session.cleanup")
        .expect("the jobs bundle schedules the session cleanup");
    assert!(
        matches!(cleanup.when, When::Every(every) if every == Duration::from_secs(120)),
        "every SESSION_CLEANUP_INTERVAL seconds: {:?}",
        cleanup.when
    );
    assert_eq!(cleanup.envelope.name, "session.cleanup");
    // The job runs (inline in tests) through the app's SessionManager.
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    jobs.enqueue(SessionCleanup {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_session_bundle_there_is_no_cleanup_schedule() {
    let bundles: Vec<Arc<dyn Bundle>> = vec![Arc::new(unchained_jobs::JobsBundle)];
    let app = unchained::app::build_with(bundles, |b| b, Environment::Test)
        .await
        .unwrap();
    let schedules = unchained_jobs::schedules(app.state()).unwrap();
    assert!(schedules.iter().all(|s| s.name != "session.cleanup"));
    // And the job says what is missing when run anyway.
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let error = jobs
        .enqueue(SessionCleanup {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("unchained.bundles.session"), "{error}");
}
