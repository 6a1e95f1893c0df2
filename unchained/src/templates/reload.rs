//! Development: re-read the project's templates folder when it changed.
//!
//! Why not minijinja's `path_loader` or the `minijinja-autoreload` crate:
//! both rebuild the environment from scratch, from a closure or from the
//! folder alone, so they would lose the bundles' templates and the filters
//! and globals that bundles add in their `before_build` hooks. Here the
//! environment as built is kept and each reload is a copy of it with the
//! folder's current files on top: exactly what a restart would load.
//!
//! A change is a file added, deleted, or with another modification time
//! or size; the folder is scanned at most every `every` (on render), so a
//! page that renders many templates costs one scan, not one per render.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use minijinja::Environment;

/// The reload state of one templates folder.
pub(super) struct DirReload {
    dir: PathBuf,
    every: Duration,
    state: Mutex<State>,
}

/// What the last check found; the default forces a reload on next use.
#[derive(Default)]
struct State {
    checked: Option<Instant>,
    stamps: Vec<Stamp>,
    /// The environment for the files as `stamps` saw them, or why they
    /// could not be loaded.
    current: Option<Result<Arc<Environment<'static>>, minijinja::Error>>,
}

/// One file as a scan saw it.
#[derive(PartialEq)]
struct Stamp {
    name: String,
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
}

impl Clone for DirReload {
    /// A clone starts over: it reloads on its first render.
    fn clone(&self) -> Self {
        DirReload::new(self.dir.clone(), self.every)
    }
}

impl DirReload {
    pub(super) fn new(dir: PathBuf, every: Duration) -> Self {
        DirReload {
            dir,
            every,
            state: Mutex::new(State::default()),
        }
    }

    /// Drops the reloaded environment: the next render builds it again.
    pub(super) fn forget(&mut self) {
        *self.state.get_mut().unwrap_or_else(PoisonError::into_inner) = State::default();
    }

    /// The environment to render with, rebuilt by `load` (given the
    /// folder's files, sorted by name) when a file changed since the last
    /// check.
    pub(super) fn environment(
        &self,
        load: impl FnOnce(&[(String, PathBuf)]) -> Result<Environment<'static>, minijinja::Error>,
    ) -> Result<Arc<Environment<'static>>, minijinja::Error> {
        // Nothing below panics while the lock is held; if something did,
        // the state is still consistent enough to carry on.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let due = state
            .checked
            .is_none_or(|checked| checked.elapsed() >= self.every);
        if due {
            state.checked = Some(Instant::now());
            match self.scan() {
                Ok(stamps) if state.current.is_some() && stamps == state.stamps => {}
                Ok(stamps) => {
                    let files: Vec<(String, PathBuf)> = stamps
                        .iter()
                        .map(|s| (s.name.clone(), s.path.clone()))
                        .collect();
                    // A file that does not compile stays the answer until
                    // the next change, rather than the previous version
                    // silently being served.
                    state.current = Some(load(&files).map(Arc::new));
                    state.stamps = stamps;
                }
                Err(error) => {
                    state.current = Some(Err(error));
                    state.stamps.clear();
                }
            }
        }
        match &state.current {
            Some(Ok(env)) => Ok(Arc::clone(env)),
            Some(Err(error)) => Err(copy_error(error)),
            // Unreachable: the first call is always due and sets it.
            None => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "the templates folder has not been loaded yet",
            )),
        }
    }

    fn scan(&self) -> Result<Vec<Stamp>, minijinja::Error> {
        let files = super::template_files(&self.dir).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?;
        Ok(files
            .into_iter()
            .map(|(name, path)| {
                // A file deleted since the listing counts as changed; the
                // load that follows reports it.
                let metadata = std::fs::metadata(&path).ok();
                Stamp {
                    modified: metadata.as_ref().and_then(|m| m.modified().ok()),
                    len: metadata.as_ref().map_or(0, |m| m.len()),
                    name,
                    path,
                }
            })
            .collect())
    }
}

/// The same error again, for the next render (minijinja's is not
/// `Clone`): its kind and message, with the template and line it names.
fn copy_error(error: &minijinja::Error) -> minijinja::Error {
    let detail = error.detail().unwrap_or_default();
    let detail = match (error.name(), error.line()) {
        (Some(name), Some(line)) => format!("{detail} (in {name}:{line})"),
        (Some(name), None) => format!("{detail} (in {name})"),
        _ => detail.to_owned(),
    };
    minijinja::Error::new(error.kind(), detail)
}
