//! The router on loopback, in front of line-echo (and, for the load, HTTP) upstreams started by the
//! test. The router runs in
//! a child process, so that it is exactly what `app-router serve` runs (signal handlers, exit
//! status, threads, memory): this test executable itself, running only `router_process` with `CHILD_ARGS` set. (The
//! `app-router` executable is built by `scripts/build.sh` only; see the `bin` feature.)

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use support::{HttpUpstream, Router, WAIT};

/// The router's command line, one argument per line; set only in the child.
const CHILD_ARGS: &str = "APP_ROUTER_TEST_CHILD_ARGS";

/// Not a test of its own: with `CHILD_ARGS` set (by [`router_command`]) this process becomes the
/// router, as `app-router`'s `main` would.
#[test]
fn router_process() {
    let Ok(args) = std::env::var(CHILD_ARGS) else { return };
    let args: Vec<String> = args.split('\n').map(String::from).collect();
    match app_router::parse_args(&args) {
        Ok(app_router::Cli::Serve(options)) => std::process::exit(app_router::run_serve(&options).into()),
        other => panic!("not a serve command line: {other:?}"),
    }
}

/// `app-router serve --listen <listen> --upstream-file <file> <extra...>` as a child process.
fn router_command(listen: &str, file: &Path, extra: &[&str]) -> Command {
    wrapped_router_command(&[], listen, file, extra)
}

/// [`router_command`] run by `wrapper` (a program and its arguments, then the router's).
fn wrapped_router_command(wrapper: &[&str], listen: &str, file: &Path, extra: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("test executable");
    let mut args = format!("serve\n--listen\n{listen}\n--upstream-file\n{}", file.display());
    for arg in extra {
        args.push('\n');
        args.push_str(arg);
    }
    let mut command = match wrapper.split_first() {
        Some((program, wrapper_args)) => {
            let mut command = Command::new(program);
            command.args(wrapper_args).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command.args(["router_process", "--exact", "--nocapture", "--test-threads=1", "-q"]).env(CHILD_ARGS, args);
    command
}

/// A TCP server answering each line `x` with `<name>:x`, until the client half-closes; then it
/// writes `<name>:bye` and closes.
fn echo_upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || {
                let mut writer = conn.try_clone().expect("clone");
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if writer.write_all(format!("{name}:{line}\n").as_bytes()).is_err() {
                        return;
                    }
                }
                let _ = writer.write_all(format!("{name}:bye\n").as_bytes());
            });
        }
    });
    addr
}

/// The router on loopback port 0 with an upstream file of its own (none yet), plus `extra` arguments.
fn start_router(test: &str, extra: &[&str]) -> Router {
    let file = std::env::temp_dir().join(format!("app-router-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_file(&file);
    Router::spawn(&mut router_command("127.0.0.1:0", &file, extra), file)
}

fn connect(router: &Router) -> Conn {
    let stream = TcpStream::connect(router.addr).expect("connect to router");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    Conn { reader: BufReader::new(stream.try_clone().expect("clone")), stream }
}

struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Sends one line, returns the answer line (without newline).
    fn ask(&mut self, line: &str) -> String {
        self.stream.write_all(format!("{line}\n").as_bytes()).expect("send");
        let mut answer = String::new();
        self.reader.read_line(&mut answer).expect("answer");
        answer.trim_end().to_string()
    }

    /// Half-closes, returns everything the upstream sends until it closes.
    fn finish(mut self) -> String {
        self.stream.shutdown(Shutdown::Write).expect("half-close");
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).expect("read to end");
        rest
    }

    /// The router closed the connection without data (EOF or reset).
    fn assert_closed(mut self) {
        let mut buf = [0u8; 16];
        match self.reader.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("expected a closed connection, got {:?}", String::from_utf8_lossy(&buf[..n])),
        }
    }
}

#[test]
fn proxies_both_ways_with_keep_alive_and_half_close() {
    let a = echo_upstream("a");
    let mut router = start_router("proxy", &[]);
    router.set_upstream(&format!("{a}\n"));
    let mut conn = connect(&router);
    assert_eq!(conn.ask("one"), "a:one");
    assert_eq!(conn.ask("two"), "a:two");
    let big = "x".repeat(300_000);
    assert_eq!(conn.ask(&big), format!("a:{big}"));
    // After the client's half-close, the upstream's last words still arrive.
    assert_eq!(conn.finish(), "a:bye\n");
    router.wait_log(&format!("upstream {a}"));
}

