//! The index of static files: every layer's names, content hashes and
//! where the bytes are; a lookup goes from the project's layer down to the
//! first bundle's.
//!
//! In development a folder layer is scanned again at most every 250 ms
//! when looked up, and a file whose modification time or size changed is
//! hashed again (others keep their hash). Otherwise every file is hashed
//! once, when the index is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::{StaticError, StaticSource, content_hash};

/// How often, at most, development scans a static folder for changes.
const RELOAD_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Folders deeper than this are not followed (a symlink loop ends here).
const MAX_DEPTH: usize = 32;

/// One static file.
#[derive(Clone, Debug)]
pub(super) struct File {
    /// [`content_hash`] of the contents.
    pub(super) hash: Arc<str>,
    pub(super) contents: Contents,
    /// The file's modification time; for an embedded file, when the index
    /// was built.
    pub(super) modified: SystemTime,
    len: u64,
}

/// Where a file's bytes are.
#[derive(Clone, Debug)]
pub(super) enum Contents {
    Disk(PathBuf),
    Embedded(&'static [u8]),
}

/// A file and its precompressed versions from the same layer.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) file: File,
    pub(super) br: Option<File>,
    pub(super) gz: Option<File>,
}

/// Every layer, the one that wins a name first.
pub(super) struct Index {
    layers: Vec<Layer>,
}

enum Layer {
    Fixed(BTreeMap<String, File>),
    Live(Live),
}

/// A folder scanned again when looked up (development).
struct Live {
    dir: PathBuf,
    every: Duration,
    state: Mutex<LiveState>,
}

struct LiveState {
    checked: Instant,
    files: BTreeMap<String, File>,
}

impl Index {
    /// Indexes `sources`, given lowest first (the last wins a name).
    pub(super) fn build(
        sources: Vec<(String, StaticSource)>,
        development: bool,
    ) -> Result<Index, StaticError> {
        Self::build_every(sources, development.then_some(RELOAD_CHECK_EVERY))
    }

    pub(super) fn build_every(
        sources: Vec<(String, StaticSource)>,
        reload_every: Option<Duration>,
    ) -> Result<Index, StaticError> {
        let now = SystemTime::now();
        let mut layers = Vec::new();
        for (_owner, source) in sources.into_iter().rev() {
            let layer = match source {
                StaticSource::Embedded(files) => Layer::Fixed(
                    files
                        .iter()
                        .filter(|(name, _)| is_servable_name(name))
                        .map(|(name, bytes)| {
                            let file = File {
                                hash: content_hash(bytes).into(),
                                contents: Contents::Embedded(bytes),
                                modified: now,
                                len: bytes.len() as u64,
                            };
                            ((*name).to_owned(), file)
                        })
                        .collect(),
                ),
                StaticSource::Folder(dir) => {
                    let files = scan(&dir, &BTreeMap::new())?;
                    match reload_every {
                        None => Layer::Fixed(files),
                        Some(every) => Layer::Live(Live {
                            dir,
                            every,
                            state: Mutex::new(LiveState {
                                checked: Instant::now(),
                                files,
                            }),
                        }),
                    }
                }
            };
            layers.push(layer);
        }
        Ok(Index { layers })
    }

    /// File `name` from the first layer that has it, with its `.br` and
    /// `.gz` versions from that same layer.
    pub(super) fn find(&self, name: &str) -> Option<Found> {
        if !is_servable_name(name) {
            return None;
        }
        self.layers.iter().find_map(|layer| {
            layer.with_files(|files| {
                files.get(name).map(|file| Found {
                    file: file.clone(),
                    br: files.get(&format!("{name}.br")).cloned(),
                    gz: files.get(&format!("{name}.gz")).cloned(),
                })
            })
        })
    }

