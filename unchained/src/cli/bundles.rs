//! `unchained bundles add NAME` / `unchained bundles remove NAME`: edit
//! `unchained.toml` and `Cargo.toml` together, dependencies first.
//!
//! Both run without building the project (the launcher runs them itself):
//! they only edit files, and the next command builds with the change.

use std::path::Path;

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command};

use crate::project::builtin::{BUILTIN_BUNDLES, BuiltinBundle, builtin, source_checkout};
use crate::project::cargo_toml::CargoToml;
use crate::project::edit::UnchainedToml;
use crate::project::{MANIFEST, Project, sync_dependencies};
use crate::suggest::closest;

/// The `bundles` command: lists the bundles, or adds or removes one.
pub(crate) fn command() -> Command {
    let name = || {
        Arg::new("name")
            .value_name("NAME")
            .required(true)
            .help("A built-in bundle: database, session, mail, security (or its full name)")
    };
    Command::new("bundles")
        .about("Show the bundles in load order, with their dependencies; add or remove one")
        .subcommand(
            Command::new("add")
                .about("List a built-in bundle in unchained.toml (and what it needs) and add its crate to Cargo.toml")
                .arg(name()),
        )
        .subcommand(
            Command::new("remove")
                .about("Take a bundle off the list in unchained.toml and its crate out of Cargo.toml")
                .arg(name()),
        )
}

/// Whether `args` (program name first) are `bundles add|remove ...`,
/// which need no build.
pub(crate) fn is_edit(args: &[std::ffi::OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "bundles")
        && args.get(2).is_some_and(|a| a == "add" || a == "remove")
}

/// Runs `bundles add|remove` as parsed into `matches` (the `bundles`
/// subcommand's matches).
pub(crate) fn edit(matches: &ArgMatches) -> anyhow::Result<()> {
    let project = Project::discover()?;
    match matches.subcommand() {
        Some(("add", m)) => add(&project.root, arg(m)),
        Some(("remove", m)) => remove(&project.root, arg(m)),
        _ => bail!("try `unchained bundles add NAME` or `unchained bundles remove NAME`"),
    }
}

fn arg(m: &ArgMatches) -> &str {
    m.get_one::<String>("name")
        .map(String::as_str)
        .unwrap_or_default()
}

fn add(root: &Path, name: &str) -> anyhow::Result<()> {
    let bundle = known(name)?;
    let mut file = UnchainedToml::open(&root.join(MANIFEST))?;
    let mut added = Vec::new();
    for needed in bundle.requires.iter().copied().chain([bundle.name]) {
        let listed = file.bundles();
        if listed.iter().any(|b| b == needed) {
            continue;
        }
        file.insert_bundle(insert_at(&listed, needed), needed)?;
        added.push(needed);
    }
    if added.is_empty() {
        println!("{} is already listed in {MANIFEST}.", bundle.name);
    } else {
        file.save()?;
        println!("{MANIFEST}: listed {}", added.join(", "));
    }
    if let Some(line) = sync_dependencies(root, &source_checkout())? {
        println!("{line}");
    }
    if bundle.has_models && !added.is_empty() {
        println!(
            "\nNext: create its tables with\n  unchained db migrate -m 'add {}'\n  unchained db upgrade",
            bundle.short
        );
    }
    Ok(())
}

/// Where `bundle` goes: after the built-in bundles it may need, before
/// anything else (later built-ins, third-party bundles, the app), which
/// may need it.
fn insert_at(listed: &[String], bundle: &str) -> usize {
    let rank = |name: &str| BUILTIN_BUNDLES.iter().position(|b| b.name == name);
    let own = rank(bundle);
    listed
        .iter()
        .position(|other| match (rank(other), own) {
            (Some(theirs), Some(own)) => theirs > own,
            _ => true,
        })
        .unwrap_or(listed.len())
}

