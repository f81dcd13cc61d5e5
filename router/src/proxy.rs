//! The event loop: one thread, one epoll set (through `mio`), every socket non-blocking.
//!
//! Bytes are never buffered in the router: a flow (one direction of one connection) *peeks* at
//! what its source has received, writes as much of it as the destination takes, then reads (and
//! so drops) exactly that much from the source. What the destination does not take stays in the
//! source's kernel receive buffer, so TCP flow control pushes back on the sender, and the
//! process's memory does not grow with connections or with data in flight: one shared scratch
//! buffer, plus about 100 bytes of state per connection.

use crate::{log, Limits, Upstream, CONNECT_TIMEOUT};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// The scratch buffer a flow peeks into: the most one write moves.
const CHUNK: usize = 32 * 1024;
/// Chunks one flow may move before the loop turns to other connections (it comes back to it
/// right after): a fast transfer cannot starve the rest.
const CHUNKS_PER_TURN: usize = 8;
/// Events taken from the kernel per wake-up.
const EVENTS: usize = 1024;
/// Timeouts are checked by a sweep over all connections, at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// After a failed `accept` (out of descriptors, ...), the next attempt waits this long.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// Reaching the connection cap is logged at most this often.
const FULL_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Connection sockets have tokens `2 × slot + side`; the listener one no slot can reach.
const LISTENER: Token = Token(usize::MAX);

/// Proxies every accepted connection to the upstream current at its accept. Returns only when
/// the event loop cannot be set up or the kernel refuses to wait for events.
pub fn serve(listener: std::net::TcpListener, upstream: Upstream, limits: Limits) -> io::Result<Infallible> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut proxy = Proxy {
        poll,
        listener,
        upstream,
        limits,
        connections: Vec::new(),
        free_slots: Vec::new(),
        open: 0,
        accept_pending: true,
        accept_failing: false,
        accept_retry_at: None,
        full_logged_at: None,
        next_sweep: None,
        last_sweep: Instant::now(),
        unfinished: VecDeque::new(),
        scratch: vec![0; CHUNK].into_boxed_slice(),
    };
    let mut events = Events::with_capacity(EVENTS);
    loop {
        let timeout = proxy.wait_limit(Instant::now());
        match proxy.poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in &events {
            match event.token() {
                LISTENER => proxy.accept_pending = true,
                Token(token) => proxy.drive(token / 2, now),
            }
        }
        // Connections that used up their turn get another (those still unfinished after it wait
        // for the next wake-up, which then does not wait).
        for _ in 0..proxy.unfinished.len() {
            if let Some(slot) = proxy.unfinished.pop_front() {
                if let Some(Some(connection)) = proxy.connections.get_mut(slot) {
                    connection.queued = false;
                }
                proxy.drive(slot, now);
            }
        }
        if proxy.next_sweep.is_some_and(|at| at <= now) {
            proxy.sweep(now);
        }
        proxy.accept(now);
    }
}

/// The router's state; one per process.
struct Proxy {
    poll: Poll,
    listener: TcpListener,
    upstream: Upstream,
    limits: Limits,
    /// Indexed by slot; `None` is a free slot (listed in `free_slots`).
    connections: Vec<Option<Connection>>,
    free_slots: Vec<usize>,
    open: usize,
    /// The listener may have connections waiting (its readiness is edge-triggered: it is not
    /// signalled again for connections left waiting at the cap).
    accept_pending: bool,
    accept_failing: bool,
    accept_retry_at: Option<Instant>,
    full_logged_at: Option<Instant>,
    next_sweep: Option<Instant>,
    last_sweep: Instant,
    /// Slots whose flows stopped at `CHUNKS_PER_TURN` with data left (each at most once).
    unfinished: VecDeque<usize>,
    scratch: Box<[u8]>,
}

/// A client connection and its connection to the upstream chosen at its accept.
struct Connection {
    client: TcpStream,
    server: TcpStream,
    server_addr: SocketAddr,
    connected: bool,
    to_server: Flow,
    to_client: Flow,
    /// When the upstream connect started, until it is connected; then when bytes last moved.
    since: Instant,
    /// In `Proxy::unfinished`.
    queued: bool,
}

