//! [`UnchainedToml`]: edits the bundle list of `unchained.toml`, keeping
//! the user's formatting and comments (`toml_edit`); and the reading and
//! writing it shares with [`CargoToml`](super::cargo_toml::CargoToml).

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::ProjectError;

/// Parses `text`, the content of `path`, for editing.
pub(super) fn parse_document(path: &Path, text: &str) -> Result<DocumentMut, ProjectError> {
    text.parse::<DocumentMut>()
        .map_err(|e| ProjectError::NotToml {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
}

/// Writes `doc` to `path`.
pub(super) fn write_document(path: &Path, doc: &DocumentMut) -> Result<(), ProjectError> {
    std::fs::write(path, doc.to_string()).map_err(|e| ProjectError::Write {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// A project's `unchained.toml`, open for editing.
#[derive(Debug)]
pub struct UnchainedToml {
    path: PathBuf,
    doc: DocumentMut,
}

impl UnchainedToml {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self, ProjectError> {
        Self::parse(path, &super::read(path)?)
    }

    /// Parses `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProjectError> {
        Ok(UnchainedToml {
            path: path.to_owned(),
            doc: parse_document(path, text)?,
        })
    }

    /// The listed bundles, in order.
    pub fn bundles(&self) -> Vec<String> {
        self.doc
            .get("bundles")
            .and_then(Item::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The crate `[bundle_crates]` maps `bundle` to.
    pub fn mapped_crate(&self, bundle: &str) -> Option<String> {
        self.doc
            .get("bundle_crates")
            .and_then(Item::as_table_like)
            .and_then(|t| t.get(bundle))
            .and_then(Item::as_str)
            .map(str::to_owned)
    }

    /// Lists `bundle` at `index`, formatted like the entry it displaces
    /// (so a one-per-line list stays one per line).
    pub fn insert_bundle(&mut self, index: usize, bundle: &str) -> Result<(), ProjectError> {
        let list = self.list_mut()?;
        let index = index.min(list.len());
        let one_per_line = list.iter().any(|v| {
            v.decor()
                .prefix()
                .and_then(|p| p.as_str())
                .is_some_and(|p| p.contains('\n'))
        });
        if !one_per_line {
            // A list on one line gets the usual spacing: ["a", "b"].
            list.insert(index, bundle);
            list.fmt();
            return Ok(());
        }
        let neighbour = list.get(index).or_else(|| list.get(index.wrapping_sub(1)));
        let mut value = Value::from(bundle);
        if let Some(neighbour) = neighbour {
            let prefix = neighbour
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or(" ");
            let suffix = neighbour
                .decor()
                .suffix()
                .and_then(|s| s.as_str())
                .unwrap_or("");
            value.decor_mut().set_prefix(prefix.to_owned());
            value.decor_mut().set_suffix(suffix.to_owned());
        }
        list.insert_formatted(index, value);
        Ok(())
    }

    /// Lists `bundle` just before `"app"` (which always loads last), or
    /// last without one; whether it was not listed yet. Unlike
    /// [`insert_bundle`](Self::insert_bundle) it wants `bundles` there.
    pub fn list_before_app(&mut self, bundle: &str) -> Result<bool, ProjectError> {
        let Some(list) = self.doc.get("bundles").and_then(Item::as_array) else {
            return Err(ProjectError::CannotEdit {
                path: self.path.clone(),
                message: format!(
                    "`bundles` is missing or not a list: write bundles = [\"{bundle}\", \"app\"] at the top and run the command again"
                ),
            });
        };
        if list.iter().any(|v| v.as_str() == Some(bundle)) {
            return Ok(false);
        }
        let at = list
            .iter()
            .position(|v| v.as_str() == Some("app"))
            .unwrap_or(list.len());
        self.insert_bundle(at, bundle)?;
        Ok(true)
    }

    /// Maps `bundle` to the crate `krate` under `[bundle_crates]`, which
    /// tells `unchained::project!()` the crate to link; whether the mapping
    /// is new. A new `[bundle_crates]` goes right after `bundles`, before
    /// the config sections (the comments at the end of the file belong to
    /// the last one). A bundle mapped to another crate is refused.
    pub fn map_crate(&mut self, bundle: &str, krate: &str) -> Result<bool, ProjectError> {
        let refused = |message: String| ProjectError::CannotEdit {
            path: self.path.clone(),
            message,
        };
        let Some(item) = self.doc.get_mut("bundle_crates") else {
            let first = self
                .doc
                .iter()
                .filter_map(|(_, item)| item.as_table().and_then(Table::position))
                .min();
            let mut table = Table::new();
            table.insert(bundle, toml_edit::value(krate));
            table.decor_mut().set_prefix(
                "\n# Crates of the bundles that do not ship with Unchained, by bundle name,\n\
                 # so that `unchained::project!()` links them.\n",
            );
            table.set_position(first.map(|p| p - 1));
            self.doc.insert("bundle_crates", Item::Table(table));
            return Ok(true);
        };
        let table = item.as_table_like_mut().ok_or_else(|| {
            refused(
                "`bundle_crates` is not a table: make it one ([bundle_crates]) and run the command again"
                    .to_owned(),
            )
        })?;
        match table.get(bundle).map(Item::as_str) {
            Some(Some(existing)) if existing == krate => Ok(false),
            Some(existing) => Err(refused(format!(
                "[bundle_crates] already maps bundle {bundle} to {}: remove that line, or choose another name",
                existing.map_or_else(
                    || "something that is not a crate name".to_owned(),
                    |e| format!("crate {e}")
                )
            ))),
            None => {
                table.insert(bundle, toml_edit::value(krate));
                Ok(true)
            }
        }
    }

    /// Takes `bundle` off the list (and out of `[bundle_crates]`); whether
    /// it was listed.
    pub fn remove_bundle(&mut self, bundle: &str) -> Result<bool, ProjectError> {
        let list = self.list_mut()?;
        let Some(index) = list.iter().position(|v| v.as_str() == Some(bundle)) else {
            return Ok(false);
        };
        let removed = list.remove(index);
        // The first entry carries the list's opening spacing: keep it.
        if index == 0
            && let Some(first) = list.get_mut(0)
        {
            let prefix = removed
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("");
            first.decor_mut().set_prefix(prefix.to_owned());
        }
        if let Some(crates) = self
            .doc
            .get_mut("bundle_crates")
            .and_then(Item::as_table_like_mut)
        {
            crates.remove(bundle);
        }
        Ok(true)
    }

    /// Writes the file back.
    pub fn save(&self) -> Result<(), ProjectError> {
        write_document(&self.path, &self.doc)
    }

    fn list_mut(&mut self) -> Result<&mut Array, ProjectError> {
        let item = self
            .doc
            .entry("bundles")
            .or_insert_with(|| Item::Value(Value::Array(Array::new())));
        item.as_array_mut().ok_or_else(|| ProjectError::Invalid {
            path: self.path.clone(),
            message: "`bundles` is not a list".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &str) -> (tempfile::TempDir, UnchainedToml) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unchained.toml");
        std::fs::write(&path, text).unwrap();
        let file = UnchainedToml::open(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn a_bundle_goes_in_one_per_line_like_the_others() {
        let (_dir, mut file) = open(
            "# The bundles.\nbundles = [\n    \"unchained.bundles.database\",\n    \"app\", # last\n]\n\n[default]\nA = 1\n",
        );
        file.insert_bundle(1, "unchained.bundles.session").unwrap();
        assert_eq!(
            file.doc.to_string(),
            "# The bundles.\nbundles = [\n    \"unchained.bundles.database\",\n    \"unchained.bundles.session\",\n    \"app\", # last\n]\n\n[default]\nA = 1\n"
        );
        assert_eq!(
            file.bundles(),
            [
                "unchained.bundles.database",
                "unchained.bundles.session",
                "app"
            ]
        );
    }

    #[test]
    fn one_line_lists_stay_on_one_line() {
        let (_dir, mut file) = open("bundles = [\"app\"]\n");
        file.insert_bundle(0, "unchained.bundles.database").unwrap();
        assert_eq!(
            file.doc.to_string(),
            "bundles = [\"unchained.bundles.database\", \"app\"]\n"
        );
        let (_dir, mut file) = open("bundles = []\n");
        file.insert_bundle(0, "app").unwrap();
        assert_eq!(file.bundles(), ["app"]);
    }

    fn parse(text: &str) -> UnchainedToml {
        UnchainedToml::parse(Path::new("unchained.toml"), text).unwrap()
    }

    /// Lists `bundle` before app and maps it to `krate`; what changed.
    fn list(file: &mut UnchainedToml, bundle: &str, krate: &str) -> (bool, bool) {
        let listed = file.list_before_app(bundle).unwrap();
        (listed, file.map_crate(bundle, krate).unwrap())
    }

    const MANIFEST: &str = r#"# The bundles of this app, in load order.
bundles = [
    "unchained.bundles.database",
    "app",
]

# Config for every environment.
[default]
APP_TITLE = "demo"

# UNCHAINED_ENV=production. Never commit the production secret.
[production]
# set UNCHAINED_DATABASE_URL
"#;

    #[test]
    fn the_bundle_is_listed_before_app_and_its_crate_after_the_list() {
        let mut manifest = parse(MANIFEST);
        assert_eq!(list(&mut manifest, "blog", "blog"), (true, true));
        assert_eq!(
            manifest.doc.to_string(),
            r#"# The bundles of this app, in load order.
bundles = [
    "unchained.bundles.database",
    "blog",
    "app",
]

# Crates of the bundles that do not ship with Unchained, by bundle name,
# so that `unchained::project!()` links them.
[bundle_crates]
blog = "blog"

# Config for every environment.
[default]
APP_TITLE = "demo"

# UNCHAINED_ENV=production. Never commit the production secret.
[production]
# set UNCHAINED_DATABASE_URL
"#
        );
        // The manifest reader sees both.
        let parsed =
            crate::project::Manifest::parse(Path::new("unchained.toml"), &manifest.doc.to_string())
                .unwrap();
        assert_eq!(
            parsed.bundles,
            ["unchained.bundles.database", "blog", "app"]
        );
        assert_eq!(parsed.crate_of("blog").as_deref(), Some("blog"));

        // Twice: nothing changes.
        let before = manifest.doc.to_string();
        assert_eq!(list(&mut manifest, "blog", "blog"), (false, false));
        assert_eq!(manifest.doc.to_string(), before);

        // A second bundle joins the existing table.
        list(&mut manifest, "shop", "shop");
        let text = manifest.doc.to_string();
        assert!(
            text.contains("    \"blog\",\n    \"shop\",\n    \"app\",\n"),
            "{text}"
        );
        assert!(
            text.contains("[bundle_crates]\nblog = \"blog\"\nshop = \"shop\"\n"),
            "{text}"
        );
    }

    #[test]
    fn a_one_line_list_stays_on_one_line() {
        let mut manifest = parse("bundles = [\"app\"]\n");
        list(&mut manifest, "blog", "blog");
        assert_eq!(
            manifest.doc.to_string(),
            "bundles = [\"blog\", \"app\"]\n\n# Crates of the bundles that do not ship with Unchained, by bundle name,\n\
             # so that `unchained::project!()` links them.\n[bundle_crates]\nblog = \"blog\"\n"
        );
        let mut manifest = parse("bundles = [\"x\"]\n[bundle_crates]\n");
        list(&mut manifest, "blog", "blog");
        assert!(
            manifest
                .doc
                .to_string()
                .starts_with("bundles = [\"x\", \"blog\"]\n"),
            "without app the bundle goes last: {}",
            manifest.doc
        );
    }

    #[test]
    fn a_bundle_mapped_to_another_crate_is_refused() {
        let mut manifest = parse("bundles = [\"app\"]\n[bundle_crates]\nblog = \"acme-blog\"\n");
        manifest.list_before_app("blog").unwrap();
        let err = manifest.map_crate("blog", "blog").unwrap_err().to_string();
        assert!(
            err.contains("unchained.toml") && err.contains("crate acme-blog"),
            "{err}"
        );
        let mut manifest = parse("bundles = \"app\"\n");
        let err = manifest.list_before_app("blog").unwrap_err().to_string();
        assert!(err.contains("`bundles` is missing or not a list"), "{err}");
    }

    #[test]
    fn removing_takes_the_crate_mapping_too() {
        let (_dir, mut file) = open(
            "bundles = [\"acme.audit\", \"app\"]\n[bundle_crates]\n\"acme.audit\" = \"acme-audit\"\n",
        );
        assert_eq!(
            file.mapped_crate("acme.audit").as_deref(),
            Some("acme-audit")
        );
        assert!(file.remove_bundle("acme.audit").unwrap());
        assert!(!file.remove_bundle("acme.audit").unwrap());
        assert_eq!(
            file.doc.to_string(),
            "bundles = [\"app\"]\n[bundle_crates]\n"
        );
    }
}
