//! Shared by `tests/proxy.rs` and `examples/bench_router.rs`: a router process and its logs, an
//! HTTP upstream that holds thousands of connections on one thread, idle connections, timed
//! requests and the figures of `/proc/<pid>/status`.
#![allow(dead_code)] // each user takes what it needs

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(10);

/// A running `app-router serve` (spawned by the caller's command, stderr piped), killed on drop;
/// its stderr lines arrive on `logs`. `file` is its upstream file, removed on drop.
pub struct Router {
    pub child: Child,
    pub addr: SocketAddr,
    pub file: PathBuf,
    logs: Receiver<String>,
    seen: Vec<String>,
}

impl Router {
    /// Spawns `command` and waits for its "listening on" line.
    pub fn spawn(command: &mut Command, file: PathBuf) -> Self {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start the router");
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
        let mut router = Router { child, addr: SocketAddr::from(([127, 0, 0, 1], 1)), file, logs, seen: Vec::new() };
        let line = router.wait_log("listening on ");
        let addr = line.split("listening on ").nth(1).and_then(|rest| rest.split(' ').next()).expect("address in log line");
        router.addr = addr.parse().expect("listen address");
        router
    }

    pub fn set_upstream(&self, text: &str) {
        std::fs::write(&self.file, text).expect("write upstream file");
    }

    /// Waits for a stderr line containing `needle` (lines already seen count too).
    pub fn wait_log(&mut self, needle: &str) -> String {
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

    pub fn status(&self) -> ProcStatus {
        proc_status(self.child.id())
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The HTTP request the load sends, and the upstream's answer to each request on a connection.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: app-router-test\r\n\r\n";
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

/// An HTTP/1.1 server answering every request with [`RESPONSE`] (keep-alive), on one thread, for
/// any number of connections.
pub struct HttpUpstream {
    pub addr: SocketAddr,
    open: Arc<AtomicUsize>,
}

impl HttpUpstream {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the HTTP upstream");
        // Room for the router's connects while this thread is busy (std's default queue is 128).
        app_router::set_listen_backlog(&listener, app_router::LISTEN_BACKLOG).expect("lengthen the upstream's listen queue");
        listener.set_nonblocking(true).expect("non-blocking upstream listener");
        let mut listener = MioListener::from_std(listener);
        let addr = listener.local_addr().expect("upstream address");
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        let poll = Poll::new().expect("epoll for the HTTP upstream");
        poll.registry().register(&mut listener, Token(usize::MAX), Interest::READABLE).expect("register the upstream listener");
        thread::spawn(move || serve_http(poll, listener, &counter));
        HttpUpstream { addr, open }
    }

    /// Connections open on the upstream now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits until the upstream holds `want` connections.
    pub fn wait_open(&self, want: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.open_connections() != want {
            assert!(Instant::now() < deadline, "the upstream holds {} connections, not {want}, after {within:?}", self.open_connections());
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve_http(mut poll: Poll, listener: MioListener, open: &AtomicUsize) {
    let mut events = Events::with_capacity(1024);
    let mut connections: HashMap<usize, (MioStream, Vec<u8>)> = HashMap::new();
    let mut next_token = 0;
    let mut buf = [0u8; 4096];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            assert_eq!(e.kind(), ErrorKind::Interrupted, "the HTTP upstream's poll failed: {e}");
            continue;
        }
        for event in &events {
            if event.token() == Token(usize::MAX) {
                while let Ok((mut stream, _)) = listener.accept() {
                    poll.registry().register(&mut stream, Token(next_token), Interest::READABLE).expect("register an upstream connection");
                    connections.insert(next_token, (stream, Vec::new()));
                    next_token += 1;
                    open.fetch_add(1, Ordering::SeqCst);
                }
                continue;
            }
            let token = event.token().0;
            let Some((stream, pending)) = connections.get_mut(&token) else { continue };
            // Edge-triggered: read until the socket would block.
            let mut keep = true;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => keep = false,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => keep = false,
                }
                break;
            }
            // Answer every complete request head (a small answer on a socket with room: one write).
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n").filter(|_| keep) {
                pending.drain(..end + 4);
                keep = stream.write_all(RESPONSE).is_ok();
            }
            if !keep {
                if let Some((mut stream, _)) = connections.remove(&token) {
                    let _ = poll.registry().deregister(&mut stream);
                }
                open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Opens `count` connections to `addr` and keeps them (idle: nothing is sent).
pub fn open_idle(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count).map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("idle connection {i} of {count} to {addr}: {e}"))).collect()
}

/// Sends [`REQUEST`] on `stream` and reads the whole [`RESPONSE`], within [`WAIT`].
pub fn request_on(stream: &mut TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(WAIT))?;
    stream.write_all(REQUEST)?;
    let mut answer = vec![0u8; RESPONSE.len()];
    stream.read_exact(&mut answer)?;
    if answer != RESPONSE {
        return Err(io::Error::other(format!("unexpected answer {:?}", String::from_utf8_lossy(&answer))));
    }
    Ok(())
}

/// A new connection to `addr`, one request and its whole answer: the time from connect to answer.
pub fn timed_request(addr: SocketAddr) -> io::Result<Duration> {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    request_on(&mut stream)?;
    Ok(start.elapsed())
}

/// The `p` quantile (0.0..=1.0) of sorted latencies.
pub fn quantile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "no latencies");
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Figures of `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct ProcStatus {
    pub threads: u64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

pub fn proc_status(pid: u32) -> ProcStatus {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {path}:\n{text}"))
    };
    ProcStatus { threads: field("Threads:"), rss_kib: field("VmRSS:"), peak_rss_kib: field("VmHWM:") }
}

/// Raises this process's open files limit (children inherit it) to `wanted`, or fails loudly.
pub fn require_open_files(wanted: u64) {
    match app_router::raise_open_files_limit(wanted) {
        Ok(limit) if limit >= wanted => {}
        Ok(limit) => panic!(
            "this needs {wanted} open files, but the hard limit (ulimit -Hn) allows only {limit}: raise it (as root: ulimit -Hn {wanted}, or the container's --ulimit nofile) and run again"
        ),
        Err(e) => panic!("cannot raise the open files limit (RLIMIT_NOFILE) to {wanted}: {e}"),
    }
}
