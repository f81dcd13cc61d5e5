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
//!                  [--max-connections <n>]      # default 4096
//!                  [--idle-timeout <duration>]  # default 5m; units ms, s, m, h: 500ms, 30s, 5m, 1h
//! app-router version            # prints the crate version, e.g. `0.1.0`
//! app-router help
//! ```
//!
//! `--listen` and the upstream are literal socket addresses (`0.0.0.0:8080`, `[::]:8080`); the
//! router never resolves names. Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen (or
//! cannot set up its event loop), 2 on a usage error.
//!
//! # Building
//!
//! `scripts/build.sh` builds the executable (feature `bin`) with the C library linked statically
//! (`-C target-feature=+crt-static --target <host triple>`) and copies it next to
//! `terraform-provider-app` and `app-runner` in the directory it prints; `scripts/dist.sh` packs
//! all three. The feature is off by default so that plain workspace builds never put a dynamically
//! linked `app-router` there; the tests run the library (`tests/proxy.rs` runs the router in a
//! child process: its own test executable). Dependencies: `mio` (epoll, no default features) and
//! `libc` (signal handlers, the open files limit: the only `unsafe` code, in `os.rs`).
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
//! # Connections and limits
//!
//! Each direction of a connection is copied until its source ends; then the destination is
//! half-closed (the peer sees the end, the other direction goes on: HTTP keep-alive and half-close
//! work). A connection is closed when both directions have ended, at once on a socket error (both
//! peers see the end), and:
//!
//! - **Connect timeout** (3 s): the client connection is closed when the upstream does not accept
//!   within it (logged, like any failed upstream connect).
//! - **Idle timeout** (`--idle-timeout`, default 5 minutes): a connection on which no byte moved in
//!   either direction for that long is closed, quietly. A reader that stopped reading counts as
//!   idle too (nothing moves), so stalled connections cannot pile up.
//! - **Connection cap** (`--max-connections`, default 4096, at most 500,000): at the cap the router
//!   stops accepting until a connection closes; new connections wait in the kernel's listen queue
//!   (4096 long, or `net.core.somaxconn` if lower; past it, clients retry their SYN), then are
//!   served in order. Waiting is better
//!   than refusing for the clients of a release (a burst is served a moment later instead of
//!   failing), and the idle timeout makes sure slots free up. Reaching the cap is logged (at most
//!   once a minute).
//!
//! Every connection needs two descriptors. At start the router raises its soft `RLIMIT_NOFILE` to
//! what the cap needs (`2 × cap + 32`) as far as the hard limit allows (no privilege needed); when
//! the hard limit is lower, it logs so and serves fewer connections (`(limit − 32) / 2`).
//!
//! # Resources (what the runner can rely on)
//!
//! - **Threads**: one. All sockets are non-blocking in one epoll set (`mio`); the thread count
//!   does not grow with connections (a pids limit of 64 leaves ample room).
//! - **Memory**: bytes are never buffered in the router. Each direction peeks at what its source
//!   has received, writes what the destination takes and only then reads that much from the
//!   source, so unsent data stays in the kernel and TCP flow control slows the sender. The process
//!   holds one 32 KiB scratch buffer and about 100 bytes per connection: RSS stays under 16 MiB up
//!   to the default cap (measured with `scripts/bench-router.sh`: 1.4 MiB holding 2,000 idle
//!   connections, 1.7 MiB holding 4,080; `tests/proxy.rs` checks the bound at 2,000), so a
//!   container memory limit of 128 MiB is ample. Kernel socket buffers, charged to the
//!   container's memory cgroup, are not in that figure: they grow only with data in flight (an idle
//!   connection holds next to none), up to the kernel's per-socket maximum (`net.ipv4.tcp_rmem`,
//!   `tcp_wmem`) for connections whose reader is slower than its writer.
//! - **Connections**: up to `--max-connections` (default 4096) at once, each to the upstream of its
//!   accept.
//! - **User**: none needed. It runs as any user (the runner uses 65534:65534): it listens on an
//!   unprivileged port (8080) and only reads the upstream file (written as root, mode 0644).
//!
//! # Logs
//!
//! One line on stderr (`docker logs`) when listening starts, per upstream change, per change of
//! the file's problem (missing, malformed, ...), per failed upstream connect (that client
//! connection is closed), on reaching the connection cap (at most once a minute) and when the
//! open files limit lowers the cap.
//!
//! # Signals
//!
//! A scratch container's process is PID 1, which the kernel gives no default signal handling, so
//! `docker stop` would wait for its timeout and SIGKILL. `serve` installs handlers for SIGTERM and
//! SIGINT that end the process at once with status 0; open connections are cut.
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
//! - Limits: the router works as user 65534:65534 with a memory limit of 128 MiB and a pids limit
//!   of 64 (see Resources). The default cap needs a hard `nofile` limit of at least 8,224 in the
//!   container (Docker's default is the daemon's, usually far higher; otherwise set `Ulimits`).
//! - Stop with `docker stop` (SIGTERM, handled) or `docker rm -f`.

