//! The provider's side of the runner protocol: starting an on-demand runner and running jobs.
//!
//! The runner starts at the first job of this provider process (schema and validate calls never
//! need it), listens on a unix socket in a private 0700 directory, and authenticates every call
//! with a per-start secret handed over on its stdin. It exits when that stdin closes, which
//! happens when this process exits for any reason (including SIGKILL).

mod spawn;

use app_proto::runner::job_event::Event;
use app_proto::runner::job_result::Outcome;
use app_proto::runner::log_line::Level;
use app_proto::runner::runner_client::RunnerClient;
use app_proto::runner::{CancelJobRequest, JobRequest, JobResult, SourceChunk};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{watch, OnceCell};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use spawn::{locate_runner, OnDemand};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("could not find app-runner: tried {tried}. Install app-runner next to terraform-provider-app or set `runner_path` in the provider block.")]
    NotFound { tried: String },
    #[error("could not start app-runner at {path}: {source}")]
    Spawn { path: String, source: std::io::Error },
    #[error("app-runner at {path} did not become ready: {reason}")]
    NotReady { path: String, reason: String },
    #[error("could not reach app-runner: {0}")]
    Connect(String),
    #[error("the runner failed the job: {0}")]
    Rpc(String),
    #[error("the runner ended the job without a result")]
    NoResult,
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
                let client = started.connect().await?;
                Ok::<_, RunnerError>((started, client))
            })
            .await?;
        Ok(client.clone())
    }

    /// Stops the on-demand runner if one was started.
    pub async fn shutdown(&self) {
        if let Some((started, _)) = self.connected.get() {
            started.stop().await;
        }
    }

    /// Uploads a source archive (e.g. a packed build context) in 1 MiB chunks and returns the id
    /// jobs name it by (`JobRequest.source_id`).
    pub async fn upload_source(&self, archive: Vec<u8>) -> Result<String, RunnerError> {
        const CHUNK: usize = 1024 * 1024;
        let mut client = self.client().await?;
        let chunks: Vec<SourceChunk> = archive.chunks(CHUNK).map(|c| SourceChunk { data: c.to_vec() }).collect();
        let reply = client.upload_source(futures::stream::iter(chunks)).await.map_err(|s| RunnerError::Rpc(s.message().to_string()))?;
        Ok(reply.into_inner().id)
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
                // The runner kills the job's processes and reports; don't wait forever for it.
                match tokio::time::timeout(Duration::from_secs(8), stream.message()).await {
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
