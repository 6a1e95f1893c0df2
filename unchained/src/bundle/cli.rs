//! [`BundleCommand`]: a bundle's CLI commands as one typed clap enum, and
//! [`BundleCli`], the handle the core keeps to list and run them.
//!
//! ```
//! use unchained::prelude::*;
//! use unchained::bundle::{BundleCli, BundleCommand};
//!
//! /// Commands of the `acme` bundle.
//! #[derive(unchained::clap::Subcommand)]
//! enum AcmeCommand {
//!     /// Say hello.
//!     Hello {
//!         /// Who to greet.
//!         #[arg(long, default_value = "world")]
//!         name: String,
//!     },
//! }
//!
//! impl BundleCommand for AcmeCommand {
//!     async fn run(self, _ctx: &CommandContext) -> unchained::anyhow::Result<()> {
//!         match self {
//!             AcmeCommand::Hello { name } => println!("hello {name}"),
//!         }
//!         Ok(())
//!     }
//! }
//!
//! // In the bundle: fn cli(&self) -> Option<BundleCli> { Some(BundleCli::of::<AcmeCommand>()) }
//! assert_eq!(BundleCli::of::<AcmeCommand>().names(), ["hello"]);
//! ```
//!
//! The enum is the single place where a command's name, arguments and
//! handler meet: clap derives the parser from it and `run` matches on it,
//! so the two cannot drift apart.

use std::future::Future;
use std::pin::Pin;

use clap::{ArgMatches, Command, Subcommand};

use super::CommandContext;

/// A bundle's top-level CLI commands: a clap `Subcommand` enum that can
/// run itself.
pub trait BundleCommand: Subcommand + Send + 'static {
    /// Runs the parsed command.
    fn run(self, ctx: &CommandContext) -> impl Future<Output = anyhow::Result<()>> + Send;
}

type RunFn = for<'a> fn(
    &'a ArgMatches,
    &'a CommandContext,
) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// What [`Bundle::cli`](super::Bundle::cli) returns: a [`BundleCommand`]
/// type, erased so that the core can add its commands to the `unchained`
/// command line and run the one the user picked.
#[derive(Clone, Copy)]
pub struct BundleCli {
    augment: fn(Command) -> Command,
    handles: fn(&str) -> bool,
    run: RunFn,
}

impl std::fmt::Debug for BundleCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleCli")
            .field("commands", &self.names())
            .finish()
    }
}

impl BundleCli {
    /// The commands of the enum `T`.
    pub fn of<T: BundleCommand>() -> Self {
        BundleCli {
            augment: T::augment_subcommands,
            handles: T::has_subcommand,
            run: |matches, ctx| {
                Box::pin(async move {
                    let command = T::from_arg_matches(matches).map_err(|e| {
                        // clap checked the arguments already; this only
                        // fails if the enum and its parser disagree.
                        anyhow::anyhow!("{e}")
                    })?;
                    command.run(ctx).await
                })
            },
        }
    }

    /// The top-level command names, in declaration order.
    pub fn names(&self) -> Vec<String> {
        (self.augment)(Command::new("unchained"))
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    /// Adds the commands to `command` (the `unchained` command line).
    pub fn augment(&self, command: Command) -> Command {
        (self.augment)(command)
    }

    /// Whether `name` is one of these commands.
    pub fn handles(&self, name: &str) -> bool {
        (self.handles)(name)
    }

    /// Parses the whole command line's `matches` (whose subcommand is one
    /// of these) and runs the command, as `unchained` does.
    pub async fn run(&self, matches: &ArgMatches, ctx: &CommandContext) -> anyhow::Result<()> {
        (self.run)(matches, ctx).await
    }
}
