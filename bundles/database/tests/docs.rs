//! `docs/bundles/database.md` stays true: it shows the generated sessions
//! migration verbatim and documents every option and every command.

use unchained::config::Environment;

fn doc() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/bundles/database.md"
    );
    std::fs::read_to_string(path).expect("docs/bundles/database.md exists")
}

#[test]
fn shows_the_generated_sessions_migration() {
    let golden = include_str!("golden/sessions/sqlite/m20260101_000000_create_sessions_table.rs");
    assert!(
        doc().contains(golden),
        "update the example in docs/bundles/database.md"
    );
}

#[test]
fn documents_every_option() {
    let doc = doc();
    let defaults = unchained_database::config::defaults(Environment::Development);
    let keys: Vec<&str> = defaults.keys().collect();
    assert!(keys.len() >= 8, "{keys:?}");
    for key in keys {
        assert!(doc.contains(&format!("`{key}`")), "{key} is not documented");
    }
}

#[test]
fn documents_every_command() {
    let doc = doc();
    let command = unchained_database::commands::db_command();
    for sub in command.get_subcommands() {
        let name = format!("unchained db {}", sub.get_name());
        assert!(doc.contains(&name), "{name} is not documented");
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(doc.contains(&format!("--{long}")), "--{long} of {name}");
            }
        }
    }
}
