//! The commands the guide shows, so tests can prove each one is run.
//!
//! Rules for `docs/src/tutorial/*.md`:
//!
//! - Commands go in ```` ```sh ```` blocks, one per line (a line ending in
//!   `\` continues on the next). Blank lines and `#` comments are ignored,
//!   and so is a trailing ` # comment`.
//! - ```` ```console ````, ```` ```bash ```` and ```` ```shell ```` blocks
//!   are refused, so that no command hides from the check.
//! - A block whose commands no test can run as written (a release build, a
//!   server on port 8000) is preceded by
//!   `<!-- guide: skip (REASON; tested by tests/tests/FILE.rs::FUNCTION) -->`:
//!   the reason is shown to whoever reads the source, and the named test
//!   must exist.
//! - A code block that is a whole file of the project (`src/app.rs`, a
//!   template) is preceded by `<!-- guide: file PATH -->`: the tutorial
//!   test writes that block to `PATH` in its project, so the code the
//!   guide shows is the code that is built and served.
//!
//! Commands are compared after [`normalise`]: split into words as a shell
//! would (quotes removed), then joined with single spaces, a word with a
//! space in it quoted with `'`.

use std::fs;
use std::path::{Path, PathBuf};

/// One command line of the guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideCommand {
    /// The chapter's file, relative to `docs/src/`.
    pub chapter: String,
    /// The line of the block's first line (1-based).
    pub line: usize,
    /// The command, normalised.
    pub command: String,
    /// The skip marker's text, when the block is skipped.
    pub skip: Option<Skip>,
}

/// A code block the guide gives as a whole file of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideFile {
    /// The chapter's file, relative to `docs/src/`.
    pub chapter: String,
    /// The file's path in the project.
    pub path: String,
    /// The block's text.
    pub text: String,
}

/// What the tutorial's chapters show: commands and whole files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guide {
    /// Every command line, in order.
    pub commands: Vec<GuideCommand>,
    /// Every file, in order.
    pub files: Vec<GuideFile>,
}

impl Guide {
    /// The file `chapter` (e.g. `tutorial/security.md`) gives for `path`.
    pub fn file(&self, chapter: &str, path: &str) -> Option<&GuideFile> {
        self.files
            .iter()
            .find(|f| f.chapter == chapter && f.path == path)
    }
}

/// A `<!-- guide: skip (...) -->` marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Why the block is not run as written.
    pub reason: String,
    /// The test that covers it instead: `tests/tests/FILE.rs::FUNCTION`.
    pub tested_by: String,
}

/// The guide's tutorial folder.
pub fn tutorial_dir() -> PathBuf {
    crate::workspace_root().join("docs/src/tutorial")
}

/// The tutorial's chapters in the order `SUMMARY.md` lists them.
pub fn chapters() -> Vec<PathBuf> {
    let src = crate::workspace_root().join("docs/src");
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("docs/src/SUMMARY.md");
    summary
        .lines()
        .filter_map(|l| l.split_once("](").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(')').map(|(path, _)| path))
        .filter(|path| path.starts_with("tutorial/"))
        .map(|path| src.join(path))
        .collect()
}

/// Every command and file of every tutorial chapter, in order.
pub fn guide() -> Result<Guide, String> {
    let mut all = Guide::default();
    for path in chapters() {
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .strip_prefix(crate::workspace_root().join("docs/src"))
            .unwrap_or(&path)
            .display()
            .to_string();
        let chapter = parse_chapter(&name, &text)?;
        all.commands.extend(chapter.commands);
        all.files.extend(chapter.files);
    }
    Ok(all)
}

