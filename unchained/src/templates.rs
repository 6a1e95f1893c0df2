//! [`Templates`]: minijinja templates from every bundle, overridable by name.
//!
//! Bundles ship templates with [`Bundle::templates`](crate::Bundle::templates);
//! a later bundle replaces an earlier one's template of the same name, and
//! files in the project's `templates/` folder replace them all.
//!
//! Every template can call `url_for('bundle.endpoint', param=value)`
//! (see [`Templates::set_urls`]).
//!
//! In development the folder's files are re-read when one changed (see
//! [`reload`]), so a template edit shows on the next request without a
//! rebuild; production and tests load them once.

mod reload;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use minijinja::Environment;
use minijinja::value::{Kwargs, Value};
use serde::Serialize;

use self::reload::DirReload;
use crate::urls::Urls;

/// How often, at most, development checks the templates folder for
/// changes: often enough that a reload after a save is never noticed,
/// rarely enough that a page with many renders costs one folder scan.
const RELOAD_CHECK_EVERY: Duration = Duration::from_millis(250);

/// A template cannot be loaded: the message names the bundle or file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A bundle's template does not compile.
    #[error("bundle {bundle}: template {name} does not compile: {message}")]
    BundleTemplate {
        /// The bundle.
        bundle: String,
        /// The template's name.
        name: String,
        /// minijinja's message.
        message: String,
    },
    /// A file in the project's templates folder does not compile.
    #[error("template {} does not compile: {message}", .path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// minijinja's message.
        message: String,
    },
    /// The templates folder or a file in it cannot be read.
    #[error("cannot read the {what} {}: {message}", .path.display())]
    Read {
        /// `templates folder` or `template`.
        what: &'static str,
        /// The folder or file.
        path: std::path::PathBuf,
        /// The operating system's message.
        message: String,
    },
}

/// The templates of an app.
#[derive(Clone, Default)]
pub struct Templates {
    env: Environment<'static>,
    /// Each bundle template's source by name (the last bundle's wins), so
    /// that a reload can put a bundle's template back when the project's
    /// file that replaced it is deleted.
    bundle_sources: HashMap<String, String>,
    /// The names [`add_dir`](Self::add_dir) loaded.
    dir_names: BTreeSet<String>,
    /// Set in development: re-read the templates folder when it changed.
    reload: Option<DirReload>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// An empty set.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".htm") || name.ends_with(".xml") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        Templates {
            env,
            ..Templates::default()
        }
    }

    /// Adds or replaces template `name`.
    pub fn add(&mut self, bundle: &str, name: &str, source: &str) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| TemplateError::BundleTemplate {
                bundle: bundle.to_owned(),
                name: name.to_owned(),
                message: e.to_string(),
            })?;
        self.bundle_sources
            .insert(name.to_owned(), source.to_owned());
        Ok(())
    }

    /// Adds every file below `dir` (if it exists), named by its path
    /// relative to `dir` with `/` separators. Editors' temporary files
    /// (names starting with `.` or `#`, or ending in `~`) are skipped: a
    /// swap file next to the template being edited is no template.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), TemplateError> {
        for (name, path) in template_files(dir)? {
            let source = std::fs::read_to_string(&path).map_err(|e| TemplateError::Read {
                what: "template",
                path: path.clone(),
                message: e.to_string(),
            })?;
            self.env
                .add_template_owned(name.clone(), source)
                .map_err(|e| TemplateError::File {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            self.dir_names.insert(name);
        }
        Ok(())
    }

    /// Adds the global function `url_for(name, **params)`, answering from
    /// `urls`: `{{ url_for('security.login', next='/x') }}` is
    /// `/login?next=%2Fx`. A param that is `none` is left out; an unknown
    /// name or a missing path parameter fails the render with the same
    /// message as [`Urls::url_for`]. The app factory calls it with the
    /// app's routes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use unchained::templates::Templates;
    /// use unchained::urls::Urls;
    ///
    /// let mut templates = Templates::new();
    /// templates.set_urls(Arc::new(Urls::new().with_route("blog.show", "/blog/{slug}")));
    /// templates.add("blog", "link.html", "{{ url_for('blog.show', slug='a b', page=2) }}").unwrap();
    /// assert_eq!(templates.render("link.html", ()).unwrap(), "/blog/a%20b?page=2");
    /// ```
    pub fn set_urls(&mut self, urls: Arc<Urls>) {
        self.environment_mut().add_function(
            "url_for",
            move |name: &str, kwargs: Kwargs| -> Result<Value, minijinja::Error> {
                let mut params: Vec<(String, String)> = Vec::new();
                for key in kwargs.args() {
                    let value: Value = kwargs.get(key)?;
                    if value.is_none() || value.is_undefined() {
                        continue;
                    }
                    let text = match value.as_str() {
                        Some(text) => text.to_owned(),
                        None => value.to_string(),
                    };
                    params.push((key.to_owned(), text));
                }
                let params: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let url = urls.url_for(name, &params).map_err(|error| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, error.to_string())
                })?;
                // Parameters are percent-encoded, so only a route's own path
                // could hold a character HTML escaping cares about; `/` and
                // `&` need none in an attribute.
                Ok(if url.contains(['<', '>', '"', '\'']) {
                    Value::from(url)
                } else {
                    Value::from_safe_string(url)
                })
            },
        );
    }

    /// From now on, re-reads the files of `dir` (the folder given to
    /// [`add_dir`](Self::add_dir)) when one was added, changed or deleted,
    /// checking at most every 250 ms on render. For development: it costs
    /// a folder scan per check and a lock per render.
    pub fn reload_when_changed(&mut self, dir: &Path) {
        self.reload_every(dir, RELOAD_CHECK_EVERY);
    }

    fn reload_every(&mut self, dir: &Path, every: Duration) {
        self.reload = Some(DirReload::new(dir.to_owned(), every));
    }

    /// Renders template `name` with `context`.
    ///
    /// With [`reload_when_changed`](Self::reload_when_changed), while a file
    /// of the folder does not compile every render is that error, naming
    /// the file (as a restart would refuse to start), until it is fixed.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        match &self.reload {
            None => self.env.get_template(name)?.render(context),
            Some(reload) => reload
                .environment(|files| self.with_files(files))?
                .get_template(name)?
                .render(context),
        }
    }

    /// Whether a template called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        match &self.reload {
            None => self.env.get_template(name).is_ok(),
            Some(reload) => reload
                .environment(|files| self.with_files(files))
                .is_ok_and(|env| env.get_template(name).is_ok()),
        }
    }

    /// The minijinja environment, e.g. to add filters or globals in a
    /// bundle's `before_build` hook.
    pub fn environment_mut(&mut self) -> &mut Environment<'static> {
        // A reloaded copy predates whatever the caller changes now.
        if let Some(reload) = &mut self.reload {
            reload.forget();
        }
        &mut self.env
    }

    /// This set as it would be loaded now from the templates folder's
    /// `files`: the bundles' templates, filters and globals as built, with
    /// the folder's current files on top.
    fn with_files(
        &self,
        files: &[(String, PathBuf)],
    ) -> Result<Environment<'static>, minijinja::Error> {
        let mut env = self.env.clone();
        // A file loaded at startup and deleted since: the bundle's template
        // it replaced comes back, as it would after a restart.
        for name in &self.dir_names {
            if files.iter().any(|(file, _)| file == name) {
                continue;
            }
            match self.bundle_sources.get(name) {
                Some(source) => env.add_template_owned(name.clone(), source.clone())?,
                None => env.remove_template(name),
            }
        }
        for (name, path) in files {
            let source = std::fs::read_to_string(path).map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("cannot read the template {}: {e}", path.display()),
                )
            })?;
            env.add_template_owned(name.clone(), source)?;
        }
        Ok(env)
    }
}

