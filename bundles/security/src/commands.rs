//! `unchained users ...` and `unchained roles ...`.

use std::io::{IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::models::user;
use crate::service::{Security, UserError};

/// The `users` and `roles` commands.
pub fn commands() -> Vec<Command> {
    let email = || {
        Arg::new("email")
            .value_name("EMAIL")
            .required(true)
            .help("The user's email address")
    };
    let password = || {
        Arg::new("password")
            .long("password")
            .value_name("P")
            .help("The password (asked for on the terminal when not given)")
    };
    vec![
        Command::new("users")
            .about("Manage user accounts")
            .subcommand_required(true)
            .subcommand(
                Command::new("create")
                    .about("Create a user (confirmed and active)")
                    .arg(email())
                    .arg(password())
                    .arg(
                        Arg::new("role")
                            .long("role")
                            .value_name("R")
                            .action(ArgAction::Append)
                            .help("Give the user this role (repeatable; the role must exist)"),
                    )
                    .arg(
                        Arg::new("inactive")
                            .long("inactive")
                            .action(ArgAction::SetTrue)
                            .help("Create the account deactivated"),
                    ),
            )
            .subcommand(Command::new("list").about("List users with their roles"))
            .subcommand(
                Command::new("activate")
                    .about("Allow a user to log in")
                    .arg(email()),
            )
            .subcommand(
                Command::new("deactivate")
                    .about("Stop a user from logging in and end all of its sessions")
                    .arg(email()),
            )
            .subcommand(
                Command::new("set-password")
                    .about("Set a user's password and end all of its sessions")
                    .arg(email())
                    .arg(password()),
            )
            .subcommand(
                Command::new("add-role")
                    .about("Give a user a role")
                    .arg(email())
                    .arg(Arg::new("role").value_name("ROLE").required(true)),
            )
            .subcommand(
                Command::new("remove-role")
                    .about("Take a role from a user")
                    .arg(email())
                    .arg(Arg::new("role").value_name("ROLE").required(true)),
            ),
        Command::new("roles")
            .about("Manage roles")
            .subcommand_required(true)
            .subcommand(
                Command::new("create")
                    .about("Create a role")
                    .arg(Arg::new("name").value_name("NAME").required(true))
                    .arg(
                        Arg::new("description")
                            .long("description")
                            .value_name("TEXT")
                            .default_value(""),
                    ),
            )
            .subcommand(Command::new("list").about("List roles"))
            .subcommand(
                Command::new("delete")
                    .about("Delete a role (users lose it)")
                    .arg(Arg::new("name").value_name("NAME").required(true)),
            ),
    ]
}

fn arg<'a>(matches: &'a ArgMatches, name: &str) -> &'a str {
    matches
        .get_one::<String>(name)
        .map(String::as_str)
        .unwrap_or("")
}

async fn find(security: &Security, email: &str) -> anyhow::Result<user::Model> {
    security
        .find_user_by_email(email)
        .await?
        .with_context(|| format!("no user with email {email}: see `unchained users list`"))
}

