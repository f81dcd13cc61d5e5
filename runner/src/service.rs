//! The `Runner` gRPC service: runs jobs, tracks them by id, cancels them.

use crate::context::{CancelReason, CancelToken, JobContext};
use crate::platform::{operation_name, role_name, Outcome, OutcomeKind, PlatformError, Plugins};
use crate::proto::runner_server::Runner;
use crate::proto::{
    job_event, job_result, CancelJobRequest, CancelJobResponse, InfoRequest, InfoResponse, JobEvent, JobRequest, JobResult, Operation,
    Role, SourceChunk, SourceRef,
};
use crate::sources::{SourceError, SourceStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

/// Largest gRPC message either way.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Events buffered per job before the job waits for the client.
const EVENT_BUFFER: usize = 256;
/// How long a cancelled job may take to stop before it is abandoned (its process groups are
/// then killed outright).
const CANCEL_GRACE: Duration = Duration::from_secs(10);

struct Shared {
    plugins: Plugins,
    sources: SourceStore,
    jobs: Mutex<HashMap<String, CancelToken>>,
    job_ended: Notify,
    shutting_down: CancelToken,
}

impl Shared {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancelToken>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct RemoveOnDrop<'a>(&'a SourceStore);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        self.0.remove_all();
    }
}

/// The service; cheap to clone (all clones share the job table).
#[derive(Clone)]
pub struct RunnerService {
    shared: Arc<Shared>,
}

impl RunnerService {
    /// A service whose uploads go to `sources`.
    pub fn new(plugins: Plugins, sources: SourceStore) -> Self {
        Self {
            shared: Arc::new(Shared {
                plugins,
                sources,
                jobs: Mutex::new(HashMap::new()),
                job_ended: Notify::new(),
                shutting_down: CancelToken::new(),
            }),
        }
    }

    /// Ids of the jobs running now.
    pub fn running_jobs(&self) -> Vec<String> {
        self.shared.jobs().keys().cloned().collect()
    }

    /// Refuses new jobs, cancels every running one and waits (at most `grace`) for them to end;
    /// uploaded sources are removed.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.shutting_down.cancel(CancelReason::Shutdown);
        let _remove_sources = RemoveOnDrop(&self.shared.sources);
        let deadline = Instant::now() + grace;
        loop {
            let notified = self.shared.job_ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let jobs = self.shared.jobs();
                if jobs.is_empty() {
                    return;
                }
                for token in jobs.values() {
                    token.cancel(CancelReason::Shutdown);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(jobs = ?self.running_jobs(), "jobs still running at shutdown");
                return;
            }
        }
    }
}