/// Every template file below `dir` (none if it does not exist): its name
/// (the path relative to `dir`, with `/` separators) and path, sorted by
/// name.
fn template_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, TemplateError> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| TemplateError::Read {
            what: "templates folder",
            path: current.clone(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            if is_editor_temp_file(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(dir) else {
                continue;
            };
            let name = relative.to_string_lossy().replace('\\', "/");
            files.push((name, path));
        }
    }
    files.sort();
    Ok(files)
}

/// Vim's swap files, Emacs's lock and autosave files, backups.
fn is_editor_temp_file(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#') || name.ends_with('~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).expect("write the template");
    }

    #[test]
    fn reloading_rereads_changed_added_and_deleted_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(&dir.path().join("page.html"), "old {{ n }}");
        write(&dir.path().join("shared.html"), "from the folder");
        write(&dir.path().join(".page.html.swp"), "\u{0}binary");
        let mut reloading = Templates::new();
        reloading
            .add("lib", "shared.html", "from the bundle")
            .expect("bundle template");
        reloading.add_dir(dir.path()).expect("folder");
        // Zero: check on every render, so the test needs no sleep.
        reloading.reload_every(dir.path(), Duration::ZERO);
        let mut once = Templates::new();
        once.add_dir(dir.path()).expect("folder");

        let n = serde_json::json!({ "n": 1 });
        assert_eq!(reloading.render("page.html", &n).unwrap(), "old 1");
        write(&dir.path().join("page.html"), "new text {{ n }}");
        write(&dir.path().join("added.html"), "added");
        std::fs::remove_file(dir.path().join("shared.html")).expect("remove");

        assert_eq!(reloading.render("page.html", &n).unwrap(), "new text 1");
        assert_eq!(reloading.render("added.html", ()).unwrap(), "added");
        assert_eq!(
            reloading.render("shared.html", ()).unwrap(),
            "from the bundle",
            "a deleted file's bundle template comes back"
        );
        assert!(!reloading.contains(".page.html.swp"));
        // Loaded once: the file's text as it was at startup.
        assert_eq!(once.render("page.html", &n).unwrap(), "old 1");
        assert!(!once.contains("added.html"));
    }

    #[test]
    fn a_broken_file_is_the_error_until_fixed_and_filters_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(&dir.path().join("page.html"), "{{ 'x' | shout }}");
        let mut templates = Templates::new();
        templates
            .environment_mut()
            .add_filter("shout", |s: String| s.to_uppercase());
        templates.add_dir(dir.path()).expect("folder");
        templates.reload_every(dir.path(), Duration::ZERO);
        assert_eq!(templates.render("page.html", ()).unwrap(), "X");

        write(&dir.path().join("page.html"), "{% if %}");
        let error = templates.render("page.html", ()).unwrap_err().to_string();
        assert!(
            error.contains("syntax error") && error.contains("page.html"),
            "{error}"
        );
        // Every later render too, not only the first after the change.
        assert!(templates.render("page.html", ()).is_err());

        write(&dir.path().join("page.html"), "{{ 'fixed' | shout }}");
        assert_eq!(templates.render("page.html", ()).unwrap(), "FIXED");
    }
}