/// The commands and files of one chapter's Markdown text.
pub fn parse_chapter(chapter: &str, text: &str) -> Result<Guide, String> {
    let mut commands = Vec::new();
    let mut files = Vec::new();
    let mut pending_skip: Option<Skip> = None;
    let mut pending_file: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim();
        let at = format!("{chapter}:{}", index + 1);
        if let Some(marker) = trimmed.strip_prefix("<!-- guide:") {
            if let Some(path) = marker.trim().strip_prefix("file ") {
                let path = path.trim().strip_suffix("-->").unwrap_or("").trim();
                if path.is_empty() {
                    return Err(format!("{at}: write <!-- guide: file PATH -->"));
                }
                pending_file = Some(path.to_owned());
            } else {
                pending_skip = Some(parse_skip(&at, marker)?);
            }
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            let lang = info.trim();
            let mut body = Vec::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                body.push(l);
            }
            if let Some(path) = pending_file.take() {
                if lang == "sh" || pending_skip.is_some() {
                    return Err(format!(
                        "{at}: a guide: file marker must come right before a code block that is not ```sh"
                    ));
                }
                files.push(GuideFile {
                    chapter: chapter.to_owned(),
                    path,
                    text: body.join("\n") + "\n",
                });
                continue;
            }
            match lang {
                "sh" => {
                    let skip = pending_skip.take();
                    for command in
                        block_commands(&body.join("\n")).map_err(|e| format!("{at}: {e}"))?
                    {
                        commands.push(GuideCommand {
                            chapter: chapter.to_owned(),
                            line: index + 1,
                            command,
                            skip: skip.clone(),
                        });
                    }
                }
                "console" | "bash" | "shell" | "zsh" => {
                    return Err(format!(
                        "{at}: a ```{lang} block: write commands in ```sh blocks (output in ```text) so that the guide test sees them"
                    ));
                }
                _ => {
                    if pending_skip.is_some() {
                        return Err(format!(
                            "{at}: a guide: skip marker must come right before a ```sh block"
                        ));
                    }
                }
            }
            continue;
        }
        if !trimmed.is_empty() && (pending_skip.is_some() || pending_file.is_some()) {
            return Err(format!(
                "{at}: a guide: marker must come right before its code block"
            ));
        }
    }
    if pending_skip.is_some() || pending_file.is_some() {
        return Err(format!(
            "{chapter}: a guide: marker at the end of the chapter"
        ));
    }
    Ok(Guide { commands, files })
}

fn parse_skip(at: &str, marker: &str) -> Result<Skip, String> {
    let usage = "write <!-- guide: skip (REASON; tested by tests/tests/FILE.rs::FUNCTION) -->";
    let inner = marker
        .trim()
        .strip_suffix("-->")
        .map(str::trim)
        .and_then(|m| m.strip_prefix("skip"))
        .map(str::trim)
        .and_then(|m| m.strip_prefix('('))
        .and_then(|m| m.strip_suffix(')'))
        .ok_or_else(|| format!("{at}: unreadable guide marker: {usage}"))?;
    let (reason, tested_by) = inner
        .rsplit_once("; tested by ")
        .ok_or_else(|| format!("{at}: the skip names no test: {usage}"))?;
    if reason.trim().len() < 10 {
        return Err(format!("{at}: the skip needs a reason: {usage}"));
    }
    Ok(Skip {
        reason: reason.trim().to_owned(),
        tested_by: tested_by.trim().to_owned(),
    })
}

/// The command lines of one ```` ```sh ```` block, normalised.
pub fn block_commands(block: &str) -> Result<Vec<String>, String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = strip_comment(line);
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        if !current.trim().is_empty() {
            commands.push(normalise(&current)?);
        }
        current.clear();
    }
    if !current.trim().is_empty() {
        return Err(format!("a line continues past the block's end: {current}"));
    }
    Ok(commands)
}

