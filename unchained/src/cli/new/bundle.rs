//! `unchained new bundle NAME`: a bundle crate in `bundles/NAME/` of the
//! current project, with config defaults, a route, an overridable
//! template, a model (when the project has the database bundle) and a
//! test; listed in `unchained.toml` and compiled in through `Cargo.toml`.
//!
//! The files come from the workspace's `templates/bundle/` folder,
//! rendered with minijinja.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use minijinja::context;

use super::edit::BundleDependencies;
use super::{environment, is_package_name};
use crate::project::cargo_toml::CargoToml;
use crate::project::edit::UnchainedToml;
use crate::project::{BUILTIN_BUNDLE_CRATES, MANIFEST, Project};

/// The database bundle's name: a model needs it listed.
const DATABASE_BUNDLE: &str = "unchained.bundles.database";

macro_rules! bundle_files {
    ($(($template:literal, $target:literal)),* $(,)?) => {
        &[$(($target, include_str!(concat!("../../../../templates/bundle/", $template, ".j2")))),*]
    };
}

/// `(path in the bundle's folder, itself a template; template source)`.
const FILES: &[(&str, &str)] = bundle_files![
    ("Cargo.toml", "Cargo.toml"),
    ("src/lib.rs", "src/lib.rs"),
    ("src/config.rs", "src/config.rs"),
    ("src/post.rs", "src/post.rs"),
    ("templates/index.html", "templates/{{ template }}"),
    ("tests/bundle.rs", "tests/{{ crate_name }}.rs"),
];

/// Names a bundle crate may not take: Rust's keywords and the crates
/// every Rust program has (`extern crate std as _` would not be ours).
const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// What the new bundle contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOptions {
    /// The bundle's name in `unchained.toml`, which is also its crate's
    /// (package) name and its folder's under `bundles/`.
    pub name: String,
    /// With a model (a SeaORM entity); needs the database bundle.
    pub model: bool,
}

