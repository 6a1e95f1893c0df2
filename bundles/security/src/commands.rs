//! `unchained users ...` and `unchained roles ...`: [`SecurityCommand`],
//! one typed clap enum, so the parser and the code that runs a command
//! cannot drift apart.

use std::io::{IsTerminal, Write};

use anyhow::{Context, bail};
use clap::Subcommand;
use unchained::bundle::{BundleCommand, CommandContext};

use crate::models::user;
use crate::service::{Security, UserError};

/// The bundle's top-level commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum SecurityCommand {
    /// Manage user accounts
    Users {
        /// What to do.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage roles
    Roles {
        /// What to do.
        #[command(subcommand)]
        command: RolesCommand,
    },
}

/// `unchained users ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum UsersCommand {
    /// Create a user (confirmed and active)
    Create {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
        /// The password (asked for on the terminal when not given)
        #[arg(long, value_name = "P")]
        password: Option<String>,
        /// Give the user this role (repeatable; the role must exist)
        #[arg(long = "role", value_name = "R")]
        roles: Vec<String>,
        /// Create the account deactivated
        #[arg(long)]
        inactive: bool,
    },
    /// List users with their roles
    List,
    /// Allow a user to log in
    Activate {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Stop a user from logging in and end all of its sessions
    Deactivate {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Set a user's password and end all of its sessions
    SetPassword {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
        /// The password (asked for on the terminal when not given)
        #[arg(long, value_name = "P")]
        password: Option<String>,
    },
    /// Give a user a role
    AddRole {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
        /// The role's name.
        #[arg(value_name = "ROLE")]
        role: String,
    },
    /// Take a role from a user
    RemoveRole {
        /// The user's email address
        #[arg(value_name = "EMAIL")]
        email: String,
        /// The role's name.
        #[arg(value_name = "ROLE")]
        role: String,
    },
}

/// `unchained roles ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum RolesCommand {
    /// Create a role
    Create {
        /// The role's name (no spaces).
        #[arg(value_name = "NAME")]
        name: String,
        /// What the role is for.
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
    },
    /// List roles
    List,
    /// Delete a role (users lose it)
    Delete {
        /// The role's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

impl BundleCommand for SecurityCommand {
    async fn run(self, ctx: &CommandContext) -> anyhow::Result<()> {
        let app = ctx.build_app().await?;
        // The build registered the service (the bundle provides it).
        let security = app
            .state()
            .service::<Security>()
            .context("the security bundle did not start: no Security service")?
            .clone();
        let mut out = std::io::stdout();
        run(&security, self, &mut out, &mut TerminalPassword).await
    }
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

/// Runs `command` against `security`, writing to `out`; a missing
/// password comes from `passwords`.
pub async fn run(
    security: &Security,
    command: SecurityCommand,
    out: &mut (dyn Write + Send),
    passwords: &mut (dyn PasswordSource + Send),
) -> anyhow::Result<()> {
    match command {
        SecurityCommand::Users { command } => users(security, command, out, passwords).await,
        SecurityCommand::Roles { command } => roles(security, command, out).await,
    }
}

async fn users(
    security: &Security,
    command: UsersCommand,
    out: &mut (dyn Write + Send),
    passwords: &mut (dyn PasswordSource + Send),
) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            email,
            password,
            roles,
            inactive,
        } => {
            let password = match password {
                Some(p) => p,
                None => passwords.new_password()?,
            };
            for role in &roles {
                if security.find_role(role).await?.is_none() {
                    bail!(
                        "no role called {role}: create it first with `unchained roles create {role}`"
                    );
                }
            }
            let user = security
                .create_user(&email, &password, !inactive, true)
                .await
                .map_err(user_error)?;
            for role in &roles {
                security.add_role(user.id, role).await.map_err(user_error)?;
            }
            writeln!(out, "created user {} (id {})", user.email, user.id)?;
        }
        UsersCommand::List => {
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
        UsersCommand::Activate { email } => {
            let user = find(security, &email).await?;
            let user = security.set_active(user, true).await.map_err(user_error)?;
            writeln!(out, "activated {}", user.email)?;
        }
        UsersCommand::Deactivate { email } => {
            let user = find(security, &email).await?;
            let user = security.set_active(user, false).await.map_err(user_error)?;
            writeln!(out, "deactivated {} and ended its sessions", user.email)?;
        }
        UsersCommand::SetPassword { email, password } => {
            let user = find(security, &email).await?;
            let password = match password {
                Some(p) => p,
                None => passwords.new_password()?,
            };
            let user = security
                .set_password(user, &password)
                .await
                .map_err(user_error)?;
            security.end_sessions(user.id, None).await?;
            writeln!(
                out,
                "password of {} changed; its sessions were ended",
                user.email
            )?;
        }
        UsersCommand::AddRole { email, role } => {
            let user = find(security, &email).await?;
            security
                .add_role(user.id, &role)
                .await
                .map_err(user_error)?;
            writeln!(out, "{} now has role {role}", user.email)?;
        }
        UsersCommand::RemoveRole { email, role } => {
            let user = find(security, &email).await?;
            if security
                .remove_role(user.id, &role)
                .await
                .map_err(user_error)?
            {
                writeln!(out, "{} no longer has role {role}", user.email)?;
            } else {
                writeln!(out, "{} did not have role {role}", user.email)?;
            }
        }
    }
    Ok(())
}

async fn roles(
    security: &Security,
    command: RolesCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match command {
        RolesCommand::Create { name, description } => {
            let role = security
                .create_role(&name, &description)
                .await
                .map_err(user_error)?;
            writeln!(out, "created role {}", role.name)?;
        }
        RolesCommand::List => {
            let roles = security.list_roles().await?;
            if roles.is_empty() {
                writeln!(out, "no roles")?;
            }
            for role in roles {
                writeln!(out, "{:<24}  {}", role.name, role.description)?;
            }
        }
        RolesCommand::Delete { name } => {
            security.delete_role(&name).await.map_err(user_error)?;
            writeln!(out, "deleted role {name}")?;
        }
    }
    Ok(())
}
