//! A real browser on flaskr: register, log in, write a post, log out, then
//! put the old session cookie back and reload. With server-side sessions
//! the replayed cookie is dead: the browser sees the login page.
//!
//! Uses Debian's `chromium` and `chromium-driver` (headless), which
//! `.ci/run` installs. Screenshots of each step go to
//! `target/screenshots/browser/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use unchained_tests::*;

/// chromedriver on a free port, ended when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1000,800",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

struct Shots {
    dir: PathBuf,
    step: usize,
}

impl Shots {
    async fn take(&mut self, client: &Client, name: &str) {
        self.step += 1;
        let png = client.screenshot().await.expect("screenshot");
        let path = self.dir.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("write screenshot");
    }
}

async fn fill(client: &Client, selector: &str, value: &str) {
    let field = client.find(Locator::Css(selector)).await.expect(selector);
    field.send_keys(value).await.expect("type");
}

/// Clicks the form's submit button and waits until the browser has left
/// the page (the button goes stale): a click does not wait for the
/// navigation it starts, and reading the page or navigating away before it
/// is done would race with it.
async fn submit(client: &Client, form_selector: &str) {
    let button = client
        .find(Locator::Css(&format!("{form_selector} [type=submit]")))
        .await
        .expect("submit button");
    button.click().await.expect("click");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while button.is_displayed().await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "submitting {form_selector} did not leave the page"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_cookie_after_logout_shows_the_login_page() {
    let flaskr = workspace_root().join("examples/flaskr");
    let data = temp_dir();
    let url = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("flaskr.sqlite").display()
    );
    let env = [("UNCHAINED_DATABASE_URL", url.as_str())];
    assert_success(
        &unchained_with_env(&flaskr, &["db", "upgrade"], &env),
        "flaskr db upgrade",
    );
    let server = Server::start(&flaskr, &env);
    let base = format!("http://127.0.0.1:{}", server.port);

    let driver = Driver::start();
    let profile = temp_dir();
    let client = browser(&driver, profile.path()).await;
    let dir = target_dir().join("screenshots/browser");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let mut shots = Shots { dir, step: 0 };

    // Register.
    client
        .goto(&format!("{base}/register"))
        .await
        .expect("open /register");
    fill(
        &client,
        "form[action='/register'] input[name=email]",
        "ada@example.com",
    )
    .await;
    fill(
        &client,
        "form[action='/register'] input[name=password]",
        "correct horse battery",
    )
    .await;
    fill(
        &client,
        "form[action='/register'] input[name=password_confirm]",
        "correct horse battery",
    )
    .await;
    shots.take(&client, "register").await;
    submit(&client, "form[action='/register']").await;

    // Log in (registration may or may not log in: go through the form).
    client
        .goto(&format!("{base}/login"))
        .await
        .expect("open /login");
    if client
        .find(Locator::Css("form[action='/login']"))
        .await
        .is_ok()
    {
        fill(
            &client,
            "form[action='/login'] input[name=email]",
            "ada@example.com",
        )
        .await;
        fill(
            &client,
            "form[action='/login'] input[name=password]",
            "correct horse battery",
        )
        .await;
        shots.take(&client, "login").await;
        submit(&client, "form[action='/login']").await;
    }
    client.goto(&format!("{base}/")).await.expect("open /");
    let who = client
        .find(Locator::Id("current-user"))
        .await
        .expect("logged in")
        .text()
        .await
        .unwrap();
    assert_eq!(who, "ada@example.com");
    // flaskr's stylesheet is a static file (`static_url('style.css')`):
    // the page is styled only if the browser loaded it from /static/.
    let background = client
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await
        .expect("computed style");
    assert_eq!(
        background,
        json!("rgb(238, 238, 238)"),
        "static/style.css is applied"
    );
    shots.take(&client, "logged-in").await;

    // Write a post.
    client
        .goto(&format!("{base}/create"))
        .await
        .expect("open /create");
    fill(&client, "#title", "Hello from Chromium").await;
    fill(&client, "#body", "Written by a real browser.").await;
    shots.take(&client, "create").await;
    submit(&client, "#post-form").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("Hello from Chromium"), "the post is listed");
    shots.take(&client, "posted").await;

    // Keep the session cookie, then log out.
    let cookies = client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "session")
        .cloned()
        .unwrap_or_else(|| panic!("a session cookie among {cookies:?}"));
    client
        .find(Locator::Id("logout"))
        .await
        .expect("logout button")
        .click()
        .await
        .unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(
        client.find(Locator::Id("login-link")).await.is_ok(),
        "logged out"
    );
    shots.take(&client, "logged-out").await;

    // Put the old cookie back and reload the post form.
    client.delete_all_cookies().await.unwrap();
    client
        .add_cookie(session.clone())
        .await
        .expect("cookie set");
    client.goto(&format!("{base}/create")).await.unwrap();
    let current = client.current_url().await.unwrap();
    shots.take(&client, "replayed-cookie").await;
    assert_eq!(
        current.path(),
        "/login",
        "the replayed cookie must not reach the post form"
    );
    assert!(
        client
            .find(Locator::Css("form[action='/login']"))
            .await
            .is_ok(),
        "the login page shows"
    );
    assert!(
        client.find(Locator::Id("post-form")).await.is_err(),
        "no post form"
    );

    client.close().await.unwrap();
    drop(server);
}
