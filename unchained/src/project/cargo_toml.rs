//! [`CargoToml`]: edits a project's `Cargo.toml` the way a person would,
//! keeping its formatting and comments (`toml_edit`).
//!
//! `toml_edit` is the editor cargo itself uses for `cargo add`, so a file
//! it rewrites looks as if the user had typed the change.

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, InlineTable, Item, TableLike, Value};

use super::ProjectError;
use super::edit::{parse_document, write_document};

const DEPENDENCIES: &str = "dependencies";
const DEV_DEPENDENCIES: &str = "dev-dependencies";
/// The dependency tables a crate name can be taken in.
const DEPENDENCY_TABLES: [&str; 3] = [DEPENDENCIES, DEV_DEPENDENCIES, "build-dependencies"];

/// Where the Unchained crates come from, read off the project's own
/// `unchained` dependency so that bundles are added the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrateSource {
    /// A checkout: the folder holding `unchained/`, `bundles/`, ...
    Checkout(PathBuf),
    /// A registry version requirement, e.g. `0.1`.
    Version(String),
    /// A git repository and its `branch`/`tag`/`rev` keys.
    Git(Vec<(String, String)>),
}

impl CrateSource {
    /// The dependency entry for the crate whose folder in a checkout is
    /// `dir` (e.g. `bundles/session`).
    pub fn entry(&self, dir: &str) -> InlineTable {
        let mut entry = InlineTable::new();
        match self {
            CrateSource::Checkout(root) => {
                let path = root.join(dir);
                entry.insert("path", path.to_string_lossy().replace('\\', "/").into());
            }
            CrateSource::Version(version) => {
                entry.insert("version", version.as_str().into());
            }
            CrateSource::Git(keys) => {
                for (key, value) in keys {
                    entry.insert(key, value.as_str().into());
                }
            }
        }
        entry
    }
}

/// A project's `Cargo.toml`, open for editing.
#[derive(Debug)]
pub struct CargoToml {
    path: PathBuf,
    doc: DocumentMut,
    changed: bool,
}

impl CargoToml {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self, ProjectError> {
        Self::parse(path, &super::read(path)?)
    }

    /// Parses `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProjectError> {
        Ok(CargoToml {
            path: path.to_owned(),
            doc: parse_document(path, text)?,
            changed: false,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The package's name, from `[package] name`.
    pub fn package_name(&self) -> Option<String> {
        self.section("package")?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    }

    /// Whether `krate` is a dependency (under `[dependencies]`).
    pub fn has_dependency(&self, krate: &str) -> bool {
        self.section(DEPENDENCIES)
            .is_some_and(|deps| deps.contains_key(krate))
    }

    /// Whether `krate` is a dev-dependency (under `[dev-dependencies]`).
    pub fn has_dev_dependency(&self, krate: &str) -> bool {
        self.section(DEV_DEPENDENCIES)
            .is_some_and(|deps| deps.contains_key(krate))
    }

    /// The entry of `krate` under `[dependencies]`, as written after
    /// `krate = ` (`"1"`, `{ path = "..." }`); a `[dependencies.krate]`
    /// table comes as the same keys inline.
    pub fn dependency(&self, krate: &str) -> Option<Value> {
        self.entry_in(DEPENDENCIES, krate)
    }

    /// The entry of `krate` under `[dev-dependencies]`, like
    /// [`dependency`](Self::dependency).
    pub fn dev_dependency(&self, krate: &str) -> Option<Value> {
        self.entry_in(DEV_DEPENDENCIES, krate)
    }

    fn entry_in(&self, section: &str, krate: &str) -> Option<Value> {
        match self.section(section)?.get(krate)? {
            Item::Value(value) => Some(value.clone()),
            Item::Table(table) => Some(Value::InlineTable(table.clone().into_inline_table())),
            _ => None,
        }
    }

    /// Where the crate name `name` is already taken by a dependency, in
    /// any dependency table, other than by `name = { path = own_path }`:
    /// `[dependencies] serde`. Cargo tells `my-blog` from `my_blog`, but
    /// both are the crate `my_blog` in Rust code, so both spellings count.
    pub fn dependency_clash(&self, name: &str, own_path: &str) -> Option<String> {
        let spellings = [
            name.to_owned(),
            name.replace('-', "_"),
            name.replace('_', "-"),
        ];
        for section in DEPENDENCY_TABLES {
            for spelling in &spellings {
                let Some(value) = self.entry_in(section, spelling) else {
                    continue;
                };
                let is_own = section == DEPENDENCIES
                    && spelling == name
                    && value
                        .as_inline_table()
                        .and_then(|t| t.get("path"))
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.trim_end_matches('/') == own_path);
                if !is_own {
                    return Some(format!("[{section}] {spelling}"));
                }
            }
        }
        None
    }

    /// Where the project's `unchained` dependency comes from; `fallback`
    /// when it has none that can be followed (e.g. `workspace = true`).
    pub fn unchained_source(&self, fallback: &Path) -> CrateSource {
        self.declared_unchained_source()
            .unwrap_or_else(|| CrateSource::Checkout(fallback.to_owned()))
    }

    /// Where the project's `unchained` dependency says it comes from:
    /// `None` without one, or when it names no path, git repository or
    /// version (e.g. `workspace = true`).
    pub fn declared_unchained_source(&self) -> Option<CrateSource> {
        let item = self.section(DEPENDENCIES)?.get("unchained")?;
        if let Some(version) = item.as_str() {
            return Some(CrateSource::Version(version.to_owned()));
        }
        let table = item.as_table_like()?;
        let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_owned);
        if let Some(path) = text("path") {
            // `.../unchained` is the core crate; the bundles are beside it.
            let path = Path::new(&path);
            let root = match path.file_name() {
                Some(_) => path.parent().map(Path::to_owned).unwrap_or_default(),
                // `..`: the core crate is the folder above.
                None => path.join(".."),
            };
            return Some(CrateSource::Checkout(root));
        }
        if let Some(git) = text("git") {
            let mut keys = vec![("git".to_owned(), git)];
            for key in ["branch", "tag", "rev"] {
                if let Some(value) = text(key) {
                    keys.push((key.to_owned(), value));
                }
            }
            return Some(CrateSource::Git(keys));
        }
        text("version").map(CrateSource::Version)
    }