impl BundleOptions {
    /// The crate's name in Rust code: `my-blog` is `my_blog`.
    pub fn crate_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The prefix of type names: `my-blog` gives `MyBlog` (`MyBlogBundle`,
    /// `MyBlogConfig`).
    pub fn type_name(&self) -> String {
        self.words().concat()
    }

    /// The prefix of the bundle's config keys: `MY_BLOG` (`MY_BLOG_TITLE`).
    pub fn key_prefix(&self) -> String {
        self.crate_name().to_ascii_uppercase()
    }

    /// The default page title: `my-blog` gives `My Blog`.
    pub fn title(&self) -> String {
        self.words().join(" ")
    }

    /// The name's words, capitalized: `my-blog` gives `My`, `Blog`.
    fn words(&self) -> Vec<String> {
        self.name
            .split(['-', '_'])
            .filter(|word| !word.is_empty())
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The route of the bundle's page: `/NAME`.
    pub fn route(&self) -> String {
        format!("/{}", self.name)
    }

    /// The model's table: prefixed with the crate's name so that it cannot
    /// clash with another bundle's `posts`.
    pub fn table(&self) -> String {
        format!("{}_posts", self.crate_name())
    }

    /// The template's name, under the bundle's own folder so that the
    /// project overrides it with `templates/NAME/index.html`.
    pub fn template(&self) -> String {
        format!("{}/index.html", self.name)
    }
}

/// Checks that `name` can name a new bundle crate, whatever the project.
fn check_name(name: &str) -> anyhow::Result<()> {
    if !is_package_name(name) {
        anyhow::bail!(
            "{name:?} cannot name a bundle crate: use letters, digits, `-` and `_`, starting with a letter (e.g. `unchained new bundle blog`)"
        );
    }
    if name == "app" {
        anyhow::bail!(
            "`app` is the project's own bundle (src/app.rs): choose another name for the new bundle"
        );
    }
    let lower = name.to_ascii_lowercase();
    let builtin = BUILTIN_BUNDLE_CRATES.iter().find(|(bundle, krate)| {
        bundle.rsplit('.').next() == Some(lower.as_str()) || *krate == lower
    });
    if let Some((bundle, _)) = builtin {
        anyhow::bail!(
            "{name} is the name of a bundle that ships with Unchained ({bundle}): to enable that one, add \"{bundle}\" to bundles in unchained.toml; to write your own, choose another name"
        );
    }
    if lower == "unchained" || lower.starts_with("unchained-") || lower.starts_with("unchained_") {
        anyhow::bail!(
            "{name}: names starting with `unchained` are kept for Unchained's own crates: choose another name"
        );
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        anyhow::bail!(
            "{name} is a Rust keyword or a crate every program has, so it cannot name a crate: choose another name (e.g. {name}s)"
        );
    }
    Ok(())
}

/// What [`generate_bundle`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedBundle {
    /// The bundle's folder.
    pub dir: PathBuf,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// What changed in `unchained.toml` and `Cargo.toml`, one line each.
    pub changes: Vec<String>,
}

/// Writes bundle `options` into `bundles/NAME/` of the project at `root`,
/// lists it in `unchained.toml` and adds it to `Cargo.toml`.
///
/// Everything is checked before anything is written: a name the project
/// already uses, an existing folder (unless `force`), files that are not
/// valid TOML.
pub fn generate_bundle(
    root: &Path,
    options: &BundleOptions,
    force: bool,
) -> anyhow::Result<GeneratedBundle> {
    check_name(&options.name)?;
    let mut cargo = CargoToml::open(&root.join("Cargo.toml"))?;
    let mut manifest = UnchainedToml::open(&root.join(MANIFEST))?;
    if cargo
        .package_name()
        .is_some_and(|p| p.replace('-', "_") == options.crate_name())
    {
        anyhow::bail!(
            "{} is the project's own package name ({}): choose another name for the bundle",
            options.name,
            cargo.path().display()
        );
    }
    // The bundle's own path dependency (a rerun with --force) is no clash.
    let relative = format!("bundles/{}", options.name);
    if let Some(taken) = cargo.dependency_clash(&options.name, &relative) {
        anyhow::bail!(
            "{}: {taken} is already a dependency, and a bundle crate of the same name would clash with it: choose another name",
            cargo.path().display()
        );
    }
    let dir = root.join(&relative);
    if dir.exists() && !force {
        anyhow::bail!(
            "{} exists: choose another name, or pass --force to write the bundle's files into it",
            dir.display()
        );
    }
    let deps = BundleDependencies::from_project(&cargo, options.model)?;
    let files = render(options, &deps)?;

    let written = super::write_files(&dir, files)?;
    // `bundles` just before "app" (which always loads last anyway), and
    // `[bundle_crates]`, which tells `unchained::project!()` the crate.
    let name = &options.name;
    let mut changes = Vec::new();
    if manifest.list_before_app(name)? {
        changes.push(format!("{MANIFEST}: bundles gets \"{name}\""));
    }
    if manifest.map_crate(name, name)? {
        changes.push(format!(
            "{MANIFEST}: [bundle_crates] gets {name} = \"{name}\""
        ));
    }
    // Cargo makes a path dependency inside the project's folder a member
    // of its workspace: `cargo test --workspace` runs the bundle's tests.
    if cargo.add_path_dependency(name, &relative)? {
        changes.push(format!(
            "Cargo.toml: [dependencies] gets {name} = {{ path = \"{relative}\" }}"
        ));
    }
    manifest.save()?;
    cargo.save()?;
    Ok(GeneratedBundle {
        dir,
        files: written,
        changes,
    })
}

/// The bundle's files as `(path in its folder, text)`.
fn render(
    options: &BundleOptions,
    deps: &BundleDependencies,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let env = environment();
    let ctx = context! {
        name => options.name,
        crate_name => options.crate_name(),
        type_name => options.type_name(),
        key_prefix => options.key_prefix(),
        title => options.title(),
        route => options.route(),
        table => options.table(),
        template => options.template(),
        model => options.model,
        unchained_dep => deps.unchained,
        database_dep => deps.database,
        sea_orm_dep => deps.sea_orm,
        serde_dep => deps.serde,
        tokio_dep => deps.tokio,
    };
    let mut files = Vec::new();
    for (target, template) in FILES {
        if *target == "src/post.rs" && !options.model {
            continue;
        }
        let path = env
            .render_str(target, &ctx)
            .map_err(|e| anyhow::anyhow!("template path {target} failed to render: {e}"))?;
        let text = env
            .render_str(template, &ctx)
            .map_err(|e| anyhow::anyhow!("template {target} failed to render: {e}"))?;
        files.push((PathBuf::from(path), text));
    }
    Ok(files)
}

/// Runs `unchained new bundle NAME` in the project around the current
/// directory.
pub(super) fn run(m: &ArgMatches) -> anyhow::Result<()> {
    let name = m
        .get_one::<String>("name")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("missing NAME: try `unchained new bundle blog`"))?;
    // The name first: a bad one is wrong wherever the command runs.
    check_name(&name)?;
    let project = Project::discover()?;
    let has_database = project
        .manifest
        .bundles
        .iter()
        .any(|b| b == DATABASE_BUNDLE);
    let options = BundleOptions {
        name,
        model: has_database && !m.get_flag("no-model"),
    };
    let generated = generate_bundle(&project.root, &options, m.get_flag("force"))?;
    let shown = |path: &Path| {
        path.strip_prefix(&project.root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    println!(
        "Created bundle {} in {} ({} files):",
        options.name,
        shown(&generated.dir),
        generated.files.len()
    );
    for file in &generated.files {
        println!("  {}", shown(file));
    }
    for change in &generated.changes {
        println!("{change}");
    }
    println!(
        "\nIt brings the config key {}_TITLE, the page GET {} and its template {} \
         (copy it to templates/{} in the project to override it).",
        options.key_prefix(),
        options.route(),
        options.template(),
        options.template()
    );
    if options.model {
        println!(
            "Its model {}::post is the table {}.",
            options.crate_name(),
            options.table()
        );
    } else if has_database {
        println!("No model (--no-model).");
    } else {
        println!(
            "No model: the project does not list {DATABASE_BUNDLE} in {MANIFEST}. Add the database bundle, \
             then write an entity like the `post` module that `unchained new bundle` writes with it."
        );
    }
    let mut next = vec![format!(
        "unchained urls                 # GET {} from bundle {}",
        options.route(),
        options.name
    )];
    if options.model {
        next.push(format!(
            "unchained db migrate -m 'create {} tables'",
            options.name
        ));
        next.push("unchained db upgrade".to_owned());
    }
    next.push("cargo test --workspace         # the project's tests and the bundle's".to_owned());
    println!("\nNext:\n  {}", next.join("\n  "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(name: &str, model: bool) -> BundleOptions {
        BundleOptions {
            name: name.to_owned(),
            model,
        }
    }

    #[test]
    fn names_follow_the_bundle_name() {
        let o = options("my-blog", true);
        assert_eq!(o.crate_name(), "my_blog");
        assert_eq!(o.type_name(), "MyBlog");
        assert_eq!(o.key_prefix(), "MY_BLOG");
        assert_eq!(o.title(), "My Blog");
        assert_eq!(o.route(), "/my-blog");
        assert_eq!(o.table(), "my_blog_posts");
        assert_eq!(o.template(), "my-blog/index.html");
        assert_eq!(options("blog2", false).type_name(), "Blog2");
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (name, reason) in [
            ("9lives", "starting with a letter"),
            ("has space", "letters, digits"),
            ("", "letters, digits"),
            ("app", "the project's own bundle"),
            ("session", "unchained.bundles.session"),
            ("unchained-database", "unchained.bundles.database"),
            ("unchained-extra", "kept for Unchained's own crates"),
            ("fn", "Rust keyword"),
            ("std", "Rust keyword"),
        ] {
            let err = check_name(name).unwrap_err().to_string();
            assert!(err.contains(reason), "{name}: {err}");
        }
        assert!(check_name("blog").is_ok());
        assert!(check_name("my_blog-2").is_ok());
    }

    const CARGO: &str = "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n\
        [dependencies]\nunchained = { path = \"/src/unchained\" }\n\
        unchained-database = { path = \"/src/bundles/database\" }\n\
        sea-orm = { version = \"2\", default-features = false, features = [\"macros\", \"with-chrono\"] }\n\
        serde = { version = \"1\", features = [\"derive\"] }\n\n\
        [dev-dependencies]\ntokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n";

    fn project(bundles: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), CARGO).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            format!("bundles = [\n{bundles}    \"app\",\n]\n\n[default]\nAPP_TITLE = \"demo\"\n"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_bundle_with_a_model_is_written_listed_and_compiled_in() {
        let dir = project("    \"unchained.bundles.database\",\n");
        let generated = generate_bundle(dir.path(), &options("blog", true), false).unwrap();
        let bundle = dir.path().join("bundles/blog");
        let mut files: Vec<String> = generated
            .files
            .iter()
            .map(|f| f.strip_prefix(&bundle).unwrap().display().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "Cargo.toml",
                "src/config.rs",
                "src/lib.rs",
                "src/post.rs",
                "templates/blog/index.html",
                "tests/blog.rs"
            ]
        );
        let read = |path: &str| std::fs::read_to_string(bundle.join(path)).unwrap();
        let cargo: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
        assert_eq!(cargo["package"]["name"].as_str(), Some("blog"));
        let deps = cargo["dependencies"].as_table().unwrap();
        assert_eq!(deps["unchained"]["path"].as_str(), Some("/src/unchained"));
        assert_eq!(deps["unchained"]["features"][0].as_str(), Some("orm"));
        assert_eq!(
            deps["unchained-database"]["path"].as_str(),
            Some("/src/bundles/database")
        );
        assert!(deps.contains_key("sea-orm") && deps.contains_key("serde"));
        assert!(
            cargo.get("workspace").is_none(),
            "a member of the project's workspace"
        );

        let lib = read("src/lib.rs");
        for needed in [
            "pub struct BlogBundle;",
            "ConfigDefaults::from_struct(&BlogConfig::default())",
            "Routes::new().get(\"/blog\", index)",
            "\"blog/index.html\"",
            "include_str!(\"../templates/blog/index.html\")",
            "ModelDef::from_entity(ctx, post::Entity)",
        ] {
            assert!(lib.contains(needed), "{needed} in:\n{lib}");
        }
        assert!(read("src/config.rs").contains("#[serde(rename = \"BLOG_TITLE\")]"));
        assert!(read("src/post.rs").contains("#[sea_orm(table_name = \"blog_posts\")]"));
        let page = read("templates/blog/index.html");
        assert!(page.contains("<h1>{{ title }}</h1>"), "{page}");
        let test = read("tests/blog.rs");
        assert!(
            test.contains("use blog::BlogBundle;") && test.contains("client.get(\"/blog\")"),
            "{test}"
        );

        let manifest = crate::project::Manifest::load(&dir.path().join(MANIFEST)).unwrap();
        assert_eq!(
            manifest.bundles,
            ["unchained.bundles.database", "blog", "app"]
        );
        assert_eq!(manifest.crate_of("blog").as_deref(), Some("blog"));
        let project_cargo: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap())
                .unwrap();
        assert_eq!(
            project_cargo["dependencies"]["blog"]["path"].as_str(),
            Some("bundles/blog")
        );
        assert_eq!(generated.changes.len(), 3, "{:?}", generated.changes);

        // The folder exists now: refused without --force, rewritten with it,
        // and the two files are not edited twice.
        let err = generate_bundle(dir.path(), &options("blog", true), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--force"), "{err}");
        let again = generate_bundle(dir.path(), &options("blog", true), true).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        let manifest = crate::project::Manifest::load(&dir.path().join(MANIFEST)).unwrap();
        assert_eq!(
            manifest.bundles,
            ["unchained.bundles.database", "blog", "app"]
        );
    }

    #[test]
    fn without_a_model_no_database_crates() {
        let dir = project("");
        generate_bundle(dir.path(), &options("my-blog", false), false).unwrap();
        let bundle = dir.path().join("bundles/my-blog");
        assert!(!bundle.join("src/post.rs").exists());
        let cargo = std::fs::read_to_string(bundle.join("Cargo.toml")).unwrap();
        assert!(
            !cargo.contains("sea-orm")
                && !cargo.contains("unchained-database")
                && !cargo.contains("\"orm\""),
            "{cargo}"
        );
        let lib = std::fs::read_to_string(bundle.join("src/lib.rs")).unwrap();
        assert!(!lib.contains("models") && !lib.contains("post"), "{lib}");
        assert!(lib.contains("pub struct MyBlogBundle;"), "{lib}");
        assert!(bundle.join("templates/my-blog/index.html").is_file());
        assert!(bundle.join("tests/my_blog.rs").is_file());
    }

    #[test]
    fn names_the_project_uses_are_refused_before_anything_is_written() {
        let dir = project("");
        for (name, reason) in [
            ("demo", "the project's own package name"),
            ("serde", "[dependencies] serde is already a dependency"),
            ("tokio", "[dev-dependencies] tokio"),
        ] {
            let err = generate_bundle(dir.path(), &options(name, false), false)
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{name}: {err}");
        }
        assert!(!dir.path().join("bundles").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap(),
            CARGO
        );
    }
}