mod os;
mod proxy;

pub use os::{exit_on_termination, raise_open_files_limit, set_listen_backlog};
pub use proxy::serve;

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// How long connecting to the upstream may take before the client connection is closed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// `--max-connections` when not given.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The largest `--max-connections` (two descriptors each stay below Linux's `fs.nr_open`).
pub const MAX_CONNECTIONS_LIMIT: usize = 500_000;
/// `--idle-timeout` when not given.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Descriptors besides two per connection: stdio, the epoll set, the listener, the upstream file.
pub const SPARE_FILES: usize = 32;
/// Connections the kernel queues for `accept` (capped by the kernel at `net.core.somaxconn`, 4096
/// by default): where new connections wait at the cap and during bursts.
pub const LISTEN_BACKLOG: i32 = 4096;
/// Upstream files longer than this are malformed.
const MAX_FILE_LEN: u64 = 512;

/// The crate version, what `app-router version` prints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const USAGE: &str = "usage: app-router serve --listen <ip:port> --upstream-file <path>
                        [--max-connections <n>] [--idle-timeout <duration>]
       app-router version

serve: a TCP proxy. Every accepted connection goes to the upstream named in the upstream file
(one line `ip:port`, read again for each connection); connections already open stay where they
started. A missing or malformed file keeps the last good upstream.
  --max-connections  connections open at once (default 4096); at the cap, new ones wait
  --idle-timeout     close a connection on which nothing moved for this long (default 5m;
                     units ms, s, m, h)";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    Serve(ServeOptions),
    Version,
    Help,
}

/// What `app-router serve` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub upstream_file: PathBuf,
    pub limits: Limits,
}

/// The bounds on connections (see the crate docs, "Connections and limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_connections: DEFAULT_MAX_CONNECTIONS, idle_timeout: DEFAULT_IDLE_TIMEOUT }
    }
}

/// Parses the arguments after the program name. `--name value` and `--name=value` both work.
pub fn parse_args(args: &[String]) -> Result<Cli, String> {
    let (command, rest) = args.split_first().ok_or("no command")?;
    match command.as_str() {
        "serve" => parse_serve(rest).map(Cli::Serve),
        "version" | "--version" | "-V" if rest.is_empty() => Ok(Cli::Version),
        "help" | "--help" | "-h" => Ok(Cli::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn parse_serve(args: &[String]) -> Result<ServeOptions, String> {
    let (mut listen, mut file, mut max_connections, mut idle_timeout) = (None, None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match name {
            "--listen" => &mut listen,
            "--upstream-file" => &mut file,
            "--max-connections" => &mut max_connections,
            "--idle-timeout" => &mut idle_timeout,
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
    let mut limits = Limits::default();
    if let Some(text) = max_connections {
        limits.max_connections = text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_CONNECTIONS_LIMIT).contains(n))
            .ok_or_else(|| format!("--max-connections {text:?} is not a whole number from 1 to {MAX_CONNECTIONS_LIMIT}"))?;
    }
    if let Some(text) = idle_timeout {
        limits.idle_timeout = parse_duration(&text).map_err(|e| format!("--idle-timeout {text:?}: {e}"))?;
    }
    Ok(ServeOptions { listen, upstream_file: PathBuf::from(upstream_file), limits })
}

/// Parses a positive duration: a whole number and one of the units `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| "expected a whole number and a unit: 500ms, 30s, 5m, 1h".to_string())?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        "" => return Err("the unit is missing: ms, s, m or h (for example 30s)".into()),
        _ => return Err(format!("unknown unit {unit:?}: ms, s, m or h")),
    };
    match millis {
        Some(0) => Err("must be more than 0".into()),
        Some(millis) => Ok(Duration::from_millis(millis)),
        None => Err("too long".into()),
    }
}

/// `app-router serve`: installs the signal handlers, listens, serves forever. Returns only when it
/// cannot listen or set up its event loop, with the process exit status (1).
pub fn run_serve(options: &ServeOptions) -> u8 {
    let ServeOptions { listen, upstream_file, limits } = options;
    if let Err(e) = exit_on_termination() {
        log(format_args!("cannot install signal handlers: {e}"));
    }
    let Some(limits) = fit_open_files_limit(*limits) else { return 1 };
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen on {listen}: {e}"));
            return 1;
        }
    };
    if let Err(e) = set_listen_backlog(&listener, LISTEN_BACKLOG) {
        log(format_args!("cannot lengthen the listen queue to {LISTEN_BACKLOG}: {e}; keeping the default"));
    }
    let local = listener.local_addr().unwrap_or(*listen);
    log(format_args!(
        "{VERSION} listening on {local} (upstream file {}, at most {} connections, idle timeout {:?})",
        upstream_file.display(),
        limits.max_connections,
        limits.idle_timeout
    ));
    let mut upstream = Upstream::new(upstream_file);
    upstream.refresh();
    match serve(listener, upstream, limits) {
        Err(e) => log(format_args!("the event loop failed: {e}")),
        Ok(never) => match never {},
    }
    1
}

