//! `unchained new bundle NAME` as a user meets it: inside a fresh project
//! with the database bundle, the generated bundle's route shows in
//! `unchained urls`, its model in the migration `unchained db migrate`
//! writes, and its own test runs with the project's in
//! `cargo test --workspace`. One project, built once, for every check.

use std::fs;

use unchained_tests::*;

#[test]
fn a_new_bundle_is_routed_migrated_and_tested_with_the_project() {
    let dir = temp_dir();

    // Outside a project there is nothing to add a bundle to.
    let outside = unchained(dir.path(), &["new", "bundle", "blog"]);
    assert!(!outside.status.success());
    assert!(
        stderr(&outside).contains("no unchained.toml found"),
        "{}",
        stderr(&outside)
    );

    // A name of its own: two e2e projects of the same name would share
    // one binary in the shared target folder.
    assert_success(
        &unchained(
            dir.path(),
            &[
                "new",
                "project",
                "bundled",
                "--database",
                "--no-prompt",
                "--no-migrate",
            ],
        ),
        "unchained new project bundled --database --no-prompt --no-migrate",
    );
    let project = dir.path().join("bundled");
    let cargo_before = fs::read_to_string(project.join("Cargo.toml")).unwrap();

    let created = unchained(&project, &["new", "bundle", "blog"]);
    assert_success(&created, "unchained new bundle blog");
    let text = stdout(&created);
    for needed in [
        "Created bundle blog in bundles/blog",
        "bundles/blog/src/post.rs",
        "unchained urls",
        "unchained db migrate -m 'create blog tables'",
        "cargo test --workspace",
    ] {
        assert!(text.contains(needed), "{needed}:\n{text}");
    }
    let bundle = project.join("bundles/blog");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/config.rs",
        "src/post.rs",
        "templates/blog/index.html",
        "tests/blog.rs",
    ] {
        assert!(bundle.join(file).is_file(), "{file} was not written");
    }
    let manifest = fs::read_to_string(project.join("unchained.toml")).unwrap();
    assert!(
        manifest.contains("    \"unchained.bundles.database\",\n    \"blog\",\n    \"app\",\n"),
        "listed just before app:\n{manifest}"
    );
    assert!(
        manifest.contains("[bundle_crates]\nblog = \"blog\"\n"),
        "{manifest}"
    );
    assert!(
        manifest.contains("# Config for every environment."),
        "comments stay:\n{manifest}"
    );
    let cargo = fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("blog = { path = \"bundles/blog\" }\n"),
        "{cargo}"
    );
    assert_eq!(
        cargo.replace("blog = { path = \"bundles/blog\" }\n", ""),
        cargo_before,
        "one line added, the rest as it was"
    );

    // Refusals, before anything is built.
    let again = unchained(&project, &["new", "bundle", "blog"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let app = unchained(&project, &["new", "bundle", "app"]);
    assert!(!app.status.success());
    assert!(
        stderr(&app).contains("the project's own bundle"),
        "{}",
        stderr(&app)
    );

    // The project overrides the bundle's template with its own file.
    fs::create_dir_all(project.join("templates/blog")).unwrap();
    fs::write(
        project.join("templates/blog/index.html"),
        "<p>the project's {{ title }}</p>\n",
    )
    .unwrap();
    fs::write(
        project.join("tests/blog_override.rs"),
        "use unchained::testing::TestClient;\n\n\
         #[tokio::test]\n\
         async fn the_project_template_overrides_the_bundle() {\n    \
             let client = TestClient::for_project(bundled::PROJECT_ROOT).await.expect(\"the app builds\");\n    \
             let page = client.get(\"/blog\").await;\n    \
             assert_eq!(page.status(), 200, \"{}\", page.text());\n    \
             assert!(page.text().contains(\"the project's Blog\"), \"{}\", page.text());\n\
         }\n",
    )
    .unwrap();

    let urls = unchained(&project, &["urls"]);
    assert_success(&urls, "unchained urls");
    let urls = stdout(&urls);
    assert!(
        urls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["GET", "/blog", "blog.index", "blog::index", "blog"]),
        "{urls}"
    );

    let migrate = unchained(&project, &["db", "migrate", "-m", "blog"]);
    assert_success(&migrate, "unchained db migrate -m blog");
    let migrations: Vec<_> = fs::read_dir(project.join("db/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(migrations.len(), 1, "{migrations:?}");
    let migration = fs::read_to_string(&migrations[0]).unwrap();
    assert!(
        migration.contains("blog_posts") && migration.contains("created_at"),
        "{migration}"
    );

    let tests = cargo_in(&project, &["test", "--workspace"]);
    assert_success(&tests, "cargo test --workspace in the project");
    let report = stdout(&tests);
    for test in [
        "the_page_answers_with_the_default_title ... ok",
        "the_title_comes_from_the_config ... ok",
        "the_project_template_overrides_the_bundle ... ok",
        "home_page_answers ... ok",
    ] {
        assert!(report.contains(test), "{test}:\n{report}");
    }
}
