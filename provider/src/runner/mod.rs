//! The provider's side of the runner protocol: starting an on-demand runner and running jobs.
//!
//! The runner starts at the first job of this provider process (schema and validate calls never
//! need it), listens on a unix socket in a private 0700 directory, and authenticates every call
//! with a per-start secret handed over on its stdin. It exits when that stdin closes, which
//! happens when this process exits for any reason (including SIGKILL). At first contact the
//! provider asks the runner for its version (`Info`) and refuses one of another release or
//! runner-protocol version.
//!
//! Build contexts are packed straight into the `UploadSource` stream ([`Runner::upload_context`]):
//! the provider holds a few chunks of a context at a time, however large it is.

mod spawn;

use app_proto::runner::job_event::Event;
use app_proto::runner::job_result::Outcome;
use app_proto::runner::log_line::Level;
use app_proto::runner::runner_client::RunnerClient;
use app_proto::runner::{CancelJobRequest, InfoRequest, InfoResponse, JobRequest, JobResult, SourceChunk};
use app_source::{PackSummary, SourceError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OnceCell};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use spawn::{locate_runner, OnDemand};

/// This provider's release; the runner must report the same.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long a cancelled job's result is awaited: longer than the runner's grace for a cancelled
/// job (10 s), after which it reports whatever the job left.
const CANCEL_WAIT: Duration = Duration::from_secs(15);
/// Bytes per `UploadSource` message.
const UPLOAD_CHUNK: usize = 1024 * 1024;
/// Chunks packed ahead of the connection: with the one being filled and the one being sent, a
/// context upload holds at most `UPLOAD_QUEUE + 2` chunks in this process.
const UPLOAD_QUEUE: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("could not find app-runner: tried {tried}. Install app-runner next to terraform-provider-app or set `runner_path` in the provider block.")]
    NotFound { tried: String },
    #[error("could not start app-runner at {path}: {source}")]
    Spawn { path: String, source: std::io::Error },
    #[error("app-runner at {path} did not become ready: {reason}")]
    NotReady { path: String, reason: String },
    #[error(
        "app-runner at {path} is version {runner_version} (runner protocol {runner_protocol}), but this terraform-provider-app is \
         version {provider_version} (runner protocol {provider_protocol}); they must come from the same release. Install app-runner \
         {provider_version} next to terraform-provider-app (both are in the release archive), or set `runner_path` in the provider \
         block to an app-runner of that version."
    )]
    VersionMismatch { path: String, runner_version: String, runner_protocol: u32, provider_version: String, provider_protocol: u32 },
    #[error("could not reach app-runner: {0}")]
    Connect(String),
    #[error("the runner failed the job: {0}")]
    Rpc(String),
    #[error("the runner ended the job without a result")]
    NoResult,
    #[error("the runner received {received} bytes of the build context, but {sent} were sent; run the apply again")]
    UploadSize { sent: u64, received: u64 },
}

/// Why a build context could not be uploaded: reading it, or the runner.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Context(#[from] SourceError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

/// Refuses a runner of another release or protocol version than this provider.
pub fn check_version(info: &InfoResponse, path: &Path) -> Result<(), RunnerError> {
    if info.version == VERSION && info.protocol_version == app_proto::RUNNER_PROTOCOL_VERSION {
        return Ok(());
    }
    Err(RunnerError::VersionMismatch {
        path: path.display().to_string(),
        runner_version: if info.version.is_empty() { "unknown".into() } else { info.version.clone() },
        runner_protocol: info.protocol_version,
        provider_version: VERSION.into(),
        provider_protocol: app_proto::RUNNER_PROTOCOL_VERSION,
    })
}

/// Where `pack_context` writes: bounded chunks into the upload stream. Blocks (on the packing
/// thread) while the queue is full, so reading the context keeps pace with the connection.
struct ChunkSender {
    tx: mpsc::Sender<SourceChunk>,
    buf: Vec<u8>,
    /// The upload ended while packing (the runner refused it or went away).
    closed: bool,
}

