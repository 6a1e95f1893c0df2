//! The guide cannot drift from the tests: every command a tutorial chapter
//! shows (```` ```sh ```` blocks of `docs/src/tutorial/*.md`) is one that
//! `tests/tests/tutorial.rs` runs, written the same way; every file the
//! guide gives is one it writes; every skipped block says why and names
//! the test that covers it instead.
//!
//! This test only reads files, so it fails in a second, before any
//! project is built. `tutorial.rs` checks the same at the end of its
//! SQLite run against the commands it actually ran.

use std::fs;

use unchained_tests::guide::{self, GuideCommand};
use unchained_tests::workspace_root;

fn tutorial_source() -> String {
    fs::read_to_string(workspace_root().join("tests/tests/tutorial.rs"))
        .expect("tests/tests/tutorial.rs")
}

fn describe(c: &GuideCommand) -> String {
    format!("{}:{}: {}", c.chapter, c.line, c.command)
}

#[test]
fn every_chapter_is_in_the_summary_and_parses() {
    let listed = guide::chapters();
    assert!(
        listed.len() >= 7,
        "SUMMARY.md lists the tutorial: {listed:?}"
    );
    for entry in fs::read_dir(guide::tutorial_dir()).expect("docs/src/tutorial") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            assert!(
                listed.contains(&path),
                "{} is not listed in docs/src/SUMMARY.md, so the guide test would not read it",
                path.display()
            );
        }
    }
    let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
    for needed in [
        "unchained db migrate -m 'create sessions table'",
        "unchained db upgrade",
        "git commit -m 'install session bundle'",
    ] {
        assert!(
            guide.commands.iter().any(|c| c.command == needed),
            "the sessions chapter shows `{needed}`"
        );
    }
}

#[test]
fn every_guide_command_is_run_by_the_tutorial_test() {
    let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
    let runnable = guide::command_literals(&tutorial_source());
    let missing: Vec<String> = guide
        .commands
        .iter()
        .filter(|c| c.skip.is_none() && !runnable.contains(&c.command))
        .map(describe)
        .collect();
    assert!(
        missing.is_empty(),
        "the guide shows commands that tests/tests/tutorial.rs does not run (add them there, \
         written the same way, or mark the block with <!-- guide: skip (REASON; tested by FILE::FUNCTION) -->):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_guide_file_is_written_by_the_tutorial_test() {
    let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
    assert!(!guide.files.is_empty(), "the views chapter gives files");
    let source = tutorial_source();
    let missing: Vec<String> = guide
        .files
        .iter()
        .filter(|f| !source.contains(&format!("write_from_guide({:?}, {:?})", f.chapter, f.path)))
        .map(|f| format!("{}: {}", f.chapter, f.path))
        .collect();
    assert!(
        missing.is_empty(),
        "the guide gives files that tests/tests/tutorial.rs does not write with write_from_guide:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_skip_has_a_reason_and_a_test_that_exists() {
    let guide = guide::guide().unwrap_or_else(|e| panic!("{e}"));
    let root = workspace_root();
    let skipped: Vec<&GuideCommand> = guide.commands.iter().filter(|c| c.skip.is_some()).collect();
    for c in &skipped {
        let skip = c.skip.as_ref().expect("skipped");
        assert!(
            guide::test_exists(&root, &skip.tested_by),
            "{}: the skip names {}, which is not a test function",
            describe(c),
            skip.tested_by
        );
    }
    // Skips stay the exception: the build, the install and the deployment.
    let allowed = [
        "cargo install",
        "unchained build --release",
        "export ",
        "./target/release/",
    ];
    for c in skipped {
        assert!(
            allowed.iter().any(|a| c.command.starts_with(a)),
            "{}: only installing, release builds and deployment may be skipped ({})",
            describe(c),
            c.skip
                .as_ref()
                .map(|s| s.reason.as_str())
                .unwrap_or_default()
        );
    }
}

#[test]
fn a_command_no_test_runs_is_caught() {
    // The check above, on a chapter that gained a command nobody runs.
    let chapter = "Intro.\n\n```sh\nunchained db upgrade\nunchained db stamp head\n```\n";
    let parsed = guide::parse_chapter("new.md", chapter).unwrap_or_else(|e| panic!("{e}"));
    let runnable = guide::command_literals(&tutorial_source());
    let missing: Vec<&str> = parsed
        .commands
        .iter()
        .filter(|c| !runnable.contains(&c.command))
        .map(|c| c.command.as_str())
        .collect();
    assert_eq!(missing, ["unchained db stamp head"]);
}