    /// Adds `krate` (from the folder `dir` of `source`) with `features`;
    /// with features it also turns the crate's default features off, so
    /// that only what is asked for compiles.
    pub fn add_dependency(
        &mut self,
        krate: &str,
        source: &CrateSource,
        dir: &str,
        features: &[&str],
    ) {
        let mut entry = source.entry(dir);
        if !features.is_empty() {
            entry.insert("default-features", false.into());
            entry.insert(
                "features",
                Value::Array(features.iter().copied().collect::<Array>()),
            );
        }
        self.add_entry(krate, entry);
    }

    /// Adds `krate` under `[dependencies]` with the exact entry given.
    pub fn add_entry(&mut self, krate: &str, entry: InlineTable) {
        self.insert(DEPENDENCIES, krate, entry);
    }

    /// Adds `krate = { path = "PATH" }` under `[dependencies]` unless
    /// `krate` is there already; whether it was added. Refused when
    /// `dependencies` is not a table.
    pub fn add_path_dependency(&mut self, krate: &str, path: &str) -> Result<bool, ProjectError> {
        if self
            .doc
            .get(DEPENDENCIES)
            .is_some_and(|d| !d.is_table_like())
        {
            return Err(ProjectError::CannotEdit {
                path: self.path.clone(),
                message: "`dependencies` is not a table: make it one ([dependencies]) and run the command again"
                    .to_owned(),
            });
        }
        if self.has_dependency(krate) {
            return Ok(false);
        }
        let mut entry = InlineTable::new();
        entry.insert("path", path.into());
        self.add_entry(krate, entry);
        Ok(true)
    }

    /// Adds `krate` (from the folder `dir` of `source`) under
    /// `[dev-dependencies]` with `features` on top of its defaults.
    pub fn add_dev_dependency(
        &mut self,
        krate: &str,
        source: &CrateSource,
        dir: &str,
        features: &[&str],
    ) {
        let mut entry = source.entry(dir);
        entry.insert(
            "features",
            Value::Array(features.iter().copied().collect::<Array>()),
        );
        self.insert(DEV_DEPENDENCIES, krate, entry);
    }

    fn insert(&mut self, section: &str, krate: &str, mut entry: InlineTable) {
        entry.fmt();
        let table = self.doc.entry(section).or_insert_with(toml_edit::table);
        if !table.is_table_like() {
            // `dependencies = 3`: nothing cargo would accept anyway.
            *table = toml_edit::table();
        }
        if let Some(table) = table.as_table_like_mut() {
            table.insert(krate, Item::Value(Value::InlineTable(entry)));
            self.changed = true;
        }
    }