/// `line` without a `#` comment outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// Splits a command line into words as `sh` would: single and double
/// quotes group, backslash escapes one character. No expansion.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in {line}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err(format!("trailing \\ in {line}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in {line}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing \\ in {line}")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The canonical form of a command line (see the module docs).
pub fn normalise(line: &str) -> Result<String, String> {
    let words = split_words(line)?;
    if words.is_empty() {
        return Err(format!("no command in {line:?}"));
    }
    Ok(words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// Every string literal of a Rust source file that reads as a command
/// (`unchained ...`, `cargo ...`, `git ...`, `cd ...`), normalised: the
/// commands a test can run.
pub fn command_literals(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let mut literal = String::new();
        let mut end = None;
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        literal.push(e);
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => literal.push(c),
            }
        }
        let Some(end) = end else { break };
        let first = literal.split_whitespace().next().unwrap_or("");
        if ["unchained", "cargo", "git", "cd"].contains(&first)
            && let Ok(command) = normalise(&literal)
        {
            found.push(command);
        }
        rest = &after[end + 1..];
    }
    found
}

/// Whether `tests/tests/FILE.rs::FUNCTION` names a test function that exists.
pub fn test_exists(root: &Path, tested_by: &str) -> bool {
    let Some((file, function)) = tested_by.split_once("::") else {
        return false;
    };
    let Ok(source) = fs::read_to_string(root.join(file)) else {
        return false;
    };
    source.contains(&format!("fn {function}("))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            normalise("unchained  db migrate -m \"create sessions table\"").as_deref(),
            Ok("unchained db migrate -m 'create sessions table'")
        );
        assert_eq!(
            normalise("git commit -m \"install session bundle\"").as_deref(),
            Ok("git commit -m 'install session bundle'")
        );
    }

    #[test]
    fn blocks_join_continuations_and_drop_comments() {
        let block = "# set up\nunchained new project flaskr \\\n  --database --no-prompt   # the blog\n\ncd flaskr\n";
        assert_eq!(
            block_commands(block).as_deref(),
            Ok(&[
                "unchained new project flaskr --database --no-prompt".to_owned(),
                "cd flaskr".to_owned()
            ][..])
        );
    }

    #[test]
    fn skip_markers_need_a_reason_and_a_test() {
        let ok = "<!-- guide: skip (builds in release mode for minutes; tested by tests/tests/tutorial.rs::x) -->\n```sh\ncargo build --release\n```\n";
        let parsed = parse_chapter("c.md", ok).unwrap_or_default().commands;
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed[0].skip.as_ref().map(|s| s.tested_by.as_str()),
            Some("tests/tests/tutorial.rs::x")
        );
        let no_test = "<!-- guide: skip (builds in release mode for minutes) -->\n```sh\ncargo build --release\n```\n";
        assert!(parse_chapter("c.md", no_test).is_err());
        let no_reason =
            "<!-- guide: skip (; tested by tests/tests/tutorial.rs::x) -->\n```sh\nls\n```\n";
        assert!(parse_chapter("c.md", no_reason).is_err());
        let console = "```console\n$ unchained run\n```\n";
        assert!(parse_chapter("c.md", console).is_err());
    }

    #[test]
    fn file_markers_give_whole_files() {
        let text =
            "Intro.\n\n<!-- guide: file templates/hello.html -->\n```html\n<h1>Hello</h1>\n```\n";
        let guide = parse_chapter("c.md", text).unwrap_or_default();
        assert_eq!(
            guide
                .file("c.md", "templates/hello.html")
                .map(|f| f.text.as_str()),
            Some("<h1>Hello</h1>\n")
        );
        assert!(guide.commands.is_empty());
        let stray = "<!-- guide: file x.rs -->\nSome prose.\n```rust\nfn main() {}\n```\n";
        assert!(parse_chapter("c.md", stray).is_err());
    }

    #[test]
    fn literals_that_read_as_commands() {
        let source = r#"t.sh("unchained db migrate -m 'create sessions table'"); let x = "hello"; t.sh("cd flaskr");"#;
        assert_eq!(
            command_literals(source),
            [
                "unchained db migrate -m 'create sessions table'",
                "cd flaskr"
            ]
        );
    }
}