impl ChunkSender {
    fn send(&mut self, last: bool) -> std::io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(UPLOAD_CHUNK));
        self.tx.blocking_send(SourceChunk { data, last }).map_err(|_| {
            self.closed = true;
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload to app-runner ended")
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(UPLOAD_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == UPLOAD_CHUNK {
            self.send(false)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where and how to start the on-demand runner (from the provider configuration).
#[derive(Debug, Clone, Default)]
pub struct RunnerSettings {
    pub path: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
}

type Client = RunnerClient<InterceptedService<Channel, spawn::BearerToken>>;

/// A lazily started runner shared by every resource of this provider process.
pub struct Runner {
    settings: RunnerSettings,
    connected: OnceCell<(OnDemand, Client)>,
    next_job: AtomicU64,
}

/// A finished job as the resource sees it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub outcome: Outcome,
    pub result_json: String,
    pub error: String,
    pub detail: String,
}

impl Runner {
    pub fn new(settings: RunnerSettings) -> Self {
        Self { settings, connected: OnceCell::new(), next_job: AtomicU64::new(1) }
    }

    async fn client(&self) -> Result<Client, RunnerError> {
        let (_, client) = self
            .connected
            .get_or_try_init(|| async {
                let started = OnDemand::start(&self.settings).await?;
                let checked = match started.connect().await {
                    Ok(mut client) => Self::check(&mut client, started.path()).await.map(|()| client),
                    Err(e) => Err(e),
                };
                match checked {
                    Ok(client) => Ok((started, client)),
                    Err(e) => {
                        started.stop().await;
                        Err(e)
                    }
                }
            })
            .await?;
        Ok(client.clone())
    }

    /// Asks the runner for its version and refuses a mismatch.
    async fn check(client: &mut Client, path: &Path) -> Result<(), RunnerError> {
        let info = client.info(InfoRequest {}).await.map_err(|s| RunnerError::NotReady {
            path: path.display().to_string(),
            reason: format!("asking for its version failed: {}", s.message()),
        })?;
        check_version(info.get_ref(), path)?;
        tracing::debug!(runner = %path.display(), version = VERSION, "runner version checked");
        Ok(())
    }

    /// Stops the on-demand runner if one was started.
    pub async fn shutdown(&self) {
        if let Some((started, _)) = self.connected.get() {
            started.stop().await;
        }
    }

    /// Packs the build context of `root` (`app_source::pack_context`) straight into an upload
    /// to the runner, [`UPLOAD_CHUNK`] bytes per message with backpressure, and returns the id
    /// jobs name it by (`JobRequest.source_id`: the runner's hash of what it received) and what
    /// was packed. A context that cannot be read ends the upload unfinished, so the runner keeps
    /// nothing.
    pub async fn upload_context(&self, root: &Path, dockerfile: Option<&Path>) -> Result<(String, PackSummary), UploadError> {
        let mut client = self.client().await?;
        let (tx, rx) = mpsc::channel(UPLOAD_QUEUE);
        let (root, dockerfile) = (root.to_path_buf(), dockerfile.map(Path::to_path_buf));
        let packing = tokio::task::spawn_blocking(move || {
            let mut out = ChunkSender { tx, buf: Vec::with_capacity(UPLOAD_CHUNK), closed: false };
            let packed = app_source::pack_context(&root, dockerfile.as_deref(), &mut out);
            // Only a complete archive gets its last chunk; without it the runner discards the upload.
            let packed = packed.and_then(|summary| {
                out.send(true).map(|()| summary).map_err(|source| SourceError::ArchiveWrite { path: root.clone(), source })
            });
            (packed, out.closed)
        });
        let upload = client.upload_source(tokio_stream::wrappers::ReceiverStream::new(rx));
        let (packed, reply) = tokio::join!(packing, upload);
        let (packed, upload_ended) = packed.unwrap_or((Err(SourceError::WorkerPanicked), false));
        let rpc_error = |s: tonic::Status| RunnerError::Rpc(format!("uploading the build context: {}", s.message()));
        match (packed, reply) {
            (Ok(summary), Ok(reply)) => {
                let reply = reply.into_inner();
                if reply.size != summary.bytes {
                    return Err(RunnerError::UploadSize { sent: summary.bytes, received: reply.size }.into());
                }
                Ok((reply.id, summary))
            }
            // The runner refused the upload (e.g. over its size limit) or went away: its answer says why.
            (Err(_), Err(status)) if upload_ended => Err(rpc_error(status).into()),
            (Ok(_), Err(status)) => Err(rpc_error(status).into()),
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Runs one job to its end, logging its events; cancels it when `stop` turns true.
    pub async fn run(&self, mut request: JobRequest, stop: &mut watch::Receiver<bool>) -> Result<Finished, RunnerError> {
        let mut client = self.client().await?;
        if request.job_id.is_empty() {
            request.job_id = format!("job-{}-{}", std::process::id(), self.next_job.fetch_add(1, Ordering::Relaxed));
        }
        let job_id = request.job_id.clone();
        let platform = request.platform.clone();
        tracing::debug!(job = %job_id, platform = %platform, operation = request.operation, "starting runner job");
        let mut stream = client.run_job(request).await.map_err(|s| RunnerError::Rpc(s.message().to_string()))?.into_inner();
        let mut cancel_sent = false;
        loop {
            let next = if cancel_sent || *stop.borrow() {
                if !cancel_sent {
                    cancel_sent = true;
                    tracing::warn!(job = %job_id, "stop requested: cancelling the runner job");
                    let _ = client.cancel_job(CancelJobRequest { job_id: job_id.clone() }).await;
                }
                // The runner kills the job's processes and reports what exists then, within its cancel
                // grace (10 s); wait for that record, but not forever.
                match tokio::time::timeout(CANCEL_WAIT, stream.message()).await {
                    Ok(m) => m,
                    Err(_) => return Ok(cancelled(&job_id)),
                }
            } else {
                tokio::select! {
                    m = stream.message() => m,
                    _ = stop.changed() => continue,
                }
            };
            match next {
                Ok(Some(event)) => match event.event {
                    Some(Event::Log(line)) => log_line(&job_id, &platform, line.level, &line.stream, &line.text),
                    Some(Event::Progress(p)) => tracing::info!(job = %job_id, step = %p.step, percent = p.percent, "progress"),
                    Some(Event::Result(JobResult { outcome, result_json, error, detail })) => {
                        let outcome = Outcome::try_from(outcome).unwrap_or(Outcome::Failed);
                        tracing::debug!(job = %job_id, outcome = ?outcome, "runner job finished");
                        return Ok(Finished { outcome, result_json, error, detail });
                    }
                    None => {}
                },
                Ok(None) => return if cancel_sent { Ok(cancelled(&job_id)) } else { Err(RunnerError::NoResult) },
                Err(status) => {
                    return if cancel_sent { Ok(cancelled(&job_id)) } else { Err(RunnerError::Rpc(status.message().to_string())) }
                }
            }
        }
    }
}

fn cancelled(job_id: &str) -> Finished {
    Finished {
        outcome: Outcome::Cancelled,
        result_json: String::new(),
        error: format!("job {job_id} was cancelled because Terraform asked the provider to stop"),
        detail: String::new(),
    }
}

fn log_line(job: &str, platform: &str, level: i32, stream: &str, text: &str) {
    match Level::try_from(level).unwrap_or(Level::Info) {
        Level::Trace => tracing::trace!(job, platform, stream, "{text}"),
        Level::Debug => tracing::debug!(job, platform, stream, "{text}"),
        Level::Info | Level::Unspecified => tracing::info!(job, platform, stream, "{text}"),
        Level::Warn => tracing::warn!(job, platform, stream, "{text}"),
        Level::Error => tracing::error!(job, platform, stream, "{text}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use app_proto::RUNNER_PROTOCOL_VERSION;

    #[test]
    fn a_runner_of_another_version_or_protocol_is_refused_with_what_to_do() {
        let path = Path::new("/opt/terraform/app-runner");
        let info = |version: &str, protocol_version: u32| InfoResponse { version: version.into(), platforms: Vec::new(), protocol_version };
        check_version(&info(VERSION, RUNNER_PROTOCOL_VERSION), path).unwrap();
        for (runner, protocol) in [("0.0.1-old", RUNNER_PROTOCOL_VERSION), (VERSION, RUNNER_PROTOCOL_VERSION + 1), ("", 0)] {
            let message = check_version(&info(runner, protocol), path).unwrap_err().to_string();
            let shown = if runner.is_empty() { "unknown" } else { runner };
            assert!(
                message.contains(&format!("app-runner at /opt/terraform/app-runner is version {shown} (runner protocol {protocol})")),
                "{message}"
            );
            assert!(
                message.contains(&format!("terraform-provider-app is version {VERSION} (runner protocol {RUNNER_PROTOCOL_VERSION})")),
                "{message}"
            );
            assert!(message.contains("next to terraform-provider-app") && message.contains("`runner_path`"), "{message}");
        }
    }

    /// What `pack_context` writes arrives whole, in full chunks but the last, which alone is marked.
    #[tokio::test]
    async fn contexts_are_sent_in_bounded_chunks_with_the_last_marked() {
        let (tx, mut rx) = mpsc::channel(UPLOAD_QUEUE);
        let data: Vec<u8> = (0..(3 * UPLOAD_CHUNK + 1234)).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = ChunkSender { tx, buf: Vec::with_capacity(UPLOAD_CHUNK), closed: false };
            for piece in sent.chunks(300_000) {
                out.write_all(piece).unwrap();
            }
            out.send(true).unwrap();
        });
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.recv().await {
            chunks.push(chunk);
        }
        writer.await.unwrap();
        assert_eq!(chunks.len(), 4);
        assert!(chunks[..3].iter().all(|c| c.data.len() == UPLOAD_CHUNK && !c.last));
        assert!(chunks[3].last);
        assert_eq!(chunks.iter().flat_map(|c| c.data.iter().copied()).collect::<Vec<u8>>(), data);

        // The receiving end gone (the runner refused the upload): writing fails and says so.
        let (tx, rx) = mpsc::channel(UPLOAD_QUEUE);
        drop(rx);
        let closed = tokio::task::spawn_blocking(move || {
            let mut out = ChunkSender { tx, buf: Vec::with_capacity(UPLOAD_CHUNK), closed: false };
            let err = out.write_all(&vec![0u8; UPLOAD_CHUNK]).unwrap_err();
            (err.kind(), out.closed)
        });
        assert_eq!(closed.await.unwrap(), (std::io::ErrorKind::BrokenPipe, true));
    }
}
