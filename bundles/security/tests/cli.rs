//! `unchained users ...` and `unchained roles ...`, run against a real
//! database.

mod common;

use common::*;
use unchained_security::commands::{self, PasswordSource};

struct Fixed(&'static str);

impl PasswordSource for Fixed {
    fn new_password(&mut self) -> anyhow::Result<String> {
        Ok(self.0.to_owned())
    }
}

struct NoTerminal;

impl PasswordSource for NoTerminal {
    fn new_password(&mut self) -> anyhow::Result<String> {
        anyhow::bail!("no --password given and standard input is not a terminal: pass --password P")
    }
}

async fn run(
    t: &TestApp,
    args: &[&str],
    passwords: &mut (dyn PasswordSource + Send),
) -> anyhow::Result<String> {
    use unchained::clap::{FromArgMatches, Subcommand};
    let security = t.security();
    let cli =
        commands::SecurityCommand::augment_subcommands(unchained::clap::Command::new("unchained"))
            .try_get_matches_from(std::iter::once("unchained").chain(args.iter().copied()))?;
    let command = commands::SecurityCommand::from_arg_matches(&cli)?;
    let mut out: Vec<u8> = Vec::new();
    commands::run(&security, command, &mut out, passwords).await?;
    Ok(String::from_utf8(out)?)
}

#[tokio::test]
async fn users_and_roles_commands() {
    let t = app(|c| c).await;
    let mut none = NoTerminal;
    assert!(
        run(&t, &["roles", "list"], &mut none)
            .await
            .unwrap()
            .contains("no roles")
    );
    assert!(
        run(
            &t,
            &[
                "roles",
                "create",
                "admin",
                "--description",
                "Administrators"
            ],
            &mut none
        )
        .await
        .unwrap()
        .contains("created role admin")
    );
    run(&t, &["roles", "create", "editor"], &mut none)
        .await
        .unwrap();
    let roles = run(&t, &["roles", "list"], &mut none).await.unwrap();
    assert!(
        roles.contains("admin") && roles.contains("Administrators") && roles.contains("editor")
    );
    assert!(
        run(&t, &["roles", "create", "admin"], &mut none)
            .await
            .is_err(),
        "duplicate role"
    );

    let created = run(
        &t,
        &[
            "users",
            "create",
            "Root@Example.com",
            "--password",
            PASSWORD,
            "--role",
            "admin",
        ],
        &mut none,
    )
    .await
    .unwrap();
    assert!(
        created.contains("created user root@example.com"),
        "{created}"
    );
    // Without --password and without a terminal: a clear error.
    let err = run(&t, &["users", "create", "b@example.com"], &mut none)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--password"), "{err}");
    // The prompt's answer is used when there is one.
    run(
        &t,
        &["users", "create", "b@example.com"],
        &mut Fixed("prompted secret"),
    )
    .await
    .unwrap();
    assert_eq!(
        login(&t.new_client(), "b@example.com", "prompted secret")
            .await
            .status(),
        303
    );
    // Policy and unknown roles are refused.
    assert!(
        run(
            &t,
            &["users", "create", "c@example.com", "--password", "short"],
            &mut none
        )
        .await
        .is_err()
    );
    assert!(
        run(
            &t,
            &[
                "users",
                "create",
                "c@example.com",
                "--password",
                PASSWORD,
                "--role",
                "nope"
            ],
            &mut none
        )
        .await
        .is_err()
    );
    assert!(
        run(
            &t,
            &[
                "users",
                "create",
                "root@example.com",
                "--password",
                PASSWORD
            ],
            &mut none
        )
        .await
        .is_err()
    );

    let list = run(&t, &["users", "list"], &mut none).await.unwrap();
    assert!(
        list.contains("root@example.com") && list.contains("admin") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains("argon2"), "hashes are never printed");

    run(
        &t,
        &["users", "add-role", "b@example.com", "editor"],
        &mut none,
    )
    .await
    .unwrap();
    assert_eq!(t.security().role_names(2).await.unwrap(), vec!["editor"]);
    assert!(
        run(
            &t,
            &["users", "remove-role", "b@example.com", "editor"],
            &mut none
        )
        .await
        .unwrap()
        .contains("no longer has")
    );
    assert!(t.security().role_names(2).await.unwrap().is_empty());

    // Deactivation ends the user's sessions at once.
    let client = t.new_client();
    login(&client, "root@example.com", PASSWORD).await;
    assert_eq!(whoami(&client).await, "user:root@example.com");
    run(&t, &["users", "deactivate", "root@example.com"], &mut none)
        .await
        .unwrap();
    assert_eq!(whoami(&client).await, "anonymous");
    assert!(
        login(&client, "root@example.com", PASSWORD)
            .await
            .text()
            .contains("disabled")
    );
    run(&t, &["users", "activate", "root@example.com"], &mut none)
        .await
        .unwrap();
    assert_eq!(
        login(&client, "root@example.com", PASSWORD).await.status(),
        303
    );

    // set-password ends sessions and changes the password.
    run(
        &t,
        &[
            "users",
            "set-password",
            "root@example.com",
            "--password",
            "cli new secret",
        ],
        &mut none,
    )
    .await
    .unwrap();
    assert_eq!(whoami(&client).await, "anonymous");
    assert_eq!(
        login(&client, "root@example.com", "cli new secret")
            .await
            .status(),
        303
    );

    run(&t, &["roles", "delete", "admin"], &mut none)
        .await
        .unwrap();
    assert!(t.security().role_names(1).await.unwrap().is_empty());
    assert!(
        run(&t, &["users", "activate", "ghost@example.com"], &mut none)
            .await
            .is_err()
    );
    assert!(
        run(&t, &["roles", "delete", "ghost"], &mut none)
            .await
            .is_err()
    );
}
