//! `docs/bundles/mail.md` stays true: it documents every option, the
//! command and the deferred-delivery API.

use unchained::Bundle;
use unchained::config::Environment;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bundles/mail.md");
    std::fs::read_to_string(path).expect("docs/bundles/mail.md exists")
}

#[test]
fn documents_every_option_and_command() {
    let doc = doc();
    let defaults = unchained_mail::config::defaults(Environment::Development);
    let keys: Vec<&str> = defaults.keys().chain(defaults.optional_keys()).collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
    for key in keys {
        assert!(doc.contains(&format!("`{key}`")), "{key} is not documented");
    }
    let cli = unchained_mail::MailBundle.cli().expect("commands");
    for name in cli.names() {
        assert!(
            doc.contains(&format!("unchained {name} send-test")),
            "{name}"
        );
    }
    for api in [
        "defer_through",
        "deliver_now",
        "MailQueue",
        "SerializableMessage",
        "AlreadyDeferred",
    ] {
        assert!(doc.contains(api), "{api} is not documented");
    }
}