/// One direction of a connection.
#[derive(Default)]
struct Flow {
    /// The source has ended and the destination was half-closed.
    ended: bool,
    /// Bytes written to the destination but not yet read from the source (normally 0: the read
    /// right after the write takes them).
    unconsumed: usize,
}

enum Outcome {
    Open,
    /// More to move after the turn: driven again once the other connections had theirs.
    Unfinished,
    Done,
    /// A socket error: both sockets are closed (the peers see a reset or an early end).
    Failed,
    ConnectFailed(io::Error),
}

impl Proxy {
    /// How long the next wait for events may last.
    fn wait_limit(&self, now: Instant) -> Option<Duration> {
        if !self.unfinished.is_empty() {
            return Some(Duration::ZERO);
        }
        let retry = self.accept_retry_at.filter(|_| self.accept_pending);
        [self.next_sweep, retry].into_iter().flatten().min().map(|at| at.saturating_duration_since(now))
    }

    /// Accepts waiting connections while below the cap.
    fn accept(&mut self, now: Instant) {
        if self.accept_retry_at.is_some_and(|at| at > now) {
            return;
        }
        self.accept_retry_at = None;
        while self.accept_pending && self.open < self.limits.max_connections {
            match self.listener.accept() {
                Ok((client, _)) => {
                    self.accept_failing = false;
                    self.open_connection(client, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.accept_pending = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors or similar: say so once, and do not spin.
                    if !self.accept_failing {
                        log(format_args!("accept failed: {e}"));
                        self.accept_failing = true;
                    }
                    self.accept_retry_at = now.checked_add(ACCEPT_RETRY);
                    return;
                }
            }
        }
        if self.open >= self.limits.max_connections && self.full_logged_at.is_none_or(|at| now.duration_since(at) >= FULL_LOG_INTERVAL) {
            log(format_args!("{} connections open, the most --max-connections allows: new connections wait until one closes", self.open));
            self.full_logged_at = Some(now);
        }
    }

    /// Starts proxying `client` to the current upstream; closes it when there is none.
    fn open_connection(&mut self, mut client: TcpStream, now: Instant) {
        let Some(server_addr) = self.upstream.refresh() else { return };
        let mut server = match TcpStream::connect(server_addr) {
            Ok(server) => server,
            Err(e) => return log_connect_failure(server_addr, &e),
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.connections.push(None);
            self.connections.len() - 1
        });
        let both = Interest::READABLE | Interest::WRITABLE;
        let registry = self.poll.registry();
        let registered =
            registry.register(&mut client, Token(2 * slot), both).and_then(|()| registry.register(&mut server, Token(2 * slot + 1), both));
        if let Err(e) = registered {
            log(format_args!("cannot watch a connection: {e}; closing it"));
            self.free_slots.push(slot);
            return;
        }
        let connection = Connection {
            client,
            server,
            server_addr,
            connected: false,
            to_server: Flow::default(),
            to_client: Flow::default(),
            since: now,
            queued: false,
        };
        self.connections[slot] = Some(connection);
        self.open += 1;
        self.schedule_sweep(now + CONNECT_TIMEOUT);
    }

    /// Moves what can be moved on the connection in `slot` after an event on either socket.
    fn drive(&mut self, slot: usize, now: Instant) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else { return };
        let was_connected = connection.connected;
        let outcome = connection.drive(&mut self.scratch, now);
        let became_connected = !was_connected && connection.connected;
        let server_addr = connection.server_addr;
        match outcome {
            Outcome::Open => {}
            Outcome::Unfinished if !connection.queued => {
                connection.queued = true;
                self.unfinished.push_back(slot);
            }
            Outcome::Unfinished => {}
            Outcome::Done | Outcome::Failed => self.close(slot),
            Outcome::ConnectFailed(e) => {
                log_connect_failure(server_addr, &e);
                self.close(slot);
            }
        }
        // The deadline moves from the connect timeout to the idle timeout, which may be sooner.
        if let Some(idle_deadline) = now.checked_add(self.limits.idle_timeout).filter(|_| became_connected) {
            self.schedule_sweep(idle_deadline);
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut connection) = self.connections.get_mut(slot).and_then(Option::take) {
            let registry = self.poll.registry();
            let _ = registry.deregister(&mut connection.client);
            let _ = registry.deregister(&mut connection.server);
            self.free_slots.push(slot);
            self.open -= 1;
        }
    }

    /// Makes the next sweep happen by `at` (but not sooner than `SWEEP_INTERVAL` after the last).
    fn schedule_sweep(&mut self, at: Instant) {
        let at = at.max(self.last_sweep + SWEEP_INTERVAL);
        self.next_sweep = Some(self.next_sweep.map_or(at, |next| next.min(at)));
    }

    /// Closes connections past their connect or idle timeout; schedules the next sweep for the
    /// earliest remaining deadline.
    fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        self.next_sweep = None;
        let mut earliest: Option<Instant> = None;
        for slot in 0..self.connections.len() {
            let Some(connection) = &self.connections[slot] else { continue };
            let deadline = if connection.connected {
                // A timeout too long to add never comes.
                connection.since.checked_add(self.limits.idle_timeout)
            } else {
                Some(connection.since + CONNECT_TIMEOUT)
            };
            match deadline {
                Some(deadline) if deadline <= now => {
                    if !connection.connected {
                        log_connect_failure(connection.server_addr, &format!("no answer within {CONNECT_TIMEOUT:?}"));
                    }
                    self.close(slot);
                }
                Some(deadline) => earliest = Some(earliest.map_or(deadline, |e| e.min(deadline))),
                None => {}
            }
        }
        if let Some(earliest) = earliest {
            self.schedule_sweep(earliest);
        }
    }
}

