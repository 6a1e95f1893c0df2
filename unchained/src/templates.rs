//! [`Templates`]: minijinja templates from every bundle, overridable by name.
//!
//! Bundles ship templates with [`Bundle::templates`](crate::Bundle::templates);
//! a later bundle replaces an earlier one's template of the same name, and
//! files in the project's `templates/` folder replace them all.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

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
        Templates { env }
    }

    /// Adds or replaces template `name`.
    pub fn add(&mut self, bundle: &str, name: &str, source: &str) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| TemplateError::BundleTemplate {
                bundle: bundle.to_owned(),
                name: name.to_owned(),
                message: e.to_string(),
            })
    }

    /// Adds every file below `dir` (if it exists), named by its path
    /// relative to `dir` with `/` separators.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), TemplateError> {
        if !dir.is_dir() {
            return Ok(());
        }
        let mut stack = vec![dir.to_owned()];
        while let Some(current) = stack.pop() {
            let entries = std::fs::read_dir(&current).map_err(|e| TemplateError::Read {
                what: "templates folder",
                path: current.clone(),
                message: e.to_string(),
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(dir) else {
                    continue;
                };
                let name = relative.to_string_lossy().replace('\\', "/");
                let source = std::fs::read_to_string(&path).map_err(|e| TemplateError::Read {
                    what: "template",
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                self.env
                    .add_template_owned(name, source)
                    .map_err(|e| TemplateError::File {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        Ok(())
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }

    /// Whether a template called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// The minijinja environment, e.g. to add filters or globals in a
    /// bundle's `before_build` hook.
    pub fn environment_mut(&mut self) -> &mut Environment<'static> {
        &mut self.env
    }
}