fn user_error(e: UserError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Where a password comes from when `--password` is not given.
pub trait PasswordSource {
    /// Asks for a new password (twice on a terminal).
    fn new_password(&mut self) -> anyhow::Result<String>;
}

/// Asks on the terminal, without echo; refuses when stdin is not one.
#[derive(Debug, Default)]
pub struct TerminalPassword;

impl PasswordSource for TerminalPassword {
    fn new_password(&mut self) -> anyhow::Result<String> {
        if !std::io::stdin().is_terminal() {
            bail!("no --password given and standard input is not a terminal: pass --password P");
        }
        let first = rpassword::prompt_password("Password: ").context("read the password")?;
        let second =
            rpassword::prompt_password("Password (again): ").context("read the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        Ok(first)
    }
}

/// Runs `users ...` or `roles ...` against `security`, writing to `out`.
pub async fn run(
    security: &Security,
    name: &str,
    matches: &ArgMatches,
    out: &mut (dyn Write + Send),
    passwords: &mut (dyn PasswordSource + Send),
) -> anyhow::Result<()> {
    match (name, matches.subcommand()) {
        ("users", Some(("create", m))) => {
            let password = match m.get_one::<String>("password") {
                Some(p) => p.clone(),
                None => passwords.new_password()?,
            };
            let roles: Vec<String> = m
                .get_many::<String>("role")
                .map(|r| r.cloned().collect())
                .unwrap_or_default();
            for role in &roles {
                if security.find_role(role).await?.is_none() {
                    bail!(
                        "no role called {role}: create it first with `unchained roles create {role}`"
                    );
                }
            }
            let user = security
                .create_user(arg(m, "email"), &password, !m.get_flag("inactive"), true)
                .await
                .map_err(user_error)?;
            for role in &roles {
                security.add_role(user.id, role).await.map_err(user_error)?;
            }
            writeln!(out, "created user {} (id {})", user.email, user.id)?;
        }
        ("users", Some(("list", _))) => {
            let users = security.list_users().await?;
            if users.is_empty() {
                writeln!(out, "no users")?;
            }
            for user in users {
                let roles = security.role_names(user.id).await?;
                writeln!(
                    out,
                    "{:>5}  {:<40}  {:<8}  {:<11}  {}",
                    user.id,
                    user.email,
                    if user.active { "active" } else { "inactive" },
                    if user.confirmed_at.is_some() {
                        "confirmed"
                    } else {
                        "unconfirmed"
                    },
                    roles.join(",")
                )?;
            }
        }
        ("users", Some(("activate", m))) => {
            let user = find(security, arg(m, "email")).await?;
            let user = security.set_active(user, true).await.map_err(user_error)?;
            writeln!(out, "activated {}", user.email)?;
        }
        ("users", Some(("deactivate", m))) => {
            let user = find(security, arg(m, "email")).await?;
            let user = security.set_active(user, false).await.map_err(user_error)?;
            writeln!(out, "deactivated {} and ended its sessions", user.email)?;
        }
        ("users", Some(("set-password", m))) => {
            let user = find(security, arg(m, "email")).await?;
            let password = match m.get_one::<String>("password") {
                Some(p) => p.clone(),
                None => passwords.new_password()?,
            };
            let user = security
                .set_password(user, &password)
                .await
                .map_err(user_error)?;
            crate::auth::end_sessions(security, user.id, None).await?;
            writeln!(
                out,
                "password of {} changed; its sessions were ended",
                user.email
            )?;
        }
        ("users", Some(("add-role", m))) => {
            let user = find(security, arg(m, "email")).await?;
            security
                .add_role(user.id, arg(m, "role"))
                .await
                .map_err(user_error)?;
            writeln!(out, "{} now has role {}", user.email, arg(m, "role"))?;
        }
        ("users", Some(("remove-role", m))) => {
            let user = find(security, arg(m, "email")).await?;
            if security
                .remove_role(user.id, arg(m, "role"))
                .await
                .map_err(user_error)?
            {
                writeln!(out, "{} no longer has role {}", user.email, arg(m, "role"))?;
            } else {
                writeln!(out, "{} did not have role {}", user.email, arg(m, "role"))?;
            }
        }
        ("roles", Some(("create", m))) => {
            let role = security
                .create_role(arg(m, "name"), arg(m, "description"))
                .await
                .map_err(user_error)?;
            writeln!(out, "created role {}", role.name)?;
        }
        ("roles", Some(("list", _))) => {
            let roles = security.list_roles().await?;
            if roles.is_empty() {
                writeln!(out, "no roles")?;
            }
            for role in roles {
                writeln!(out, "{:<24}  {}", role.name, role.description)?;
            }
        }
        ("roles", Some(("delete", m))) => {
            security
                .delete_role(arg(m, "name"))
                .await
                .map_err(user_error)?;
            writeln!(out, "deleted role {}", arg(m, "name"))?;
        }
        _ => bail!(
            "the security bundle has no command `{name}`: try `unchained users --help` or `unchained roles --help`"
        ),
    }
    Ok(())
}
