//! The dependencies of the crate `unchained new bundle` writes, read off
//! the project's `Cargo.toml` so that the bundle compiles against the same
//! crates. The edits that enable the bundle are
//! [`CargoToml`]'s and [`UnchainedToml`](crate::project::edit::UnchainedToml)'s.

use std::path::Path;

use toml_edit::{Array, InlineTable, Value};

use crate::project::cargo_toml::{CargoToml, CrateSource};

/// The dependency entries of a new bundle crate's `Cargo.toml`, each an
/// inline TOML value (`{ path = "../../..." }`, `"0.1"`), taken from the
/// project's own so that the bundle compiles against the same crates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BundleDependencies {
    /// `unchained`.
    pub(super) unchained: String,
    /// `unchained-database`, for a bundle with a model.
    pub(super) database: Option<String>,
    /// `sea-orm`, for a bundle with a model.
    pub(super) sea_orm: Option<String>,
    /// `serde` (the config struct derives from it).
    pub(super) serde: String,
    /// `tokio`, a dev-dependency for the bundle's test.
    pub(super) tokio: String,
}

impl BundleDependencies {
    /// Reads the project's `Cargo.toml` (`cargo`). Paths in it are
    /// relative to the project's root; the bundle crate is two folders
    /// below (`bundles/NAME/`), so relative paths get `../../` in front.
    pub(super) fn from_project(cargo: &CargoToml, model: bool) -> anyhow::Result<Self> {
        let unchained = cargo.dependency("unchained").ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no `unchained` under [dependencies], so the new bundle cannot depend on the same Unchained: \
                 add it (e.g. unchained = {{ path = \"/path/to/checkout/unchained\" }}) and run the command again",
                cargo.path().display()
            )
        })?;
        let mut this = BundleDependencies {
            unchained: String::new(),
            database: None,
            sea_orm: None,
            serde: render(with_features(
                cargo
                    .dependency("serde")
                    .map(relocated)
                    .unwrap_or_else(|| Value::from("1")),
                &["derive"],
            )),
            tokio: render(with_features(
                cargo
                    .dev_dependency("tokio")
                    .or_else(|| cargo.dependency("tokio"))
                    .map(relocated)
                    .unwrap_or_else(|| Value::from("1")),
                &["macros", "rt-multi-thread"],
            )),
        };
        if model {
            let database = match cargo.dependency("unchained-database") {
                Some(database) => relocated(database),
                None => beside_unchained(cargo, "bundles/database").ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: cannot tell where unchained-database comes from (no `unchained-database` under \
                         [dependencies], and `unchained` has neither a path, a version nor a git URL): \
                         add unchained-database = {{ ... }} the way you added unchained, then run the command again",
                        cargo.path().display()
                    )
                })?,
            };
            this.database = Some(render(database));
            let sea_orm = cargo
                .dependency("sea-orm")
                .map(relocated)
                .unwrap_or_else(|| {
                    let mut table = InlineTable::new();
                    table.insert("version", "2".into());
                    table.insert("default-features", false.into());
                    Value::InlineTable(table)
                });
            // The entity derives need `macros`; its `created_at` needs chrono.
            this.sea_orm = Some(render(with_features(sea_orm, &["macros", "with-chrono"])));
        }
        // `models()` of the Bundle trait exists only with the `orm` feature.
        let features: &[&str] = if model { &["orm"] } else { &[] };
        this.unchained = render(with_features(relocated(unchained), features));
        Ok(this)
    }
}

/// The entry as it is written after `name = `.
fn render(mut value: Value) -> String {
    if let Value::InlineTable(table) = &mut value {
        table.fmt();
    }
    value.decor_mut().clear();
    value.to_string()
}

/// `value` as seen from `bundles/NAME/`: a relative `path` gets `../../`.
fn relocated(mut value: Value) -> Value {
    if let Value::InlineTable(table) = &mut value
        && let Some(path) = table.get("path").and_then(Value::as_str)
        && !Path::new(path).is_absolute()
    {
        let moved = format!("../../{path}");
        table.insert("path", moved.into());
    }
    value
}

/// `value` with every feature of `features` turned on.
fn with_features(value: Value, features: &[&str]) -> Value {
    if features.is_empty() {
        return value;
    }
    let mut table = match value {
        Value::InlineTable(table) => table,
        // `"1"`: a version requirement.
        other => {
            let mut table = InlineTable::new();
            table.insert("version", other);
            table
        }
    };
    let mut list = match table.remove("features") {
        Some(Value::Array(list)) => list,
        _ => Array::new(),
    };
    for feature in features {
        if !list.iter().any(|f| f.as_str() == Some(feature)) {
            list.push(*feature);
        }
    }
    list.fmt();
    table.insert("features", Value::Array(list));
    Value::InlineTable(table)
}

