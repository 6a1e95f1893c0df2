use std::path::Path;

use serde::Deserialize;

use super::*;

const FILE: &str = r#"
bundles = ["app"]

[default]
SESSION_TYPE = "sqlalchemy"
GREETING = "hello from default"

[development]
GREETING = "hello from development"

[production]
SESSION_COOKIE_SECURE = true
"#;

#[derive(Debug, Deserialize, PartialEq)]
enum SessionType {
    #[serde(rename = "memory")]
    Memory,
    #[serde(rename = "redis")]
    Redis,
    #[serde(rename = "sqlalchemy")]
    Sql,
}

#[derive(Debug, Deserialize)]
struct Typed {
    #[serde(rename = "SESSION_TYPE")]
    session_type: SessionType,
    #[serde(rename = "PERMANENT_SESSION_LIFETIME")]
    lifetime: u64,
}

fn config(env: Environment, vars: &[(&str, &str)]) -> Config {
    let file = ConfigFile::parse(Path::new("/project/unchained.toml"), FILE).expect("valid file");
    Config::builder(env)
        .defaults(
            "unchained.bundles.session",
            ConfigDefaults::new()
                .set("SESSION_TYPE", "memory")
                .set("PERMANENT_SESSION_LIFETIME", 3600)
                .set("GREETING", "hello from defaults"),
        )
        .file(&file)
        .env_vars_from(EnvVars::from_pairs(
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        ))
        .build()
}

#[test]
fn file_default_section_overrides_bundle_defaults() {
    let c = config(Environment::Test, &[]);
    assert_eq!(c.get::<String>("SESSION_TYPE").unwrap(), "sqlalchemy");
    assert_eq!(c.get::<String>("GREETING").unwrap(), "hello from default");
    assert_eq!(c.source_of("SESSION_TYPE"), "unchained.toml [default]");
    assert_eq!(
        c.source_of("PERMANENT_SESSION_LIFETIME"),
        "defaults of bundle unchained.bundles.session"
    );
}

#[test]
fn environment_section_overrides_default_section() {
    let dev = config(Environment::Development, &[]);
    assert_eq!(
        dev.get::<String>("GREETING").unwrap(),
        "hello from development"
    );
    assert_eq!(dev.source_of("GREETING"), "unchained.toml [development]");
    assert!(!dev.contains("SESSION_COOKIE_SECURE"));

    let prod = config(Environment::Production, &[]);
    assert_eq!(
        prod.get::<String>("GREETING").unwrap(),
        "hello from default"
    );
    assert!(prod.get::<bool>("SESSION_COOKIE_SECURE").unwrap());
}

#[test]
fn environment_variables_override_every_file_section() {
    let c = config(
        Environment::Development,
        &[
            ("UNCHAINED_GREETING", "from env"),
            ("UNCHAINED_SESSION_TYPE", "redis"),
            ("UNCHAINED_PERMANENT_SESSION_LIFETIME", "60"),
            ("OTHER_GREETING", "ignored"),
            ("UNCHAINED_ENV", "test"),
        ],
    );
    assert_eq!(c.get::<String>("GREETING").unwrap(), "from env");
    assert_eq!(
        c.source_of("GREETING"),
        "environment variable UNCHAINED_GREETING"
    );
    let typed: Typed = c.extract().unwrap();
    assert_eq!(typed.session_type, SessionType::Redis);
    assert_eq!(typed.lifetime, 60);
    assert!(
        !c.contains("ENV"),
        "UNCHAINED_ENV picks the environment, it is not a key"
    );
}

#[test]
fn unknown_enum_value_names_key_value_and_variable() {
    let c = config(
        Environment::Development,
        &[("UNCHAINED_SESSION_TYPE", "rediss")],
    );
    let err = c.extract::<Typed>().unwrap_err().to_string();
    assert!(err.contains("SESSION_TYPE"), "{err}");
    assert!(err.contains("rediss"), "{err}");
    assert!(
        err.contains("environment variable UNCHAINED_SESSION_TYPE"),
        "{err}"
    );
    assert!(
        err.contains("`redis`"),
        "the message lists the valid values: {err}"
    );
}

#[test]
fn wrong_type_in_file_names_key_value_and_file_section() {
    let file = ConfigFile::parse(
        Path::new("/project/unchained.toml"),
        "[development]\nPERMANENT_SESSION_LIFETIME = \"a month\"\n",
    )
    .unwrap();
    let c = Config::builder(Environment::Development)
        .defaults("b", ConfigDefaults::new().set("SESSION_TYPE", "memory"))
        .file(&file)
        .build();
    let err = c.extract::<Typed>().unwrap_err().to_string();
    assert!(err.contains("PERMANENT_SESSION_LIFETIME"), "{err}");
    assert!(err.contains("a month"), "{err}");
    assert!(err.contains("unchained.toml [development]"), "{err}");
}

