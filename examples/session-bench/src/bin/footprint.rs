//! `session-footprint [SESSIONS]`: resident memory of the memory store
//! holding SESSIONS live sessions (default 100000). See
//! `session_bench::footprint`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let sessions = match arg.as_deref().map(str::parse::<usize>) {
        None => 100_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!(
                "error: SESSIONS must be a positive whole number, got {:?}\nusage: session-footprint [SESSIONS]",
                arg.unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(session_bench::footprint::measure(sessions)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
