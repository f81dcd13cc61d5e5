//! The `app-runner` command line; all behaviour is in the library.

use std::process::ExitCode;

const USAGE: &str = "usage:
  app-runner on-demand --socket PATH   serve one caller over a unix socket (the default mode);
                                       the first line of stdin is the token, `ready` is printed
                                       on stdout once calls are accepted, end of stdin stops it;
                                       uploads are limited to APP_RUNNER_MAX_SOURCE_BYTES
                                       (bytes, or with K/M/G/T; default 8G)
  app-runner version                   print the version";

enum Command {
    OnDemand { socket: std::path::PathBuf },
    Version,
    Help,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (mode, rest) = match args.first().map(String::as_str) {
        Some("version" | "--version" | "-V") if args.len() == 1 => return Ok(Command::Version),
        Some("help" | "--help" | "-h") => return Ok(Command::Help),
        Some("serve") => {
            return Err("serve mode (a long-lived runner reached over TLS) is not available in this version; \
                        use on-demand mode"
                .into())
        }
        Some("on-demand") => ("on-demand", &args[1..]),
        Some(flag) if flag.starts_with("--") => ("on-demand", args),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".into()),
    };
    let mut socket = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].as_str();
        if let Some(value) = arg.strip_prefix("--socket=") {
            socket = Some(value.to_string());
        } else if arg == "--socket" {
            i += 1;
            socket = Some(rest.get(i).cloned().ok_or("--socket needs a path")?);
        } else {
            return Err(format!("{mode}: unknown argument {arg:?}"));
        }
        i += 1;
    }
    match socket {
        Some(s) if !s.is_empty() => Ok(Command::OnDemand { socket: s.into() }),
        _ => Err(format!("{mode}: --socket PATH is required")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("app-runner: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => {
            println!("app-runner {}", app_runner::VERSION);
            ExitCode::SUCCESS
        }
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::OnDemand { socket } => {
            app_log::init("app-runner", app_log::level_from_env());
            let max_source_bytes = match app_runner::sources::limit_from_env() {
                Ok(limit) => limit,
                Err(message) => {
                    eprintln!("app-runner: {message}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("app-runner: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let options = app_runner::ondemand::OnDemandOptions { socket, max_source_bytes };
            let plugins = app_runner::platforms::builtin();
            let result = runtime.block_on(app_runner::ondemand::run(options, plugins, std::io::stdin(), std::io::stdout()));
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            app_log::log_exit();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("app-runner: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