#[test]
fn unknown_section_and_bad_syntax_are_errors() {
    let err = ConfigFile::parse(Path::new("unchained.toml"), "[staging]\nA = 1\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown section [staging]"),
        "{err}"
    );
    let err = ConfigFile::parse(Path::new("unchained.toml"), "SECRET_KEY = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("[SECRET_KEY]"), "{err}");
    let err = ConfigFile::parse(Path::new("unchained.toml"), "[default\n").unwrap_err();
    assert!(err.to_string().contains("not valid TOML"), "{err}");
}

#[test]
fn secrets_are_masked_and_url_passwords_hidden() {
    let c = Config::builder(Environment::Development)
        .defaults(
            "b",
            ConfigDefaults::new()
                .set("SECRET_KEY", "s3cr3t-value")
                .set("SECRET_KEY_FALLBACKS", vec!["old-one", "older"])
                .set("DATABASE_URL", "postgres://app:hunter2@127.0.0.1/app")
                .set("SESSION_REDIS", "redis://127.0.0.1:6379/0")
                .set("API_CREDENTIAL", "abc"),
        )
        .secret_keys(["API_CREDENTIAL"])
        .build();
    let shown: Vec<String> = c
        .entries()
        .iter()
        .map(|e| format!("{} = {}", e.key, e.display))
        .collect();
    let text = shown.join("\n");
    for secret in ["s3cr3t-value", "old-one", "hunter2", "abc"] {
        assert!(!text.contains(secret), "{secret} leaked in:\n{text}");
    }
    assert!(
        text.contains("postgres://app:********@127.0.0.1/app"),
        "{text}"
    );
    assert!(text.contains("redis://127.0.0.1:6379/0"), "{text}");
}

#[test]
fn production_refuses_missing_dev_or_short_secret() {
    let build = |secret: Option<&str>| {
        let mut b = Config::builder(Environment::Production);
        if let Some(s) = secret {
            b = b.set("SECRET_KEY", s);
        }
        b.build()
    };
    let missing = check_production_secret(&build(None))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("SECRET_KEY is not set") && missing.contains("UNCHAINED_SECRET_KEY"),
        "{missing}"
    );
    let dev = check_production_secret(&build(Some(
        "dev-insecure-0123456789abcdefghijklmnopqrstuv",
    )))
    .unwrap_err()
    .to_string();
    assert!(dev.contains("development default"), "{dev}");
    let short = check_production_secret(&build(Some("short")))
        .unwrap_err()
        .to_string();
    assert!(short.contains("at least 32"), "{short}");
    assert!(
        !short.contains("short\""),
        "the message never shows the key: {short}"
    );
    check_production_secret(&build(Some("8f2b6c0e5d4a39f1b7c6e2d0a9f8e7d6c5b4a3f2"))).unwrap();
    // Other environments do not need one.
    check_production_secret(&Config::builder(Environment::Development).build()).unwrap();
}

#[test]
fn production_refuses_dev_or_short_secret_key_fallbacks() {
    let good = "8f2b6c0e5d4a39f1b7c6e2d0a9f8e7d6c5b4a3f2";
    let build = |fallbacks: &[&str]| {
        Config::builder(Environment::Production)
            .set("SECRET_KEY", good)
            .set("SECRET_KEY_FALLBACKS", fallbacks)
            .build()
    };
    let dev = check_production_secret(&build(&[
        good,
        "dev-insecure-0123456789abcdefghijklmnopqrstuv",
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        dev.contains("SECRET_KEY_FALLBACKS[1]")
            && dev.contains("development default")
            && dev.contains("remove it from SECRET_KEY_FALLBACKS"),
        "{dev}"
    );
    assert!(!dev.contains("dev-insecure-"), "never shows the key: {dev}");
    let short = check_production_secret(&build(&["tooshort"]))
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("SECRET_KEY_FALLBACKS[0]") && short.contains("at least 32"),
        "{short}"
    );
    assert!(!short.contains("tooshort"), "never shows the key: {short}");
    check_production_secret(&build(&[good])).unwrap();
    check_production_secret(&build(&[])).unwrap();
    // Development keeps accepting its own keys as fallbacks.
    check_production_secret(
        &Config::builder(Environment::Development)
            .set("SECRET_KEY_FALLBACKS", ["dev-insecure-x"])
            .build(),
    )
    .unwrap();
}

#[test]
fn is_explicit_tells_a_projects_value_from_a_default() {
    let config = Config::builder(Environment::Production)
        .core_defaults()
        .defaults(
            "unchained.bundles.demo",
            ConfigDefaults::new()
                .set("DEMO_NAME", "x")
                .set("DEMO_OTHER", 1),
        )
        .set("DEMO_OTHER", 2)
        .build();
    assert!(!config.is_explicit("DEMO_NAME"));
    assert!(!config.is_explicit("REQUEST_LOG"));
    assert!(!config.is_explicit("MISSING"));
    assert!(config.is_explicit("DEMO_OTHER"));
}

#[test]
fn environment_names_parse() {
    assert_eq!(
        "production".parse::<Environment>().unwrap(),
        Environment::Production
    );
    assert_eq!("TEST".parse::<Environment>().unwrap(), Environment::Test);
    let err = "staging".parse::<Environment>().unwrap_err().to_string();
    assert!(
        err.contains("staging") && err.contains("development, production or test"),
        "{err}"
    );
}
