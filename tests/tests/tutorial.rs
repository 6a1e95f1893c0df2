//! The tutorial as a new user follows it, once on SQLite and once on
//! PostgreSQL, with the same code: scaffold flaskr with the CLI, write the
//! views chapter's files, list the session bundle in `unchained.toml` (and
//! nothing else), let `unchained db migrate` write the sessions migration,
//! apply it, add the security bundle with `unchained bundles add`,
//! register, log in and log out over HTTP while watching the
//! `flask_sessions` table, add the posts model, run the project's tests
//! (the guide's test on a fresh database included), write the blog's
//! views and post a form to them, logged in, over HTTP, and finally build for
//! production with `unchained build` and run two production instances of
//! the binary that share the session store: in PostgreSQL on both runs
//! (the SQLite project gets the driver from the environment's URL), then
//! in Redis on the SQLite run.
//!
//! Each command goes through [`Tutorial::sh`] written exactly as the guide
//! (`docs/src/tutorial/`) shows it, and each file the guide gives is
//! written from the guide's own text; the SQLite run ends by checking that
//! it ran every command and wrote every file the guide shows.
//! `tests/tests/guide.rs` checks the same statically, without building.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use unchained_database::migration::sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use unchained_database::testing::TestDatabase;
use unchained_tests::guide;
use unchained_tests::http::Http;
use unchained_tests::*;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A user at a shell: a current folder, exported variables, and the list
/// of commands typed so far.
struct Tutorial {
    cwd: PathBuf,
    env: Vec<(String, String)>,
    ran: Vec<String>,
    written: Vec<String>,
    // A HOME of its own, so git reads no user config.
    home: tempfile::TempDir,
}

impl Tutorial {
    fn new(cwd: &Path, env: Vec<(String, String)>) -> Tutorial {
        Tutorial {
            cwd: cwd.to_owned(),
            env,
            ran: Vec::new(),
            written: Vec::new(),
            home: temp_dir(),
        }
    }

    /// Runs one command line of the guide; fails the test, with the
    /// command's output, unless it succeeds. Returns stdout and stderr.
    fn sh(&mut self, line: &str) -> String {
        let words = guide::split_words(line).unwrap_or_else(|e| panic!("{e}"));
        self.ran
            .push(guide::normalise(line).unwrap_or_else(|e| panic!("{e}")));
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let output: Output = match words[0].as_str() {
            "cd" => {
                assert_eq!(args.len(), 1, "cd takes one folder: {line}");
                self.cwd = self.cwd.join(args[0]);
                assert!(self.cwd.is_dir(), "{line}: no such folder");
                return String::new();
            }
            "unchained" => unchained_with_env(&self.cwd, &args, &env),
            "cargo" => {
                let mut command = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
                command
                    .args(&args)
                    .current_dir(&self.cwd)
                    .env("CARGO_TARGET_DIR", e2e_target_dir())
                    .env_remove("UNCHAINED_ENV")
                    .envs(env.iter().copied());
                command.output().expect("cargo runs")
            }
            "git" => Command::new("git")
                .args(&args)
                .current_dir(&self.cwd)
                .env("HOME", self.home.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "Ada")
                .env("GIT_AUTHOR_EMAIL", EMAIL)
                .env("GIT_COMMITTER_NAME", "Ada")
                .env("GIT_COMMITTER_EMAIL", EMAIL)
                .output()
                .expect("git runs"),
            other => panic!("the tutorial test cannot run `{other}` (from `{line}`)"),
        };
        assert_success(&output, line);
        format!("{}{}", stdout(&output), stderr(&output))
    }

    /// `unchained run`, as the guide shows it: serves until dropped.
    fn serve(&mut self, line: &str) -> Server {
        assert_eq!(line, "unchained run");
        self.ran.push(line.to_owned());
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Server::start(&self.cwd, &env)
    }

    /// Writes the file a chapter gives for `path` (a
    /// `<!-- guide: file PATH -->` block) into the project.
    fn write_from_guide(&mut self, chapter: &str, path: &str) {
        let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
        let file = guide
            .file(chapter, path)
            .unwrap_or_else(|| panic!("{chapter} gives no file {path}"));
        if let Some(folder) = self.cwd.join(path).parent() {
            fs::create_dir_all(folder).expect("the file's folder");
        }
        self.write(path, &file.text);
        self.written.push(format!("{chapter}: {path}"));
    }

