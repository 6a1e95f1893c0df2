//! Pages through `unchained::page::Page`: the shared values the bundles
//! add (`current_user`, `csrf_field()`, `get_flashed_messages()`), forms
//! validated with `Form<T>` and shown again with per-field errors, and the
//! CSRF check on their posts, with the token taken from the test client.

mod common;

use common::*;
use unchained_security::testing::{csrf_token, login_as};

#[tokio::test]
async fn a_form_with_errors_is_shown_again_with_each_fields_messages() {
    let t = app(|c| c).await;
    let token = csrf_token(&t.client).await.unwrap();
    let page = t
        .client
        .post_form(
            "/notes",
            &[
                ("csrf_token", token.as_str()),
                ("title", ""),
                ("body", "kept <b>as typed</b>"),
                ("pin_password", "1234"),
            ],
        )
        .await;
    assert_eq!(page.status(), 422, "{}", page.text());
    let html = page.text();
    // The title's own error, next to the title field.
    let title_field = &html[html.find(r#"name="title""#).unwrap()..];
    let title_field = &title_field[..title_field.find("</div>").unwrap()];
    assert!(
        title_field.contains(r#"<p class="field-error">Length is lower than 1</p>"#),
        "{html}"
    );
    assert!(title_field.contains(r#"aria-invalid="true""#), "{html}");
    // What was typed comes back (escaped); a password does not.
    assert!(
        html.contains("kept &lt;b&gt;as typed&lt;&#x2f;b&gt;</textarea>"),
        "{html}"
    );
    assert!(!html.contains("1234"), "{html}");
    // The page carries a token that passes.
    assert!(html.contains(&format!(r#"name="csrf_token" value="{token}""#)));
}

#[tokio::test]
async fn a_flash_message_is_shown_once() {
    let t = app(|c| c).await;
    let token = csrf_token(&t.client).await.unwrap();
    let saved = t
        .client
        .post_form(
            "/notes",
            &[
                ("csrf_token", token.as_str()),
                ("title", "Groceries"),
                ("body", "eggs"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303, "{}", saved.text());
    let first = t.client.get("/notes").await.text();
    assert!(
        first.contains(r#"<p class="flash success">Note Groceries saved (4 bytes).</p>"#),
        "{first}"
    );
    let second = t.client.get("/notes").await.text();
    assert!(!second.contains("flash"), "shown twice: {second}");
}

#[tokio::test]
async fn form_posts_without_the_token_are_refused() {
    let t = app(|c| c).await;
    let form = [("title", "A"), ("body", "b")];
    assert_eq!(t.client.post_form("/notes", &form).await.status(), 400);
    let wrong = [
        ("csrf_token", "not-the-token"),
        ("title", "A"),
        ("body", "b"),
    ];
    assert_eq!(t.client.post_form("/notes", &wrong).await.status(), 400);

    // Logged in, the session's own token is the one to send.
    let user = t.user("ann@example.com", PASSWORD).await;
    login_as(&t.client, &user).await.unwrap();
    let token = csrf_token(&t.client).await.unwrap();
    let form = [
        ("csrf_token", token.as_str()),
        ("title", "A"),
        ("body", "b"),
    ];
    assert_eq!(t.client.post_form("/notes", &form).await.status(), 303);
    let list = t.client.get("/notes").await.text();
    assert!(list.contains("user: ann@example.com"), "{list}");
}

#[tokio::test]
async fn a_page_that_shows_no_form_sets_no_cookie() {
    let t = app(|c| c).await;
    let list = t.client.get("/notes").await;
    assert_eq!(list.status(), 200);
    assert!(list.text().contains("user: anonymous"));
    assert_eq!(list.set_cookies(), Vec::<String>::new());
    // One with a form sets the CSRF cookie only.
    let form = t.client.get("/notes/new").await;
    let cookies = form.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("csrf_token="), "{cookies:?}");
}
