//! Listing a bundle is enough: before each build the launcher makes
//! `Cargo.toml` match `unchained.toml` ([`sync_dependencies`]).
//!
//! Only additions are made: a built-in bundle listed but not a dependency
//! is added (from the same source as the project's `unchained`), and the
//! features the config calls for are turned on. Nothing is removed; a
//! bundle taken off the list stays a dependency until
//! `unchained bundles remove` or the user removes it.

use std::path::Path;

use super::builtin::{BUILTIN_BUNDLES, SEA_ORM_DEPENDENCY, builtin};
use super::cargo_toml::CargoToml;
use super::needs::FeatureNeeds;
use super::{MANIFEST, Manifest, ProjectError};

/// Brings the `Cargo.toml` of the project at `root` in line with its
/// `unchained.toml` and the environment; returns one line saying what
/// changed, or `None` when nothing did. `checkout` is where the Unchained
/// crates are when the project's own `unchained` dependency does not say.
pub fn sync_dependencies(root: &Path, checkout: &Path) -> Result<Option<String>, ProjectError> {
    let manifest_path = root.join(MANIFEST);
    let text = super::read(&manifest_path)?;
    let manifest = Manifest::parse(&manifest_path, &text)?;
    let config: toml::Table = toml::from_str(&text).map_err(|e| ProjectError::Invalid {
        path: manifest_path.clone(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let needs = FeatureNeeds::from_config(&config, |name| std::env::var(name).ok());
    let mut cargo = CargoToml::open(&root.join("Cargo.toml"))?;
    let changes = apply(&manifest, &needs, &mut cargo, checkout)?;
    cargo.save()?;
    Ok((!changes.is_empty()).then(|| format!("Cargo.toml: {}", changes.join("; "))))
}

/// The edits themselves, on an open `Cargo.toml`; returns what changed.
fn apply(
    manifest: &Manifest,
    needs: &FeatureNeeds,
    cargo: &mut CargoToml,
    checkout: &Path,
) -> Result<Vec<String>, ProjectError> {
    let mut changes = Vec::new();
    let source = cargo.unchained_source(checkout);
    for name in &manifest.bundles {
        if let Some(bundle) = builtin(name).filter(|b| b.name == name) {
            if cargo.has_dependency(bundle.krate) {
                continue;
            }
            cargo.add_dependency(bundle.krate, &source, bundle.dir, bundle.features);
            changes.push(format!("added {} (for {name} in {MANIFEST})", bundle.krate));
            if bundle.short == "database" && !cargo.has_dev_dependency(bundle.krate) {
                cargo.add_dev_dependency(bundle.krate, &source, bundle.dir, &["testing"]);
                changes.push(format!(
                    "added {} with its test helpers to [dev-dependencies]",
                    bundle.krate
                ));
            }
            if bundle.short == "database" && !cargo.has_dependency("sea-orm") {
                let (version, features) = SEA_ORM_DEPENDENCY;
                let mut entry = toml_edit::InlineTable::new();
                entry.insert("version", version.into());
                entry.insert("default-features", false.into());
                entry.insert(
                    "features",
                    toml_edit::Value::Array(features.iter().copied().collect()),
                );
                cargo.add_entry("sea-orm", entry);
                changes.push("added sea-orm (for the app's models)".to_owned());
            }
        } else if name.starts_with("unchained.bundles.") {
            let names: Vec<String> = BUILTIN_BUNDLES.iter().map(|b| b.name.to_owned()).collect();
            return Err(ProjectError::UnknownBuiltin {
                bundle: name.clone(),
                suggestion: crate::suggest::closest(name, &names).map(str::to_owned),
            });
        } else if let Some(krate) = manifest.bundle_crates.get(name)
            && !cargo.has_dependency(krate)
        {
            return Err(ProjectError::NotADependency {
                bundle: name.clone(),
                krate: krate.clone(),
            });
        }
    }
    for bundle in &BUILTIN_BUNDLES {
        if !cargo.has_dependency(bundle.krate) {
            continue;
        }
        for (feature, why) in needs.of(bundle.krate) {
            if cargo.ensure_feature(bundle.krate, feature, bundle.defaults) {
                changes.push(format!(
                    "turned on feature {feature} of {} (for {why})",
                    bundle.krate
                ));
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(unchained_toml: &str, cargo_toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), unchained_toml).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), cargo_toml).unwrap();
        dir
    }

    const CARGO: &str = "[package]\nname = \"demo\"\n\n[dependencies]\nunchained = { path = \"/src/unchained\" }\n\
        unchained-database = { path = \"/src/bundles/database\" }\n";

    #[test]
    fn a_listed_builtin_bundle_is_added_once() {
        let dir = project(
            "bundles = [\"unchained.bundles.database\", \"unchained.bundles.session\", \"app\"]\n\
             [default]\nSESSION_TYPE = \"sqlalchemy\"\n",
            CARGO,
        );
        let line = sync_dependencies(dir.path(), Path::new("/unused")).unwrap();
        assert_eq!(
            line.as_deref(),
            Some(
                "Cargo.toml: added unchained-session (for unchained.bundles.session in unchained.toml)"
            )
        );
        let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert_eq!(
            cargo,
            format!(
                "{CARGO}unchained-session = {{ path = \"/src/bundles/session\", default-features = false, features = [\"bundle\"] }}\n"
            )
        );
        assert_eq!(
            sync_dependencies(dir.path(), Path::new("/unused")).unwrap(),
            None
        );
    }

    #[test]
    fn config_turns_on_drivers_and_a_removed_bundle_stays() {
        let dir = project(
            "bundles = [\"app\"]\n[production]\nSESSION_TYPE = \"redis\"\nDATABASE_URL = \"postgres://db/demo\"\n",
            &format!(
                "{CARGO}unchained-session = {{ path = \"/s\", default-features = false, features = [\"bundle\"] }}\n"
            ),
        );
        let line = sync_dependencies(dir.path(), Path::new("/unused"))
            .unwrap()
            .unwrap();
        assert_eq!(
            line,
            "Cargo.toml: turned on feature postgres of unchained-database (for DATABASE_URL in [production]); \
             turned on feature redis of unchained-session (for SESSION_TYPE in [production])"
        );
    }

    #[test]
    fn a_mapped_crate_that_is_not_a_dependency_is_named() {
        let dir = project(
            "bundles = [\"acme.audit\", \"app\"]\n[bundle_crates]\n\"acme.audit\" = \"acme-audit\"\n",
            CARGO,
        );
        let err = sync_dependencies(dir.path(), Path::new("/unused"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme.audit is listed in unchained.toml but not compiled in")
                && err.contains("acme-audit"),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_builtin_bundle_is_caught_before_building() {
        let dir = project("bundles = [\"unchained.bundles.sesion\", \"app\"]\n", CARGO);
        let err = sync_dependencies(dir.path(), Path::new("/unused"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unchained.bundles.sesion")
                && err.contains("did you mean unchained.bundles.session?"),
            "{err}"
        );
    }

    #[test]
    fn the_database_bundle_brings_sea_orm_for_the_apps_models() {
        let dir = project(
            "bundles = [\"unchained.bundles.database\", \"app\"]\n",
            "[dependencies]\nunchained = \"0.1\"\n",
        );
        let line = sync_dependencies(dir.path(), Path::new("/unused"))
            .unwrap()
            .unwrap();
        assert!(
            line.contains("added unchained-database") && line.contains("added sea-orm"),
            "{line}"
        );
        let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains("unchained-database = { version = \"0.1\" }"),
            "{cargo}"
        );
    }
}
