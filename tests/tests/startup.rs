//! What `unchained run` says as it starts and serves, its output going to
//! a pipe as in a deployment: a warning when migrations are not applied,
//! one log line per request (development), no colour codes; and commands
//! other than `run` print no INFO lines.

use std::time::Duration;

use unchained_tests::*;

const SERVING: &str = " * Serving ";

#[test]
fn run_warns_about_pending_migrations_and_logs_requests() {
    let dir = temp_dir();
    assert_success(
        &unchained(
            dir.path(),
            &[
                "new",
                "project",
                "demo",
                "--database",
                "--session",
                "--no-prompt",
                "--no-migrate",
            ],
        ),
        "unchained new project demo --database --session --no-migrate",
    );
    let project = dir.path().join("demo");

    let migrate = unchained(&project, &["db", "migrate", "-m", "create tables"]);
    assert_success(&migrate, "unchained db migrate");
    assert!(
        stdout(&migrate).contains("Generated db/migrations/"),
        "{}",
        stdout(&migrate)
    );
    // The command prints its result; the log below WARN stays quiet.
    assert!(!stderr(&migrate).contains(" INFO "), "{}", stderr(&migrate));

    // Not upgraded: `run` starts, but says so first.
    let (server, captured) = Server::start_capturing(&project, &[]);
    let text = captured.wait_for(SERVING, Duration::from_secs(30));
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning: ") && l.contains("not applied"))
        .unwrap_or_else(|| panic!("no pending-migrations warning in:\n{text}"));
    assert!(
        warning.contains("_create_tables")
            && warning.contains("sqlite:db/development.sqlite")
            && warning.contains("run `unchained db upgrade`"),
        "{warning}"
    );
    let serving = text.find(SERVING).unwrap_or(usize::MAX);
    assert!(
        text.find(warning).is_some_and(|at| at < serving),
        "the warning comes before the Serving line:\n{text}"
    );

    // Development logs each request, path only, with its status.
    let (status, _) = server.get("/?token=s3cr3t");
    let line = format!("GET / {status} ");
    let text = captured.wait_for(&line, Duration::from_secs(10));
    assert!(
        text.lines()
            .any(|l| l.contains("unchained::request") && l.contains(&line)),
        "no request line `{line}` in:\n{text}"
    );
    assert!(!text.contains("s3cr3t"), "the query string leaked:\n{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log that is not a terminal:\n{text:?}"
    );
    drop(server);

    let upgrade = unchained(&project, &["db", "upgrade"]);
    assert_success(&upgrade, "unchained db upgrade");
    assert!(
        stdout(&upgrade).contains("_create_tables (upgrade)"),
        "{}",
        stdout(&upgrade)
    );

    // Up to date: no warning.
    let (server, captured) = Server::start_capturing(&project, &[]);
    let text = captured.wait_for(SERVING, Duration::from_secs(30));
    assert!(text.contains(SERVING), "{text}");
    assert!(!text.contains("not applied"), "{text}");
    drop(server);
}
