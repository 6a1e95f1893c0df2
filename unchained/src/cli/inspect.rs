//! `unchained urls`, `unchained bundles`, `unchained config`: look inside
//! a project without connecting to anything.

use clap::ArgMatches;

use crate::app::LoadedApp;
use crate::error::Error;

pub(crate) fn urls(loaded: &LoadedApp) -> Result<(), Error> {
    let routes = loaded.routes()?;
    if routes.is_empty() {
        println!("No routes: no bundle in unchained.toml declares any.");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = routes
        .iter()
        .map(|r| {
            let bundle = match &r.overrides {
                Some(over) => format!("{} (overrides {over})", r.bundle),
                None => r.bundle.clone(),
            };
            let name = r.name.clone().unwrap_or_else(|| "-".to_owned());
            [
                r.method.clone(),
                r.path.clone(),
                name,
                r.handler.clone(),
                bundle,
            ]
        })
        .collect();
    let header = ["METHOD", "PATH", "NAME", "HANDLER", "BUNDLE"].map(str::to_owned);
    print_table(std::iter::once(&header).chain(&rows));
    Ok(())
}

pub(crate) fn bundles(loaded: &LoadedApp) {
    println!("Bundles in load order ({} environment):", loaded.env());
    for (i, bundle) in loaded.bundles().iter().enumerate() {
        let deps = bundle.dependencies();
        let kind = if bundle.is_app() { " [app]" } else { "" };
        if deps.is_empty() {
            println!("{:>3}. {}{kind}", i + 1, bundle.name());
        } else {
            println!(
                "{:>3}. {}{kind}  (requires {})",
                i + 1,
                bundle.name(),
                deps.join(", ")
            );
        }
    }
}

pub(crate) fn config(loaded: &LoadedApp, matches: &ArgMatches) -> anyhow::Result<()> {
    let entries = loaded.config().entries();
    match matches.get_one::<String>("key") {
        Some(key) => {
            let Some(entry) = entries.iter().find(|e| e.key == *key) else {
                let similar: Vec<&str> = entries
                    .iter()
                    .filter(|e| e.key.contains(&key.to_ascii_uppercase()))
                    .map(|e| e.key.as_str())
                    .collect();
                let hint = if similar.is_empty() {
                    "run `unchained config` to list every key".to_owned()
                } else {
                    format!("did you mean {}?", similar.join(", "))
                };
                anyhow::bail!("no config key {key}: {hint}");
            };
            println!("{} = {}    # {}", entry.key, entry.display, entry.source);
        }
        None => {
            println!("# config for the {} environment", loaded.env());
            let rows: Vec<[String; 3]> = entries
                .into_iter()
                .map(|e| [e.key, format!("= {}", e.display), format!("# {}", e.source)])
                .collect();
            print_table(&rows);
        }
    }
    for warning in loaded.unknown_keys() {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// Prints rows as left-aligned columns.
fn print_table<'a, const N: usize>(rows: impl IntoIterator<Item = &'a [String; N]> + Clone) {
    let mut widths = [0usize; N];
    for row in rows.clone() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in rows {
        let text: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    }
}