/// The entry of the crate in folder `dir` of the checkout, git repository
/// or registry version the project's `unchained` comes from; `None` when
/// it names none of these (e.g. `workspace = true`).
fn beside_unchained(cargo: &CargoToml, dir: &str) -> Option<Value> {
    Some(match cargo.declared_unchained_source()? {
        CrateSource::Version(version) => Value::from(version),
        source => relocated(Value::InlineTable(source.entry(dir))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> CargoToml {
        CargoToml::parse(Path::new(name), text).unwrap()
    }

    const CARGO: &str = r#"[package]
name = "demo"

# This project is its own workspace.
[workspace]

[dependencies]
# Unchained is not on crates.io yet.
unchained = { path = "/src/unchained" }
unchained-database = { path = "/src/bundles/database", default-features = false, features = ["postgres"] }
sea-orm = { version = "2", default-features = false, features = ["macros", "with-chrono", "with-json"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# More bundles: uncomment a line here.
# unchained-session = { path = "/src/bundles/session" }

[dev-dependencies]
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
"#;

    #[test]
    fn the_bundle_depends_on_what_the_project_depends_on() {
        let deps = BundleDependencies::from_project(&file("Cargo.toml", CARGO), true).unwrap();
        assert_eq!(
            deps.unchained,
            r#"{ path = "/src/unchained", features = ["orm"] }"#
        );
        assert_eq!(
            deps.database.as_deref(),
            Some(
                r#"{ path = "/src/bundles/database", default-features = false, features = ["postgres"] }"#
            )
        );
        assert_eq!(
            deps.sea_orm.as_deref(),
            Some(
                r#"{ version = "2", default-features = false, features = ["macros", "with-chrono", "with-json"] }"#
            )
        );
        assert_eq!(deps.serde, r#"{ version = "1", features = ["derive"] }"#);
        assert_eq!(
            deps.tokio,
            r#"{ version = "1", features = ["macros", "rt-multi-thread"] }"#
        );

        let plain = BundleDependencies::from_project(&file("Cargo.toml", CARGO), false).unwrap();
        assert_eq!(plain.unchained, r#"{ path = "/src/unchained" }"#);
        assert_eq!((plain.database, plain.sea_orm), (None, None));
    }

    #[test]
    fn relative_paths_are_seen_from_the_bundle_folder() {
        let cargo = file(
            "Cargo.toml",
            "[dependencies]\nunchained = { path = \"../checkout/unchained\" }\n[dependencies.serde]\nversion = \"1\"\n",
        );
        let deps = BundleDependencies::from_project(&cargo, true).unwrap();
        assert_eq!(
            deps.unchained,
            r#"{ path = "../../../checkout/unchained", features = ["orm"] }"#
        );
        // No unchained-database in the project: the checkout's, next to unchained.
        assert_eq!(
            deps.database.as_deref(),
            Some(r#"{ path = "../../../checkout/bundles/database" }"#)
        );
        assert_eq!(deps.serde, r#"{ version = "1", features = ["derive"] }"#);
        assert_eq!(
            deps.sea_orm.as_deref(),
            Some(
                r#"{ version = "2", default-features = false, features = ["macros", "with-chrono"] }"#
            )
        );
    }

    #[test]
    fn a_registry_version_is_kept() {
        let cargo = file("Cargo.toml", "[dependencies]\nunchained = \"0.3\"\n");
        let deps = BundleDependencies::from_project(&cargo, true).unwrap();
        assert_eq!(deps.unchained, r#"{ version = "0.3", features = ["orm"] }"#);
        assert_eq!(deps.database.as_deref(), Some(r#""0.3""#));
        let deps = BundleDependencies::from_project(&cargo, false).unwrap();
        assert_eq!(deps.unchained, r#""0.3""#);
    }

    #[test]
    fn a_git_source_is_kept() {
        let cargo = file(
            "Cargo.toml",
            "[dependencies]\nunchained = { git = \"https://example.invalid/u.git\", branch = \"main\" }\n",
        );
        let deps = BundleDependencies::from_project(&cargo, true).unwrap();
        assert_eq!(
            deps.database.as_deref(),
            Some(r#"{ git = "https://example.invalid/u.git", branch = "main" }"#)
        );
    }

    #[test]
    fn without_unchained_the_error_says_what_to_add() {
        let err = BundleDependencies::from_project(&file("Cargo.toml", "[dependencies]\n"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Cargo.toml has no `unchained`"), "{err}");
        let cargo = file(
            "Cargo.toml",
            "[dependencies]\nunchained = { workspace = true }\n",
        );
        assert_eq!(
            BundleDependencies::from_project(&cargo, false)
                .unwrap()
                .unchained,
            "{ workspace = true }"
        );
        let err = BundleDependencies::from_project(&cargo, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("add unchained-database"), "{err}");
    }
}
