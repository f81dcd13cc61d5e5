//! `app-router`: the router of the `docker` releaser.
//!
//! A release gets a stable local URL on a fixed host port. Behind that port runs one router
//! container, `FROM scratch` with this single, fully static binary (no base image can be pulled on
//! the machines this project targets). It is a plain TCP proxy: every accepted connection goes to
//! the upstream named in a file inside the container, and the runner switches a release to another
//! generation by rewriting that file through the Docker API (`PUT /containers/{id}/archive`).
//!
//! # CLI
//!
//! ```text
//! app-router serve --listen <ip:port> --upstream-file <path>
//! app-router version            # prints the crate version, e.g. `0.1.0`
//! app-router help
//! ```
//!
//! `--listen` and the upstream are literal socket addresses (`0.0.0.0:8080`, `[::]:8080`); the
//! router never resolves names. Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen,
//! 2 on a usage error.
//!
//! # Building
//!
//! `scripts/build.sh` builds the executable (feature `bin`) with the C library linked statically
//! (`-C target-feature=+crt-static --target <host triple>`) and copies it next to
//! `terraform-provider-app` and `app-runner` in the directory it prints; `scripts/dist.sh` packs
//! all three. The feature is off by default so that plain workspace builds never put a dynamically
//! linked `app-router` there; the tests run the library (`tests/proxy.rs` runs the router in a
//! child process: its own test executable).
//!
//! # The upstream file
//!
//! One line `ip:port` (`172.18.0.5:8080`, `[fd00::5]:8080`), trailing newline optional, surrounding
//! whitespace ignored. The file is read again for every accepted connection (it is tiny), so a
//! rewrite takes effect for the very next connection. Connections already open stay on the upstream
//! they started with: the previous generation finishes them, which is what makes a switch free of
//! failed requests, as long as the previous generation keeps running until they are done (the
//! router cannot move an open connection; stopping a generation cuts the connections it serves).
//!
//! A missing, unreadable or malformed file keeps the last good upstream; with none yet, the router
//! closes client connections right after accepting them. A read that finds a value other than the
//! current upstream is repeated once and only taken when both reads agree, so a file caught in the
//! middle of being rewritten (for example `172.18.0.5:80` of `172.18.0.5:8080`) is never used.
//!
//! # Logs
//!
//! One line on stderr (`docker logs`) when listening starts, per upstream change, per change of
//! the file's problem (missing, malformed, ...) and per failed upstream connect (timeout 3 s; that
//! client connection is closed).
//!
//! # Signals
//!
//! A scratch container's process is PID 1, which the kernel gives no default signal handling, so
//! `docker stop` would wait for its timeout and SIGKILL. `serve` installs handlers for SIGTERM and
//! SIGINT (through the C library's `signal`, the only `unsafe` code in this crate) that end the
//! process at once with status 0; open connections are cut.
//!
//! # For the runner
//!
//! - Where the binary is: `APP_ROUTER_PATH` if set, else `app-router` next to the running
//!   `app-runner` executable (`scripts/build.sh` and `scripts/dist.sh` put the three binaries side
//!   by side).
//! - Image: a build context holding this binary and
//!   `FROM scratch`, `COPY app-router /app-router`,
//!   `ENTRYPOINT ["/app-router", "serve", "--listen", "0.0.0.0:8080", "--upstream-file", "/run/app-router/upstream"]`
//!   (`app_spec::docker_deploy::{ROUTER_PORT, ROUTER_UPSTREAM_FILE}`).
//! - Switching: `PUT /containers/{id}/archive?path=/` with a tar holding `run/`, `run/app-router/`
//!   and `run/app-router/upstream` = `ip:port\n` (the directory does not exist in a scratch image,
//!   and the archive endpoint extracts only into existing directories). This works on a created,
//!   not yet started container too, so the first upstream can be in place before the start.
//! - Stop with `docker stop` (SIGTERM, handled) or `docker rm -f`.

use std::fmt::Display;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::thread;
use std::time::Duration;

/// How long connecting to the upstream may take before the client connection is closed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Upstream files longer than this are malformed.
const MAX_FILE_LEN: u64 = 512;
/// Stack of the two threads that copy one connection (they hold little more than a copy buffer).
const THREAD_STACK: usize = 128 * 1024;

/// The crate version, what `app-router version` prints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const USAGE: &str = "usage: app-router serve --listen <ip:port> --upstream-file <path>
       app-router version

serve: a TCP proxy. Every accepted connection goes to the upstream named in the upstream file
(one line `ip:port`, read again for each connection); connections already open stay where they
started. A missing or malformed file keeps the last good upstream.";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    Serve { listen: SocketAddr, upstream_file: PathBuf },
    Version,
    Help,
}

