//! Email addresses: parsed once, with errors that name the field.

use lettre::message::Mailbox;

use crate::error::MailError;

/// `value` as a mailbox (`ann@example.com` or `Ann <ann@example.com>`);
/// the error names `field` (a message field or a config key).
pub fn parse(field: &str, value: &str) -> Result<Mailbox, MailError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MailError::InvalidAddress {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// Whether `value` is an email address, for config checks of other
/// bundles (e.g. the security bundle's `SECURITY_EMAIL_SENDER`).
pub fn check(field: &str, value: &str) -> Result<(), MailError> {
    parse(field, value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_plain_addresses_parse() {
        assert_eq!(
            parse("to", "Ann <ann@example.com>")
                .unwrap()
                .email
                .to_string(),
            "ann@example.com"
        );
        assert!(parse("to", " bob@example.com ").is_ok());
    }

    #[test]
    fn a_bad_address_names_the_field_and_value() {
        let err = parse("MAIL_DEFAULT_SENDER", "nobody")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MAIL_DEFAULT_SENDER") && err.contains("\"nobody\""),
            "{err}"
        );
    }
}
