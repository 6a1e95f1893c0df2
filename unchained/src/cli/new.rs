//! `unchained new project DIR`: scaffold a project that builds, serves a
//! page and passes its test the first time.
//!
//! The files come from the workspace's `templates/project/` folder,
//! rendered with minijinja.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use minijinja::{Environment, context};

/// The checkout this binary was built from; generated projects point at its
/// crates by path while they are unpublished.
pub const SOURCE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

macro_rules! project_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../templates/project/", $path, ".j2")))),*]
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
    "tests/app.rs",
];

/// The `new` command.
pub fn command() -> Command {
    Command::new("new")
        .about("Create something new")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("project")
                .about("Create a new project in DIR")
                .arg(Arg::new("dir").value_name("DIR").required(true).value_parser(value_parser!(PathBuf)))
                .arg(flag("database", "Add the database bundle (SeaORM)"))
                .arg(flag("session", "Add the server-side session bundle"))
                .arg(flag("security", "Add the security bundle (users, login, logout); implies --session and --database"))
                .arg(
                    Arg::new("db")
                        .long("db")
                        .value_name("BACKEND")
                        .value_parser(["sqlite", "postgres", "mysql"])
                        .help("Database backend to compile in (default sqlite); implies --database"),
                )
                .arg(flag("no-prompt", "Never ask: take the flags as given"))
                .arg(flag(
                    "no-migrate",
                    "With a database: do not build the project and create its tables now",
                ))
                .arg(flag("force", "Write into DIR even if it is not empty, replacing files")),
        )
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

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
}

/// Runs `unchained new ...`.
pub fn run(matches: &ArgMatches) -> anyhow::Result<()> {
    let Some(("project", m)) = matches.subcommand() else {
        anyhow::bail!("unknown `new` subcommand: try `unchained new project DIR`");
    };
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
    if !any_flag && !m.get_flag("no-prompt") && std::io::stdin().is_terminal() {
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
        let steps = [
            vec!["db", "migrate", "-m", "create tables"],
            vec!["db", "upgrade"],
        ];
        if m.get_flag("no-migrate") || !create_tables(&dir, &steps) {
            next.push("unchained db migrate -m \"create tables\"".to_owned());
            next.push("unchained db upgrade".to_owned());
        }
    }
    next.push("unchained run        # serves http://127.0.0.1:5000/".to_owned());
    next.push("cargo test           # runs the project's tests".to_owned());
    println!("\nNext:\n  {}", next.join("\n  "));
    Ok(())
}

/// Builds the new project and runs `steps` with its binary, so that its
/// bundles' tables exist before the first `unchained run`. A failure (e.g.
/// a database server that is not running) is reported, not fatal: the
/// project is written and the steps can be run later.
fn create_tables(dir: &Path, steps: &[Vec<&str>]) -> bool {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    println!("\nBuilding the project and creating its tables (skip with --no-migrate)...");
    for step in steps {
        let args: Vec<std::ffi::OsString> = step.iter().map(Into::into).collect();
        let ok = matches!(super::launcher::run_project_binary(&root, &args), Ok(status) if status.success());
        if !ok {
            eprintln!(
                "warning: `unchained {}` did not succeed; run it yourself once the problem above is fixed",
                step.join(" ")
            );
            return false;
        }
    }
    true
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
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
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
    let source = std::fs::canonicalize(SOURCE_ROOT).unwrap_or_else(|_| PathBuf::from(SOURCE_ROOT));
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    let ctx = context! {
        name => options.name,
        crate_name => options.name.replace('-', "_"),
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
    let mut written = Vec::new();
    for (path, template) in FILES {
        let text = env
            .render_str(template, &ctx)
            .map_err(|e| anyhow::anyhow!("template {path} failed to render: {e}"))?;
        let target = dir.join(if *path == "gitignore" {
            ".gitignore"
        } else {
            path
        });
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
        written.push(target);
    }
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