/// Parses the arguments after the program name. `--name value` and `--name=value` both work.
pub fn parse_args(args: &[String]) -> Result<Cli, String> {
    let (command, rest) = args.split_first().ok_or("no command")?;
    match command.as_str() {
        "serve" => parse_serve(rest),
        "version" | "--version" | "-V" if rest.is_empty() => Ok(Cli::Version),
        "help" | "--help" | "-h" => Ok(Cli::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn parse_serve(args: &[String]) -> Result<Cli, String> {
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
    let upstream_file = file.filter(|f| !f.is_empty()).ok_or("--upstream-file is required")?;
    Ok(Cli::Serve { listen, upstream_file: PathBuf::from(upstream_file) })
}

/// `app-router serve`: installs the signal handlers, listens, serves forever. Returns only when it
/// cannot listen, with the process exit status (1).
pub fn run_serve(listen: SocketAddr, upstream_file: &Path) -> u8 {
    if let Err(e) = exit_on_termination() {
        log(format_args!("cannot install signal handlers: {e}"));
    }
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen on {listen}: {e}"));
            return 1;
        }
    };
    let local = listener.local_addr().unwrap_or(listen);
    log(format_args!("{VERSION} listening on {local} (upstream file {})", upstream_file.display()));
    let mut upstream = Upstream::new(upstream_file);
    upstream.refresh();
    serve(listener, upstream)
}

/// Writes one line to stderr, prefixed `app-router: `.
pub fn log(message: impl Display) {
    eprintln!("app-router: {message}");
}

/// Parses the upstream file's content: one literal `ip:port`, surrounding whitespace ignored.
pub fn parse_upstream(text: &str) -> Result<SocketAddr, String> {
    let line = text.trim();
    if line.is_empty() {
        return Err("empty".into());
    }
    if line.contains(char::is_whitespace) {
        return Err(format!("more than one `ip:port` in {line:?}"));
    }
    let addr = SocketAddr::from_str(line).map_err(|_| format!("not a literal `ip:port` (IPv6: `[ip]:port`): {line:?}"))?;
    if addr.port() == 0 {
        return Err(format!("port 0 in {line:?}"));
    }
    Ok(addr)
}

fn read_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(format!("longer than {MAX_FILE_LEN} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
}

/// Reads the upstream file. A value other than `current` counts only when a second read agrees,
/// so a file caught mid-rewrite is not taken.
fn read_upstream(path: &Path, current: Option<SocketAddr>) -> Result<SocketAddr, String> {
    let first = read_file(path)?;
    let addr = parse_upstream(&first)?;
    if Some(addr) == current {
        return Ok(addr);
    }
    match read_file(path) {
        Ok(second) if second == first => Ok(addr),
        _ => Err("changed while being read".into()),
    }
}

/// The upstream for new connections: the last good value of the upstream file.
#[derive(Debug)]
pub struct Upstream {
    path: PathBuf,
    current: Option<SocketAddr>,
    problem: Option<String>,
}

impl Upstream {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), current: None, problem: None }
    }

    /// The upstream as of the last [`Upstream::refresh`].
    pub fn current(&self) -> Option<SocketAddr> {
        self.current
    }

    /// Reads the file and returns the upstream for the next connection. Logs a change of upstream,
    /// and a problem with the file once until the file is good again.
    pub fn refresh(&mut self) -> Option<SocketAddr> {
        match read_upstream(&self.path, self.current) {
            Ok(addr) => {
                self.problem = None;
                if self.current != Some(addr) {
                    match self.current {
                        Some(old) => log(format_args!("upstream {addr} (was {old})")),
                        None => log(format_args!("upstream {addr}")),
                    }
                    self.current = Some(addr);
                }
            }
            Err(problem) => {
                if self.problem.as_ref() != Some(&problem) {
                    let keep = match self.current {
                        Some(addr) => format!("keeping upstream {addr}"),
                        None => "no upstream yet: closing connections".to_string(),
                    };
                    log(format_args!("upstream file {}: {problem}; {keep}", self.path.display()));
                    self.problem = Some(problem);
                }
            }
        }
        self.current
    }
}

/// Accepts connections forever, each proxied to the upstream current at its accept.
pub fn serve(listener: TcpListener, mut upstream: Upstream) -> ! {
    let mut accept_failing = false;
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => {
                accept_failing = false;
                client
            }
            Err(e) => {
                // Out of descriptors or similar: say so once, and do not spin.
                if !accept_failing {
                    log(format_args!("accept failed: {e}"));
                    accept_failing = true;
                }
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Some(addr) = upstream.refresh() else {
            drop(client);
            continue;
        };
        let spawned = thread::Builder::new().name("conn".into()).stack_size(THREAD_STACK).spawn(move || proxy(client, addr));
        if let Err(e) = spawned {
            log(format_args!("cannot start a connection thread: {e}"));
        }
    }
}

/// Connects to `upstream` and copies both ways until both directions have ended.
fn proxy(client: TcpStream, upstream: SocketAddr) {
    let server = match TcpStream::connect_timeout(&upstream, CONNECT_TIMEOUT) {
        Ok(server) => server,
        Err(e) => {
            log(format_args!("connecting to upstream {upstream} failed: {e}"));
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client2, server2) = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => (c, s),
        _ => return,
    };
    let to_server = thread::Builder::new().name("conn-up".into()).stack_size(THREAD_STACK).spawn(move || pipe(client2, server2));
    match to_server {
        Ok(to_server) => {
            pipe(server, client);
            let _ = to_server.join();
        }
        Err(e) => log(format_args!("cannot start a connection thread: {e}")),
    }
}

