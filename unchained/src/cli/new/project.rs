//! `unchained new project DIR`: scaffold a project that builds, serves a
//! page and passes its test the first time.
//!
//! The files come from the workspace's `templates/project/` folder,
//! rendered with minijinja. With a database server (`--db postgres|mysql`)
//! the project's databases are created on it too, through the project's
//! own `unchained db create` (this binary has no database driver).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use minijinja::context;

use super::{environment, is_package_name};
use crate::project::builtin::source_checkout;

macro_rules! project_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../templates/project/", $path, ".j2")))),*]
    };
}

/// `(path in the new project, template source)`.
const FILES: &[(&str, &str)] = project_files![
    "Cargo.toml",
    "unchained.toml",
    "build.rs",
    "README.md",
    "gitignore",
    "src/main.rs",
    "src/lib.rs",
    "src/app.rs",
    "templates/index.html",
    "static/style.css",
    "tests/app.rs",
];

/// What the new project contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectOptions {
    /// The project's name (its folder's name).
    pub name: String,
    /// With the database bundle.
    pub database: bool,
    /// With the session bundle.
    pub session: bool,
    /// With the security bundle.
    pub security: bool,
    /// `sqlite`, `postgres` or `mysql`.
    pub db: String,
}

impl ProjectOptions {
    /// Applies the implications: security needs session and database; the
    /// session bundle's default SQL store needs the database.
    pub fn normalized(mut self) -> Self {
        if self.security {
            self.session = true;
        }
        if self.session || self.security || self.db != "sqlite" {
            self.database = true;
        }
        self
    }

    /// The bundles to list in `unchained.toml`, in order.
    pub fn bundles(&self) -> Vec<&'static str> {
        let mut bundles = Vec::new();
        if self.database {
            bundles.push("unchained.bundles.database");
        }
        if self.session {
            bundles.push("unchained.bundles.session");
        }
        if self.security {
            bundles.push("unchained.bundles.security");
        }
        bundles.push("app");
        bundles
    }

    /// The server the project's databases live on; `None` for SQLite (a
    /// file per environment, created on first use) or no database.
    pub fn server(&self) -> Option<DatabaseServer> {
        if !self.database {
            return None;
        }
        match self.db.as_str() {
            "postgres" => Some(DatabaseServer {
                product: "PostgreSQL",
                address: "127.0.0.1:5432",
            }),
            "mysql" => Some(DatabaseServer {
                product: "MySQL/MariaDB",
                address: "127.0.0.1:3306",
            }),
            _ => None,
        }
    }

    /// The name of the development database on a server; the test
    /// database is this with `_test`. Underscores, not dashes, so that
    /// neither server needs the name quoted in a shell or a client.
    pub fn database_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// A database server that `--db` names: where the new project's
/// databases live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseServer {
    /// The product, for messages: `PostgreSQL`, `MySQL/MariaDB`.
    pub product: &'static str,
    /// `host:port` of the server the generated URLs name.
    pub address: &'static str,
}

/// One command the scaffold runs with the new project's binary.
struct Step {
    /// The arguments after `unchained`.
    args: &'static [&'static str],
    /// The command as the user would type it, for "Next:".
    shown: &'static str,
}

const CREATE_DATABASES: Step = Step {
    args: &["db", "create", "--env", "development", "--env", "test"],
    shown: "unchained db create --env development --env test",
};
const MIGRATE: Step = Step {
    args: &["db", "migrate", "-m", "create tables"],
    shown: "unchained db migrate -m \"create tables\"",
};
const UPGRADE: Step = Step {
    args: &["db", "upgrade"],
    shown: "unchained db upgrade",
};

