//! The bundles that ship with Unchained: their crates, where the crates
//! live in the source tree, and what each needs listed before it.

/// One bundle shipped with Unchained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinBundle {
    /// Its name in `unchained.toml`, e.g. `unchained.bundles.session`.
    pub name: &'static str,
    /// The short name `unchained bundles add` accepts, e.g. `session`.
    pub short: &'static str,
    /// The crate that provides it.
    pub krate: &'static str,
    /// The crate's folder, relative to the Unchained source tree.
    pub dir: &'static str,
    /// Features the dependency always carries. A crate listed with
    /// features here is added with `default-features = false`, so that a
    /// project compiles only what its config uses.
    pub features: &'static [&'static str],
    /// The crate's default features (on unless `default-features = false`).
    pub defaults: &'static [&'static str],
    /// Bundles that must be listed before this one.
    pub requires: &'static [&'static str],
    /// Whether enabling it brings tables, so the next step is a migration.
    pub has_models: bool,
}

/// Every built-in bundle, in the order they must load.
pub const BUILTIN_BUNDLES: [BuiltinBundle; 5] = [
    BuiltinBundle {
        name: "unchained.bundles.database",
        short: "database",
        krate: "unchained-database",
        dir: "bundles/database",
        features: &[],
        defaults: &["sqlite"],
        requires: &[],
        has_models: true,
    },
    BuiltinBundle {
        name: "unchained.bundles.session",
        short: "session",
        krate: "unchained-session",
        dir: "bundles/session",
        features: &["bundle"],
        defaults: &["bundle", "redis"],
        // Not strictly: the session bundle also runs without a database
        // (SESSION_TYPE = "redis", "memory", ...). Its default store is the
        // SQL one, though, so `bundles add session` lists the database too.
        requires: &["unchained.bundles.database"],
        has_models: true,
    },
    BuiltinBundle {
        name: "unchained.bundles.mail",
        short: "mail",
        krate: "unchained-mail",
        dir: "bundles/mail",
        features: &[],
        defaults: &[],
        // Needs nothing; listed before the security bundle, which sends
        // its mail through it (and builds its own when it is not listed).
        requires: &[],
        has_models: false,
    },
    BuiltinBundle {
        name: "unchained.bundles.security",
        short: "security",
        krate: "unchained-security",
        dir: "bundles/security",
        features: &[],
        defaults: &[],
        requires: &["unchained.bundles.database", "unchained.bundles.session"],
        has_models: true,
    },
    BuiltinBundle {
        name: "unchained.bundles.jobs",
        short: "jobs",
        krate: "unchained-jobs",
        dir: "bundles/jobs",
        features: &[],
        defaults: &["postgres", "sqlite"],
        // Jobs go to DATABASE_URL unless JOBS_URL says otherwise.
        requires: &["unchained.bundles.database"],
        // apalis creates its own tables when the app starts.
        has_models: false,
    },
];

/// The built-in bundle called `name`, by full or short name.
pub fn builtin(name: &str) -> Option<&'static BuiltinBundle> {
    BUILTIN_BUNDLES
        .iter()
        .find(|b| b.name == name || b.short == name)
}

/// The built-in bundle whose crate is `krate`.
pub fn builtin_by_crate(krate: &str) -> Option<&'static BuiltinBundle> {
    BUILTIN_BUNDLES.iter().find(|b| b.krate == krate)
}

/// The `sea-orm` dependency a project with the database bundle gets, for
/// its own models: the version and features (default features off, so no
/// second set of drivers is compiled). The scaffold writes the same line.
pub const SEA_ORM_DEPENDENCY: (&str, &[&str]) = ("2", &["macros", "with-chrono", "with-json"]);

/// The Unchained checkout this binary was built from. A project whose
/// `unchained` dependency does not say where the crates are (and every
/// new project, while the crates are unpublished) gets them from here.
pub const SOURCE_CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// [`SOURCE_CHECKOUT`], without the `..`.
pub fn source_checkout() -> std::path::PathBuf {
    std::fs::canonicalize(SOURCE_CHECKOUT).unwrap_or_else(|_| SOURCE_CHECKOUT.into())
}