    /// Removes `krate` from `[dependencies]`; whether it was there.
    pub fn remove_dependency(&mut self, krate: &str) -> bool {
        let removed = self
            .doc
            .get_mut("dependencies")
            .and_then(Item::as_table_like_mut)
            .is_some_and(|deps| deps.remove(krate).is_some());
        self.changed |= removed;
        removed
    }

    /// Turns on `feature` of the dependency `krate` unless it is already on
    /// (listed, or a default feature that is not turned off). `defaults`
    /// are the crate's default features. Returns whether it changed.
    pub fn ensure_feature(&mut self, krate: &str, feature: &str, defaults: &[&str]) -> bool {
        let Some(item) = self
            .doc
            .get_mut("dependencies")
            .and_then(Item::as_table_like_mut)
            .and_then(|deps| deps.get_mut(krate))
        else {
            return false;
        };
        // `krate = "1"`: the short form has no room for features.
        if let Some(version) = item.as_str().map(str::to_owned) {
            let mut entry = InlineTable::new();
            entry.insert("version", version.into());
            *item = Item::Value(Value::InlineTable(entry));
        }
        let Some(table) = item.as_table_like_mut() else {
            return false;
        };
        if is_on(table, feature, defaults) {
            return false;
        }
        match table.get_mut("features").and_then(Item::as_array_mut) {
            Some(features) => features.push(feature),
            None => {
                let features: Array = [feature].into_iter().collect();
                table.insert("features", Item::Value(Value::Array(features)));
            }
        }
        self.changed = true;
        true
    }

    /// Writes the file back if anything changed.
    pub fn save(&self) -> Result<(), ProjectError> {
        if !self.changed {
            return Ok(());
        }
        write_document(&self.path, &self.doc)
    }

    fn section(&self, name: &str) -> Option<&dyn TableLike> {
        self.doc.get(name).and_then(Item::as_table_like)
    }
}

