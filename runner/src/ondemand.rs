//! On-demand mode: started by the provider for one command, serving over a private unix
//! socket, gone when the provider is.
//!
//! Handshake: the first line of stdin is the per-start token; once the socket is bound the
//! runner prints `ready\n` on stdout. It exits when stdin reaches end of file (the provider
//! exited, even by `kill -9`) or on SIGTERM, and ignores SIGINT.
//!
//! Uploaded sources go to a new randomly named 0700 directory inside the socket's directory
//! (see [`crate::sources`]); they are removed however the runner stops, and the provider removes
//! the socket directory with anything in it once the runner is gone (also after `kill -9`).

use crate::auth::TokenCheck;
use crate::platform::Plugins;
use crate::proto::runner_server::RunnerServer;
use crate::service::{RunnerService, MAX_MESSAGE_SIZE};
use crate::sources::SourceStore;
use crate::sys;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::interceptor::InterceptedService;

/// The line printed on stdout once the runner accepts calls.
pub const READY_LINE: &str = "ready\n";
/// Longest token line read from stdin.
const MAX_TOKEN_LINE: u64 = 4096;
/// How long running jobs get to stop at shutdown (SIGTERM grace plus reaping).
const JOBS_GRACE: Duration = Duration::from_secs(6);
/// How long open connections get to close at shutdown.
const SERVER_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct OnDemandOptions {
    pub socket: PathBuf,
    /// The largest source upload accepted, in bytes.
    pub max_source_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error("socket directory {dir}: {reason}")]
    SocketDir { dir: String, reason: String },
    #[error("reading the token from stdin: {0}")]
    Token(String),
    #[error("socket {path}: {reason}")]
    Socket { path: String, reason: String },
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("writing the ready line to stdout: {0}")]
    Ready(std::io::Error),
    #[error("the gRPC server stopped: {0}")]
    Server(String),
}

/// The directory holding the socket.
fn socket_dir(socket: &Path) -> &Path {
    socket.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Refuses a socket directory that others could reach: it must be a real directory owned by
/// this user with mode 0700.
pub fn check_socket_dir(socket: &Path) -> Result<(), OnDemandError> {
    let dir = socket_dir(socket);
    let bad = |reason: String| OnDemandError::SocketDir { dir: dir.display().to_string(), reason };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| bad(format!("cannot be read: {e}")))?;
    if !meta.file_type().is_dir() {
        return Err(bad("is not a directory (symbolic links are refused)".into()));
    }
    let uid = sys::effective_uid();
    if meta.uid() != uid {
        return Err(bad(format!("is owned by uid {}, not by this user (uid {uid})", meta.uid())));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode != 0o700 {
        return Err(bad(format!("has mode {mode:04o}; it must be 0700 so that only this user can reach the socket")));
    }
    Ok(())
}

/// Reads stdin on a thread of its own: the first line is sent as the token, then the end of
/// file is reported. (A plain thread, so a read blocked at exit holds nothing up.)
fn watch_stdin(input: impl Read + Send + 'static) -> (oneshot::Receiver<Result<String, String>>, oneshot::Receiver<()>) {
    let (token_tx, token_rx) = oneshot::channel();
    let (eof_tx, eof_rx) = oneshot::channel();
    let spawned = std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut reader = BufReader::new(input);
        let mut line = String::new();
        let token = match reader.by_ref().take(MAX_TOKEN_LINE).read_line(&mut line) {
            Ok(0) => Err("stdin closed before the token line".to_string()),
            Ok(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_TOKEN_LINE => Err("the token line is too long".to_string()),
            Ok(_) => {
                let token = line.trim_end_matches(['\n', '\r']).to_string();
                if token.is_empty() {
                    Err("the token line is empty".to_string())
                } else {
                    Ok(token)
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let _ = token_tx.send(token);
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = eof_tx.send(());
    });
    if let Err(e) = spawned {
        tracing::error!("could not start the stdin reader: {e}");
    }
    (token_rx, eof_rx)
}

fn bind(socket: &Path) -> Result<UnixListener, OnDemandError> {
    let bad = |reason: String| OnDemandError::Socket { path: socket.display().to_string(), reason };
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A stale socket from an earlier run in our own private directory.
            std::fs::remove_file(socket).map_err(|e| bad(format!("a stale socket is in the way and cannot be removed: {e}")))?;
        }
        Ok(_) => return Err(bad("exists and is not a socket; refusing to replace it".into())),
        Err(_) => {}
    }
    let listener = UnixListener::bind(socket).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            bad(format!("cannot be bound: {e} (unix socket paths are limited to about 100 bytes)"))
        } else {
            bad(format!("cannot be bound: {e}"))
        }
    })?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(|e| bad(format!("cannot be made private: {e}")))?;
    Ok(listener)
}

