//! Listing a bundle in `unchained.toml` is the whole step: the launcher
//! adds its crate (and the drivers the config names) to `Cargo.toml`
//! before it builds. The sessions chapter's four steps, exactly as a new
//! user types them, on SQLite and on PostgreSQL; and `unchained bundles
//! add security` on a `--database` scaffold, up to logging in and out.

use std::fs;
use std::path::{Path, PathBuf};

use unchained_database::testing::TestDatabase;
use unchained_tests::http::Http;
use unchained_tests::*;

const PASSWORD: &str = "correct horse battery";

/// Step 1: `unchained new project NAME --no-prompt --database`.
fn scaffold(dir: &Path, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (PathBuf, String) {
    let mut args = vec!["new", "project", name, "--no-prompt", "--database"];
    args.extend_from_slice(extra);
    let output = unchained_with_env(dir, &args, env);
    assert_success(&output, &args.join(" "));
    (
        dir.join(name),
        format!("{}{}", stdout(&output), stderr(&output)),
    )
}

/// Steps 2 to 4 of the sessions chapter; returns everything the user saw.
fn sessions_chapter(project: &Path, env: &[(&str, &str)]) -> String {
    let cargo_before = fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        !cargo_before.contains("unchained-session") && !cargo_before.contains("# unchained-"),
        "the scaffold neither has the session crate nor lists commented-out bundles:\n{cargo_before}"
    );
    // 2. List the bundle.
    let manifest = fs::read_to_string(project.join("unchained.toml")).unwrap();
    let listed = manifest.replacen(
        "    \"app\",\n",
        "    \"unchained.bundles.session\",\n    \"app\",\n",
        1,
    );
    assert_ne!(listed, manifest, "unchained.toml lists app:\n{manifest}");
    // 3. The chapter's two options.
    let configured = listed.replacen(
        "[default]\n",
        "[default]\nSESSION_TYPE = \"sqlalchemy\"\nSESSION_SQLALCHEMY_TABLE = \"flask_sessions\"\n",
        1,
    );
    fs::write(project.join("unchained.toml"), configured).unwrap();
    // 4. Let it write the migration.
    let output = unchained_with_env(
        project,
        &["db", "migrate", "-m", "create sessions table"],
        env,
    );
    assert_success(&output, "unchained db migrate -m 'create sessions table'");
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        said.contains(
            "Cargo.toml: added unchained-session (for unchained.bundles.session in unchained.toml)"
        ),
        "one line says what changed: {said}"
    );

    let files = migration_files(project);
    assert_eq!(files.len(), 1, "one migration file: {files:?}\n{said}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with('m') && name.ends_with("_create_sessions_table.rs"),
        "named after the message: {name}"
    );
    let migration = fs::read_to_string(&files[0]).unwrap();
    assert!(
        migration.contains(".table(\"flask_sessions\")"),
        "{migration}"
    );
    for column in [
        "id",
        "session_id",
        "data",
        "expiry",
        "created_at",
        "updated_at",
    ] {
        assert!(
            migration.contains(&format!("ColumnDef::new(\"{column}\")")),
            "column {column} in:\n{migration}"
        );
    }
    said
}

#[test]
fn sessions_chapter_on_sqlite() {
    let dir = temp_dir();
    let (project, _) = scaffold(dir.path(), "demo", &[], &[]);
    sessions_chapter(&project, &[]);
}

#[test]
fn sessions_chapter_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let database = runtime
        .block_on(TestDatabase::postgres())
        .expect("a fresh PostgreSQL database on 127.0.0.1:5432");
    let env = [("UNCHAINED_DATABASE_URL", database.url())];
    let dir = temp_dir();
    // The scaffold is SQLite's; the URL in the environment brings the
    // PostgreSQL driver with the first build.
    let (project, said) = scaffold(dir.path(), "demo-pg", &[], &env);
    assert!(
        said.contains(
            "Cargo.toml: turned on feature postgres of unchained-database (for UNCHAINED_DATABASE_URL)"
        ),
        "{said}"
    );
    sessions_chapter(&project, &env);
    let upgrade = unchained_with_env(&project, &["db", "upgrade"], &env);
    assert_success(&upgrade, "unchained db upgrade on PostgreSQL");
    assert!(
        stdout(&upgrade).contains("flask_sessions"),
        "{}",
        stdout(&upgrade)
    );
    runtime
        .block_on(database.cleanup())
        .expect("drop the test database");
}

#[test]
fn bundles_add_security_gives_login_and_logout() {
    let dir = temp_dir();
    let (project, _) = scaffold(dir.path(), "accounts", &["--no-migrate"], &[]);

    let added = unchained(&project, &["bundles", "add", "security"]);
    assert_success(&added, "unchained bundles add security");
    let said = stdout(&added);
    assert!(
        said.contains(
            "unchained.toml: listed unchained.bundles.session, unchained.bundles.security"
        ) && said.contains("added unchained-session")
            && said.contains("added unchained-security")
            && said.contains("unchained db migrate"),
        "{said}"
    );
    let manifest = fs::read_to_string(project.join("unchained.toml")).unwrap();
    let order: Vec<usize> = [
        "\"unchained.bundles.database\"",
        "\"unchained.bundles.session\"",
        "\"unchained.bundles.security\"",
        "\"app\"",
    ]
    .iter()
    .map(|b| {
        manifest
            .find(b)
            .unwrap_or_else(|| panic!("{b} in:\n{manifest}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{manifest}");

    let again = unchained(&project, &["bundles", "add", "security"]);
    assert_success(&again, "unchained bundles add security, again");
    assert!(
        stdout(&again).contains("already listed"),
        "{}",
        stdout(&again)
    );
    let typo = unchained(&project, &["bundles", "add", "securty"]);
    assert!(!typo.status.success());
    assert!(
        stderr(&typo).contains("did you mean security?"),
        "{}",
        stderr(&typo)
    );

    let migrate = unchained(&project, &["db", "migrate", "-m", "users"]);
    assert_success(&migrate, "unchained db migrate -m users");
    let files = migration_files(&project);
    assert_eq!(files.len(), 1, "{files:?}\n{}", stdout(&migrate));
    assert!(
        files[0].to_string_lossy().ends_with("_users.rs"),
        "{files:?}"
    );
    let upgrade = unchained(&project, &["db", "upgrade"]);
    assert_success(&upgrade, "unchained db upgrade");
    let create = unchained(
        &project,
        &["users", "create", "ada@example.com", "--password", PASSWORD],
    );
    assert_success(&create, "unchained users create");

    let server = Server::start(&project, &[]);
    let mut http = Http::new(server.port);
    let page = http.get("/login");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let done = http.post(
        "/login",
        &[
            ("csrf_token", &token),
            ("email", "ada@example.com"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "logged in: {}", done.body);
    let cookie = http
        .cookies
        .get("session")
        .cloned()
        .expect("a session cookie");
    let sessions = http.get("/sessions");
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    assert!(
        sessions.body.contains("ada@example.com"),
        "{}",
        sessions.body
    );

    let page = http.get("/logout");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let done = http.post("/logout", &[("csrf_token", &token)]);
    assert_eq!(done.status, 303, "logged out: {}", done.body);
    http.cookies.insert("session".to_owned(), cookie);
    let replayed = http.get("/sessions");
    assert_eq!(
        replayed.status, 303,
        "the old cookie is dead: {}",
        replayed.body
    );
}