fn remove(root: &Path, name: &str) -> anyhow::Result<()> {
    let manifest = root.join(MANIFEST);
    let mut file = UnchainedToml::open(&manifest)?;
    let listed = file.bundles();
    let full = builtin(name).map_or(name, |b| b.name);
    if !listed.iter().any(|b| b == full) {
        let hint = closest(full, &listed)
            .map(|c| format!("did you mean {c}?"))
            .unwrap_or_else(|| format!("listed: {}", listed.join(", ")));
        bail!("{full} is not listed in {}: {hint}", manifest.display());
    }
    if full == "app" {
        bail!("app is the project's own bundle (src/app.rs) and cannot be removed");
    }
    let dependents: Vec<&str> = BUILTIN_BUNDLES
        .iter()
        .filter(|b| b.requires.contains(&full) && listed.iter().any(|l| l == b.name))
        .map(|b| b.name)
        .collect();
    if let Some(first) = dependents.first() {
        bail!(
            "{full} is needed by {}: remove {} first (`unchained bundles remove {}`)",
            dependents.join(", "),
            if dependents.len() == 1 { "it" } else { "them" },
            builtin(first).map_or(*first, |b| b.short)
        );
    }
    let krate = builtin(full)
        .map(|b| b.krate.to_owned())
        .or_else(|| file.mapped_crate(full));
    file.remove_bundle(full)?;
    file.save()?;
    println!("{MANIFEST}: removed {full}");
    if let Some(krate) = krate {
        let path = root.join("Cargo.toml");
        let mut cargo = CargoToml::open(&path)?;
        if cargo.remove_dependency(&krate) {
            cargo.save()?;
            println!("Cargo.toml: removed {krate}");
        }
    }
    if builtin(full).is_some_and(|b| b.has_models) {
        println!(
            "Its tables and migration files stay; drop them with a migration of your own if you want them gone."
        );
    }
    Ok(())
}

fn known(name: &str) -> anyhow::Result<&'static BuiltinBundle> {
    builtin(name).with_context(|| {
        let names: Vec<String> = BUILTIN_BUNDLES
            .iter()
            .flat_map(|b| [b.short.to_owned(), b.name.to_owned()])
            .collect();
        let hint = closest(name, &names)
            .map(|c| format!("did you mean {c}? "))
            .unwrap_or_default();
        format!(
            "no built-in bundle is called {name:?}: {hint}the built-in bundles are {}.\n\
             hint: for another crate's bundle, add the crate to Cargo.toml, map it under \
             [bundle_crates] in {MANIFEST} and list it in bundles",
            BUILTIN_BUNDLES
                .iter()
                .map(|b| b.short)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn built_ins_go_in_load_order_before_everything_else() {
        let db = "unchained.bundles.database";
        let session = "unchained.bundles.session";
        let security = "unchained.bundles.security";
        assert_eq!(insert_at(&list(&["app"]), db), 0);
        assert_eq!(insert_at(&list(&[db, "app"]), session), 1);
        assert_eq!(insert_at(&list(&[db, security, "app"]), session), 1);
        assert_eq!(insert_at(&list(&[db, "acme.audit", "app"]), security), 1);
        assert_eq!(insert_at(&list(&[]), db), 0);
        assert_eq!(insert_at(&list(&[db]), session), 1);
        // The mail bundle needs nothing and goes before security, which
        // sends its mail through it.
        let mail = "unchained.bundles.mail";
        assert_eq!(insert_at(&list(&[db, session, security, "app"]), mail), 2);
        assert_eq!(insert_at(&list(&["app"]), mail), 0);
        assert_eq!(known("mail").unwrap().krate, "unchained-mail");
    }

    #[test]
    fn an_unknown_name_gets_a_hint() {
        let err = known("sesion").unwrap_err().to_string();
        assert!(err.contains("did you mean session?"), "{err}");
        assert!(err.contains("[bundle_crates]"), "{err}");
        assert_eq!(known("security").unwrap().krate, "unchained-security");
    }

    #[test]
    fn add_lists_what_it_needs_first_and_remove_refuses_to_break_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join(MANIFEST),
            "bundles = [\n    \"unchained.bundles.database\",\n    \"app\",\n]\n",
        )
        .unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[dependencies]\nunchained = { path = \"/src/unchained\" }\nunchained-database = { path = \"/src/bundles/database\" }\n",
        )
        .unwrap();
        add(root, "security").unwrap();
        let manifest = std::fs::read_to_string(root.join(MANIFEST)).unwrap();
        assert_eq!(
            manifest,
            "bundles = [\n    \"unchained.bundles.database\",\n    \"unchained.bundles.session\",\n    \"unchained.bundles.security\",\n    \"app\",\n]\n"
        );
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains("unchained-session = { path = \"/src/bundles/session\"")
                && cargo.contains("unchained-security = { path = \"/src/bundles/security\" }"),
            "{cargo}"
        );

        let err = remove(root, "session").unwrap_err().to_string();
        assert!(
            err.contains("needed by unchained.bundles.security")
                && err.contains("unchained bundles remove security"),
            "{err}"
        );
        remove(root, "security").unwrap();
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(!cargo.contains("unchained-security"), "{cargo}");
        assert!(cargo.contains("unchained-session"), "{cargo}");
        let err = remove(root, "security").unwrap_err().to_string();
        assert!(err.contains("is not listed"), "{err}");
    }
}
