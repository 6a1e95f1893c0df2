//! Procedural macros of Unchained. Use them through the `unchained` crate:
//! `#[unchained::bundle]`, `unchained::project!()` and
//! `unchained::static_folder!()`.

mod project;
mod static_files;

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemImpl, parse_macro_input};

/// Registers a bundle: put it on the `impl Bundle for MyBundle` block.
///
/// The type must implement `Default`. The attribute also applies
/// `async_trait`, so async hooks need no second attribute. The app factory then finds the
/// bundle by its `name()` when `unchained.toml` lists it.
///
/// ```ignore
/// #[derive(Default)]
/// pub struct AppBundle;
///
/// #[unchained::bundle]
/// impl unchained::Bundle for AppBundle {
///     fn name(&self) -> &'static str { "app" }
///     fn is_app(&self) -> bool { true }
/// }
/// ```
#[proc_macro_attribute]
pub fn bundle(args: TokenStream, input: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[unchained::bundle] takes no arguments: the name comes from `fn name()`",
        )
        .to_compile_error()
        .into();
    }
    let item = parse_macro_input!(input as ItemImpl);
    let self_ty = &item.self_ty;
    // The trait's hooks are async: apply async-trait here so that a bundle
    // needs one attribute, not two (applying it twice is harmless).
    let expanded = quote! {
        #[::unchained::async_trait]
        #item

        ::unchained::inventory::submit! {
            ::unchained::BundleEntry {
                construct: || ::std::boxed::Box::new(<#self_ty as ::std::default::Default>::default()),
                module: ::std::module_path!(),
            }
        }
    };
    expanded.into()
}

/// Wires a project's crate to its `unchained.toml`. Call it once, in the
/// project's `src/lib.rs`:
///
/// ```ignore
/// unchained::project!();
/// ```
///
/// It expands to:
/// - `extern crate` lines for the crate of every bundle listed in
///   `unchained.toml` that is a dependency in `Cargo.toml`, so the bundle
///   is linked and registered (a crate nothing references is dropped by
///   the linker, and its bundle with it);
/// - one module per `db/migrations/*.rs` file, in file-name order, so a
///   new migration is compiled in without editing any list;
/// - in a build without `debug_assertions` (a release), the files of
///   `static/`, compiled in so that the binary serves them without the
///   folder;
/// - `pub const PROJECT_ROOT: &str` (the crate's folder) and
///   `pub fn main() -> ExitCode` (the CLI, for `src/main.rs`).
///
/// The crate is rebuilt when `unchained.toml` or a migration changes; a
/// `build.rs` with `cargo:rerun-if-changed=db/migrations` catches new files.
#[proc_macro]
pub fn project(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "unchained::project!() takes no arguments: it reads unchained.toml next to Cargo.toml",
        )
        .to_compile_error()
        .into();
    }
    match project::expand() {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(proc_macro2::Span::call_site(), message)
            .to_compile_error()
            .into(),
    }
}

/// A bundle's static folder, for `Bundle::static_files`: the folder (a
/// path relative to the crate's `Cargo.toml`) read at runtime in a debug
/// build, its files compiled into the binary otherwise.
///
/// ```ignore
/// fn static_files(&self) -> Option<unchained::static_files::StaticSource> {
///     Some(unchained::static_folder!("static"))
/// }
/// ```
///
/// A release build is rebuilt when an embedded file changes; a `build.rs`
/// with `cargo:rerun-if-changed=static` also catches added files.
#[proc_macro]
pub fn static_folder(input: TokenStream) -> TokenStream {
    let folder = parse_macro_input!(input as syn::LitStr);
    match static_files::expand_folder(&folder.value()) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(folder.span(), message)
            .to_compile_error()
            .into(),
    }
}