    fn file(&self, path: &str) -> String {
        fs::read_to_string(self.cwd.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn write(&self, path: &str, text: &str) {
        fs::write(self.cwd.join(path), text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// Lists a bundle in `unchained.toml` before `app`: the sessions
    /// chapter's whole step (`Cargo.toml` is left to `unchained`).
    fn list_bundle(&self, bundle: &str) {
        let manifest = self.file("unchained.toml");
        assert!(
            manifest.contains("    \"app\",\n"),
            "unchained.toml lists app: {manifest}"
        );
        let listed = manifest.replacen(
            "    \"app\",\n",
            &format!("    \"{bundle}\",\n    \"app\",\n"),
            1,
        );
        self.write("unchained.toml", &listed);
    }

    /// Sets `KEY = value` (TOML) in `[default]` of `unchained.toml`.
    fn set_default(&self, key: &str, value: &str) {
        let manifest = self.file("unchained.toml");
        let line = format!("{key} = {value}");
        let mut out = Vec::new();
        let mut replaced = false;
        for l in manifest.lines() {
            if l.trim_start().starts_with(&format!("{key} "))
                || l.trim_start().starts_with(&format!("{key}="))
            {
                out.push(line.clone());
                replaced = true;
            } else {
                out.push(l.to_owned());
            }
        }
        let mut text = out.join("\n") + "\n";
        if !replaced {
            assert!(
                text.contains("[default]\n"),
                "unchained.toml has [default]: {manifest}"
            );
            text = text.replacen("[default]\n", &format!("[default]\n{line}\n"), 1);
        }
        self.write("unchained.toml", &text);
    }

    fn migrations(&self) -> Vec<PathBuf> {
        migration_files(&self.cwd)
    }
}

/// Real queries on the project's database.
struct Database {
    runtime: tokio::runtime::Runtime,
    connection: Option<DatabaseConnection>,
    // For PostgreSQL: the fresh database, dropped at the end.
    test_database: Option<TestDatabase>,
}

impl Database {
    fn new(backend: Backend) -> Database {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let test_database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                runtime
                    .block_on(TestDatabase::postgres())
                    .expect("a fresh PostgreSQL database on 127.0.0.1:5432"),
            ),
        };
        Database {
            runtime,
            connection: None,
            test_database,
        }
    }

    /// Connects to the SQLite file of a project (after `db migrate`
    /// created it).
    fn open_sqlite(&mut self, file: &Path) {
        let url = format!("sqlite:{}", file.display());
        let parent = file.parent().expect("a folder");
        let connection = self
            .runtime
            .block_on(unchained_database::connect_url(&url, parent))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        self.connection = Some(connection);
    }

    fn connection(&self) -> &DatabaseConnection {
        match (&self.connection, &self.test_database) {
            (Some(c), _) => c,
            (None, Some(db)) => db.connection(),
            (None, None) => panic!("no database connection yet"),
        }
    }

    /// `SELECT COUNT(*) ...`: the count, or the database's error.
    fn count(&self, sql: &str) -> Result<i64, String> {
        let connection = self.connection();
        let statement = Statement::from_string(connection.get_database_backend(), sql.to_owned());
        self.runtime.block_on(async {
            let row = connection
                .query_one_raw(statement)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no row")?;
            row.try_get_by_index::<i64>(0).map_err(|e| e.to_string())
        })
    }

    fn finish(mut self) {
        self.connection = None;
        if let Some(db) = self.test_database.take() {
            self.runtime
                .block_on(db.cleanup())
                .expect("drop the test database");
        }
    }
}

#[test]
fn tutorial_on_sqlite() {
    follow_tutorial(Backend::Sqlite);
}

#[test]
fn tutorial_on_postgres() {
    follow_tutorial(Backend::Postgres);
}

/// Both runs build a crate named `flaskr` into the shared `target/e2e`, so
/// both write `target/e2e/debug/flaskr`: `cargo run` in one project could
/// start the other's binary. The runs take turns.
static ONE_FLASKR_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn follow_tutorial(backend: Backend) {
    let _turn = ONE_FLASKR_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut db = Database::new(backend);
    let workspace = temp_dir();
    let env = match &db.test_database {
        Some(pg) => vec![("UNCHAINED_DATABASE_URL".to_owned(), pg.url().to_owned())],
        None => Vec::new(),
    };
    let mut t = Tutorial::new(workspace.path(), env);

    // Getting started.
    match backend {
        Backend::Sqlite => t.sh("unchained new project flaskr --database --no-prompt"),
        // The guide's variant for PostgreSQL (database chapter).
        Backend::Postgres => t.sh("unchained new project flaskr --db postgres --no-prompt"),
    };
    t.sh("cd flaskr");
    let bundles = t.sh("unchained bundles");
    assert_order(&bundles, &["unchained.bundles.database", "app"]);
    let urls = t.sh("unchained urls");
    assert!(
        urls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["GET", "/", "app.index", "flaskr::app::index", "app"]),
        "{urls}"
    );
    {
        let server = t.serve("unchained run");
        let (status, body) = server.get("/");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Welcome to flaskr"), "{body}");
    }
    t.sh("git init");
    t.sh("git add .");
    t.sh("git commit -m 'new unchained project'");

    // Views and templates.
    t.write_from_guide("tutorial/views-and-templates.md", "src/app.rs");
    t.write_from_guide("tutorial/views-and-templates.md", "templates/base.html");
    t.write_from_guide("tutorial/views-and-templates.md", "templates/index.html");
    t.write_from_guide("tutorial/views-and-templates.md", "templates/hello.html");
    let urls = t.sh("unchained urls");
    assert!(
        urls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "GET",
                    "/hello/{name}",
                    "app.hello",
                    "flaskr::app::hello",
                    "app"
                ]),
        "{urls}"
    );
    {
        let server = t.serve("unchained run");
        let (status, body) = server.get("/hello/%3Cb%3EAda%3C%2Fb%3E");
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("Hello, &lt;b&gt;Ada") && !body.contains("<b>") && body.contains("<nav>"),
            "the greeting, escaped, in the layout: {body}"
        );
        let (status, body) = server.get("/");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Welcome to flaskr"), "{body}");
    }
    t.sh("git add .");
    t.sh("git commit -m 'views and templates'");

    // The database.
    let url = t.sh("unchained config DATABASE_URL");
    match backend {
        Backend::Sqlite => assert!(url.contains("sqlite:db/development.sqlite"), "{url}"),
        Backend::Postgres => assert!(
            url.contains("environment variable UNCHAINED_DATABASE_URL"),
            "{url}"
        ),
    }
    let current = t.sh("unchained db current");
    assert!(
        current.contains("base"),
        "no migration is applied yet: {current}"
    );

    // Server-side sessions.
    let cargo_before = t.file("Cargo.toml");
    assert!(
        !cargo_before.contains("unchained-session"),
        "{cargo_before}"
    );
    t.list_bundle("unchained.bundles.session");
    t.set_default("SESSION_TYPE", "\"sqlalchemy\"");
    t.set_default("SESSION_SQLALCHEMY_TABLE", "\"flask_sessions\"");
    let bundles = t.sh("unchained bundles");
    assert!(
        bundles.contains(
            "Cargo.toml: added unchained-session (for unchained.bundles.session in unchained.toml)"
        ),
        "one line says what changed in Cargo.toml: {bundles}"
    );
    let cargo_after = t.file("Cargo.toml");
    let added: Vec<&str> = cargo_after
        .lines()
        .filter(|l| !cargo_before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added.len(), 1, "one line added: {added:?}");
    assert!(
        added[0].starts_with("unchained-session = { path = "),
        "{added:?}"
    );
    assert_eq!(
        cargo_after.replacen(&format!("{}\n", added[0]), "", 1),
        cargo_before,
        "the rest of Cargo.toml is kept as it was"
    );
    let migrate = t.sh("unchained db migrate -m 'create sessions table'");
    let files = t.migrations();
    assert_eq!(files.len(), 1, "one migration file: {files:?}\n{migrate}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with('m') && name.ends_with("_create_sessions_table.rs"),
        "{name}"
    );
    let migration = fs::read_to_string(&files[0]).unwrap();
    assert_sessions_migration(&migration);
    if backend == Backend::Sqlite {
        db.open_sqlite(&t.cwd.join("db/development.sqlite"));
    }
    assert!(
        db.count("SELECT COUNT(*) FROM flask_sessions").is_err(),
        "the table must not exist before `db upgrade`"
    );
    let upgrade = t.sh("unchained db upgrade");
    assert!(upgrade.contains("flask_sessions"), "{upgrade}");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM (SELECT id, session_id, data, expiry, created_at, updated_at FROM flask_sessions) AS t"),
        Ok(0),
        "the table exists with the tutorial's columns"
    );
    let again = t.sh("unchained db migrate -m 'create sessions table'");
    assert!(again.contains("No changes in schema detected."), "{again}");
    assert_eq!(t.migrations().len(), 1, "no second file");
    t.sh("git add .");
    let status = t.sh("git status");
    assert!(status.contains(&name), "the migration is staged: {status}");
    t.sh("git commit -m 'install session bundle'");
    let tracked = git_ls_files(&t);
    assert!(
        tracked.contains(&format!("db/migrations/{name}")),
        "{tracked}"
    );
    assert!(
        !tracked.contains(".sqlite"),
        "the database is not committed: {tracked}"
    );

    // Security.
    let added = t.sh("unchained bundles add security");
    assert!(
        added.contains("listed unchained.bundles.security")
            && added.contains("added unchained-security")
            && added.contains("unchained db migrate"),
        "{added}"
    );
    t.set_default("SECURITY_REGISTERABLE", "true");
    let bundles = t.sh("unchained bundles");
    assert_order(
        &bundles,
        &[
            "unchained.bundles.database",
            "unchained.bundles.session",
            "unchained.bundles.security",
            "app",
        ],
    );
    let urls = t.sh("unchained urls");
    for path in ["/login", "/logout", "/register", "/sessions"] {
        assert!(
            urls.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(path)
                    && l.contains("unchained.bundles.security")),
            "{path} is served by the security bundle:\n{urls}"
        );
    }
    let migrate = t.sh("unchained db migrate -m 'create security tables'");
    let files = t.migrations();
    assert_eq!(
        files.len(),
        2,
        "a second migration file: {files:?}\n{migrate}"
    );
    let security = fs::read_to_string(&files[1]).unwrap();
    assert!(security.contains(".table(\"users\")"), "{security}");
    assert!(
        !security.contains("create table flask_sessions"),
        "the sessions table is not created twice: {security}"
    );
    t.sh("unchained db upgrade");
    assert_eq!(db.count("SELECT COUNT(*) FROM users"), Ok(0));
    t.sh("unchained users create admin@example.com --password 'correct horse battery'");
    let users = t.sh("unchained users list");
    assert!(users.contains("admin@example.com"), "{users}");
    assert_eq!(db.count("SELECT COUNT(*) FROM users"), Ok(1));

    let server = t.serve("unchained run");
    register_login_logout(&server, &db);
    drop(server);
    t.sh("git add .");
    t.sh("git commit -m 'install security bundle'");

    // Posts: the app bundle's own model.
    t.write_from_guide("tutorial/security.md", "src/app/post.rs");
    t.write_from_guide("tutorial/security.md", "src/app.rs");
    let migrate = t.sh("unchained db migrate -m 'create posts table'");
    let files = t.migrations();
    assert_eq!(
        files.len(),
        3,
        "a third migration file: {files:?}\n{migrate}"
    );
    let posts = fs::read_to_string(&files[2]).unwrap();
    let changes: Vec<&str> = posts.lines().filter(|l| l.starts_with("//! - ")).collect();
    assert_eq!(changes, ["//! - create table posts"], "{posts}");
    assert!(
        posts.contains(r#"ColumnDef::new("author_id").integer().not_null()"#)
            && posts.contains(r#".to_tbl("users")"#)
            && posts.contains(r#".to_col("id")"#)
            && posts.contains("ForeignKeyAction::Cascade"),
        "posts.author_id references users.id:\n{posts}"
    );
    t.sh("unchained db upgrade");
    assert_eq!(db.count("SELECT COUNT(*) FROM posts"), Ok(0));
    t.sh("git add .");
    t.sh("git commit -m 'posts'");

    // Testing: the scaffold's test, then the guide's on a fresh database.
    let tests = t.sh("cargo test");
    assert!(tests.contains("test result: ok"), "{tests}");
    t.write_from_guide("tutorial/testing.md", "tests/accounts.rs");
    let tests = t.sh("cargo test");
    assert!(
        tests.contains("test register_then_log_out ... ok"),
        "the guide's test ran and passed:\n{tests}"
    );

    // The blog: the first views over the posts, tried over HTTP, then the
    // chapter's test in place of the scaffold's.
    t.write_from_guide("tutorial/blog.md", "src/app/blog.rs");
    t.write_from_guide("tutorial/blog.md", "src/app.rs");
    t.write_from_guide("tutorial/blog.md", "templates/base.html");
    t.write_from_guide("tutorial/blog.md", "templates/index.html");
    t.write_from_guide("tutorial/blog.md", "templates/create.html");
    let urls = t.sh("unchained urls");
    for (method, handler) in [
        ("GET", "flaskr::app::blog::create_form"),
        ("POST", "flaskr::app::blog::create"),
    ] {
        // METHOD PATH ... HANDLER BUNDLE, whatever columns come between.
        assert!(
            urls.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.len() >= 4
                    && words[..2] == [method, "/create"]
                    && words[words.len() - 2..] == [handler, "app"]
            }),
            "{method} /create is {handler}:\n{urls}"
        );
    }
    {
        let server = t.serve("unchained run");
        write_a_post(&server, &db);
    }
    t.write_from_guide("tutorial/blog.md", "tests/app.rs");
    let tests = t.sh("cargo test");
    assert!(
        tests.contains("test a_logged_in_user_publishes_a_post ... ok")
            && tests.contains("test home_page_answers ... ok"),
        "the blog chapter's tests ran and passed:\n{tests}"
    );
    t.sh("git add .");
    t.sh("git commit -m 'the blog'");

    // Deploying: the binary itself, in production, two instances sharing
    // the session store (PostgreSQL, or Redis on the SQLite run).
    deploy_two_instances(&t, backend, &db);

    if backend == Backend::Sqlite {
        assert_guide_was_followed(&t.ran, &t.written);
    }
    db.finish();
}

