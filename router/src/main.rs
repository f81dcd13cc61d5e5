//! `app-router serve --listen <ip:port> --upstream-file <path> [...]` | `app-router version`; the contract
//! is in the library's documentation (`router/src/lib.rs`). Built by `scripts/build.sh` only
//! (feature `bin`, statically linked).

use app_router::{parse_args, run_serve, Cli, USAGE, VERSION};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Cli::Serve(options)) => ExitCode::from(run_serve(&options)),
        Ok(Cli::Version) => {
            println!("{VERSION}");
            ExitCode::SUCCESS
        }
        Ok(Cli::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("app-router: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
