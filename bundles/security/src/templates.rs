//! The bundle's templates. An app overrides any of them by putting a file
//! with the same name under its `templates/` folder (e.g.
//! `templates/security/login.html`). Each email has a text and an HTML
//! template (`security/email/NAME.txt` and `.html`), sent together as
//! `multipart/alternative`; an app may override either.

/// `(name, source)` of every template.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "security/base.html",
        include_str!("../templates/security/base.html"),
    ),
    (
        "security/login.html",
        include_str!("../templates/security/login.html"),
    ),
    (
        "security/logout.html",
        include_str!("../templates/security/logout.html"),
    ),
    (
        "security/register.html",
        include_str!("../templates/security/register.html"),
    ),
    (
        "security/change_password.html",
        include_str!("../templates/security/change_password.html"),
    ),
    (
        "security/forgot_password.html",
        include_str!("../templates/security/forgot_password.html"),
    ),
    (
        "security/reset_password.html",
        include_str!("../templates/security/reset_password.html"),
    ),
    (
        "security/send_confirmation.html",
        include_str!("../templates/security/send_confirmation.html"),
    ),
    (
        "security/sessions.html",
        include_str!("../templates/security/sessions.html"),
    ),
    (
        "security/message.html",
        include_str!("../templates/security/message.html"),
    ),
    (
        "security/email/reset_password.txt",
        include_str!("../templates/security/email/reset_password.txt"),
    ),
    (
        "security/email/reset_password.html",
        include_str!("../templates/security/email/reset_password.html"),
    ),
    (
        "security/email/confirm_email.txt",
        include_str!("../templates/security/email/confirm_email.txt"),
    ),
    (
        "security/email/confirm_email.html",
        include_str!("../templates/security/email/confirm_email.html"),
    ),
    (
        "security/email/already_registered.txt",
        include_str!("../templates/security/email/already_registered.txt"),
    ),
    (
        "security/email/already_registered.html",
        include_str!("../templates/security/email/already_registered.html"),
    ),
];