#[tonic::async_trait]
impl Runner for RunnerService {
    async fn run_job(&self, request: Request<JobRequest>) -> Result<Response<BoxStream<JobEvent>>, Status> {
        let job = request.into_inner();
        if job.job_id.is_empty() {
            return Err(Status::invalid_argument("job_id is empty; give every job an id unique on this runner"));
        }
        if self.shared.shutting_down.is_cancelled() {
            return Err(Status::unavailable("the runner is shutting down"));
        }
        let token = CancelToken::new();
        {
            let mut jobs = self.shared.jobs();
            if jobs.contains_key(&job.job_id) {
                return Err(Status::already_exists(format!("a job with id {:?} is already running", job.job_id)));
            }
            jobs.insert(job.job_id.clone(), token.clone());
        }
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(drive(self.shared.clone(), job, tx, token));
        let stream = ReceiverStream::new(rx).map(Ok);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_job(&self, request: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        let job_id = request.into_inner().job_id;
        let token = self.shared.jobs().get(&job_id).cloned();
        if let Some(token) = &token {
            tracing::info!(job_id = %job_id, "job cancelled by request");
            token.cancel(CancelReason::Requested);
        }
        Ok(Response::new(CancelJobResponse { found: token.is_some() }))
    }

    async fn upload_source(&self, request: Request<tonic::Streaming<SourceChunk>>) -> Result<Response<SourceRef>, Status> {
        let (id, size) = self.shared.sources.put(request.into_inner()).await.map_err(|e| match e {
            SourceError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
            SourceError::Stream(_) | SourceError::Incomplete => Status::aborted(e.to_string()),
            SourceError::Store { .. } => Status::internal(e.to_string()),
        })?;
        tracing::debug!(source = %id, size, "source uploaded");
        Ok(Response::new(SourceRef { id, size }))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Ok(Response::new(InfoResponse {
            version: crate::VERSION.to_string(),
            platforms: self.shared.plugins.names(),
            protocol_version: app_proto::RUNNER_PROTOCOL_VERSION,
        }))
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs one job to its end and sends its single Result event (also returned: the caller may be
/// gone by then).
async fn drive(shared: Arc<Shared>, job: JobRequest, tx: mpsc::Sender<JobEvent>, token: CancelToken) -> JobResult {
    let started = Instant::now();
    let operation = operation_name(Operation::try_from(job.operation).unwrap_or(Operation::Unspecified));
    let role = role_name(Role::try_from(job.role).unwrap_or(Role::Unspecified));
    tracing::info!(job_id = %job.job_id, operation, role, platform = %job.platform, "job started");

    let source = if job.source_id.is_empty() { None } else { shared.sources.path(&job.source_id) };
    if !job.source_id.is_empty() && source.is_none() {
        let error = format!("source {} was not uploaded to this runner; upload it with UploadSource first", job.source_id);
        let result =
            JobResult { outcome: job_result::Outcome::Failed as i32, result_json: job.prior_json.clone(), error, detail: String::new() };
        let _ = tx.send(JobEvent { event: Some(job_event::Event::Result(result.clone())) }).await;
        shared.jobs().remove(&job.job_id);
        shared.job_ended.notify_waiters();
        return result;
    }
    let ctx = JobContext::new(job.job_id.clone(), tx.clone(), token.clone()).with_source(source);
    let deadline = (job.timeout_ms > 0).then(|| started + Duration::from_millis(job.timeout_ms));
    let mut abandon_at: Option<Instant> = None;
    let result = {
        let work = shared.plugins.run(&ctx, &job);
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                result = &mut work => break Some(result),
                () = tx.closed(), if !token.is_cancelled() => {
                    tracing::info!(job_id = %job.job_id, "client went away: cancelling the job");
                    token.cancel(CancelReason::ClientGone);
                }
                () = sleep_until_opt(deadline), if deadline.is_some() && !token.is_cancelled() => {
                    tracing::info!(job_id = %job.job_id, "job timed out: cancelling it");
                    token.cancel(CancelReason::TimedOut);
                }
                () = token.cancelled(), if abandon_at.is_none() => {
                    abandon_at = Some(Instant::now() + CANCEL_GRACE);
                }
                () = sleep_until_opt(abandon_at), if abandon_at.is_some() => {
                    tracing::warn!(job_id = %job.job_id, "job did not stop after cancellation: abandoning it");
                    break None;
                }
            }
        }
    };
    let result = job_result(&job, result, token.reason());
    tracing::info!(
        job_id = %job.job_id,
        outcome = job_result::Outcome::try_from(result.outcome).map(|o| o.as_str_name()).unwrap_or("?"),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "job ended"
    );
    drop(ctx);
    {
        shared.jobs().remove(&job.job_id);
    }
    shared.job_ended.notify_waiters();
    let _ = tx.send(JobEvent { event: Some(job_event::Event::Result(result.clone())) }).await;
    result
}

fn seconds(ms: u64) -> String {
    let whole = ms / 1000;
    if whole * 1000 == ms {
        format!("{whole} s")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// The Result event for how the job ended.
fn job_result(job: &JobRequest, result: Option<Result<Outcome, PlatformError>>, cancel: Option<CancelReason>) -> JobResult {
    use job_result::Outcome as O;
    let cancelled = |result_json: String| match cancel {
        Some(CancelReason::TimedOut) => JobResult {
            outcome: O::Failed as i32,
            result_json,
            error: format!("the job timed out after {} and was stopped; if it needs longer, raise its timeout", seconds(job.timeout_ms)),
            detail: String::new(),
        },
        reason => JobResult {
            outcome: O::Cancelled as i32,
            result_json,
            error: match reason {
                Some(CancelReason::Shutdown) => "the job was cancelled because the runner is shutting down",
                Some(CancelReason::ClientGone) => "the job was cancelled because its caller went away",
                _ => "the job was cancelled",
            }
            .to_string(),
            detail: String::new(),
        },
    };
    match result {
        Some(Ok(outcome)) => JobResult {
            outcome: match outcome.kind {
                OutcomeKind::Succeeded => O::Succeeded,
                OutcomeKind::Gone => O::Gone,
            } as i32,
            result_json: outcome.result_json,
            error: String::new(),
            detail: outcome.detail,
        },
        Some(Err(PlatformError::Failed { message, detail, result_json })) => {
            JobResult { outcome: O::Failed as i32, result_json, error: message, detail }
        }
        Some(Err(PlatformError::InvalidRequest(message))) => {
            JobResult { outcome: O::Failed as i32, result_json: job.prior_json.clone(), error: message, detail: String::new() }
        }
        Some(Err(PlatformError::Cancelled { result_json })) => cancelled(result_json),
        None => cancelled(job.prior_json.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> RunnerService {
        RunnerService::new(crate::platforms::builtin(), SourceStore::new(std::env::temp_dir(), 1 << 20))
    }

    fn deploy(job_id: &str, create: serde_json::Value, timeout_ms: u64) -> JobRequest {
        JobRequest {
            job_id: job_id.into(),
            operation: Operation::Deploy as i32,
            role: Role::Platform as i32,
            platform: "exec".into(),
            request_json: json!({"name": "web", "generation": 1, "config": {"create": create}}).to_string(),
            prior_json: String::new(),
            timeout_ms,
            source_id: String::new(),
        }
    }

    /// All events of a job, and its single result.
    async fn collect(service: &RunnerService, job: JobRequest) -> (Vec<JobEvent>, JobResult) {
        let mut stream = service.run_job(Request::new(job)).await.unwrap().into_inner();
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event.unwrap());
        }
        let results: Vec<JobResult> = events
            .iter()
            .filter_map(|e| match &e.event {
                Some(job_event::Event::Result(r)) => Some(r.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1, "exactly one result: {events:?}");
        assert!(matches!(events.last().and_then(|e| e.event.as_ref()), Some(job_event::Event::Result(_))));
        (events, results.into_iter().next().unwrap())
    }

    #[tokio::test]
    async fn deploy_streams_logs_then_one_result() {
        let service = service();
        let (events, result) = collect(&service, deploy("j1", json!(["echo", "hello"]), 0)).await;
        assert_eq!(result.outcome, job_result::Outcome::Succeeded as i32, "{result:?}");
        assert!(events.iter().any(|e| matches!(&e.event, Some(job_event::Event::Log(l)) if l.stream == "stdout" && l.text == "hello")));
        assert!(service.running_jobs().is_empty());
    }

    #[tokio::test]
    async fn timeout_fails_the_job_and_says_what_to_do() {
        let service = service();
        let started = Instant::now();
        let (_, result) = collect(&service, deploy("t", json!(["sleep", "30"]), 300)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(result.outcome, job_result::Outcome::Failed as i32);
        assert!(result.error.contains("timed out after 0.3 s"), "{}", result.error);
        assert!(result.error.contains("raise its timeout"), "{}", result.error);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&result.result_json).unwrap()["status"], "failed");
    }

    #[tokio::test]
    async fn cancel_job_by_id_and_duplicate_ids() {
        let service = service();
        let mut stream = service.run_job(Request::new(deploy("c", json!(["sleep", "30"]), 0))).await.unwrap().into_inner();
        let dup = service.run_job(Request::new(deploy("c", json!(["true"]), 0))).await.err().unwrap();
        assert_eq!(dup.code(), tonic::Code::AlreadyExists);
        let found = service.cancel_job(Request::new(CancelJobRequest { job_id: "c".into() })).await.unwrap().into_inner();
        assert!(found.found);
        let mut last = None;
        while let Some(event) = stream.next().await {
            last = event.unwrap().event;
        }
        let Some(job_event::Event::Result(result)) = last else { panic!("no result") };
        assert_eq!(result.outcome, job_result::Outcome::Cancelled as i32);
        let missing = service.cancel_job(Request::new(CancelJobRequest { job_id: "c".into() })).await.unwrap().into_inner();
        assert!(!missing.found);
    }

    /// The caller drops its RunJob call while the create command runs: the command is stopped,
    /// and the job's result is the record of what it reported creating, not the prior record.
    #[tokio::test]
    async fn a_job_whose_caller_goes_away_keeps_what_it_created() {
        let service = service();
        let mut job = deploy("gone", json!(["sh", "-c", "echo '{\"id\": \"srv-7\"}'; exec sleep 30"]), 0);
        job.prior_json = json!({"generation": 1, "status": "ready", "computed": {"outputs": {"id": "srv-6"}}}).to_string();
        let token = CancelToken::new();
        service.shared.jobs().insert(job.job_id.clone(), token.clone());
        let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
        let running = tokio::spawn(drive(service.shared.clone(), job, tx, token));
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().expect("the job's events");
            if matches!(&event.event, Some(job_event::Event::Log(l)) if l.stream == "stdout") {
                break;
            }
        }
        let started = Instant::now();
        drop(rx);
        let result = tokio::time::timeout(Duration::from_secs(10), running).await.unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "the command was stopped at once");
        assert_eq!(result.outcome, job_result::Outcome::Cancelled as i32, "{result:?}");
        assert!(result.error.contains("its caller went away"), "{}", result.error);
        let record: serde_json::Value = serde_json::from_str(&result.result_json).unwrap();
        assert_eq!(record["status"], "failed");
        assert_eq!(record["computed"]["outputs"], json!({"id": "srv-7"}), "{record}");
        assert!(service.running_jobs().is_empty());
    }

    #[tokio::test]
    async fn unknown_platforms_list_what_is_supported() {
        let service = service();
        let mut job = deploy("u", json!(["true"]), 0);
        job.platform = "nomad".into();
        let prior = json!({"generation": 1, "status": "ready"}).to_string();
        job.prior_json = prior.clone();
        let (_, result) = collect(&service, job.clone()).await;
        assert_eq!(result.outcome, job_result::Outcome::Failed as i32);
        assert!(result.error.contains("no platform named \"nomad\"; it supports: "), "{}", result.error);
        assert!(result.error.contains("docker") && result.error.contains("exec"), "{}", result.error);
        assert_eq!(result.result_json, prior, "nothing ran: the prior record stays");

        job.platform = "kubernetes".into();
        job.job_id = "u2".into();
        let (_, result) = collect(&service, job.clone()).await;
        assert!(result.error.contains("not available in this runner version"), "{}", result.error);

        job.operation = Operation::Build as i32;
        job.platform = "exec".into();
        job.job_id = "u3".into();
        let (_, result) = collect(&service, job).await;
        assert!(result.error.contains("does not support the build operation"), "{}", result.error);
    }

    #[tokio::test]
    async fn bad_request_json_fails_clearly() {
        let service = service();
        let mut job = deploy("b", json!(["true"]), 0);
        job.request_json = "{".into();
        let (_, result) = collect(&service, job).await;
        assert!(result.error.starts_with("request_json is not a valid deployment request"), "{}", result.error);
    }

    #[tokio::test]
    async fn info_lists_ready_platforms() {
        let info = service().info(Request::new(InfoRequest {})).await.unwrap().into_inner();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.protocol_version, app_proto::RUNNER_PROTOCOL_VERSION);
        assert_eq!(info.platforms, vec!["aws_lambda", "docker", "docker_pull", "exec"]);
    }

    #[tokio::test]
    async fn shutdown_cancels_running_jobs() {
        let service = service();
        let mut stream = service.run_job(Request::new(deploy("s", json!(["sleep", "30"]), 0))).await.unwrap().into_inner();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        service.shutdown(Duration::from_secs(6)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(service.running_jobs().is_empty());
        let mut last = None;
        while let Some(event) = stream.next().await {
            last = event.unwrap().event;
        }
        let Some(job_event::Event::Result(result)) = last else { panic!("no result") };
        assert_eq!(result.outcome, job_result::Outcome::Cancelled as i32);
        assert!(result.error.contains("shutting down"));
        let refused = service.run_job(Request::new(deploy("s2", json!(["true"]), 0))).await.err().unwrap();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
    }
}
