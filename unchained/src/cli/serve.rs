//! `unchained run`: serve the app.

use std::net::{IpAddr, SocketAddr};

use clap::{Arg, ArgMatches, Command, value_parser};

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
}

pub(crate) async fn run(loaded: &LoadedApp, matches: &ArgMatches) -> Result<(), Error> {
    let host = matches
        .get_one::<IpAddr>("host")
        .copied()
        .unwrap_or([127, 0, 0, 1].into());
    let port = matches.get_one::<u16>("port").copied().unwrap_or(5000);
    let app = loaded.build().await?;
    let addr = SocketAddr::new(host, port);
    let listener = crate::app::bind(addr).await?;
    eprintln!(
        " * Serving {} ({} environment) on http://{addr}/ (Ctrl-C to stop)",
        loaded.root().display(),
        loaded.env()
    );
    app.serve_on(listener).await
}
