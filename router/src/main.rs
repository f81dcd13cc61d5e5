//! `app-router serve --listen <ip:port> --upstream-file <path>` | `app-router version`; see the
//! library documentation (`router/src/lib.rs`) for the contract.

use app_router::{exit_on_termination, log, serve, Upstream};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: app-router serve --listen <ip:port> --upstream-file <path>
       app-router version

serve: a TCP proxy. Every accepted connection goes to the upstream named in the upstream file
(one line `ip:port`, read again for each connection); connections already open stay where they
started. A missing or malformed file keeps the last good upstream.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => match parse_serve(&args[1..]) {
            Ok((listen, file)) => run(listen, file),
            Err(e) => usage_error(&e),
        },
        Some("version" | "--version" | "-V") if args.len() == 1 => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => usage_error(&format!("unknown command {other:?}")),
        None => usage_error("no command"),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("app-router: {message}\n{USAGE}");
    ExitCode::from(2)
}

fn parse_serve(args: &[String]) -> Result<(SocketAddr, PathBuf), String> {
    let mut listen = None;
    let mut file = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match name {
            "--listen" => &mut listen,
            "--upstream-file" => &mut file,
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        let value = match inline {
            Some(value) => value,
            None => args.next().cloned().ok_or_else(|| format!("{name} needs a value"))?,
        };
        if slot.replace(value).is_some() {
            return Err(format!("{name} given twice"));
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let listen = listen.parse().map_err(|_| format!("--listen {listen:?} is not a literal `ip:port`"))?;
    let file = file.filter(|f| !f.is_empty()).ok_or("--upstream-file is required")?;
    Ok((listen, PathBuf::from(file)))
}

fn run(listen: SocketAddr, file: PathBuf) -> ExitCode {
    if let Err(e) = exit_on_termination() {
        log(format_args!("cannot install signal handlers: {e}"));
    }
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen on {listen}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(listen);
    log(format_args!("{} listening on {local} (upstream file {})", env!("CARGO_PKG_VERSION"), file.display()));
    let mut upstream = Upstream::new(file);
    upstream.refresh();
    serve(listener, upstream)
}
