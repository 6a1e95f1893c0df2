//! The `unchained session ...` commands of the session bundle.

use unchained::bundle::BundleCommand;
use unchained::clap;
use unchained::prelude::*;

use crate::manager::SessionManager;

/// The session bundle's top-level command.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum SessionCommand {
    /// Manage server-side sessions
    #[command(subcommand)]
    Session(SessionSubcommand),
}

/// `unchained session ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum SessionSubcommand {
    /// Delete expired sessions from the store, in batches
    Cleanup {
        /// Records deleted per statement (default: SESSION_CLEANUP_BATCH_SIZE)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
    },
}

impl BundleCommand for SessionCommand {
    async fn run(self, ctx: &CommandContext) -> anyhow::Result<()> {
        match self {
            SessionCommand::Session(SessionSubcommand::Cleanup { batch_size }) => {
                let app = ctx.build_app().await?;
                // The bundle's before_build registered it, or the build failed.
                let manager = app
                    .state()
                    .service::<SessionManager>()
                    .cloned()
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "the session bundle did not start: no SessionManager service"
                        )
                    })?;
                let batch = batch_size.unwrap_or(manager.config().cleanup_batch_size);
                crate::cleanup::run(&manager, batch, &mut std::io::stdout()).await?;
                Ok(())
            }
        }
    }
}
