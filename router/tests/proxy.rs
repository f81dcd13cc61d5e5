//! The router on loopback, in front of line-echo upstreams started by the test. The router runs in
//! a child process, so that it is exactly what `app-router serve` runs (signal handlers, exit
//! status): this test executable itself, running only `router_process` with `CHILD_ARGS` set. (The
//! `app-router` executable is built by `scripts/build.sh` only; see the `bin` feature.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The router's command line, one argument per line; set only in the child.
const CHILD_ARGS: &str = "APP_ROUTER_TEST_CHILD_ARGS";
const WAIT: Duration = Duration::from_secs(10);

/// Not a test of its own: with `CHILD_ARGS` set (by [`router_command`]) this process becomes the
/// router, as `app-router`'s `main` would.
#[test]
fn router_process() {
    let Ok(args) = std::env::var(CHILD_ARGS) else { return };
    let args: Vec<String> = args.split('\n').map(String::from).collect();
    match app_router::parse_args(&args) {
        Ok(app_router::Cli::Serve { listen, upstream_file }) => std::process::exit(app_router::run_serve(listen, &upstream_file).into()),
        other => panic!("not a serve command line: {other:?}"),
    }
}

/// `app-router serve --listen <listen> --upstream-file <file>` as a child process.
fn router_command(listen: &str, file: &Path) -> Command {
    let exe = std::env::current_exe().expect("test executable");
    let mut command = Command::new(exe);
    command
        .args(["router_process", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD_ARGS, format!("serve\n--listen\n{listen}\n--upstream-file\n{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
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

/// A running `app-router serve`, killed on drop; its stderr lines arrive on `logs`.
struct Router {
    child: Child,
    addr: SocketAddr,
    file: PathBuf,
    logs: Receiver<String>,
    seen: Vec<String>,
}

impl Router {
    fn start(test: &str) -> Self {
        let file = std::env::temp_dir().join(format!("app-router-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let mut child = router_command("127.0.0.1:0", &file).stderr(Stdio::piped()).spawn().expect("start the router");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, logs) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut router = Router { child, addr: "127.0.0.1:1".parse().expect("placeholder"), file, logs, seen: Vec::new() };
        let line = router.wait_log("listening on ");
        let addr = line.split("listening on ").nth(1).and_then(|rest| rest.split(' ').next()).expect("address in log line");
        router.addr = addr.parse().expect("listen address");
        router
    }

    fn set_upstream(&self, text: &str) {
        std::fs::write(&self.file, text).expect("write upstream file");
    }

    /// Waits for a stderr line containing `needle` (lines already seen count too).
    fn wait_log(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; got {:?}", self.seen);
    }

    fn connect(&self) -> Conn {
        let stream = TcpStream::connect(self.addr).expect("connect to router");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        Conn { reader: BufReader::new(stream.try_clone().expect("clone")), stream }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
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
    let mut router = Router::start("proxy");
    router.set_upstream(&format!("{a}\n"));
    let mut conn = router.connect();
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
    let mut router = Router::start("switch");
    router.set_upstream(&a.to_string());
    let mut old = router.connect();
    assert_eq!(old.ask("1"), "a:1");

    router.set_upstream(&format!("{b}\n"));
    let mut new = router.connect();
    assert_eq!(new.ask("2"), "b:2");
    // The connection opened before the switch stays on the first upstream.
    assert_eq!(old.ask("3"), "a:3");
    assert_eq!(new.ask("4"), "b:4");
    assert_eq!(old.finish(), "a:bye\n");
    assert_eq!(new.finish(), "b:bye\n");
    router.wait_log(&format!("upstream {b} (was {a})"));

    // And back.
    router.set_upstream(&a.to_string());
    assert_eq!(router.connect().ask("5"), "a:5");
}

#[test]
fn a_bad_file_keeps_the_last_good_upstream() {
    let a = echo_upstream("a");
    let mut router = Router::start("malformed");
    router.set_upstream(&format!("{a}\n"));
    assert_eq!(router.connect().ask("0"), "a:0");
    for (i, bad) in ["not an address\n", "", "localhost:80", "127.0.0.1:", "127.0.0.1:1 127.0.0.1:2"].into_iter().enumerate() {
        router.set_upstream(bad);
        assert_eq!(router.connect().ask(&i.to_string()), format!("a:{i}"), "file {bad:?}");
    }
    std::fs::remove_file(&router.file).expect("remove upstream file");
    assert_eq!(router.connect().ask("gone"), "a:gone");
    router.wait_log("keeping upstream");
}

#[test]
fn no_upstream_closes_the_connection() {
    let mut router = Router::start("none");
    router.connect().assert_closed();
    router.set_upstream("garbage");
    router.connect().assert_closed();
    router.wait_log("no upstream yet");

    // The first good file is used by the next connection.
    let a = echo_upstream("a");
    router.set_upstream(&a.to_string());
    assert_eq!(router.connect().ask("hi"), "a:hi");
}

#[test]
fn a_failed_upstream_connect_closes_the_connection_and_is_logged() {
    // A port nothing listens on: bind one, note it, close it.
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let mut router = Router::start("dead");
    router.set_upstream(&dead.to_string());
    router.connect().assert_closed();
    router.wait_log(&format!("connecting to upstream {dead} failed"));
}

#[test]
fn sigterm_ends_the_router_promptly() {
    let mut router = Router::start("sigterm");
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
    let out = router_command(&listen, Path::new("/nonexistent")).output().expect("run the router");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {listen}")), "{stderr}");
}