/// Raises the open files limit to what `limits` needs; lowers the cap (logged) when the hard
/// limit does not allow it. `None` (logged) when not even one connection fits.
fn fit_open_files_limit(mut limits: Limits) -> Option<Limits> {
    // At most 2 × 500,000 + 32: no overflow.
    let wanted = 2 * limits.max_connections + SPARE_FILES;
    let available = match raise_open_files_limit(wanted as u64) {
        Ok(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
        Err(e) => {
            log(format_args!("cannot read or raise the open files limit (RLIMIT_NOFILE): {e}; assuming {wanted} are allowed"));
            return Some(limits);
        }
    };
    if available >= wanted {
        return Some(limits);
    }
    let fit = available.saturating_sub(SPARE_FILES) / 2;
    if fit == 0 {
        log(format_args!(
            "the open files limit (RLIMIT_NOFILE) is {available}: too low for any connection; raise the hard limit (docker: --ulimit nofile=N) to at least {wanted}"
        ));
        return None;
    }
    log(format_args!(
        "the open files limit (RLIMIT_NOFILE) is {available}, enough for {fit} connections, not --max-connections {}: serving at most {fit}; raise the hard limit (docker: --ulimit nofile=N) to at least {wanted} for all",
        limits.max_connections
    ));
    limits.max_connections = fit;
    Some(limits)
}

/// Writes one line to stderr, prefixed `app-router: `. A stderr that cannot be written is no
/// reason to stop serving (`eprintln!` would panic, ending the one thread that serves).
pub fn log(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "app-router: {message}");
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

    fn serve_options(listen: &str, upstream_file: &str, limits: Limits) -> Cli {
        Cli::Serve(ServeOptions { listen: listen.parse().expect("address"), upstream_file: upstream_file.into(), limits })
    }

    #[test]
    fn command_lines() {
        let serve = serve_options("0.0.0.0:8080", "/run/app-router/upstream", Limits::default());
        assert_eq!(
            parse_args(&args(&["serve", "--listen", "0.0.0.0:8080", "--upstream-file", "/run/app-router/upstream"])),
            Ok(serve.clone())
        );
        assert_eq!(parse_args(&args(&["serve", "--upstream-file=/run/app-router/upstream", "--listen=0.0.0.0:8080"])), Ok(serve));
        assert_eq!(
            parse_args(&args(&["serve", "--listen", "[::]:80", "--upstream-file", "u"])),
            Ok(serve_options("[::]:80", "u", Limits::default()))
        );
        assert_eq!(
            parse_args(&args(&["serve", "--listen", "[::]:80", "--upstream-file", "u", "--max-connections", "2", "--idle-timeout=1500ms"])),
            Ok(serve_options("[::]:80", "u", Limits { max_connections: 2, idle_timeout: Duration::from_millis(1500) }))
        );
        assert_eq!(parse_args(&args(&["version"])), Ok(Cli::Version));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Cli::Version));
        assert_eq!(parse_args(&args(&["help"])), Ok(Cli::Help));
        let serve = ["serve", "--listen", "127.0.0.1:80", "--upstream-file", "u"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> { serve.iter().chain(extra).copied().collect() };
        for bad in [
            vec![],
            vec!["nope"],
            vec!["version", "x"],
            vec!["serve"],
            vec!["serve", "--listen", "127.0.0.1:80"],
            vec!["serve", "--upstream-file", "u"],
            vec!["serve", "--listen", "localhost:80", "--upstream-file", "u"],
            vec!["serve", "--listen", "127.0.0.1:80", "--upstream-file"],
            vec!["serve", "--listen", "127.0.0.1:80", "--upstream-file", ""],
            with(&["--listen", "127.0.0.1:81"]),
            with(&["extra"]),
            with(&["--max-connections", "0"]),
            with(&["--max-connections", "-1"]),
            with(&["--max-connections", "500001"]),
            with(&["--max-connections", "many"]),
            with(&["--max-connections"]),
            with(&["--max-connections", "2", "--max-connections", "3"]),
            with(&["--idle-timeout", "300"]),
            with(&["--idle-timeout", "0s"]),
            with(&["--idle-timeout", "5 m"]),
            with(&["--idle-timeout", "1d"]),
            with(&["--idle-timeout", "-5s"]),
            with(&["--idle-timeout", "99999999999999999999h"]),
        ] {
            assert!(parse_args(&args(&bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations() {
        for (text, want) in [
            ("1ms", Duration::from_millis(1)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        assert!(parse_duration(&format!("{}h", u64::MAX / 1000)).is_err(), "overflow is an error");
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
