//! `unchained run`: serve the app.

use std::net::{IpAddr, SocketAddr};

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::app::LoadedApp;
use crate::error::Error;

/// The `run` command.
pub(crate) fn command() -> Command {
    Command::new("run")
        .about("Serve the app")
        .arg(
            Arg::new("host")
                .long("host")
                .value_name("HOST")
                .default_value("127.0.0.1")
                .value_parser(value_parser!(IpAddr))
                .help("Address to listen on"),
        )
        .arg(
            Arg::new("port")
                .long("port")
                .short('p')
                .value_name("PORT")
                .default_value("5000")
                .value_parser(value_parser!(u16))
                .help("Port to listen on"),
        )
        .arg(
            Arg::new("reload")
                .long("reload")
                .action(ArgAction::SetTrue)
                .help("Rebuild and restart on source changes; templates reload without a rebuild"),
        )
}

pub(crate) async fn run(loaded: &LoadedApp, matches: &ArgMatches) -> Result<(), Error> {
    // The launcher strips `--reload` and runs this binary with
    // UNCHAINED_RELOAD set; a binary that gets the flag itself was started
    // by hand, and cannot rebuild itself.
    if matches.get_flag("reload") && std::env::var_os(super::reload::RELOAD_VAR).is_none() {
        return Err(Error::Io {
            what: "rebuild a running binary from inside it".to_owned(),
            message: "--reload is handled by the `unchained` command: \
                      run `unchained run --reload` in the project folder"
                .to_owned(),
        });
    }
    let host = matches
        .get_one::<IpAddr>("host")
        .copied()
        .unwrap_or([127, 0, 0, 1].into());
    let port = matches.get_one::<u16>("port").copied().unwrap_or(5000);
    let app = loaded.build().await?;
    for warning in loaded.before_serve(&app).await? {
        eprintln!("warning: {warning}");
    }
    let addr = SocketAddr::new(host, port);
    let listener = crate::app::bind(addr).await?;
    eprintln!(
        " * Serving {} ({} environment) on http://{addr}/ (Ctrl-C to stop)",
        loaded.root().display(),
        loaded.env()
    );
    app.serve_on(listener).await
}
