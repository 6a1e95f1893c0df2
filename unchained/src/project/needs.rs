//! [`FeatureNeeds`]: which cargo features of the built-in bundles a
//! project's config calls for (the database drivers its `DATABASE_URL`s
//! name, the Redis store when `SESSION_TYPE = "redis"`, the Redis job
//! backend when `JOBS_URL` is a `redis://` URL).
//!
//! The launcher reads this before every build so that a driver named in
//! config is compiled in, the same way a listed bundle is added.

use std::collections::BTreeMap;

/// Environments whose SQLite default (no URL set) compiles the SQLite
/// driver in. Production is left out on purpose: its URL normally comes
/// from `UNCHAINED_DATABASE_URL` when the release is built, and a project
/// on PostgreSQL should not compile SQLite for a default it never uses.
const SQLITE_DEFAULT_ENVS: [&str; 2] = ["development", "test"];

/// Features to turn on, by crate, each with the setting that asks for it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeatureNeeds {
    by_crate: BTreeMap<&'static str, BTreeMap<&'static str, String>>,
}

impl FeatureNeeds {
    /// Reads `config` (the parsed `unchained.toml`) and the environment
    /// variables that override it (`env` looks one up by name).
    pub fn from_config(config: &toml::Table, env: impl Fn(&str) -> Option<String>) -> Self {
        let mut needs = FeatureNeeds::default();
        let sections: Vec<(&str, &toml::Table)> = config
            .iter()
            .filter(|(name, _)| *name != "bundle_crates")
            .filter_map(|(name, value)| value.as_table().map(|t| (name.as_str(), t)))
            .collect();
        let setting = |section: &toml::Table, key: &str| {
            section
                .get(key)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };

        for (section, table) in &sections {
            if let Some(url) = setting(table, "DATABASE_URL") {
                needs.database_url(&url, format!("DATABASE_URL in [{section}]"));
            }
            if setting(table, "SESSION_TYPE").as_deref() == Some("redis") {
                needs.add(
                    "unchained-session",
                    "redis",
                    format!("SESSION_TYPE in [{section}]"),
                );
            }
            if let Some(url) = setting(table, "JOBS_URL") {
                needs.jobs_url(&url, format!("JOBS_URL in [{section}]"));
            }
        }
        let from_env = env("UNCHAINED_DATABASE_URL");
        if let Some(url) = &from_env {
            needs.database_url(url, "UNCHAINED_DATABASE_URL".to_owned());
        }
        if env("UNCHAINED_SESSION_TYPE").as_deref() == Some("redis") {
            needs.add(
                "unchained-session",
                "redis",
                "UNCHAINED_SESSION_TYPE".to_owned(),
            );
        }
        if let Some(url) = env("UNCHAINED_JOBS_URL") {
            needs.jobs_url(&url, "UNCHAINED_JOBS_URL".to_owned());
        }
        let has_url = |name: &str| {
            sections
                .iter()
                .any(|(section, table)| *section == name && table.contains_key("DATABASE_URL"))
        };
        if from_env.is_none()
            && !has_url("default")
            && let Some(env) = SQLITE_DEFAULT_ENVS.iter().find(|env| !has_url(env))
        {
            needs.add(
                "unchained-database",
                "sqlite",
                format!("the {env} environment's default database, SQLite"),
            );
        }
        needs
    }

    /// The features `krate` needs, each with the reason.
    pub fn of(&self, krate: &str) -> impl Iterator<Item = (&'static str, &str)> {
        self.by_crate
            .get(krate)
            .into_iter()
            .flatten()
            .map(|(feature, why)| (*feature, why.as_str()))
    }

    fn database_url(&mut self, url: &str, why: String) {
        let scheme = url.split(':').next().unwrap_or_default();
        let feature = match scheme {
            "sqlite" => "sqlite",
            "postgres" | "postgresql" => "postgres",
            "mysql" | "mariadb" => "mysql",
            // An unknown scheme is reported, with the fix, when connecting.
            _ => return,
        };
        self.add("unchained-database", feature, why);
    }