/// Runs `unchained new project ...`.
pub(super) fn run(m: &ArgMatches) -> anyhow::Result<()> {
    let dir = m
        .get_one::<PathBuf>("dir")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("missing DIR: try `unchained new project DIR`"))?;
    let name = project_name(&dir)?;
    let db_flag = m.get_one::<String>("db").cloned();
    let any_flag = ["database", "session", "security"]
        .iter()
        .any(|f| m.get_flag(f))
        || db_flag.is_some();
    let mut options = ProjectOptions {
        name,
        database: m.get_flag("database"),
        session: m.get_flag("session"),
        security: m.get_flag("security"),
        db: db_flag.unwrap_or_else(|| "sqlite".to_owned()),
    };
    let may_ask = !m.get_flag("no-prompt") && std::io::stdin().is_terminal();
    if !any_flag && may_ask {
        options = ask(
            options,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
        )?;
    }
    let options = options.normalized();
    let written = generate(&dir, &options, m.get_flag("force"))?;
    println!(
        "Created project {} in {} ({} files)",
        options.name,
        dir.display(),
        written.len()
    );
    println!("Bundles: {}", options.bundles().join(", "));
    let mut next = vec![format!("cd {}", dir.display())];
    if options.database {
        let no_migrate = m.get_flag("no-migrate");
        let server = options.server();
        let mut steps = Vec::new();
        if let Some(server) = server {
            let db = options.database_name();
            println!(
                "\nThe databases {db} (development) and {db}_test (tests) live on the {} server at {}: \
                 it must be running for `unchained run`, the `unchained db` commands and `cargo test`.",
                server.product, server.address
            );
            // Creating them takes the project's binary (this one has no
            // database driver), so it goes with the build: --no-migrate,
            // which skips the build, skips it too.
            let create = !no_migrate
                && !m.get_flag("no-create-db")
                && (!may_ask
                    || ask_create(
                        &options,
                        server,
                        &mut std::io::stdin().lock(),
                        &mut std::io::stdout(),
                    )?);
            if create {
                steps.push(&CREATE_DATABASES);
            } else {
                next.push(format!(
                    "{}   # on the running {} server",
                    CREATE_DATABASES.shown, server.product
                ));
            }
        }
        steps.extend([&MIGRATE, &UPGRADE]);
        let done = if no_migrate {
            0
        } else {
            run_steps(&dir, &steps, server)
        };
        next.extend(steps[done..].iter().map(|step| step.shown.to_owned()));
    }
    next.push("unchained run        # serves http://127.0.0.1:5000/".to_owned());
    next.push("cargo test           # runs the project's tests".to_owned());
    next.push("unchained new bundle NAME   # adds a bundle crate in bundles/NAME".to_owned());
    println!("\nNext:\n  {}", next.join("\n  "));
    Ok(())
}

/// Asks whether to create the databases on the server now; yes unless
/// the answer starts with `n`.
fn ask_create(
    options: &ProjectOptions,
    server: DatabaseServer,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<bool> {
    let db = options.database_name();
    let host = server.address.split(':').next().unwrap_or(server.address);
    write!(
        output,
        "Create the databases {db} and {db}_test on {host} now? [Y/n] "
    )?;
    output.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(!answer.trim().to_ascii_lowercase().starts_with('n'))
}

/// Builds the new project and runs `steps` with its binary, so that its
/// databases and bundles' tables exist before the first `unchained run`.
/// A failure (e.g. a database server that is not running) is reported,
/// not fatal: the project is written and the steps that did not run can be
/// run later. Returns how many steps succeeded.
fn run_steps(dir: &Path, steps: &[&Step], server: Option<DatabaseServer>) -> usize {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let what = if steps
        .first()
        .is_some_and(|s| s.args == CREATE_DATABASES.args)
    {
        "its databases and tables"
    } else {
        "its tables"
    };
    println!("\nBuilding the project and creating {what} (skip with --no-migrate)...");
    for (done, step) in steps.iter().enumerate() {
        let args: Vec<std::ffi::OsString> = step.args.iter().map(Into::into).collect();
        let ok = matches!(crate::cli::launcher::run_project_binary(&root, &args), Ok(status) if status.success());
        if !ok {
            let why = match server {
                Some(server) => format!(" (is the {} server running?)", server.product),
                None => String::new(),
            };
            eprintln!(
                "warning: `{}` did not succeed{why}; the project is written: run it yourself once the problem above is fixed",
                step.shown
            );
            return done;
        }
    }
    steps.len()
}

/// Asks one question per bundle, from the most to the least inclusive.
fn ask(
    mut options: ProjectOptions,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<ProjectOptions> {
    let mut yes = |question: &str| -> anyhow::Result<bool> {
        write!(output, "{question} [y/N] ")?;
        output.flush()?;
        let mut answer = String::new();
        input.read_line(&mut answer)?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    };
    options.security = yes("Add users, login and logout (unchained.bundles.security)?")?;
    if !options.security {
        options.session = yes("Add server-side sessions (unchained.bundles.session)?")?;
    }
    if !options.security && !options.session {
        options.database = yes("Add a database (unchained.bundles.database)?")?;
    }
    Ok(options)
}

/// The project's name from its folder: letters, digits, `-` and `_`.
fn project_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no folder name to name the project after",
                dir.display()
            )
        })?;
    if !is_package_name(&name) {
        anyhow::bail!(
            "{name:?} cannot name a Rust package: use letters, digits, `-` and `_`, starting with a letter (e.g. `unchained new project my-blog`)"
        );
    }
    Ok(name)
}

