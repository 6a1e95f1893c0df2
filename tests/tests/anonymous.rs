//! Anonymous visitors store nothing: flaskr over real HTTP, where a
//! crawler's cookieless GETs of every page leave the session table empty,
//! while the login form still works and is still CSRF-protected (by a
//! signed cookie instead of a stored session).

use std::path::Path;

use unchained_database::migration::sea_orm::{ConnectionTrait, Statement};
use unchained_tests::http::Http;
use unchained_tests::*;

/// Rows in flaskr's session table.
fn session_rows(runtime: &tokio::runtime::Runtime, url: &str) -> i64 {
    runtime.block_on(async {
        let connection = unchained_database::connect_url(url, Path::new("."))
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let row = connection
            .query_one_raw(Statement::from_string(
                connection.get_database_backend(),
                "SELECT COUNT(*) FROM flask_sessions",
            ))
            .await
            .expect("count flask_sessions")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a count")
    })
}

/// `count` cookieless GETs of `path` from 4 threads; every answer must be
/// `200` or a redirect to the login page, and none may set a session
/// cookie.
fn crawl(port: u16, path: &'static str, count: usize) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in (t..count).step_by(4) {
                    let page = Http::new(port).get(path);
                    assert!(
                        page.status == 200
                            || (page.status == 303
                                && page
                                    .header("location")
                                    .is_some_and(|l| l.contains("/login"))),
                        "GET {path}: {} {}",
                        page.status,
                        page.body
                    );
                    for (name, value) in &page.headers {
                        assert!(
                            !(name.eq_ignore_ascii_case("set-cookie")
                                && value.starts_with("session=")),
                            "GET {path} set a session cookie: {value}"
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a crawler thread");
    }
}

#[test]
fn cookieless_visitors_store_nothing_and_the_login_form_stays_protected() {
    let flaskr = workspace_root().join("examples/flaskr");
    let data = temp_dir();
    let url = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("flaskr.sqlite").display()
    );
    let env = [
        ("UNCHAINED_DATABASE_URL", url.as_str()),
        // 8,000 requests: keep the test's output readable.
        ("UNCHAINED_REQUEST_LOG", "false"),
    ];
    assert_success(
        &unchained_with_env(&flaskr, &["db", "upgrade"], &env),
        "flaskr db upgrade",
    );
    let server = Server::start(&flaskr, &env);
    let port = server.port;
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");

    // Every page flaskr and its bundles serve to a GET, 1,000 times each,
    // with no cookie: the pages with forms render a CSRF token all the same.
    for path in [
        "/",
        "/login",
        "/register",
        "/create",
        "/1/update",
        "/logout",
        "/sessions",
        "/change-password",
    ] {
        crawl(port, path, 1_000);
    }
    assert_eq!(
        session_rows(&runtime, &url),
        0,
        "cookieless GETs stored sessions"
    );

    // The anonymous token comes with a cookie, and only works with it.
    let mut visitor = Http::new(port);
    let login = visitor.get("/login");
    let token = login.csrf_token();
    assert!(
        visitor.cookies.contains_key("csrf_token"),
        "the login page sets the CSRF cookie: {:?}",
        login.headers
    );
    assert!(!visitor.cookies.contains_key("session"));
    let form = |token: &str| {
        vec![
            ("csrf_token".to_owned(), token.to_owned()),
            ("email".to_owned(), "ada@example.com".to_owned()),
            ("password".to_owned(), "a long enough password".to_owned()),
            (
                "password_confirm".to_owned(),
                "a long enough password".to_owned(),
            ),
        ]
    };
    let post = |client: &mut Http, path: &str, form: &[(String, String)]| {
        let borrowed: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        client.post(path, &borrowed)
    };

    // Without the cookie, with another visitor's cookie, or without the
    // token, the form is refused; nothing is stored.
    let mut stranger = Http::new(port);
    assert_eq!(post(&mut stranger, "/register", &form(&token)).status, 400);
    stranger.get("/login");
    assert!(stranger.cookies.contains_key("csrf_token"));
    assert_eq!(
        post(&mut stranger, "/register", &form(&token)).status,
        400,
        "a token is bound to its own cookie"
    );
    let mut without_token = form("");
    without_token.remove(0);
    assert_eq!(post(&mut visitor, "/register", &without_token).status, 400);
    assert_eq!(session_rows(&runtime, &url), 0);

    // With both, registration and login work, and only then is a session
    // stored.
    let registered = post(&mut visitor, "/register", &form(&token));
    assert!(
        registered.status == 303 || registered.status == 200,
        "register: {} {}",
        registered.status,
        registered.body
    );
    if !visitor.get("/").body.contains("ada@example.com") {
        let token = visitor.get("/login").csrf_token();
        let mut login_form = form(&token);
        login_form.pop();
        let done = post(&mut visitor, "/login", &login_form);
        assert_eq!(done.status, 303, "login: {}", done.body);
    }
    assert!(
        visitor.get("/").body.contains("ada@example.com"),
        "logged in"
    );
    assert_eq!(
        session_rows(&runtime, &url),
        1,
        "the login stored one session"
    );

    // Logged in, the session's own token is required: the anonymous one
    // no longer passes.
    let page = visitor.get("/create");
    assert_eq!(page.status, 200);
    let session_token = page.csrf_token();
    assert_ne!(session_token, token);
    let create = |token: &str| {
        vec![
            ("csrf_token".to_owned(), token.to_owned()),
            ("title".to_owned(), "Hello".to_owned()),
            ("body".to_owned(), "World".to_owned()),
        ]
    };
    assert_eq!(post(&mut visitor, "/create", &create(&token)).status, 400);
    let created = post(&mut visitor, "/create", &create(&session_token));
    assert_eq!(created.status, 303, "create: {}", created.body);
    drop(server);
}
