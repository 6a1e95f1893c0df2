//! Expansion of `unchained::static_folder!("static")`, and the embedded
//! copy of a project's `static/` folder that `unchained::project!()`
//! registers in a release build.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

/// Folders deeper than this are not followed (a symlink loop ends here).
const MAX_DEPTH: usize = 32;

/// `StaticSource::folder(<dir>)` in a debug build, the files compiled in
/// (`StaticSource::embedded(&[...])`) otherwise.
pub(crate) fn expand_folder(relative: &str) -> Result<TokenStream, String> {
    let dir = manifest_dir()?.join(relative);
    let dir_str = dir.to_string_lossy().into_owned();
    let files = embedded_slice(&dir)?;
    Ok(quote! {
        {
            #[cfg(debug_assertions)]
            let source = ::unchained::static_files::StaticSource::folder(#dir_str);
            #[cfg(not(debug_assertions))]
            let source = {
                const FILES: &[::unchained::static_files::EmbeddedFile] = #files;
                ::unchained::static_files::StaticSource::embedded(FILES)
            };
            source
        }
    })
}

/// The inventory entry of the project's `static/` folder, compiled in only
/// without `debug_assertions`; nothing when the folder does not exist.
pub(crate) fn project_files(root: &Path) -> Result<TokenStream, String> {
    let dir = root.join("static");
    if !dir.is_dir() {
        return Ok(TokenStream::new());
    }
    let files = embedded_slice(&dir)?;
    Ok(quote! {
        // A release build carries its static files: one file deploys.
        #[cfg(not(debug_assertions))]
        ::unchained::inventory::submit! {
            ::unchained::static_files::ProjectStaticFiles::new(#files)
        }
    })
}

pub(crate) fn manifest_dir() -> Result<PathBuf, String> {
    std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .map_err(|_| {
            "this macro must be compiled by cargo (CARGO_MANIFEST_DIR is unset)".to_owned()
        })
}

/// `&[("css/style.css", include_bytes!("/abs/css/style.css")), ...]`, by
/// name; hidden files, editors' temporary files and names that are not
/// UTF-8 are left out, as the server would never serve them.
fn embedded_slice(dir: &Path) -> Result<TokenStream, String> {
    let mut files = Vec::new();
    if dir.is_dir() {
        let mut stack = vec![(dir.to_owned(), 0)];
        while let Some((current, depth)) = stack.pop() {
            let entries = std::fs::read_dir(&current)
                .map_err(|e| format!("cannot read {}: {e}", current.display()))?;
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if file_name.starts_with('.')
                    || file_name.starts_with('#')
                    || file_name.ends_with('~')
                {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
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
                    continue;
                };
                let Some(path) = path.to_str().map(str::to_owned) else {
                    continue;
                };
                files.push((name, path));
            }
        }
    }
    files.sort();
    let entries = files.iter().map(|(name, path)| {
        quote! { (#name, ::std::include_bytes!(#path) as &[u8]) }
    });
    Ok(quote! { &[#(#entries),*] })
}