/// Register (which logs in), log out, log in, log out, replay the old
/// cookie: the `flask_sessions` row of a logged-in session exists exactly
/// while the user is logged in.
fn register_login_logout(server: &Server, db: &Database) {
    let mut http = Http::new(server.port);
    let logged_in = "SELECT COUNT(*) FROM flask_sessions WHERE owner IS NOT NULL";
    let row = |id: &str| {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{id}"
        );
        db.count(&format!(
            "SELECT COUNT(*) FROM flask_sessions WHERE session_id = '{id}'"
        ))
        .expect("query flask_sessions")
    };

    let page = http.get("/register");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let done = http.post(
        "/register",
        &[
            ("csrf_token", &token),
            ("email", EMAIL),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "registered: {}", done.body);
    assert_eq!(db.count("SELECT COUNT(*) FROM users"), Ok(2));
    logout(&mut http);
    assert_eq!(db.count(logged_in), Ok(0), "nobody is logged in");

    // Log in: the session's row appears.
    let page = http.get("/login");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let done = http.post(
        "/login",
        &[
            ("csrf_token", &token),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "logged in: {}", done.body);
    assert_eq!(done.header("location").as_deref(), Some("/"));
    let cookie = http
        .cookies
        .get("session")
        .cloned()
        .expect("a session cookie");
    let id = cookie.split('.').next().unwrap_or_default().to_owned();
    assert_eq!(
        row(&id),
        1,
        "the logged-in session is a row of flask_sessions"
    );
    assert_eq!(db.count(logged_in), Ok(1));
    let sessions = http.get("/sessions");
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    assert!(sessions.body.contains(EMAIL), "{}", sessions.body);

    // Log out: the row is gone, and the old cookie is an anonymous visitor.
    logout(&mut http);
    assert_eq!(row(&id), 0, "logout deletes the session's row");
    assert_eq!(db.count(logged_in), Ok(0));
    http.cookies.insert("session".to_owned(), cookie);
    let replayed = http.get("/sessions");
    assert_eq!(replayed.status, 303, "{}", replayed.body);
    assert!(
        replayed
            .header("location")
            .is_some_and(|l| l.starts_with("/login")),
        "the replayed cookie is sent to the login page: {:?}",
        replayed.headers
    );
}

/// The blog chapter in a browser's place: anonymous visitors are sent to
/// log in; logged in, the form shows, an empty title comes back with its
/// error under the field (and the body kept), a valid post is saved and
/// listed on the home page under the flash message, which shows once.
fn write_a_post(server: &Server, db: &Database) {
    let mut http = Http::new(server.port);
    let anonymous = http.get("/create");
    assert_eq!(anonymous.status, 303, "{}", anonymous.body);
    assert!(
        anonymous
            .header("location")
            .is_some_and(|l| l.starts_with("/login")),
        "{:?}",
        anonymous.headers
    );
    let page = http.get("/login");
    let token = page.csrf_token();
    let done = http.post(
        "/login",
        &[
            ("csrf_token", &token),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "logged in: {}", done.body);

    let form = http.get("/create");
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body
            .contains(r#"<input type="text" name="title" id="title" value="" required>"#)
            && form.body.contains(r#"<textarea name="body" id="body">"#),
        "the form's fields, from the forms.html macros: {}",
        form.body
    );
    assert!(
        form.body
            .contains(&format!(r#"<span id="current-user">{EMAIL}</span>"#)),
        "the layout shows who is logged in: {}",
        form.body
    );
    let token = form.csrf_token();

    let invalid = http.post(
        "/create",
        &[("csrf_token", &token), ("title", ""), ("body", "Kept.")],
    );
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert!(
        invalid.body.contains(r#"aria-invalid="true""#)
            && invalid
                .body
                .contains(r#"<p class="field-error">Length is lower than 1</p>"#)
            && invalid.body.contains(">Kept.</textarea>"),
        "the title's error under the field, the body kept: {}",
        invalid.body
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM posts"), Ok(0));

    let saved = http.post(
        "/create",
        &[
            ("csrf_token", &token),
            ("title", "Hello, flaskr"),
            ("body", "The first post."),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.header("location").as_deref(), Some("/"));
    assert_eq!(db.count("SELECT COUNT(*) FROM posts"), Ok(1));
    let home = http.get("/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.body.contains("<h2>Hello, flaskr</h2>")
            && home.body.contains(&format!("by {EMAIL} on "))
            && home.body.contains("The first post."),
        "the post is listed: {}",
        home.body
    );
    assert!(
        home.body
            .contains(r#"<p class="flash success">Your post is published.</p>"#),
        "the flash message: {}",
        home.body
    );
    let again = http.get("/");
    assert!(
        !again.body.contains("Your post is published."),
        "a flash message shows once: {}",
        again.body
    );
    logout(&mut http);
}

/// The project's binary as the deploying chapter runs it (a debug build
/// here: the release build only differs in speed), killed when dropped.
struct Instance {
    child: std::process::Child,
    port: u16,
}

impl Instance {
    fn start(project: &Path, env: &[(&str, &str)]) -> Instance {
        let port = free_port();
        let child = Command::new(e2e_target_dir().join("debug/flaskr"))
            .args(["run", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(project)
            .env_remove("UNCHAINED_DATABASE_URL")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the project's binary starts");
        let mut instance = Instance { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = instance.child.try_wait() {
                panic!("flaskr run exited early with {status} (its stderr is above)");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return instance;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "flaskr run did not listen on port {port} in time"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deploying chapter: `unchained build` with the production variables
/// set (which turns on the drivers they name), `db upgrade`, then two
/// production instances of the binary sharing the sessions, first in
/// PostgreSQL, then (on the SQLite run: the chapter's second half) in
/// Redis.
fn deploy_two_instances(t: &Tutorial, backend: Backend, db: &Database) {
    // The SQLite project deploys onto a PostgreSQL server of its own.
    let own_database = match backend {
        Backend::Postgres => None,
        Backend::Sqlite => Some(
            db.runtime
                .block_on(TestDatabase::postgres())
                .expect("a fresh PostgreSQL database on 127.0.0.1:5432"),
        ),
    };
    let url = match (&own_database, &db.test_database) {
        (Some(own), _) => own.url().to_owned(),
        (None, Some(test)) => test.url().to_owned(),
        (None, None) => unreachable!("the PostgreSQL run has its test database"),
    };
    let mut env: Vec<(&str, &str)> = vec![
        ("UNCHAINED_ENV", "production"),
        (
            "UNCHAINED_SECRET_KEY",
            "3f9c1e7a5b2d8f4061c3e9a7b5d2f8e4a1c7b3d9f5e2a8c4b6d0e3f7a9c1b5d2",
        ),
        ("UNCHAINED_DATABASE_URL", &url),
    ];

    // Share PostgreSQL.
    let built = build_for_production(t, &env);
    if backend == Backend::Sqlite {
        assert!(
            built.contains(
                "Cargo.toml: turned on feature postgres of unchained-database (for UNCHAINED_DATABASE_URL)"
            ),
            "the SQLite project gets the PostgreSQL driver: {built}"
        );
    }
    let upgrade = Command::new(e2e_target_dir().join("debug/flaskr"))
        .args(["db", "upgrade"])
        .current_dir(&t.cwd)
        .env_remove("UNCHAINED_DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("flaskr db upgrade runs");
    assert_success(&upgrade, "UNCHAINED_ENV=production flaskr db upgrade");
    share_a_session(t, &env);

    // Or share Redis for sessions.
    if backend == Backend::Sqlite {
        let prefix = format!("flaskr-tutorial-{}-{}:", std::process::id(), free_port());
        let _redis_keys = RedisKeys(prefix.clone());
        env.push(("UNCHAINED_SESSION_TYPE", "redis"));
        env.push(("UNCHAINED_SESSION_REDIS", "redis://127.0.0.1:6379/0"));
        env.push(("UNCHAINED_SESSION_KEY_PREFIX", &prefix));
        let built = build_for_production(t, &env);
        assert!(
            built.contains(
                "Cargo.toml: turned on feature redis of unchained-session (for UNCHAINED_SESSION_TYPE)"
            ),
            "{built}"
        );
        share_a_session(t, &env);
    }
    if let Some(own) = own_database {
        db.runtime
            .block_on(own.cleanup())
            .expect("drop the deployment's database");
    }
}

/// `unchained build` with the production variables (the chapter's
/// `unchained build --release`, in debug: it only differs in speed).
fn build_for_production(t: &Tutorial, env: &[(&str, &str)]) -> String {
    let built = unchained_with_env(&t.cwd, &["build"], env);
    assert_success(&built, "unchained build with the production variables");
    format!("{}{}", stdout(&built), stderr(&built))
}

/// Log in on one instance, use the session on the other, log out there,
/// and the first one no longer knows the session either.
fn share_a_session(t: &Tutorial, env: &[(&str, &str)]) {
    let first = Instance::start(&t.cwd, env);
    let second = Instance::start(&t.cwd, env);
    let mut on_first = Http::new(first.port);
    let page = on_first.get("/register");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let email = format!("grace-{}@example.com", free_port());
    let done = on_first.post(
        "/register",
        &[
            ("csrf_token", &token),
            ("email", &email),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    );
    assert_eq!(
        done.status, 303,
        "registered on the first instance: {}",
        done.body
    );
    // In production the session cookie is a `__Host-` cookie.
    let cookie = on_first
        .cookies
        .get("__Host-session")
        .cloned()
        .expect("a session cookie");

    let mut on_second = Http::new(second.port);
    on_second
        .cookies
        .insert("__Host-session".to_owned(), cookie.clone());
    let sessions = on_second.get("/sessions");
    assert_eq!(
        sessions.status, 200,
        "the second instance knows the session: {}",
        sessions.body
    );
    assert!(sessions.body.contains(&email), "{}", sessions.body);
    logout(&mut on_second);

    let replayed = on_first.get("/sessions");
    assert_eq!(
        replayed.status, 303,
        "the first instance no longer knows the session: {}",
        replayed.body
    );
}

/// Deletes the Redis keys under a prefix when dropped (the store keeps an
/// owner index that only expires after the session lifetime).
struct RedisKeys(String);

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let script =
            "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1";
        let pattern = format!("{}*", self.0);
        let args = ["EVAL", script, "0", &pattern];
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        request.push_str("*1\r\n$4\r\nQUIT\r\n");
        let reply = TcpStream::connect(("127.0.0.1", 6379)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(request.as_bytes())?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            Ok(reply)
        });
        match reply {
            Ok(reply) if reply.starts_with(":1") => {}
            other => eprintln!("warning: Redis keys {pattern} not deleted: {other:?}"),
        }
    }
}

fn logout(http: &mut Http) {
    let page = http.get("/logout");
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let done = http.post("/logout", &[("csrf_token", &token)]);
    assert_eq!(done.status, 303, "logged out: {}", done.body);
}

fn assert_order(output: &str, names: &[&str]) {
    let positions: Vec<usize> = names
        .iter()
        .map(|n| {
            output
                .find(&format!(" {n} "))
                .or_else(|| output.find(&format!(" {n}\n")))
                .unwrap_or_else(|| panic!("{n} is not listed:\n{output}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "expected the order {names:?}:\n{output}"
    );
}

fn assert_sessions_migration(text: &str) {
    let changes: Vec<&str> = text.lines().filter(|l| l.starts_with("//! - ")).collect();
    assert_eq!(
        changes,
        ["//! - create table flask_sessions"],
        "the migration creates flask_sessions and nothing else:\n{text}"
    );
    assert_eq!(text.matches("create_table(").count(), 1, "{text}");
    for column in [
        r#"ColumnDef::new("id").integer().not_null().auto_increment().primary_key()"#,
        r#"ColumnDef::new("session_id").string_len(255).not_null().unique_key()"#,
        r#"ColumnDef::new("data").blob().not_null()"#,
        r#"ColumnDef::new("expiry").date_time().null()"#,
        r#"ColumnDef::new("created_at").timestamp_with_time_zone().not_null().default(Expr::cust("CURRENT_TIMESTAMP"))"#,
        r#"ColumnDef::new("updated_at").timestamp_with_time_zone().not_null().default(Expr::cust("CURRENT_TIMESTAMP"))"#,
    ] {
        assert!(
            text.contains(column),
            "the migration lacks {column}:\n{text}"
        );
    }
    assert!(text.contains(r#".table("flask_sessions")"#), "{text}");
    assert!(
        text.contains(r#"drop_table(Table::drop().table("flask_sessions")"#),
        "down drops the table:\n{text}"
    );
}

fn git_ls_files(t: &Tutorial) -> String {
    let output = Command::new("git")
        .args(["ls-files"])
        .current_dir(&t.cwd)
        .output()
        .expect("git runs");
    assert_success(&output, "git ls-files");
    stdout(&output)
}

/// Every command of the guide, except those marked as skipped, was run,
/// and every file it gives was written.
fn assert_guide_was_followed(ran: &[String], written: &[String]) {
    let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
    let missing: Vec<String> = guide
        .commands
        .iter()
        .filter(|c| c.skip.is_none() && !ran.contains(&c.command))
        .map(|c| format!("{}:{}: {}", c.chapter, c.line, c.command))
        .collect();
    assert!(
        missing.is_empty(),
        "the guide shows commands this test did not run:\n{}\nit ran:\n{}",
        missing.join("\n"),
        ran.join("\n")
    );
    let unused: Vec<String> = guide
        .files
        .iter()
        .filter(|f| !written.contains(&format!("{}: {}", f.chapter, f.path)))
        .map(|f| format!("{}: {}", f.chapter, f.path))
        .collect();
    assert!(
        unused.is_empty(),
        "the guide gives files this test did not write:\n{}",
        unused.join("\n")
    );
}