/// Why the runner is stopping.
#[derive(Debug)]
enum Stop {
    StdinClosed,
    Terminated,
    ServerEnded(Option<String>),
    /// The ready line could not be written: the caller is gone.
    ReadyFailed(std::io::Error),
}

/// Runs on-demand mode to its end. `stdin` carries the token line and, by closing, the order
/// to exit; `ready` receives the ready line.
pub async fn run(
    options: OnDemandOptions,
    plugins: Plugins,
    stdin: impl Read + Send + 'static,
    mut ready: impl Write,
) -> Result<(), OnDemandError> {
    let socket = options.socket;
    check_socket_dir(&socket)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(OnDemandError::Signals)?;
    // Ctrl-C in a terminal reaches the whole process group; jobs are cancelled through the
    // protocol instead, so SIGINT is received and dropped here.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(OnDemandError::Signals)?;
    tokio::spawn(async move {
        while interrupt.recv().await.is_some() {
            tracing::debug!("SIGINT ignored; the caller cancels jobs through the protocol");
        }
    });

    let (token_rx, mut eof_rx) = watch_stdin(stdin);
    let token = tokio::select! {
        token = token_rx => token
            .map_err(|_| OnDemandError::Token("the stdin reader stopped".into()))?
            .map_err(OnDemandError::Token)?,
        _ = terminate.recv() => return Ok(()),
    };

    let listener = bind(&socket)?;
    let service = RunnerService::new(plugins, SourceStore::new(socket_dir(&socket).to_path_buf(), options.max_source_bytes));
    let server = RunnerServer::new(service.clone()).max_decoding_message_size(MAX_MESSAGE_SIZE).max_encoding_message_size(MAX_MESSAGE_SIZE);
    let server = InterceptedService::new(server, TokenCheck::new(&token));
    let (stop_server_tx, stop_server_rx) = oneshot::channel::<()>();
    let mut server_task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                let _ = stop_server_rx.await;
            })
            .await
    });

    // From here on every way out goes through the shutdown below (jobs cancelled, sources removed).
    let stop = match ready.write_all(READY_LINE.as_bytes()).and_then(|()| ready.flush()) {
        Err(e) => Stop::ReadyFailed(e),
        Ok(()) => {
            tracing::info!(socket = %socket.display(), version = crate::VERSION, "runner ready");
            tokio::select! {
                _ = &mut eof_rx => Stop::StdinClosed,
                _ = terminate.recv() => Stop::Terminated,
                ended = &mut server_task => Stop::ServerEnded(match ended {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                }),
            }
        }
    };
    tracing::info!(reason = ?stop, "runner stopping");

    service.shutdown(JOBS_GRACE).await;
    let _ = stop_server_tx.send(());
    if !matches!(stop, Stop::ServerEnded(_)) && tokio::time::timeout(SERVER_GRACE, &mut server_task).await.is_err() {
        server_task.abort();
    }
    if let Err(e) = std::fs::remove_file(&socket) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(socket = %socket.display(), "could not remove the socket: {e}");
        }
    }
    match stop {
        Stop::ServerEnded(Some(e)) => Err(OnDemandError::Server(e)),
        Stop::ReadyFailed(e) => Err(OnDemandError::Ready(e)),
        _ => Ok(()),
    }
}
