use unchained::testing::TestClient;

#[tokio::test]
async fn home_page_lists_the_bundles() {
    let client = TestClient::for_project(hello::PROJECT_ROOT)
        .await
        .expect("the app builds");
    let page = client.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text().contains("<h1>Hello, Unchained</h1>"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("Bundles: app."), "{}", page.text());
}