#[test]
fn rewriting_the_file_switches_new_connections_only() {
    let a = echo_upstream("a");
    let b = echo_upstream("b");
    let mut router = start_router("switch", &[]);
    router.set_upstream(&a.to_string());
    let mut old = connect(&router);
    assert_eq!(old.ask("1"), "a:1");

    router.set_upstream(&format!("{b}\n"));
    let mut new = connect(&router);
    assert_eq!(new.ask("2"), "b:2");
    // The connection opened before the switch stays on the first upstream.
    assert_eq!(old.ask("3"), "a:3");
    assert_eq!(new.ask("4"), "b:4");
    assert_eq!(old.finish(), "a:bye\n");
    assert_eq!(new.finish(), "b:bye\n");
    router.wait_log(&format!("upstream {b} (was {a})"));

    // And back.
    router.set_upstream(&a.to_string());
    assert_eq!(connect(&router).ask("5"), "a:5");
}

#[test]
fn a_bad_file_keeps_the_last_good_upstream() {
    let a = echo_upstream("a");
    let mut router = start_router("malformed", &[]);
    router.set_upstream(&format!("{a}\n"));
    assert_eq!(connect(&router).ask("0"), "a:0");
    for (i, bad) in ["not an address\n", "", "localhost:80", "127.0.0.1:", "127.0.0.1:1 127.0.0.1:2"].into_iter().enumerate() {
        router.set_upstream(bad);
        assert_eq!(connect(&router).ask(&i.to_string()), format!("a:{i}"), "file {bad:?}");
    }
    std::fs::remove_file(&router.file).expect("remove upstream file");
    assert_eq!(connect(&router).ask("gone"), "a:gone");
    router.wait_log("keeping upstream");
}

#[test]
fn no_upstream_closes_the_connection() {
    let mut router = start_router("none", &[]);
    connect(&router).assert_closed();
    router.set_upstream("garbage");
    connect(&router).assert_closed();
    router.wait_log("no upstream yet");

    // The first good file is used by the next connection.
    let a = echo_upstream("a");
    router.set_upstream(&a.to_string());
    assert_eq!(connect(&router).ask("hi"), "a:hi");
}

#[test]
fn a_failed_upstream_connect_closes_the_connection_and_is_logged() {
    // A port nothing listens on: bind one, note it, close it.
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let mut router = start_router("dead", &[]);
    router.set_upstream(&dead.to_string());
    connect(&router).assert_closed();
    router.wait_log(&format!("connecting to upstream {dead} failed"));
}

#[test]
fn sigterm_ends_the_router_promptly() {
    let mut router = start_router("sigterm", &[]);
    let status = Command::new("kill").args(["-TERM", &router.child.id().to_string()]).status().expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = router.child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "app-router still runs 5 s after SIGTERM");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_taken_port_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let listen = taken.local_addr().expect("address").to_string();
    let out = router_command(&listen, Path::new("/nonexistent"), &[]).output().expect("run the router");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {listen}")), "{stderr}");
}

/// Idle connections the load test holds; the crate docs promise the bounds below at up to 4096.
const IDLE: usize = 2000;
/// New requests made while they are held; each must be answered within `REQUEST_LIMIT`.
const REQUESTS: usize = 200;
const REQUEST_LIMIT: Duration = Duration::from_secs(1);
/// Threads in the child: the router's one, plus libtest's main thread that waits for it.
const CHILD_THREADS: u64 = 2;
/// The RSS bound of the crate docs ("Resources").
const RSS_LIMIT_KIB: u64 = 16 * 1024;

#[test]
fn thousands_of_idle_connections_leave_new_requests_fast_on_one_thread() {
    // This process holds both ends of every connection: IDLE clients and the upstream's IDLE
    // accepted sockets, plus the requests'. The router (a child) inherits the limit.
    support::require_open_files(2 * IDLE as u64 + 1024);
    let upstream = HttpUpstream::start();
    let mut router = start_router("idle-load", &[]);
    router.set_upstream(&upstream.addr.to_string());
    let mut idle = support::open_idle(router.addr, IDLE);
    // Every one is accepted and connected through to the upstream.
    upstream.wait_open(IDLE, Duration::from_secs(60));

    let mut slowest = Duration::ZERO;
    for i in 0..REQUESTS {
        let took = support::timed_request(router.addr).unwrap_or_else(|e| panic!("request {i} with {IDLE} idle connections: {e}"));
        assert!(took < REQUEST_LIMIT, "request {i} took {took:?} with {IDLE} idle connections (limit {REQUEST_LIMIT:?})");
        slowest = slowest.max(took);
    }
    let status = router.status();
    eprintln!("{IDLE} idle connections: {REQUESTS} new requests, slowest {slowest:?}; router {status:?}");
    assert!(
        status.threads <= CHILD_THREADS,
        "the router runs {} threads with {IDLE} connections (at most {CHILD_THREADS})",
        status.threads
    );
    assert!(
        status.rss_kib < RSS_LIMIT_KIB,
        "the router's RSS is {} KiB with {IDLE} connections (limit {RSS_LIMIT_KIB} KiB)",
        status.rss_kib
    );

    // The idle connections are still there and still work.
    // (The requests' upstream connections close a moment after the requests: wait for that.)
    upstream.wait_open(IDLE, WAIT);
    for stream in idle.iter_mut().step_by(IDLE / 10) {
        support::request_on(stream).expect("a request on a connection idle since the start");
    }
    router.wait_log(&format!("upstream {}", upstream.addr));
}