/// Writes the project into `dir`; returns the files written.
pub fn generate(dir: &Path, options: &ProjectOptions, force: bool) -> anyhow::Result<Vec<PathBuf>> {
    if dir.exists() && !force {
        let occupied = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
            .next()
            .is_some();
        if occupied {
            anyhow::bail!(
                "{} exists and is not empty: choose another folder, or pass --force to write into it",
                dir.display()
            );
        }
    }
    let source = source_checkout();
    let env = environment();
    let ctx = context! {
        name => options.name,
        crate_name => options.name.replace('-', "_"),
        db_name => options.database_name(),
        source => source.to_string_lossy(),
        database => options.database,
        session => options.session,
        security => options.security,
        db => options.db,
        bundles => options.bundles(),
        dev_secret => random_secret("dev-insecure-"),
        test_secret => random_secret("dev-insecure-test-"),
        version => env!("CARGO_PKG_VERSION"),
    };
    let mut files = Vec::new();
    for (path, template) in FILES {
        let text = env
            .render_str(template, &ctx)
            .map_err(|e| anyhow::anyhow!("template {path} failed to render: {e}"))?;
        // A dotfile would be hidden in the templates folder.
        files.push((
            if *path == "gitignore" {
                ".gitignore"
            } else {
                path
            },
            text,
        ));
    }
    let written = super::write_files(dir, files)?;
    if options.database {
        let migrations = dir.join("db").join("migrations");
        std::fs::create_dir_all(&migrations)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", migrations.display()))?;
    }
    // Start from the versions this checkout is tested with.
    let lock = source.join("Cargo.lock");
    if lock.is_file() && !dir.join("Cargo.lock").exists() {
        let _ = std::fs::copy(&lock, dir.join("Cargo.lock"));
    }
    Ok(written)
}

