//! go-plugin's side of the conversation with Terraform: the magic cookie, the handshake line,
//! auto-mTLS, the controller (Shutdown), stdio and health services, and signal handling.

mod conn;
pub mod tls;

use app_proto::grpc_health_v1::health_server::{Health, HealthServer};
use app_proto::grpc_health_v1::{health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse};
use app_proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use app_proto::plugin::grpc_stdio_server::GrpcStdioServer;
use app_proto::tfplugin6::provider_server::{Provider, ProviderServer};
use conn::PluginConn;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
pub const PROTOCOL_VERSION: u32 = 6;
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// Terraform sends whole states and plans in one message; allow far more than tonic's 4 MiB.
pub const MAX_MESSAGE: usize = 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("This binary is a plugin for Terraform and OpenTofu; it is not meant to be run directly. Run `terraform init` in a configuration that uses the provider instead.")]
    NotLaunchedByTerraform,
    #[error("Terraform offered plugin protocol versions {0:?}; this provider speaks version 6 only (Terraform >= 1.0 or OpenTofu).")]
    NoCommonProtocol(String),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("plugin socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Runs before the process exits (e.g. stopping the runner it started).
pub type ExitHook = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

pub struct ServeOptions {
    pub on_exit: ExitHook,
    /// Debug mode: no cookie, no TLS; print a TF_REATTACH_PROVIDERS value and serve until Ctrl-C.
    pub debug: bool,
    pub provider_address: &'static str,
}

/// Runs the plugin server until Terraform asks it to shut down.
pub async fn serve<P: Provider>(provider: Arc<P>, options: ServeOptions) -> Result<(), ServeError> {
    if !options.debug {
        if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(ServeError::NotLaunchedByTerraform);
        }
        if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
            if !versions.split(',').any(|v| v.trim() == "6") {
                return Err(ServeError::NoCommonProtocol(versions));
            }
        }
    }

    let dir = private_dir()?;
    let socket = dir.join("plugin.sock");
    let listener = UnixListener::bind(&socket)?;
    let tls = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !options.debug && !pem.trim().is_empty() => Some(tls::auto_mtls(&pem)?),
        _ => None,
    };

    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let acceptor = tls.as_ref().map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
    let (conn_tx, conn_rx) = mpsc::channel::<Result<PluginConn, std::io::Error>>(16);
    tokio::spawn(accept_loop(listener, acceptor, conn_tx));

    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(PluginHealth))
        .add_service(GrpcControllerServer::new(Controller { shutdown: shutdown_tx.clone(), on_exit: options.on_exit.clone() }))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(ProviderServer::from_arc(provider).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE));

    if options.debug {
        let reattach = serde_json::json!({
            options.provider_address: {
                "Protocol": "grpc",
                "ProtocolVersion": PROTOCOL_VERSION,
                "Pid": std::process::id(),
                "Test": true,
                "Addr": { "Network": "unix", "String": socket.display().to_string() }
            }
        });
        println!("Provider started. To attach Terraform, set this in the shell that runs it:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n\nCtrl-C stops the provider.");
    } else {
        let cert = tls.as_ref().map(|t| t.cert_field.as_str()).unwrap_or("");
        let line = format!("{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|unix|{}|grpc|{cert}\n", socket.display());
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(line.as_bytes())?;
        stdout.flush()?;
    }

    tokio::spawn(watch_signals(options.debug, shutdown_tx, options.on_exit.clone()));
    let shutdown = async move {
        while !*shutdown_rx.borrow() {
            if shutdown_rx.changed().await.is_err() {
                break;
            }
        }
    };
    let result = router.serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), shutdown).await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(ServeError::from)
}

fn private_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    for attempt in 0..100u32 {
        let dir = base.join(format!("tfapp-plugin-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a private socket directory"))
}

async fn accept_loop(
    listener: UnixListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<Result<PluginConn, std::io::Error>>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a plugin connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tx = tx.clone();
        match &acceptor {
            None => {
                if tx.send(Ok(PluginConn::Plain(stream))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                // Handshakes run concurrently so one slow peer never blocks the others.
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            let _ = tx.send(Ok(PluginConn::Tls(Box::new(tls)))).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "TLS handshake with Terraform failed (client certificate must match PLUGIN_CLIENT_CERT)")
                        }
                    }
                });
            }
        }
    }
}

/// SIGINT reaches the whole process group on Ctrl-C; Terraform decides what to do and tells
/// us through StopProvider, so the plugin ignores it (in debug mode it stops the server).
async fn watch_signals(debug: bool, shutdown: watch::Sender<bool>, on_exit: ExitHook) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => {
                if debug {
                    let _ = shutdown.send(true);
                    return;
                }
                tracing::debug!("SIGINT ignored; Terraform sends StopProvider");
            }
            _ = terminate.recv() => {
                let _ = shutdown.send(true);
                exit_soon(on_exit);
                return;
            }
        }
    }
}

/// Leaves time for the last response to reach Terraform, then exits even if a connection lingers.
fn exit_soon(on_exit: ExitHook) {
    tokio::spawn(async move {
        let hook = on_exit();
        let _ = tokio::time::timeout(Duration::from_millis(1500), async {
            tokio::join!(hook, tokio::time::sleep(Duration::from_millis(50)));
        })
        .await;
        std::process::exit(0);
    });
}

struct Controller {
    shutdown: watch::Sender<bool>,
    on_exit: ExitHook,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _: tonic::Request<app_proto::plugin::Empty>,
    ) -> Result<tonic::Response<app_proto::plugin::Empty>, tonic::Status> {
        tracing::debug!("Shutdown requested by Terraform");
        let _ = self.shutdown.send(true);
        exit_soon(self.on_exit.clone());
        Ok(tonic::Response::new(app_proto::plugin::Empty {}))
    }
}

/// Stdio is not forwarded: logs go to stderr, which go-plugin reads directly.
struct Stdio;

#[tonic::async_trait]
impl app_proto::plugin::grpc_stdio_server::GrpcStdio for Stdio {}

struct PluginHealth;

#[tonic::async_trait]
impl Health for PluginHealth {
    async fn check(&self, request: tonic::Request<HealthCheckRequest>) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let service = request.into_inner().service;
        if service.is_empty() || service == "plugin" {
            Ok(tonic::Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 }))
        } else {
            Err(tonic::Status::not_found(format!("unknown service {service:?}")))
        }
    }
}