    /// `JOBS_URL`: PostgreSQL and SQLite are in unchained-jobs' default
    /// features; Redis is not (it links apalis-redis), so a `redis://`
    /// (or TLS `rediss://`) URL turns its `redis` feature on.
    fn jobs_url(&mut self, url: &str, why: String) {
        let scheme = url.split(':').next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("redis") || scheme.eq_ignore_ascii_case("rediss") {
            self.add("unchained-jobs", "redis", why);
        }
    }

    fn add(&mut self, krate: &'static str, feature: &'static str, why: String) {
        self.by_crate
            .entry(krate)
            .or_default()
            .entry(feature)
            .or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(toml_text: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
        let config: toml::Table = toml::from_str(toml_text).unwrap();
        let needs = FeatureNeeds::from_config(&config, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        });
        ["unchained-database", "unchained-jobs", "unchained-session"]
            .iter()
            .flat_map(|k| {
                needs
                    .of(k)
                    .map(|(f, why)| (format!("{k}/{f}"), why.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn no_url_means_the_sqlite_default() {
        assert_eq!(
            needs("bundles = [\"app\"]\n[default]\nAPP_TITLE = \"x\"\n", &[]),
            [(
                "unchained-database/sqlite".to_owned(),
                "the development environment's default database, SQLite".to_owned()
            )]
        );
    }

    #[test]
    fn every_section_and_the_environment_count() {
        let got = needs(
            "[development]\nDATABASE_URL = \"postgres://localhost/demo\"\n\
             [test]\nDATABASE_URL = \"postgresql://localhost/demo_test\"\n\
             [production]\nSESSION_TYPE = \"redis\"\n",
            &[("UNCHAINED_DATABASE_URL", "mariadb://db/demo")],
        );
        assert_eq!(
            got,
            [
                (
                    "unchained-database/mysql".to_owned(),
                    "UNCHAINED_DATABASE_URL".to_owned()
                ),
                (
                    "unchained-database/postgres".to_owned(),
                    "DATABASE_URL in [development]".to_owned()
                ),
                (
                    "unchained-session/redis".to_owned(),
                    "SESSION_TYPE in [production]".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn an_environment_without_a_url_still_needs_sqlite() {
        let got = needs(
            "[development]\nDATABASE_URL = \"postgres://localhost/demo\"\n",
            &[],
        );
        assert!(
            got.contains(&(
                "unchained-database/sqlite".to_owned(),
                "the test environment's default database, SQLite".to_owned()
            )),
            "{got:?}"
        );
        let got = needs(
            "[default]\nDATABASE_URL = \"postgres://x/y\"\n",
            &[("UNCHAINED_SESSION_TYPE", "redis")],
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(!got.iter().any(|(f, _)| f.ends_with("sqlite")));
    }

    #[test]
    fn a_redis_jobs_url_turns_on_the_jobs_redis_backend() {
        let got = needs(
            "[default]\nDATABASE_URL = \"postgres://x/y\"\n\
             [production]\nJOBS_URL = \"redis://cache:6379/2\"\n\
             [staging]\nJOBS_URL = \"postgres://x/jobs\"\n",
            &[],
        );
        assert!(
            got.contains(&(
                "unchained-jobs/redis".to_owned(),
                "JOBS_URL in [production]".to_owned()
            )),
            "{got:?}"
        );
        assert_eq!(
            got.iter()
                .filter(|(f, _)| f.starts_with("unchained-jobs/"))
                .count(),
            1,
            "a PostgreSQL JOBS_URL needs no extra feature: {got:?}"
        );
        let got = needs(
            "[default]\nDATABASE_URL = \"postgres://x/y\"\n",
            &[("UNCHAINED_JOBS_URL", "rediss://:secret@cache:6380")],
        );
        assert!(
            got.contains(&(
                "unchained-jobs/redis".to_owned(),
                "UNCHAINED_JOBS_URL".to_owned()
            )),
            "{got:?}"
        );
        let got = needs("[default]\nJOBS_URL = \"sqlite:jobs.db\"\n", &[]);
        assert!(
            !got.iter().any(|(f, _)| f.starts_with("unchained-jobs/")),
            "{got:?}"
        );
    }
}