fn log_connect_failure(upstream: SocketAddr, error: &dyn std::fmt::Display) {
    log(format_args!("connecting to upstream {upstream} failed: {error}"));
}

impl Connection {
    fn drive(&mut self, scratch: &mut [u8], now: Instant) -> Outcome {
        if !self.connected {
            match self.check_connected() {
                Ok(true) => self.connected = true,
                Ok(false) => return Outcome::Open,
                Err(e) => return Outcome::ConnectFailed(e),
            }
            self.since = now;
        }
        let to_server = self.to_server.pump(&self.client, &self.server, scratch);
        let to_client = self.to_client.pump(&self.server, &self.client, scratch);
        let (to_server, to_client) = match (to_server, to_client) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Outcome::Failed,
        };
        if to_server.moved || to_client.moved {
            self.since = now;
        }
        if self.to_server.ended && self.to_client.ended {
            Outcome::Done
        } else if to_server.unfinished || to_client.unfinished {
            Outcome::Unfinished
        } else {
            Outcome::Open
        }
    }

    /// Whether the non-blocking connect to the upstream has completed; its error if it failed.
    fn check_connected(&self) -> io::Result<bool> {
        if let Some(e) = self.server.take_error()? {
            return Err(e);
        }
        match self.server.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

struct Pumped {
    moved: bool,
    unfinished: bool,
}

impl Flow {
    /// Moves bytes from `from` to `to` until one of them would block, the source ends (then `to`
    /// is half-closed: the peer sees the end, the other direction goes on, so HTTP keep-alive and
    /// half-close work) or the turn is used up. An error ends the whole connection.
    fn pump(&mut self, from: &TcpStream, to: &TcpStream, scratch: &mut [u8]) -> io::Result<Pumped> {
        let mut pumped = Pumped { moved: false, unfinished: false };
        let mut chunks = 0;
        while !self.ended {
            while self.unconsumed > 0 {
                let len = self.unconsumed.min(scratch.len());
                match retry_interrupted(|| {
                    let mut source = from;
                    source.read(&mut scratch[..len])
                }) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peeked bytes vanished")),
                    Ok(n) => self.unconsumed -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(pumped),
                    Err(e) => return Err(e),
                }
            }
            if chunks == CHUNKS_PER_TURN {
                pumped.unfinished = true;
                return Ok(pumped);
            }
            let peeked = match retry_interrupted(|| from.peek(scratch)) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(pumped),
                Err(e) => return Err(e),
            };
            if peeked == 0 {
                // A destination already gone shows as an error on the other flow, if it matters.
                let _ = to.shutdown(Shutdown::Write);
                self.ended = true;
                pumped.moved = true;
                return Ok(pumped);
            }
            match retry_interrupted(|| {
                let mut destination = to;
                destination.write(&scratch[..peeked])
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.unconsumed = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(pumped),
                Err(e) => return Err(e),
            }
            pumped.moved = true;
            chunks += 1;
        }
        Ok(pumped)
    }
}

fn retry_interrupted<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