#[test]
fn at_the_cap_new_connections_wait_for_a_free_slot() {
    let a = echo_upstream("a");
    let mut router = start_router("cap", &["--max-connections", "2"]);
    router.set_upstream(&a.to_string());
    let mut first = connect(&router);
    let mut second = connect(&router);
    assert_eq!(first.ask("1"), "a:1");
    assert_eq!(second.ask("2"), "a:2");
    router.wait_log("2 connections open, the most --max-connections allows");

    // The kernel completes the third handshake, but the router does not take it yet.
    let mut third = connect(&router);
    third.stream.write_all(b"3\n").expect("send on the waiting connection");
    third.stream.set_read_timeout(Some(Duration::from_millis(500))).expect("read timeout");
    let mut byte = [0u8; 1];
    match third.reader.read(&mut byte) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("a connection beyond --max-connections 2 was served or closed: {other:?}"),
    }
    // A slot frees: the waiting connection is served, its early line included.
    drop(first);
    third.stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut line = String::new();
    third.reader.read_line(&mut line).expect("answer once a slot is free");
    assert_eq!(line, "a:3\n");
    assert_eq!(second.ask("still"), "a:still");
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let a = echo_upstream("a");
    let router = start_router("idle-timeout", &["--idle-timeout", "1s"]);
    router.set_upstream(&a.to_string());
    let mut busy = connect(&router);
    let mut idle = connect(&router);
    assert_eq!(idle.ask("once"), "a:once");
    let idle_since = Instant::now();
    // When the router closes the idle connection (both sides at once: no data comes first).
    let (closed_tx, closed) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut rest = Vec::new();
        let result = idle.reader.read_to_end(&mut rest);
        let _ = closed_tx.send((Instant::now(), result.map(|_| rest)));
    });
    // Traffic every 300 ms keeps a connection open well past the timeout.
    while idle_since.elapsed() < Duration::from_millis(2500) {
        assert_eq!(busy.ask("ping"), "a:ping", "a busy connection was closed after {:?}", idle_since.elapsed());
        thread::sleep(Duration::from_millis(300));
    }
    let (closed_at, read) = closed.recv_timeout(WAIT).expect("the idle connection is still open");
    let idle_for = closed_at.duration_since(idle_since);
    assert!(matches!(&read, Ok(rest) if rest.is_empty()) || read.is_err(), "the idle connection got data: {read:?}");
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2000)).contains(&idle_for),
        "--idle-timeout 1s closed an idle connection after {idle_for:?}"
    );
    assert_eq!(busy.ask("pong"), "a:pong");
}

#[test]
fn a_low_open_files_limit_lowers_the_cap() {
    let file = std::env::temp_dir().join(format!("app-router-test-{}-nofile", std::process::id()));
    // 48 descriptors: 32 spare, 2 per connection: 8 connections instead of 4096.
    let mut command = wrapped_router_command(&["prlimit", "--nofile=48:48", "--"], "127.0.0.1:0", &file, &[]);
    let mut router = Router::spawn(&mut command, file);
    router.wait_log("the open files limit (RLIMIT_NOFILE) is 48, enough for 8 connections, not --max-connections 4096: serving at most 8");
    router.wait_log("at most 8 connections");

    // Not even one connection fits: exit 1, saying what to raise.
    let out = wrapped_router_command(&["prlimit", "--nofile=33:33", "--"], "127.0.0.1:0", Path::new("/nonexistent"), &[])
        .output()
        .expect("run the router under prlimit (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("too low for any connection; raise the hard limit"), "{stderr}");
}