fn random_secret(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let tail: String = (0..32)
        .map(|_| {
            let i = rng.random_range(0..36u8);
            char::from(if i < 10 { b'0' + i } else { b'a' + i - 10 })
        })
        .collect();
    format!("{prefix}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ProjectOptions {
        ProjectOptions {
            name: "demo".into(),
            database: false,
            session: false,
            security: false,
            db: "sqlite".into(),
        }
    }

    #[test]
    fn security_implies_session_and_database() {
        let o = ProjectOptions {
            security: true,
            ..base()
        }
        .normalized();
        assert!(o.session && o.database);
        assert_eq!(
            o.bundles(),
            [
                "unchained.bundles.database",
                "unchained.bundles.session",
                "unchained.bundles.security",
                "app"
            ]
        );
        let o = ProjectOptions {
            db: "postgres".into(),
            ..base()
        }
        .normalized();
        assert!(o.database && !o.session);
        assert_eq!(base().normalized().bundles(), ["app"]);
    }

    #[test]
    fn questions_stop_once_a_bundle_implies_the_rest() {
        let mut out = Vec::new();
        let o = ask(base(), &mut "no\nyes\n".as_bytes(), &mut out)
            .unwrap()
            .normalized();
        assert!(!o.security && o.session && o.database);
        let asked = String::from_utf8(out).unwrap();
        assert_eq!(asked.matches("[y/N]").count(), 2, "{asked}");

        let mut out = Vec::new();
        let o = ask(base(), &mut "\n\nY\n".as_bytes(), &mut out)
            .unwrap()
            .normalized();
        assert_eq!(o.bundles(), ["unchained.bundles.database", "app"]);
    }

    /// Writes project `o` into a temporary folder; returns it.
    fn written(o: &ProjectOptions) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), o, true).unwrap();
        dir
    }

    /// The `DATABASE_URL` that the merged config of environment `env`
    /// holds, through the real config loader, with the database bundle's
    /// defaults below the file (as in the project's binary).
    fn merged_url(root: &Path, env: crate::config::Environment) -> Option<String> {
        let defaults = crate::config::ConfigDefaults::new()
            .set("DATABASE_URL", format!("sqlite:db/{}.sqlite", env.as_str()));
        let config = crate::config::Config::builder(env)
            .defaults("unchained.bundles.database", defaults)
            .file(&crate::config::ConfigFile::load(&root.join("unchained.toml")).unwrap())
            .build();
        config.get("DATABASE_URL").ok()
    }

    fn section(manifest: &toml::Table, name: &str) -> toml::Table {
        manifest
            .get(name)
            .and_then(|s| s.as_table())
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn a_database_server_gets_one_database_per_environment() {
        use crate::config::Environment;
        for (db, url) in [
            ("postgres", "postgres://postgres@127.0.0.1:5432/my_blog"),
            ("mysql", "mysql://root@127.0.0.1:3306/my_blog"),
        ] {
            let o = ProjectOptions {
                name: "my-blog".into(),
                db: db.into(),
                ..base()
            }
            .normalized();
            let dir = written(&o);
            let text = std::fs::read_to_string(dir.path().join("unchained.toml")).unwrap();
            let manifest: toml::Table = toml::from_str(&text).unwrap();
            let url_of = |name: &str| {
                section(&manifest, name)
                    .get("DATABASE_URL")
                    .and_then(|v| v.as_str().map(str::to_owned))
            };
            assert_eq!(url_of("development").as_deref(), Some(url), "{text}");
            assert_eq!(url_of("test"), Some(format!("{url}_test")), "{text}");
            assert_eq!(url_of("default"), None, "{text}");
            assert_eq!(url_of("production"), None, "{text}");
            let production = text.split("[production]").next().unwrap_or_default();
            assert!(
                production.contains("set UNCHAINED_DATABASE_URL"),
                "production says where its URL comes from:\n{text}"
            );
            assert!(text.contains("which must be running"), "{text}");

            assert_eq!(
                merged_url(dir.path(), Environment::Development).as_deref(),
                Some(url)
            );
            assert_eq!(
                merged_url(dir.path(), Environment::Test),
                Some(format!("{url}_test"))
            );
            // Production falls back to the bundle's default, which a
            // server-only build cannot open: the deployment must set it.
            assert_eq!(
                merged_url(dir.path(), Environment::Production).as_deref(),
                Some("sqlite:db/production.sqlite")
            );

            let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
            assert!(
                readme.contains("`my_blog_test`") && readme.contains("unchained db create"),
                "{readme}"
            );
        }
    }

    #[test]
    fn sqlite_keeps_a_file_per_environment() {
        use crate::config::Environment;
        let o = ProjectOptions {
            database: true,
            ..base()
        }
        .normalized();
        let dir = written(&o);
        let text = std::fs::read_to_string(dir.path().join("unchained.toml")).unwrap();
        assert!(!text.contains("DATABASE_URL ="), "{text}");
        assert!(
            text.contains("db/test.sqlite"),
            "the comment says where: {text}"
        );
        assert_eq!(
            merged_url(dir.path(), Environment::Development).as_deref(),
            Some("sqlite:db/development.sqlite")
        );
        assert_eq!(
            merged_url(dir.path(), Environment::Test).as_deref(),
            Some("sqlite:db/test.sqlite")
        );
        assert_eq!(o.server(), None);

        let dir = written(&base());
        let text = std::fs::read_to_string(dir.path().join("unchained.toml")).unwrap();
        assert!(
            !text.contains("DATABASE_URL"),
            "no database, no word of it: {text}"
        );
    }

    #[test]
    fn creating_the_databases_is_the_default_answer() {
        let o = ProjectOptions {
            name: "my-blog".into(),
            db: "postgres".into(),
            ..base()
        }
        .normalized();
        let server = o.server().unwrap();
        assert_eq!(server.address, "127.0.0.1:5432");
        for (answer, expected) in [
            ("\n", true),
            ("y\n", true),
            ("n\n", false),
            ("No\n", false),
            ("", true),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                ask_create(&o, server, &mut answer.as_bytes(), &mut out).unwrap(),
                expected,
                "{answer:?}"
            );
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "Create the databases my_blog and my_blog_test on 127.0.0.1 now? [Y/n] "
            );
        }
    }

    #[test]
    fn project_names_must_be_package_names() {
        assert_eq!(project_name(Path::new("/tmp/my-blog")).unwrap(), "my-blog");
        let err = project_name(Path::new("/tmp/9lives"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("starting with a letter"), "{err}");
        assert!(project_name(Path::new("/tmp/has space")).is_err());
    }
}
