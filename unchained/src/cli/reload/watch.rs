//! Which files changed: a `notify` watcher on the sources that a build
//! reads, with editors' noise filtered out and bursts debounced.
//!
//! Only the folders that matter are watched: `target/` (thousands of
//! folders, written by every build) and `db/` (the SQLite database is
//! written on every request) would cost watches and wake-ups for nothing.
//! `templates/` is not watched at all: in development the server re-reads
//! a changed template itself, without a rebuild.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{Event, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::{Instant, timeout_at};

/// How long the files must stay quiet after a change before a rebuild: an
/// editor's save (write a temporary file, rename it, touch metadata) or a
/// `git checkout` is many events and must be one rebuild.
const QUIET: Duration = Duration::from_millis(200);

/// Folders whose every file is source, watched recursively when present.
const TREES: [&str; 3] = ["src", "bundles", "db/migrations"];

/// Files at the root that a build reads.
const ROOT_FILES: [&str; 3] = ["unchained.toml", "Cargo.toml", "build.rs"];

/// The project's source changes, one per burst of events.
pub(super) struct Changes {
    root: PathBuf,
    watcher: RecommendedWatcher,
    events: UnboundedReceiver<notify::Result<Event>>,
    /// The trees in [`TREES`] that are watched (a missing one is watched
    /// once it is created).
    watched: Vec<&'static str>,
    db_watched: bool,
    /// The first changed file of a burst, and when the burst is over.
    pending: Option<(PathBuf, Instant)>,
}

impl Changes {
    /// Starts watching the project at `root` (an absolute path).
    pub(super) fn start(root: &Path) -> notify::Result<Changes> {
        let (sender, events) = unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            // The receiver is gone only when the launcher is exiting.
            let _ = sender.send(event);
        })?;
        // The root itself, not recursively: its files (e.g. unchained.toml,
        // rewritten by an editor's rename) and folders created later.
        watcher.watch(root, RecursiveMode::NonRecursive)?;
        let mut changes = Changes {
            root: root.to_owned(),
            watcher,
            events,
            watched: Vec::new(),
            db_watched: false,
            pending: None,
        };
        changes.watch_new_trees();
        Ok(changes)
    }

    /// Waits for the next change that needs a rebuild and for the files to
    /// go quiet; returns the first changed file, relative to the root.
    /// `None` if the watcher stopped.
    ///
    /// Cancel-safe: a burst already seen is kept for the next call.
    pub(super) async fn next(&mut self) -> Option<PathBuf> {
        loop {
            let received = match &self.pending {
                None => self.events.recv().await,
                Some((_, quiet_at)) => match timeout_at(*quiet_at, self.events.recv()).await {
                    Ok(received) => received,
                    Err(_) => return self.pending.take().map(|(path, _)| path),
                },
            };
            match received? {
                Ok(event) => self.note(event),
                Err(error) => eprintln!(" * warning: watching for changes: {error}"),
            }
        }
    }

    fn note(&mut self, event: Event) {
        // Reads (cargo and rustc open every source file) change nothing.
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if matches!(event.kind, EventKind::Create(_) | EventKind::Any) {
            self.watch_new_trees();
        }
        let Some(path) = event
            .paths
            .iter()
            .filter_map(|path| path.strip_prefix(&self.root).ok())
            .find(|relative| needs_rebuild(relative))
        else {
            return;
        };
        let quiet_at = Instant::now() + QUIET;
        match &mut self.pending {
            Some((_, at)) => *at = quiet_at,
            None => self.pending = Some((path.to_owned(), quiet_at)),
        }
    }

    /// Watches the trees that exist now and were not watched yet, and
    /// `db/` (not recursively) so that `db/migrations` is seen when created.
    fn watch_new_trees(&mut self) {
        if !self.db_watched {
            let db = self.root.join("db");
            self.db_watched =
                db.is_dir() && self.watcher.watch(&db, RecursiveMode::NonRecursive).is_ok();
        }
        for tree in TREES {
            let path = self.root.join(tree);
            if self.watched.contains(&tree) || !path.is_dir() {
                continue;
            }
            match self.watcher.watch(&path, RecursiveMode::Recursive) {
                Ok(()) => self.watched.push(tree),
                Err(error) => eprintln!(
                    " * warning: cannot watch {} for changes: {error}",
                    path.display()
                ),
            }
        }
    }
}

/// Whether a change to `relative` (a path below the project's root) needs
/// a rebuild.
fn needs_rebuild(relative: &Path) -> bool {
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .iter()
        .any(|part| part == "target" || is_editor_temp_file(part))
    {
        return false;
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["src", ..] | ["bundles", ..] | ["db", "migrations", ..] => true,
        [file] => ROOT_FILES.contains(file),
        _ => false,
    }
}

/// Vim's swap files and its write test (`4913`), Emacs's lock and
/// autosave files, backups: written around a save, never built.
fn is_editor_temp_file(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_need_a_rebuild_templates_and_noise_do_not() {
        for path in [
            "src/app.rs",
            "src/models/user.rs",
            "bundles/blog/src/lib.rs",
            "bundles/blog/templates/post.html",
            "db/migrations/m20250101_000001_create_post.rs",
            "unchained.toml",
            "Cargo.toml",
            "build.rs",
        ] {
            assert!(needs_rebuild(Path::new(path)), "{path}");
        }
        for path in [
            "templates/index.html",
            "target/debug/demo",
            "bundles/blog/target/debug/build",
            "db/development.sqlite",
            "db/development.sqlite-journal",
            "src/.app.rs.swp",
            "src/app.rs~",
            "src/4913",
            "src/#app.rs#",
            "Cargo.lock",
            "README.md",
            ".git/index",
        ] {
            assert!(!needs_rebuild(Path::new(path)), "{path}");
        }
    }
}