/// Copies `from` to `to`. At the end of `from`, half-closes `to` (the peer sees the end, the other
/// direction goes on: HTTP keep-alive and half-close work); on an error, cuts both sockets so the
/// other direction ends too.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

/// Makes SIGTERM and SIGINT end the process at once with status 0 (PID 1 has no default handling).
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn exit_on_termination() -> io::Result<()> {
    use std::os::raw::c_int;
    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;
    const SIG_ERR: usize = usize::MAX;
    extern "C" {
        // `sighandler_t signal(int, sighandler_t)`; the result may be SIG_DFL/SIG_IGN, so not a fn.
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
        fn _exit(status: c_int) -> !;
    }
    extern "C" fn on_signal(_: c_int) {
        // SAFETY: `_exit` is async-signal-safe and takes no pointers.
        unsafe { _exit(0) }
    }
    for signum in [SIGTERM, SIGINT] {
        // SAFETY: `on_signal` has the C handler signature and only calls `_exit`; SIGTERM and SIGINT
        // are 15 and 2 on every Unix this builds for.
        if unsafe { signal(signum, on_signal) } == SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn exit_on_termination() -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("app-router-unit-{}-{name}", std::process::id()))
    }

    #[test]
    fn parses_literal_addresses() {
        for (text, want) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("172.18.0.5:80\n", "172.18.0.5:80"),
            ("  10.0.0.1:1\r\n", "10.0.0.1:1"),
            ("[::1]:8080\n", "[::1]:8080"),
            ("[fd00::5]:65535", "[fd00::5]:65535"),
        ] {
            assert_eq!(parse_upstream(text), Ok(want.parse().expect("address")), "{text:?}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for text in [
            "",
            "\n",
            "localhost:80",
            "example.com:80",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "::1:80",
            "1.2.3.4:80\n5.6.7.8:80\n",
            "1.2.3.4:80 5.6.7.8:80",
            "http://1.2.3.4:80",
        ] {
            assert!(parse_upstream(text).is_err(), "{text:?} was accepted");
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines() {
        let serve = Cli::Serve { listen: "0.0.0.0:8080".parse().expect("address"), upstream_file: "/run/app-router/upstream".into() };
        assert_eq!(
            parse_args(&args(&["serve", "--listen", "0.0.0.0:8080", "--upstream-file", "/run/app-router/upstream"])),
            Ok(serve.clone())
        );
        assert_eq!(parse_args(&args(&["serve", "--upstream-file=/run/app-router/upstream", "--listen=0.0.0.0:8080"])), Ok(serve));
        assert_eq!(
            parse_args(&args(&["serve", "--listen", "[::]:80", "--upstream-file", "u"])),
            Ok(Cli::Serve { listen: "[::]:80".parse().expect("address"), upstream_file: "u".into() })
        );
        assert_eq!(parse_args(&args(&["version"])), Ok(Cli::Version));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Cli::Version));
        assert_eq!(parse_args(&args(&["help"])), Ok(Cli::Help));
        for bad in [
            &[][..],
            &["nope"],
            &["version", "x"],
            &["serve"],
            &["serve", "--listen", "127.0.0.1:80"],
            &["serve", "--upstream-file", "u"],
            &["serve", "--listen", "localhost:80", "--upstream-file", "u"],
            &["serve", "--listen", "127.0.0.1:80", "--upstream-file"],
            &["serve", "--listen", "127.0.0.1:80", "--upstream-file", ""],
            &["serve", "--listen", "127.0.0.1:80", "--listen", "127.0.0.1:81", "--upstream-file", "u"],
            &["serve", "--listen", "127.0.0.1:80", "--upstream-file", "u", "extra"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn refresh_keeps_the_last_good_upstream() {
        let path = temp_file("refresh");
        let _ = std::fs::remove_file(&path);
        let mut upstream = Upstream::new(&path);
        assert_eq!(upstream.refresh(), None, "missing file, nothing before");
        std::fs::write(&path, "127.0.0.1:1000\n").expect("write");
        let first: SocketAddr = "127.0.0.1:1000".parse().expect("address");
        assert_eq!(upstream.refresh(), Some(first));
        for bad in ["garbage", "", "127.0.0.1:", "a".repeat(1000).as_str()] {
            std::fs::write(&path, bad).expect("write");
            assert_eq!(upstream.refresh(), Some(first), "{bad:?}");
        }
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        assert_eq!(upstream.refresh(), Some(first), "not UTF-8");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(upstream.refresh(), Some(first), "missing");
        std::fs::write(&path, "127.0.0.1:2000").expect("write");
        assert_eq!(upstream.refresh(), Some("127.0.0.1:2000".parse().expect("address")));
        assert_eq!(upstream.current(), Some("127.0.0.1:2000".parse().expect("address")));
        let _ = std::fs::remove_file(&path);
    }
}