fn is_on(dep: &dyn TableLike, feature: &str, defaults: &[&str]) -> bool {
    let listed = dep
        .get("features")
        .and_then(Item::as_array)
        .is_some_and(|features| features.iter().any(|f| f.as_str() == Some(feature)));
    let defaults_on = dep
        .get("default-features")
        .and_then(Item::as_bool)
        .unwrap_or(true);
    listed || (defaults_on && defaults.contains(&feature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &str) -> (tempfile::TempDir, CargoToml) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.toml");
        std::fs::write(&path, text).unwrap();
        let cargo = CargoToml::open(&path).unwrap();
        (dir, cargo)
    }

    const PROJECT: &str = "[package]\nname = \"demo\"\n\n[dependencies]\n# The framework.\nunchained = { path = \"/src/unchained\" }\nserde = \"1\"   # kept\n";

    #[test]
    fn a_bundle_is_added_beside_the_core_and_nothing_else_moves() {
        let (_dir, mut cargo) = open(PROJECT);
        let source = cargo.unchained_source(Path::new("/fallback"));
        assert_eq!(source, CrateSource::Checkout(PathBuf::from("/src")));
        cargo.add_dependency("unchained-session", &source, "bundles/session", &["bundle"]);
        cargo.save().unwrap();
        let text = std::fs::read_to_string(&cargo.path).unwrap();
        assert_eq!(
            text,
            format!(
                "{PROJECT}unchained-session = {{ path = \"/src/bundles/session\", default-features = false, features = [\"bundle\"] }}\n"
            )
        );
    }

    #[test]
    fn sources_follow_the_core_dependency() {
        let (_dir, cargo) = open("[dependencies]\nunchained = \"0.3\"\n");
        assert_eq!(
            cargo.unchained_source(Path::new("/f")),
            CrateSource::Version("0.3".into())
        );
        let (_dir, cargo) = open(
            "[dependencies.unchained]\ngit = \"https://example.com/u.git\"\nbranch = \"main\"\n",
        );
        let source = cargo.unchained_source(Path::new("/f"));
        assert_eq!(
            source.entry("bundles/database").to_string(),
            "{ git = \"https://example.com/u.git\", branch = \"main\" }"
        );
        let (_dir, cargo) = open("[dependencies]\nunchained = { workspace = true }\n");
        assert_eq!(
            cargo.unchained_source(Path::new("/f")),
            CrateSource::Checkout(PathBuf::from("/f"))
        );
        let (_dir, cargo) = open("[dependencies]\nunchained = { path = \"../u/unchained\" }\n");
        assert_eq!(
            cargo
                .unchained_source(Path::new("/f"))
                .entry("bundles/security")
                .to_string(),
            "{ path = \"../u/bundles/security\" }"
        );
    }

    #[test]
    fn features_are_added_once_and_defaults_count_as_on() {
        let (_dir, mut cargo) = open(
            "[dependencies]\na = { path = \"a\", default-features = false, features = [\"postgres\"] }\nb = \"1\"\n[dependencies.c]\npath = \"c\"\n",
        );
        assert!(cargo.ensure_feature("a", "sqlite", &["sqlite"]));
        assert!(!cargo.ensure_feature("a", "sqlite", &["sqlite"]));
        assert!(
            !cargo.ensure_feature("b", "sqlite", &["sqlite"]),
            "a default feature"
        );
        assert!(cargo.ensure_feature("b", "redis", &["sqlite"]));
        assert!(cargo.ensure_feature("c", "redis", &[]));
        assert!(!cargo.ensure_feature("missing", "redis", &[]));
        assert_eq!(
            cargo.doc.to_string(),
            "[dependencies]\na = { path = \"a\", default-features = false, features = [\"postgres\", \"sqlite\"] }\nb = { version = \"1\", features = [\"redis\"] }\n[dependencies.c]\npath = \"c\"\nfeatures = [\"redis\"]\n"
        );
    }

    const WITH_COMMENTS: &str = "[package]\nname = \"demo\"\n\n# This project is its own workspace.\n[workspace]\n\n\
        [dependencies]\nunchained = { path = \"/src/unchained\" }\nserde_json = \"1\"\n\n\
        # More bundles: uncomment a line here.\n# unchained-session = { path = \"/src/bundles/session\" }\n\n\
        [dev-dependencies]\ntokio = \"1\"\n";

    #[test]
    fn the_dependency_goes_after_the_last_one_and_comments_stay() {
        let (_dir, mut cargo) = open(WITH_COMMENTS);
        assert_eq!(cargo.dependency_clash("blog", "bundles/blog"), None);
        assert!(cargo.add_path_dependency("blog", "bundles/blog").unwrap());
        let text = cargo.doc.to_string();
        assert!(
            text.contains(
                "serde_json = \"1\"\nblog = { path = \"bundles/blog\" }\n\n# More bundles: uncomment a line here.\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# This project is its own workspace.\n[workspace]\n"),
            "{text}"
        );
        // Again (with --force): nothing to do, and not taken.
        assert_eq!(cargo.dependency_clash("blog", "bundles/blog"), None);
        assert!(!cargo.add_path_dependency("blog", "bundles/blog").unwrap());
        assert_eq!(cargo.doc.to_string(), text);

        let (_dir, mut cargo) = open("dependencies = 3\n");
        let err = cargo
            .add_path_dependency("blog", "bundles/blog")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`dependencies` is not a table"), "{err}");
    }

    #[test]
    fn names_the_project_already_uses_are_taken() {
        let (_dir, cargo) = open(
            "[package]\nname = \"demo\"\n[dependencies]\nserde = \"1\"\nmy_blog = { path = \"elsewhere\" }\n[dev-dependencies]\ntokio = \"1\"\n",
        );
        let taken = |name: &str| cargo.dependency_clash(name, &format!("bundles/{name}"));
        assert_eq!(taken("serde").as_deref(), Some("[dependencies] serde"));
        assert_eq!(taken("tokio").as_deref(), Some("[dev-dependencies] tokio"));
        assert_eq!(taken("my-blog").as_deref(), Some("[dependencies] my_blog"));
        assert_eq!(cargo.package_name().as_deref(), Some("demo"));
    }

    #[test]
    fn a_table_entry_reads_as_an_inline_one() {
        let (_dir, cargo) = open(
            "[dependencies.unchained]\npath = \"/src/unchained\"\n[dev-dependencies]\ntokio = \"1\"\n",
        );
        let unchained = cargo.dependency("unchained").unwrap();
        assert_eq!(
            unchained
                .as_inline_table()
                .and_then(|t| t.get("path")?.as_str()),
            Some("/src/unchained")
        );
        assert_eq!(
            cargo
                .dev_dependency("tokio")
                .as_ref()
                .and_then(Value::as_str),
            Some("1")
        );
        assert!(cargo.dependency("tokio").is_none());
    }

    #[test]
    fn removing_keeps_the_rest() {
        let (_dir, mut cargo) = open(PROJECT);
        assert!(cargo.remove_dependency("serde"));
        assert!(!cargo.remove_dependency("serde"));
        assert!(cargo.has_dependency("unchained"));
        assert!(!cargo.has_dependency("serde"));
    }
}
