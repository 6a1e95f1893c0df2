//! `session-scaling [--workers 1,2,4] [--seconds S] [--warmup S] [--rounds N]`:
//! throughput of bare axum, our session layer and tower-sessions with N
//! tokio workers, in process, with no network. See
//! `session_bench::scaling`.

use std::process::ExitCode;
use std::time::Duration;

use session_bench::scaling::{self, Options};

const USAGE: &str =
    "usage: session-scaling [--workers 1,2,4,...] [--seconds S] [--warmup S] [--rounds N]";

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "in process, no network; {cores} cores available; workers {:?}\n",
        options.workers
    );
    match scaling::run(&options) {
        Ok(report) => {
            println!("{report}");
            if report.errors() > 0 {
                eprintln!("error: some requests failed");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--workers" => {
                options.workers = value()?
                    .split(',')
                    .map(|n| match n.trim().parse::<usize>() {
                        Ok(n) if n > 0 => Ok(n),
                        _ => Err(format!("--workers takes positive whole numbers, got {n:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => options.duration = seconds(&flag, &value()?)?,
            "--warmup" => options.warmup = seconds(&flag, &value()?)?,
            "--rounds" => {
                options.rounds = match value()?.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err("--rounds takes a positive whole number".into()),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} takes seconds, got {value:?}"))
}