    /// Every name of every layer, sorted.
    pub(super) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .layers
            .iter()
            .flat_map(|layer| layer.with_files(|files| files.keys().cloned().collect::<Vec<_>>()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl Layer {
    fn with_files<T>(&self, f: impl FnOnce(&BTreeMap<String, File>) -> T) -> T {
        match self {
            Layer::Fixed(files) => f(files),
            Layer::Live(live) => {
                // Nothing below panics while the lock is held.
                let mut state = live.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.checked.elapsed() >= live.every {
                    state.checked = Instant::now();
                    match scan(&live.dir, &state.files) {
                        Ok(files) => state.files = files,
                        // Deleted or unreadable mid-scan: keep what was
                        // there; the next check tries again.
                        Err(error) => tracing::warn!("{error}"),
                    }
                }
                f(&state.files)
            }
        }
    }
}

/// Every servable file below `dir` (none if it does not exist), by name
/// (the path relative to `dir`, `/` separators). A file of `previous`
/// with the same path, modification time and size keeps its hash.
fn scan(
    dir: &Path,
    previous: &BTreeMap<String, File>,
) -> Result<BTreeMap<String, File>, StaticError> {
    let mut files = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    let mut stack = vec![(dir.to_owned(), 0)];
    while let Some((current, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| StaticError::Read {
            what: "folder",
            path: current.clone(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            if !is_servable_segment(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            let read_error = |e: std::io::Error| StaticError::Read {
                what: "file",
                path: path.clone(),
                message: e.to_string(),
            };
            // Follows symlinks, as a web server would.
            let metadata = std::fs::metadata(&path).map_err(read_error)?;
            if metadata.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let Some(name) = path
                .strip_prefix(dir)
                .ok()
                .and_then(|relative| relative.to_str())
                .map(|relative| relative.replace('\\', "/"))
            else {
                continue; // not UTF-8: no URL names it
            };
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let len = metadata.len();
            let unchanged = previous.get(&name).filter(|old| {
                old.modified == modified
                    && old.len == len
                    && matches!(&old.contents, Contents::Disk(p) if *p == path)
            });
            let file = match unchanged {
                Some(old) => old.clone(),
                None => {
                    let bytes = std::fs::read(&path).map_err(read_error)?;
                    File {
                        hash: content_hash(&bytes).into(),
                        contents: Contents::Disk(path),
                        modified,
                        len: bytes.len() as u64,
                    }
                }
            };
            files.insert(name, file);
        }
    }
    Ok(files)
}

/// Whether `name` (`css/style.css`) may be served: relative, no empty,
/// `.` or `..` segment, no hidden or editor's temporary file.
pub(super) fn is_servable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\0')
        && name.split('/').all(is_servable_segment)
}

/// A file or folder name that is served: not empty, not hidden (which
/// also excludes `.` and `..`), not an editor's swap, lock or backup file.
fn is_servable_segment(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && !segment.starts_with('#')
        && !segment.ends_with('~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::write(path, text).expect("write");
    }

    const BUNDLE: &[(&str, &[u8])] = &[
        ("css/style.css", b"bundle"),
        ("css/style.css.br", b"bundle-br"),
        ("js/app.js", b"app"),
        (".secret", b"no"),
    ];

    #[test]
    fn the_project_wins_by_name_and_keeps_its_own_variants() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "css/style.css", "project");
        write(dir.path(), ".env", "SECRET=1");
        write(dir.path(), "css/.style.css.swp", "swap");
        write(dir.path(), ".git/config", "x");
        let index = Index::build_every(
            vec![
                ("bundle".to_owned(), StaticSource::Embedded(BUNDLE)),
                ("project".to_owned(), StaticSource::folder(dir.path())),
            ],
            None,
        )
        .expect("index");
        let style = index.find("css/style.css").expect("style");
        assert_eq!(&*style.file.hash, content_hash(b"project"));
        assert!(
            style.br.is_none(),
            "the bundle's .br belongs to the bundle's file, not the project's"
        );
        let app = index.find("js/app.js").expect("the bundle's other file");
        assert!(matches!(app.file.contents, Contents::Embedded(b"app")));
        assert_eq!(
            index.names(),
            ["css/style.css", "css/style.css.br", "js/app.js"]
        );
        for hidden in [".env", ".secret", ".git/config", "css/.style.css.swp"] {
            assert!(index.find(hidden).is_none(), "{hidden}");
        }
        for bad in [
            "../Cargo.toml",
            "css/../css/style.css",
            "/etc/passwd",
            "css//style.css",
            "",
            "css\\style.css",
        ] {
            assert!(index.find(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn precompressed_versions_come_with_the_file() {
        let index = Index::build_every(
            vec![("bundle".to_owned(), StaticSource::Embedded(BUNDLE))],
            None,
        )
        .expect("index");
        let style = index.find("css/style.css").expect("style");
        assert!(style.br.is_some() && style.gz.is_none());
    }

    #[test]
    fn development_rehashes_changed_files_production_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "a.css", "old");
        let source = || vec![("project".to_owned(), StaticSource::folder(dir.path()))];
        let live = Index::build_every(source(), Some(Duration::ZERO)).expect("live");
        let fixed = Index::build_every(source(), None).expect("fixed");
        assert_eq!(
            &*live.find("a.css").unwrap().file.hash,
            content_hash(b"old")
        );

        write(dir.path(), "a.css", "new text");
        write(dir.path(), "b.css", "added");
        assert_eq!(
            &*live.find("a.css").unwrap().file.hash,
            content_hash(b"new text")
        );
        assert!(live.find("b.css").is_some());
        assert_eq!(
            &*fixed.find("a.css").unwrap().file.hash,
            content_hash(b"old")
        );
        assert!(fixed.find("b.css").is_none());

        std::fs::remove_file(dir.path().join("a.css")).expect("remove");
        assert!(live.find("a.css").is_none());
    }
}
