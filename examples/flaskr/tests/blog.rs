//! flaskr through its HTTP interface, on a fresh migrated SQLite database
//! per test.

use unchained::testing::TestClient;
use unchained_database::testing::TestDatabase;

/// The CSRF token a form shown to `client` carries.
async fn csrf(client: &TestClient) -> String {
    unchained_security::testing::csrf_token(client)
        .await
        .expect("a CSRF token")
}

async fn register_and_login(client: &TestClient, email: &str) {
    let token = csrf(client).await;
    let password = "a long enough password";
    let done = client
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await;
    assert!(
        done.status().is_redirection() || done.status().is_success(),
        "register: {}",
        done.status()
    );
    if client.get("/").await.text().contains(email) {
        return; // registering logged in at once
    }
    let token = csrf(client).await;
    let done = client
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
            ],
        )
        .await;
    assert!(
        done.status().is_redirection(),
        "login: {} {}",
        done.status(),
        done.text()
    );
    assert!(
        client.get("/").await.text().contains(email),
        "logged in as {email}"
    );
}

async fn app() -> (TestDatabase, TestClient) {
    let db = TestDatabase::sqlite().await.expect("a test database");
    let client = db
        .client_for_project(flaskr::PROJECT_ROOT)
        .await
        .expect("flaskr builds");
    (db, client)
}

#[tokio::test]
async fn anonymous_visitors_see_posts_but_are_sent_to_login_to_write() {
    let (_db, client) = app().await;
    let home = client.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.text().contains("No posts yet."));
    // The security bundle's pages share the layout (without flashes).
    let login = client.get("/login").await;
    assert_eq!(login.status(), 200, "{}", login.text());
    assert!(
        login.text().contains(r#"id="login-link""#),
        "{}",
        login.text()
    );
    let create = client.get("/create").await;
    assert!(create.status().is_redirection(), "{}", create.status());
    assert!(
        create
            .header("location")
            .unwrap_or_default()
            .starts_with("/login"),
        "{:?}",
        create.header("location")
    );
}

#[tokio::test]
async fn authors_write_edit_and_delete_their_posts_and_only_theirs() {
    let (_db, client) = app().await;
    register_and_login(&client, "ada@example.com").await;

    let form = client.get("/create").await;
    assert_eq!(form.status(), 200);
    assert!(
        form.text().contains(r#"name="csrf_token""#),
        "the form carries the token: {}",
        form.text()
    );
    let token = csrf(&client).await;
    let empty = client
        .post_form(
            "/create",
            &[("csrf_token", &token), ("title", " "), ("body", "kept")],
        )
        .await;
    assert_eq!(empty.status(), 422);
    let text = empty.text();
    assert!(
        text.contains(r#"<p class="field-error">This field is required.</p>"#)
            && text.contains(">kept</textarea>"),
        "the title's error, the body kept: {text}"
    );
    let created = client
        .post_form(
            "/create",
            &[
                ("csrf_token", &token),
                ("title", "First post"),
                ("body", "Hello <world>"),
            ],
        )
        .await;
    assert!(created.status().is_redirection());
    let home = client.get("/").await.text();
    assert!(
        home.contains("First post") && home.contains("Hello &lt;world&gt;"),
        "escaped body: {home}"
    );
    assert!(home.contains("Post created."), "flash message: {home}");
    assert!(
        !client.get("/").await.text().contains("Post created."),
        "a flash shows once"
    );

    let edit = client.get("/1/update").await;
    assert_eq!(edit.status(), 200);
    assert!(
        edit.text().contains(r#"value="First post""#),
        "the form is filled with the post: {}",
        edit.text()
    );
    client
        .post_form(
            "/1/update",
            &[
                ("csrf_token", &token),
                ("title", "Edited"),
                ("body", "New body"),
            ],
        )
        .await;
    assert!(client.get("/").await.text().contains("Edited"));

    // Someone else may read it but not change it.
    let other = TestClient::new(client.app().expect("an app").clone());
    register_and_login(&other, "bob@example.com").await;
    assert_eq!(other.get("/1/update").await.status(), 403);
    let token = csrf(&other).await;
    assert_eq!(
        other
            .post_form("/1/delete", &[("csrf_token", &token)])
            .await
            .status(),
        403
    );
    assert_eq!(other.get("/99/update").await.status(), 404);

    let token = csrf(&client).await;
    let deleted = client
        .post_form("/1/delete", &[("csrf_token", &token)])
        .await;
    assert!(deleted.status().is_redirection());
    assert!(client.get("/").await.text().contains("No posts yet."));
}

#[tokio::test]
async fn a_cookie_replayed_after_logout_is_anonymous() {
    let (_db, client) = app().await;
    register_and_login(&client, "ada@example.com").await;
    let cookie = client.cookie("session").expect("a session cookie");
    let token = csrf(&client).await;
    let out = client.post_form("/logout", &[("csrf_token", &token)]).await;
    assert!(out.status().is_redirection());
    client.set_cookie("session", &cookie);
    let replay = client.get("/create").await;
    assert!(replay.status().is_redirection(), "{}", replay.status());
    assert!(
        replay
            .header("location")
            .unwrap_or_default()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let (_db, client) = app().await;
    register_and_login(&client, "ada@example.com").await;
    let refused = client
        .post_form("/create", &[("title", "t"), ("body", "b")])
        .await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn login_as_gives_a_logged_in_client_in_one_line() {
    let (_db, client) = app().await;
    let security = client
        .app()
        .expect("an app")
        .state()
        .service::<unchained_security::Security>()
        .expect("security");
    let user = security
        .create_user("ada@example.com", "a long enough password", true, true)
        .await
        .expect("a user");
    unchained_security::testing::login_as(&client, &user)
        .await
        .expect("logged in");
    assert!(client.get("/").await.text().contains("ada@example.com"));
    assert_eq!(client.get("/create").await.status(), 200);
}

#[tokio::test]
async fn the_stylesheet_is_a_static_file_linked_by_its_hashed_url() {
    let (_db, client) = app().await;
    let home = client.get("/").await.text();
    let start = home
        .find("/static/style.css?v=")
        .unwrap_or_else(|| panic!("the page links the stylesheet: {home}"));
    let url = &home[start..];
    let url = &url[..url.find('"').expect("the attribute ends")];
    let css = client.get(url).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        css.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(css.text().contains("font-family"), "{}", css.text());
}
