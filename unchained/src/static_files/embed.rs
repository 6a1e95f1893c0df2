//! Static files compiled into the binary, so that one file deploys.
//!
//! `unchained::project!()` embeds the project's `static/` folder in a
//! release build (`unchained build --release`, or any build without
//! `debug_assertions`) and registers it here with [`inventory`]; a debug
//! build reads the folder at runtime. A bundle does the same for its own
//! folder with `unchained::static_folder!("static")` in
//! [`Bundle::static_files`](crate::Bundle::static_files).
//!
//! The embedded copy is what a release binary serves in production and
//! tests; in development the folder wins when it exists, so that edits
//! show without a rebuild.

/// One embedded file: its name (`css/style.css`) and contents.
pub type EmbeddedFile = (&'static str, &'static [u8]);

/// The project's static folder as compiled in by `unchained::project!()`
/// in a release build. Not meant to be written by hand.
#[derive(Debug)]
pub struct ProjectStaticFiles {
    files: &'static [EmbeddedFile],
}

impl ProjectStaticFiles {
    /// Wraps the embedded files (used by `unchained::project!()`).
    pub const fn new(files: &'static [EmbeddedFile]) -> Self {
        ProjectStaticFiles { files }
    }
}

inventory::collect!(ProjectStaticFiles);

/// The embedded project files, if this binary has them.
pub(super) fn project_files() -> Option<&'static [EmbeddedFile]> {
    inventory::iter::<ProjectStaticFiles>
        .into_iter()
        .next()
        .map(|p| p.files)
}
