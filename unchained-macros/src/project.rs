//! Expansion of `unchained::project!()`.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Crates of the bundles that ship with Unchained (kept in step with
/// `unchained::project::BUILTIN_BUNDLE_CRATES`, which a test checks).
const BUILTIN_BUNDLE_CRATES: [(&str, &str); 5] = [
    ("unchained.bundles.database", "unchained-database"),
    ("unchained.bundles.session", "unchained-session"),
    ("unchained.bundles.mail", "unchained-mail"),
    ("unchained.bundles.security", "unchained-security"),
    ("unchained.bundles.jobs", "unchained-jobs"),
];

pub(crate) fn expand() -> Result<TokenStream, String> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        "unchained::project!() must be compiled by cargo (CARGO_MANIFEST_DIR is unset)".to_owned()
    })?);
    let manifest_path = root.join("unchained.toml");
    let manifest_text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        format!(
            "unchained::project!() cannot read {}: {e}; create it with `bundles = [\"app\"]`",
            manifest_path.display()
        )
    })?;
    let manifest: toml::Table = toml::from_str(&manifest_text)
        .map_err(|e| format!("{} is not valid TOML: {e}", manifest_path.display()))?;
    let dependencies = cargo_dependencies(&root.join("Cargo.toml"))?;

    let mut links = Vec::new();
    for name in listed_bundles(&manifest) {
        let Some(krate) = crate_of(&manifest, &name) else {
            continue; // defined in this crate, or reported at startup
        };
        if dependencies.contains(&krate) {
            let ident = format_ident!("{}", krate.replace('-', "_"));
            links.push(quote! { extern crate #ident as _; });
        }
    }

    let manifest_str = manifest_path.to_string_lossy().into_owned();
    let migrations = migration_modules(&root.join("db").join("migrations"))?;
    let static_files = crate::static_files::project_files(&root)?;
    Ok(quote! {
        // Rebuild when the bundle list changes.
        const _: &[u8] = ::std::include_bytes!(#manifest_str);
        #(#links)*
        #migrations
        #static_files

        /// The project's root folder (where `unchained.toml` is).
        pub const PROJECT_ROOT: &str = ::std::env!("CARGO_MANIFEST_DIR");

        /// Runs the `unchained` command line of this project.
        pub fn main() -> ::std::process::ExitCode {
            ::unchained::cli::project_main()
        }
    })
}

fn listed_bundles(manifest: &toml::Table) -> Vec<String> {
    manifest
        .get("bundles")
        .and_then(|b| b.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn crate_of(manifest: &toml::Table, name: &str) -> Option<String> {
    let custom = manifest
        .get("bundle_crates")
        .and_then(|t| t.as_table())
        .and_then(|t| t.get(name))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    custom.or_else(|| {
        BUILTIN_BUNDLE_CRATES
            .iter()
            .find(|(bundle, _)| *bundle == name)
            .map(|(_, krate)| (*krate).to_owned())
    })
}

fn cargo_dependencies(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
    Ok(table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|deps| deps.keys().cloned().collect())
        .unwrap_or_default())
}

fn migration_modules(dir: &Path) -> Result<TokenStream, String> {
    if !dir.is_dir() {
        return Ok(TokenStream::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "rs") && p.is_file())
        .collect();
    files.sort();
    let mut modules = Vec::new();
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == "mod" {
            continue;
        }
        if !stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || stem.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "migration file {} has a name that is not a Rust identifier: rename it like m20260101_120000_create_posts.rs",
                file.display()
            ));
        }
        let ident = format_ident!("{}", stem);
        let path = file.to_string_lossy().into_owned();
        modules.push(quote! {
            #[path = #path]
            pub mod #ident;
        });
    }
    Ok(quote! {
        /// The project's migrations, one module per file of `db/migrations/`.
        pub mod migrations {
            #(#modules)*
        }
    })
}
